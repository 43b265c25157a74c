// Element-wise steps the vision tower needs and the text model does not: LayerNorm with bias
// (SigLIP normalises by mean and variance, Gemma by RMS) and CLIP's quick GELU, as plain loops. The
// encoder runs LayerNorm, the tanh GELU and the softmax through the row kernels (Kernels.RowKernels,
// C with AVX2 / NEON paths); `layerNorm` here is their definition in Swift, kept for the tests and for
// Cross/swift_row_bench.swift, which times the Swift code the kernels replaced.
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

    /// x = x * sigmoid(1.702 x), in place (CLIP's quick GELU).
    public static func geluQuick(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = v / (1 + expf(-1.702 * v))
        }
    }
}
