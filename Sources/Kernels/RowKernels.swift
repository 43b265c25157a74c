import CKernels

/// The row kernels of a kernel set (CKernels.h, "Row kernels"): element-wise steps over one row of
/// floats (the softmax's maximum and exp-shift, the tanh GELU, LayerNorm, adds), in C with AVX2 / NEON
/// paths, since Swift's SIMD types compile here for baseline x86-64 (SSE halves, no FMA). Taken from
/// the set once, like `FloatGemm`.
public struct RowKernels: @unchecked Sendable {
    private let maxF32: ck_max_fn
    private let expShiftF32: ck_exp_shift_fn
    private let geluTanhF32: ck_gelu_fn
    private let layerNormF32: ck_layer_norm_fn
    private let addF32: ck_add_fn

    public init(_ kernels: KernelSet) {
        let ks = kernels.table.pointee
        maxF32 = ks.max_f32!
        expShiftF32 = ks.exp_shift!
        geluTanhF32 = ks.gelu_tanh!
        layerNormF32 = ks.layer_norm!
        addF32 = ks.add_f32!
    }

    /// The largest of x[0..<n] (NaNs skipped); -infinity when n is 0.
    public func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float { maxF32(Int64(n), x) }

    /// x = e^(x - shift) in place, returning the sum of the results. A score of -infinity (masked)
    /// gives 0, also when `shift` is -infinity.
    public func expShift(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        expShiftF32(Int64(n), x, shift)
    }

    /// One piece of a softmax computed in pieces (an online softmax): shifts x[0..<n] by the larger
    /// of its maximum and `floor` (the running maximum of the pieces before), exponentiates in place,
    /// and returns that shift and the sum of the results. With n == 0 the shift is `floor` and the sum 0.
    public func expShiftedParts(_ x: UnsafeMutablePointer<Float>, _ n: Int, floor: Float = -.infinity)
        -> (shift: Float, sum: Float)
    {
        let shift = Swift.max(maxF32(Int64(n), x), floor)
        return (shift, expShiftF32(Int64(n), x, shift))
    }

    /// x = gelu_tanh(x + bias) in place (no bias when nil).
    public func geluTanh(_ x: UnsafeMutablePointer<Float>, _ n: Int, bias: UnsafePointer<Float>? = nil) {
        geluTanhF32(Int64(n), x, bias)
    }

    /// out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (mean and variance summed in double);
    /// `weight` and `bias` may be nil; `out` may equal `x`.
    public func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                          eps: Float, n: Int, out: UnsafeMutablePointer<Float>) {
        layerNormF32(Int64(n), x, weight, bias, eps, out)
    }

    /// y += x + b (y += x when b is nil): a bias, or a bias and a residual, in one pass.
    public func add(_ x: UnsafePointer<Float>, _ b: UnsafePointer<Float>? = nil, into y: UnsafeMutablePointer<Float>,
                    _ n: Int) {
        addF32(Int64(n), y, x, b)
    }
}
