// Element-wise steps the vision tower needs and the text model does not: LayerNorm with bias
// (SigLIP normalises by mean and variance, Gemma by RMS) and the ungated GELUs. Candidates for
// Kernels once another model needs them; here they are plain loops over preallocated rows.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum VisionMath {
    /// out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias, as ggml_norm then mul and add.
    /// Sums run in double. `weight` and `bias` may be absent; `out` may equal `x`.
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                 eps: Float, n: Int, out: UnsafeMutablePointer<Float>) {
        var sum = 0.0
        for i in 0..<n { sum += Double(x[i]) }
        let mean = Float(sum / Double(n))
        var squares = 0.0
        for i in 0..<n {
            let c = x[i] - mean
            squares += Double(c * c)
        }
        let variance = Float(squares / Double(n))
        let scale = 1 / sqrtf(variance + eps)
        for i in 0..<n { out[i] = (x[i] - mean) * scale }
        if let weight { for i in 0..<n { out[i] *= weight[i] } }
        if let bias { for i in 0..<n { out[i] += bias[i] } }
    }

    /// x = exp(scale * (x - max(x))) in place (scale > 0), returning 1 / sum of the results:
    /// a softmax of scale * x without its division, eight lanes at a time (`exp8`).
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, scale: Float, _ n: Int) -> Float {
        var m8 = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            m8.replace(with: v, where: v .> m8)  // (pointwiseMax is not inlined: 10x slower)
            i += 8
        }
        var m = m8.max()
        for j in i..<n { m = max(m, x[j]) }
        let shift = m * scale
        var sum8 = SIMD8<Float>()
        i = 0
        while i + 8 <= n {
            let e = exp8(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * scale - shift)
            UnsafeMutableRawPointer(x + i).storeBytes(of: e, as: SIMD8<Float>.self)
            sum8 += e
            i += 8
        }
        var sum = sum8.sum()
        for j in i..<n {
            x[j] = expf(x[j] * scale - shift)
            sum += x[j]
        }
        return 1 / sum
    }

    /// exp of eight lanes x <= 88: Cephes' expf (2^k times a degree-6 polynomial in r = x - k ln 2),
    /// with k rounded by adding 1.5 * 2^23 and 2^k built from its bits (only SIMD arithmetic and
    /// selects, which compile to vector instructions). Within a few ulp of expf on [-87.3, 88]; 0
    /// below, where expf gives a denormal or 0.
    @inline(__always)
    public static func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let low = SIMD8<Float>(repeating: -87.33654)
        let tooLow = x .< low
        let v = x.replacing(with: low, where: tooLow)
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = v * 1.442_695_04 + magic
        let k = t - magic
        let r = (v - k * 0.693_359_375) + k * 2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
        var out = y * unsafeBitCast(bits, to: SIMD8<Float>.self)
        out.replace(with: 0, where: tooLow)
        return out
    }

    /// x = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in place.
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let c: Float = 0.797_884_56  // sqrt(2 / pi)
        for i in 0..<n {
            let v = x[i]
            x[i] = 0.5 * v * (1 + tanhf(c * v * (1 + 0.044715 * v * v)))
        }
    }

    /// x = x * sigmoid(1.702 x), in place (CLIP's quick GELU).
    public static func geluQuick(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = v / (1 + expf(-1.702 * v))
        }
    }
}
