import CKernels

/// A batch of activation rows (float) and their quantised forms, one per activation format,
/// made on demand and reused by every matrix that reads the same input (q, k and v read one
/// input; gate and up another), so each input is quantised once per format, not once per matrix.
/// All storage is allocated in `init`.
public final class QuantizedRows: @unchecked Sendable {
    public let capacity: Int
    public let width: Int
    /// The float rows: capacity x width.
    public let floats: UnsafeMutablePointer<Float>
    private var storage: [ck_type.RawValue: UnsafeMutableRawPointer] = [:]
    private var strides: [ck_type.RawValue: Int] = [:]
    private var valid = Set<ck_type.RawValue>()
    /// Rows holding current data (set by `invalidate`).
    public private(set) var validTokens = 0
    private let kernels: KernelSet

    /// - Parameter formats: the activation formats the matrices reading these rows consume.
    public init(capacity: Int, width: Int, formats: Set<UInt32>, kernels: KernelSet) {
        self.capacity = capacity
        self.width = width
        self.kernels = kernels
        floats = .allocate(capacity: capacity * width)
        floats.initialize(repeating: 0, count: capacity * width)
        for f in formats where f != CK_F32.rawValue {
            let stride = activationRowBytes(ck_type(rawValue: f), width)
            storage[f] = UnsafeMutableRawPointer.allocate(byteCount: max(1, stride * capacity), alignment: 64)
            strides[f] = stride
        }
        valid.reserveCapacity(formats.count + 1)
    }

    deinit {
        floats.deallocate()
        for p in storage.values { p.deallocate() }
    }

    /// Call after writing new floats: the quantised forms are stale.
    public func invalidate(tokens: Int) {
        precondition(tokens <= capacity)
        valid.removeAll(keepingCapacity: true)
        validTokens = tokens
    }

    /// The rows in format `type`, quantising them now if needed.
    func rows(for type: ck_type) -> (base: UnsafeRawPointer, stride: Int) {
        if type == CK_F32 { return (UnsafeRawPointer(floats), width * 4) }
        guard let p = storage[type.rawValue], let stride = strides[type.rawValue] else {
            preconditionFailure("activation format \(type.rawValue) was not declared for these rows")
        }
        if !valid.contains(type.rawValue) {
            let q = quantizeFunction(kernels.table, type)
            for t in 0..<validTokens {
                q(floats + t * width, p + t * stride, Int64(width))
            }
            valid.insert(type.rawValue)
        }
        return (UnsafeRawPointer(p), stride)
    }
}

/// The activation quantiser for `type` in a kernel set.
@inline(__always)
func quantizeFunction(_ ks: UnsafePointer<ck_kernel_set>, _ type: ck_type) -> ck_quantize_fn {
    guard let f = ck_set_quantize(ks, type) else {
        preconditionFailure("kernel set has no quantiser for activation type \(type.rawValue)")
    }
    return f
}
