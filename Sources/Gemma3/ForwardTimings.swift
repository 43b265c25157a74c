import Base
#if canImport(Glibc)
import Glibc
#endif

/// Seconds spent in each part of the forward pass, summed over calls while attached to a model
/// (`Gemma3Model.timings`). Storage is allocated once; recording allocates nothing.
public final class ForwardTimings: @unchecked Sendable {
    public let layers: Int
    /// Per layer: norms, q/k/v/o projections and attention.
    public let attention: UnsafeMutableBufferPointer<Double>
    /// Per layer: norms and the gated feed-forward network.
    public let feedForward: UnsafeMutableBufferPointer<Double>
    /// Embedding lookups.
    public internal(set) var embedding = 0.0
    /// Output projection (logits).
    public internal(set) var output = 0.0

    public init(layers: Int) {
        self.layers = layers
        attention = .allocate(capacity: layers)
        feedForward = .allocate(capacity: layers)
        attention.initialize(repeating: 0)
        feedForward.initialize(repeating: 0)
    }

    deinit {
        attention.deallocate()
        feedForward.deallocate()
    }

    public func reset() {
        attention.update(repeating: 0)
        feedForward.update(repeating: 0)
        embedding = 0
        output = 0
    }

    public var total: Double { attention.reduce(0, +) + feedForward.reduce(0, +) + embedding + output }

    /// Seconds since `clock`, which moves to now.
    @inline(__always) static func lap(_ clock: inout Double) -> Double {
        let t = now()
        defer { clock = t }
        return t - clock
    }

    @inline(__always) static func now() -> Double { monotonicSeconds() }
}
