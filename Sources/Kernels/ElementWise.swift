// Element-wise operations of a transformer step, on Swift SIMD types (they compile to AVX or
// NEON registers). Each works on raw pointers into preallocated buffers and allocates nothing.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public typealias Vec8 = SIMD8<Float>

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

@inline(__always) func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

public enum ElementWise {
    /// Sum of squares of x[0..<n].
    public static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = Vec8()
        var i = 0
        while i + 8 <= n {
            let v = load8(x + i)
            acc += v * v
            i += 8
        }
        var s = acc.sum()
        while i < n { s += x[i] * x[i]; i += 1 }
        return s
    }

    /// out = x / sqrt(mean(x^2) + eps) * w. `out` may equal `x`.
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, eps: Float, n: Int,
                               out: UnsafeMutablePointer<Float>) {
        let scale = 1 / sqrtf(sumOfSquares(x, n) / Float(n) + eps)
        var i = 0
        let s = Vec8(repeating: scale)
        while i + 8 <= n {
            store8(load8(x + i) * s * load8(w + i), out + i)
            i += 8
        }
        while i < n { out[i] = x[i] * scale * w[i]; i += 1 }
    }

    /// y += x.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(load8(y + i) + load8(x + i), y + i)
            i += 8
        }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// x *= s.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, _ n: Int) {
        var i = 0
        let v = Vec8(repeating: s)
        while i + 8 <= n {
            store8(load8(x + i) * v, x + i)
            i += 8
        }
        while i < n { x[i] *= s; i += 1 }
    }

    /// g = gelu_tanh(g) * u, with gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    public static func geluTanhMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        let c: Float = 0.797_884_56  // sqrt(2 / pi)
        for i in 0..<n {
            let x = g[i]
            g[i] = 0.5 * x * (1 + tanhf(c * x * (1 + 0.044715 * x * x))) * u[i]
        }
    }

    /// In-place softmax over x[0..<n]; returns nothing, leaves probabilities.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        var m = -Float.infinity
        for i in 0..<n where x[i] > m { m = x[i] }
        var s: Float = 0
        for i in 0..<n {
            let e = expf(x[i] - m)
            x[i] = e
            s += e
        }
        scale(x, by: 1 / s, n)
    }
}

/// Rotary position embedding in the "rotate halves" (NEOX) layout: element i pairs with
/// element i + d/2. The inverse frequencies are computed once per table.
public struct RotaryTable: @unchecked Sendable {
    public let headDim: Int
    public let base: Float
    /// Positions are divided by this (linear RoPE scaling); 1 means none.
    public let linearScale: Float
    private let invFreq: UnsafeMutablePointer<Float>

    public init(headDim: Int, base: Float, linearScale: Float = 1) {
        precondition(headDim % 2 == 0)
        self.headDim = headDim
        self.base = base
        self.linearScale = linearScale
        invFreq = .allocate(capacity: headDim / 2)
        for i in 0..<(headDim / 2) {
            invFreq[i] = powf(base, -2 * Float(i) / Float(headDim))
        }
    }

    /// Frees the table; call once when the owner goes away.
    public func deallocate() { invFreq.deallocate() }

    /// Rotates `heads` consecutive vectors of headDim floats for absolute position `pos`.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position pos: Int) {
        let half = headDim / 2
        let p = Float(pos) / linearScale
        for i in 0..<half {
            let theta = p * invFreq[i]
            let c = cosf(theta), s = sinf(theta)
            for h in 0..<heads {
                let v = x + h * headDim
                let a = v[i], b = v[i + half]
                v[i] = a * c - b * s
                v[i + half] = a * s + b * c
            }
        }
    }
}
