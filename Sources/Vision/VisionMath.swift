// Element-wise steps the vision tower needs and the text model does not: LayerNorm with bias
// (SigLIP normalises by mean and variance, Gemma by RMS), the softmax without its division and
// CLIP's quick GELU (the tanh GELU is ElementWise.geluTanh). Candidates for
// Kernels once another model needs them; here they are plain loops over preallocated rows.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Kernels

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
    /// a softmax of scale * x without its division, eight lanes at a time (`ElementWise.exp`).
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
            let e = ElementWise.exp(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * scale - shift)
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

    /// x = x * sigmoid(1.702 x), in place (CLIP's quick GELU).
    public static func geluQuick(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = v / (1 + expf(-1.702 * v))
        }
    }
}
