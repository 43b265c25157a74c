/// Keys and values of every layer for one sequence.
///
/// A local (sliding-window) layer only ever needs the last `window` positions, so its cache is a
/// ring of exactly `min(window, context)` slots whose size never depends on the context; a global
/// layer keeps `context` slots. Position `p` lives in slot `p % capacity`. Rows are f32.
public final class KVCache: @unchecked Sendable {
    public let config: Gemma3Config
    public let context: Int
    /// Positions filled so far (the next token goes at this position).
    public internal(set) var length = 0
    let keys: [UnsafeMutablePointer<Float>]
    let values: [UnsafeMutablePointer<Float>]
    let capacity: [Int]
    /// Vision hook: the longest bidirectional batch (image soft tokens) the local rings can take.
    public let bidirectionalSpan: Int

    /// - Parameter localRing: false gives local layers a full-context cache too (a reference for
    ///   tests; results must not change).
    /// - Parameter bidirectionalSpan: vision hook: a bidirectional batch of n tokens writes all its
    ///   keys before any query attends, so local rings get window + n - 1 slots for n up to this.
    public init(config: Gemma3Config, context: Int, localRing: Bool = true, bidirectionalSpan: Int = 0) {
        precondition(context >= 1)
        self.config = config
        self.context = context
        self.bidirectionalSpan = bidirectionalSpan  // vision hook
        var keys: [UnsafeMutablePointer<Float>] = []
        var values: [UnsafeMutablePointer<Float>] = []
        var capacity: [Int] = []
        for layer in 0..<config.blockCount {
            let slots = config.isGlobal(layer: layer) || !localRing
                ? context : min(config.slidingWindow + max(0, bidirectionalSpan - 1), context)  // vision hook
            capacity.append(slots)
            let k = UnsafeMutablePointer<Float>.allocate(capacity: slots * config.kvDim)
            let v = UnsafeMutablePointer<Float>.allocate(capacity: slots * config.kvDim)
            k.initialize(repeating: 0, count: slots * config.kvDim)
            v.initialize(repeating: 0, count: slots * config.kvDim)
            keys.append(k)
            values.append(v)
        }
        self.keys = keys
        self.values = values
        self.capacity = capacity
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Forgets every position (a fresh sequence).
    public func reset() { length = 0 }

    /// Drops positions from `newLength` on (for example, to re-use a shared prefix).
    public func truncate(to newLength: Int) {
        precondition(canTruncate(to: newLength), "truncating would lose keys still inside a local window")
        length = newLength
    }

    /// Whether `truncate(to:)` keeps every key the next position needs. A position p written after
    /// `n` overwrote the ring slot of p - capacity; that key is needed again unless the ring never
    /// wrapped, at most one position is dropped, or nothing is kept.
    public func canTruncate(to n: Int) -> Bool {
        guard n >= 0, n <= length else { return false }
        if n == 0 { return true }  // nothing is kept, so nothing can be missing
        let ring = (0..<config.blockCount).filter { !config.isGlobal(layer: $0) }.map { capacity[$0] }.min() ?? Int.max
        return length <= n + 1 || length <= ring
    }

    /// Bytes held by local rings and global caches.
    public var bytes: (local: Int, global: Int) {
        Self.bytes(config: config, context: context, bidirectionalSpan: bidirectionalSpan)  // vision hook
    }

    /// Bytes a cache for `context` positions takes, without making one.
    public static func bytes(config: Gemma3Config, context: Int, localRing: Bool = true,
                             bidirectionalSpan: Int = 0) -> (local: Int, global: Int) {  // vision hook
        var local = 0, global = 0
        for layer in 0..<config.blockCount {
            let isGlobal = config.isGlobal(layer: layer)
            let slots = isGlobal || !localRing
                ? context : min(config.slidingWindow + max(0, bidirectionalSpan - 1), context)  // vision hook
            let b = 2 * slots * config.kvDim * MemoryLayout<Float>.size
            if isGlobal { global += b } else { local += b }
        }
        return (local, global)
    }

    @inline(__always) func keyRow(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys[layer] + (position % capacity[layer]) * config.kvDim
    }

    @inline(__always) func valueRow(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values[layer] + (position % capacity[layer]) * config.kvDim
    }
}
