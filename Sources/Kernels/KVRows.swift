import CKernels
import GGUF

/// The kernels that read and write the rows of a KV cache stored as f32, f16 or q8_0 (CKernels.h,
/// "KV cache rows"), taken from a kernel set once.
public struct KVRowKernels: @unchecked Sendable {
    public typealias Dot = @convention(c) (Int64, UnsafeRawPointer?, UnsafeRawPointer?) -> Float
    public typealias Axpy = @convention(c) (Int64, Float, UnsafeRawPointer?, UnsafeMutablePointer<Float>?) -> Void
    public typealias Store = @convention(c) (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int64) -> Void
    public typealias RowsDot = @convention(c) (Int64, Int64, UnsafePointer<Float>?, Int64, UnsafeRawPointer?, Int, Int64,
                                               Float, UnsafeMutablePointer<Float>?, Int64) -> Void
    public typealias RowsMix = @convention(c) (Int64, Int64, UnsafePointer<Float>?, Int64, UnsafeRawPointer?, Int, Int64,
                                               UnsafeMutablePointer<Float>?, Int64) -> Void

    /// sum row[i] * x[i] over n elements of a stored row and n floats.
    public let dot: Dot
    /// y[i] += a * row[i].
    public let axpy: Axpy
    /// Writes n floats as a row of the type.
    public let store: Store
    /// Many queries against many rows: (n, nq, q, qStride, rows, rowStride, nrows, scale, s, sStride),
    /// s[i * sStride + j] = scale * dot(row j, query i).
    public let rowsDot: RowsDot
    /// (n, nq, p, pStride, rows, rowStride, nrows, y, yStride): y[i * yStride + e] += sum_j p[i * pStride + j] * row j [e].
    public let rowsMix: RowsMix

    /// The kernels of `kernels` for rows of `type` (f32, f16 or q8_0); nil for a type that does not
    /// store KV rows.
    public init?(_ kernels: KernelSet, type: TensorType) {
        let ks = kernels.table, t = ck_type(rawValue: type.rawValue)
        guard let d = ck_set_row_dot(ks, t), let a = ck_set_row_axpy(ks, t), let s = ck_set_quantize(ks, t),
              let md = ck_set_rows_dot(ks, t), let mm = ck_set_rows_mix(ks, t) else { return nil }
        dot = d
        axpy = a
        store = s
        rowsDot = md
        rowsMix = mm
    }
}
