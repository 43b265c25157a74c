/// A bounds-checked little-endian cursor over the mapped header. Every read checks that the bytes
/// exist first; every count is checked against the bytes left before anything is allocated.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var position = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - position }

    private func truncated(_ what: String, _ need: Int) -> GGUFError {
        GGUFError(.truncated, file: file, offset: position,
                  "file ends while reading \(what) (needs \(need) bytes, \(remaining) left)")
    }

    mutating func bytes(_ n: Int, what: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw truncated(what, n) }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    mutating func scalar<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw truncated(what, size) }
        defer { position += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func u32(_ what: String) throws -> UInt32 { try scalar(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try scalar(UInt64.self, what) }

    /// A u64 count of entries each at least `minimumEntryBytes` long: refused when the file could
    /// not possibly hold that many (this is what catches counts that overflow an allocation).
    mutating func count(_ what: String, minimumEntryBytes: Int) throws -> Int {
        let at = position
        let n = try u64(what)
        guard n <= UInt64(remaining / minimumEntryBytes) else {
            throw GGUFError(.overflow, file: file, offset: at,
                            "\(what) \(n) cannot fit in the \(remaining) bytes left in the file")
        }
        return Int(n)
    }

    mutating func string(_ what: String) throws -> String {
        let at = position
        let n = try u64("\(what) length")
        guard n <= UInt64(remaining) else {
            throw GGUFError(.truncated, file: file, offset: at,
                            "\(what) length \(n) is larger than the \(remaining) bytes left in the file")
        }
        let raw = try bytes(Int(n), what: what)
        return String(decoding: raw, as: UTF8.self)
    }

    mutating func value(key: String) throws -> GGUFValue {
        let at = position
        let raw = try u32("type of '\(key)'")
        guard let type = GGUFValueType(rawValue: raw) else {
            throw GGUFError(.badValue, file: file, offset: at, "metadata '\(key)' has unknown value type \(raw)")
        }
        switch type {
        case .uint8: return .uint8(try scalar(UInt8.self, key))
        case .int8: return .int8(try scalar(Int8.self, key))
        case .uint16: return .uint16(try scalar(UInt16.self, key))
        case .int16: return .int16(try scalar(Int16.self, key))
        case .uint32: return .uint32(try scalar(UInt32.self, key))
        case .int32: return .int32(try scalar(Int32.self, key))
        case .uint64: return .uint64(try scalar(UInt64.self, key))
        case .int64: return .int64(try scalar(Int64.self, key))
        case .float32: return .float32(Float(bitPattern: try scalar(UInt32.self, key)))
        case .float64: return .float64(Double(bitPattern: try scalar(UInt64.self, key)))
        case .bool:
            let b = try scalar(UInt8.self, key)
            guard b <= 1 else {
                throw GGUFError(.badValue, file: file, offset: at, "metadata '\(key)' bool has value \(b)")
            }
            return .bool(b == 1)
        case .string: return .string(try string("metadata '\(key)'"))
        case .array: return .array(try array(key: key))
        }
    }

    private mutating func array(key: String) throws -> GGUFArray {
        let at = position
        let raw = try u32("element type of '\(key)'")
        guard let type = GGUFValueType(rawValue: raw) else {
            throw GGUFError(.badValue, file: file, offset: at, "metadata '\(key)' array has unknown element type \(raw)")
        }
        guard type != .array else {
            throw GGUFError(.badValue, file: file, offset: at, "metadata '\(key)' is a nested array (not allowed)")
        }
        // Strings take at least their 8-byte length each.
        let n = try count("element count of '\(key)'", minimumEntryBytes: type.scalarSize ?? 8)
        func read<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
            let raw = try bytes(n * MemoryLayout<T>.size, what: "'\(key)' elements")
            return (0..<n).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch type {
        case .string:
            var out: [String] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try string("'\(key)'[\(i)]")) }
            return .strings(out)
        case .float32: return .float32(try read(UInt32.self).map { Float(bitPattern: $0) })
        case .int32: return .int32(try read(Int32.self))
        case .uint32: return .uint32(try read(UInt32.self))
        case .int64: return .int64(try read(Int64.self))
        case .uint64: return .uint64(try read(UInt64.self))
        case .uint8: return .uint8(try read(UInt8.self))
        case .int8: return .int8(try read(Int8.self))
        case .bool:
            let v = try read(UInt8.self)
            guard v.allSatisfy({ $0 <= 1 }) else {
                throw GGUFError(.badValue, file: file, offset: at, "metadata '\(key)' has a bool that is not 0 or 1")
            }
            return .bool(v.map { $0 == 1 })
        case .int16, .uint16, .float64:
            _ = try bytes(n * type.scalarSize!, what: "'\(key)' elements")
            return .others(count: n, type: type)
        case .array: fatalError("unreachable: nested arrays rejected above")
        }
    }
}
