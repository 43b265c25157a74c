// CLIP's quick GELU, the one element-wise step of the vision tower the row kernels do not have (the
// encoder runs LayerNorm with bias, the tanh GELU and the softmax through Kernels.RowKernels, C with
// AVX2 / NEON paths and a scalar reference).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Kernels

public enum VisionMath {
    /// x = x * sigmoid(1.702 x), in place (CLIP's quick GELU).
    public static func geluQuick(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = v / (1 + expf(-1.702 * v))
        }
    }
}
