import CKernels

/// The kernels that read and write the rows of a KV cache stored as f32, f16 or q8_0 (CKernels.h,
/// "KV cache rows"), taken from a kernel set once (the C arrays import as tuples, so each slot is
/// read through its offset).
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

    /// The kernels of `kernels` for rows of `type` (CK_F32, CK_F16 or CK_Q8_0); nil for another type.
    public init?(_ kernels: KernelSet, type: ck_type) {
        guard type == CK_F32 || type == CK_F16 || type == CK_Q8_0 else { return nil }
        let ks = UnsafeRawPointer(kernels.table)
        func slot<T>(_ field: PartialKeyPath<ck_kernel_set>, _: T.Type) -> T? {
            let offset = MemoryLayout<ck_kernel_set>.offset(of: field)!
            return (ks + offset + Int(type.rawValue) * MemoryLayout<T?>.stride).load(as: T?.self)
        }
        guard let d = slot(\ck_kernel_set.row_dot, Dot.self), let a = slot(\ck_kernel_set.row_axpy, Axpy.self),
              let s = slot(\ck_kernel_set.quantize, Store.self), let md = slot(\ck_kernel_set.rows_dot, RowsDot.self),
              let mm = slot(\ck_kernel_set.rows_mix, RowsMix.self) else { return nil }
        dot = d
        axpy = a
        store = s
        rowsDot = md
        rowsMix = mm
    }
}
