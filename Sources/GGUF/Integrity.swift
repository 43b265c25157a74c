import CIntegrity

/// CRC32C (Castagnoli): the checksum of session snapshots and of the model identity. Runs on the
/// CPU's CRC instructions (SSE4.2, ARMv8 CRC) when it has them, else on a table; both agree.
public enum CRC32C {
    /// The CRC of `bytes`, continuing `crc` (0 starts a new one): `checksum(b, continuing:
    /// checksum(a))` is the CRC of a followed by b.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return ci_crc32c(crc, base, bytes.count)
    }

    /// The table-driven reference `checksum` is tested against.
    public static func reference(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return ci_crc32c_ref(crc, base, bytes.count)
    }

    /// The CRCs of the four quarters of `bytes` (see `ci_crc32c_quarters`), computed side by side
    /// at about three times the speed of one `checksum`: a fingerprint of large inputs.
    public static func quarters(_ bytes: UnsafeRawBufferPointer) -> [UInt32] {
        var out: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &out) { ci_crc32c_quarters(bytes.baseAddress, bytes.count, $0.baseAddress!.assumingMemoryBound(to: UInt32.self)) }
        return [out.0, out.1, out.2, out.3]
    }

    /// Whether `checksum` runs on CRC instructions.
    public static var usesInstructions: Bool { ci_crc32c_hardware() != 0 }
}

/// Finds infinite and NaN values by their bit patterns (vectorised C; allocates nothing, so it
/// may run on every decode step).
public enum NonFinite {
    /// The index of the first infinite or NaN value of `values`, or nil when all are finite.
    @inline(__always)
    public static func firstIndex(_ values: UnsafePointer<Float>, count: Int) -> Int? {
        let i = ci_find_nonfinite_f32(values, Int64(count))
        return i < 0 ? nil : Int(i)
    }

    /// `firstIndex` of the f32 values stored in `bytes` (at any alignment).
    public static func firstIndex(float32 bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        let i = ci_find_nonfinite_f32(base, Int64(bytes.count / 4))
        return i < 0 ? nil : Int(i)
    }

    /// `firstIndex` of a buffer.
    @inline(__always)
    public static func firstIndex(_ values: UnsafeBufferPointer<Float>) -> Int? {
        guard let base = values.baseAddress else { return nil }
        return firstIndex(base, count: values.count)
    }
}

/// The SIGBUS guard of file mappings (`ci_guard_add`): a read of a registered mapping past the end
/// of a file truncated under the process prints one line naming the file and exits with status
/// `changedFileExitStatus`, instead of dying of the signal somewhere in a kernel.
public enum MappingGuard {
    /// The exit status of a process whose mapped file was truncated under it (EX_IOERR).
    public static let changedFileExitStatus = Int32(CI_EXIT_MAPPED_FILE_CHANGED)

    /// Registers `size` bytes at `base`, a mapping of `path`; returns a slot for `remove`
    /// (-1 when the table is full and the mapping is not guarded).
    public static func add(_ base: UnsafeRawPointer, size: Int, path: String) -> Int32 {
        ci_guard_add(base, size, path)
    }

    /// Forgets a registered mapping; call it before unmapping.
    public static func remove(_ slot: Int32) {
        ci_guard_remove(slot)
    }
}
