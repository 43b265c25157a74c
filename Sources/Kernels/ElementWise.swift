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

    /// e^x lane by lane: Cephes' expf (2^k times a degree-6 polynomial in r = x - k ln 2, with k
    /// rounded by adding 1.5 * 2^23 and 2^k built from its bits), using only SIMD arithmetic and
    /// selects so that it compiles to vector instructions (`pointwiseMin`/`clamped` are not inlined
    /// and cost 10x). Within a few ulp of `expf` on [-87.3, 88]; 0 below, where `expf` gives a
    /// denormal or 0, and +inf above 88 (`expf` overflows at 88.7).
    @inline(__always) public static func exp(_ x: Vec8) -> Vec8 {
        let low = Vec8(repeating: -87.336_54), high = Vec8(repeating: 88)
        let tooLow = x .< low, tooHigh = x .> high
        let v = x.replacing(with: low, where: tooLow).replacing(with: high, where: tooHigh)
        let magic = Vec8(repeating: 12_582_912)
        let t = v * 1.442_695_04 + magic
        let k = t - magic
        let r = (v - k * 0.693_359_375) + k * 2.121_944_4e-4
        var p = Vec8(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        // k is in -126...127 here, so k + 127 is a normal exponent.
        let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
        var out = y * unsafeBitCast(bits, to: Vec8.self)
        out.replace(with: 0, where: tooLow)
        out.replace(with: .infinity, where: tooHigh)
        return out
    }

    /// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written as the same function
    /// without a tanh: x / (1 + e^(-2 sqrt(2/pi) (x + 0.044715 x^3))).
    @inline(__always) static func geluTanh(_ x: Vec8) -> Vec8 {
        x / (1 + exp(x * (1 + 0.044715 * x * x) * geluScale))
    }

    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        x / (1 + expf(x * (1 + 0.044715 * x * x) * geluScale))
    }

    private static let geluScale: Float = -2 * 0.797_884_56  // -2 sqrt(2 / pi)

    /// x = gelu_tanh(x) in place.
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(geluTanh(load8(x + i)), x + i)
            i += 8
        }
        while i < n { x[i] = geluTanh(x[i]); i += 1 }
    }

    /// g = gelu_tanh(g) * u.
    public static func geluTanhMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(geluTanh(load8(g + i)) * load8(u + i), g + i)
            i += 8
        }
        while i < n { g[i] = geluTanh(g[i]) * u[i]; i += 1 }
    }

    /// x = exp(scale * (x - max(x))) in place (scale > 0), returning 1 / sum of the results:
    /// a softmax of scale * x without its division, eight lanes at a time. `softmax` is
    /// this followed by the division.
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, scale: Float, _ n: Int) -> Float {
        1 / expShiftedParts(x, scale: scale, n).sum
    }

    /// `expShifted` returning its parts: the shift scale * max(x) and the sum of the results (for a
    /// softmax computed in pieces and merged: piece p weighs exp(shift_p - max shift)).
    /// With n == 0 the shift is -infinity and the sum 0. A `floor` above scale * max(x) is the
    /// shift instead (an online softmax shifts each piece by the running maximum).
    public static func expShiftedParts(_ x: UnsafeMutablePointer<Float>, scale: Float, _ n: Int,
                                       floor: Float = -.infinity) -> (shift: Float, sum: Float) {
        var m8 = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= n {
            let v = load8(x + i)
            m8.replace(with: v, where: v .> m8)  // (pointwiseMax is not inlined: 10x slower)
            i += 8
        }
        var m = m8.max()
        for j in i..<n { m = max(m, x[j]) }
        let shift = max(m * scale, floor)
        var sum8 = SIMD8<Float>()
        i = 0
        while i + 8 <= n {
            let e = exp(load8(x + i) * scale - shift)
            store8(e, x + i)
            sum8 += e
            i += 8
        }
        var sum = sum8.sum()
        for j in i..<n {
            x[j] = expf(x[j] * scale - shift)
            sum += x[j]
        }
        return (shift, sum)
    }

    /// In-place softmax over x[0..<n]; returns nothing, leaves probabilities.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        scale(x, by: expShifted(x, scale: 1, n), n)
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
