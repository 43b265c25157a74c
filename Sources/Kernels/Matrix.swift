import CKernels
import GGUF

/// A row-major matrix of `rows` rows of `columns` elements each, stored in any tensor type: a
/// view into the weight arena (or any other memory that outlives it). Kernels read it; nobody
/// writes it.
public struct Matrix: @unchecked Sendable {
    public let type: TensorType
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    /// The rows, `rowBytes` apart; when `rowsReadable` is false, only the repacked form exists
    /// (a matrix the arena requantised and repacked) and nothing may read rows from here.
    public let base: UnsafeRawPointer
    public let rowsReadable: Bool
    /// The same weights in a repacked layout, when the load made one (see `RepackedArena`);
    /// `Compute.matmul` then reads only these and never `base`.
    public var repacked: RepackedView? = nil

    public init(type: TensorType, rows: Int, columns: Int, base: UnsafeRawPointer, rowsReadable: Bool = true) {
        precondition(columns % type.blockElements == 0, "row length \(columns) is not a multiple of the \(type) block")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.rowBytes = type.rowBytes(columns)!
        self.base = base
        self.rowsReadable = rowsReadable
    }

    /// The C type tag.
    @inlinable public var ckType: ck_type { ck_type(rawValue: type.rawValue) }

    /// The activation format this matrix's dot product consumes.
    public var activationType: ck_type { ck_activation_type(ckType) }

    /// Dequantises row `r` into `out` (columns floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows && rowsReadable)
        ck_dequantize_row(ckType, base + r * rowBytes, out, Int64(columns))
    }
}

/// Bytes that `n` elements take in activation format `type`.
@inlinable
public func activationRowBytes(_ type: ck_type, _ n: Int) -> Int {
    n / Int(ck_block_elements(type)) * Int(ck_block_bytes(type))
}
