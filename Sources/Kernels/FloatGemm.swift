import CKernels

/// The float matrix products of a kernel set (CKernels.h, "Float matrix products"): f32 activation
/// rows against f32 / f16 matrices in blocked register tiles, for work that is all batch (the
/// vision encoder). Taken from the set once, through the shim's accessors.
public struct FloatGemm: @unchecked Sendable {
    /// (n, a, aStride, ntok, w, rowBytes, rows, out, outStride, accumulate):
    /// out[t * outStride + r] (+)= sum_k a[t * aStride + k] * W[r][k].
    public typealias Rows = @convention(c) (Int64, UnsafePointer<Float>?, Int64, Int64, UnsafeRawPointer?, Int, Int64,
                                            UnsafeMutablePointer<Float>?, Int64, Int32) -> Void
    /// (n, a, aStride, ntok, b, bStride, cols, out, outStride, accumulate):
    /// out[t * outStride + c] (+)= sum_k a[t * aStride + k] * b[k * bStride + c].
    public typealias KN = @convention(c) (Int64, UnsafePointer<Float>?, Int64, Int64, UnsafePointer<Float>?, Int64, Int64,
                                          UnsafeMutablePointer<Float>?, Int64, Int32) -> Void

    /// Products with the rows of an F32 or F16 matrix (weights, keys), indexed by `type`.
    public let f32: Rows
    public let f16: Rows
    /// Products with a k-major f32 block (attention's values, transposed keys).
    public let kn: KN

    public init(_ kernels: KernelSet) {
        let ks = kernels.table
        f32 = ck_set_fgemm(ks, CK_F32)!
        f16 = ck_set_fgemm(ks, CK_F16)!
        kn = ks.pointee.fgemm_kn!
    }

    /// The product with rows of `type`, or nil for a type other than F32 and F16.
    public func rows(_ type: ck_type) -> Rows? {
        type == CK_F32 ? f32 : type == CK_F16 ? f16 : nil
    }
}
