import Base
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes GGUF version 3 files: metadata in insertion order, then tensors, each aligned.
/// Used by the tests to make tiny synthetic models of any Gemma 3 shape, and by tools that
/// rewrite models.
public struct GGUFWriter {
    public struct Tensor {
        public let name: String
        public let dimensions: [Int]
        public let type: TensorType
        public let data: [UInt8]
    }

    public private(set) var entries: [(key: String, value: GGUFValue)] = []
    public private(set) var tensors: [Tensor] = []
    public var alignment: Int = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = entries.firstIndex(where: { $0.key == key }) {
            entries[i].value = value
        } else {
            entries.append((key, value))
        }
        if key == "general.alignment", case .uint32(let a) = value, a > 0, a & (a - 1) == 0 {
            alignment = Int(a)
        }
    }

    public mutating func remove(_ key: String) {
        entries.removeAll { $0.key == key }
    }

    /// Adds a tensor; `data` must hold exactly the bytes its type and shape need.
    public mutating func addTensor(name: String, dimensions: [Int], type: TensorType, data: [UInt8]) {
        precondition(!dimensions.isEmpty && dimensions.allSatisfy { $0 > 0 }, "bad shape for \(name)")
        let rows = dimensions.dropFirst().reduce(1, *)
        precondition(type.rowBytes(dimensions[0]).map { $0 * rows } == data.count,
                     "tensor \(name): \(data.count) bytes do not fit \(type) \(dimensions)")
        tensors.append(Tensor(name: name, dimensions: dimensions, type: type, data: data))
    }

    public mutating func removeTensor(named name: String) {
        tensors.removeAll { $0.name == name }
    }

    /// The whole file as bytes.
    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(tensors.reduce(4096) { $0 + $1.data.count + alignment })
        out += Array("GGUF".utf8)
        put(UInt32(3), &out)
        put(UInt64(tensors.count), &out)
        put(UInt64(entries.count), &out)
        for (key, value) in entries {
            putString(key, &out)
            putValue(value, &out)
        }
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            offsets.append(offset)
            offset = (offset + t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            putString(t.name, &out)
            put(UInt32(t.dimensions.count), &out)
            for d in t.dimensions { put(UInt64(d), &out) }
            put(t.type.rawValue, &out)
            put(UInt64(off), &out)
        }
        padTo(alignment, &out)
        for t in tensors {
            out += t.data
            padTo(alignment, &out)
        }
        return out
    }

    /// Writes the file so that a power cut leaves either the old file or the whole new one:
    /// temp file in the same directory, fsync, rename over the target, fsync the directory.
    public func write(to path: String) throws {
        try AtomicFile.write(serialize(), to: path)
    }

    // MARK: Encoding

    private func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    private func putString(_ s: String, _ out: inout [UInt8]) {
        put(UInt64(s.utf8.count), &out)
        out += Array(s.utf8)
    }

    private func padTo(_ align: Int, _ out: inout [UInt8]) {
        let rem = out.count % align
        if rem != 0 { out += [UInt8](repeating: 0, count: align - rem) }
    }

    private func putValue(_ v: GGUFValue, _ out: inout [UInt8]) {
        put(v.type.rawValue, &out)
        switch v {
        case .uint8(let x): put(x, &out)
        case .int8(let x): put(x, &out)
        case .uint16(let x): put(x, &out)
        case .int16(let x): put(x, &out)
        case .uint32(let x): put(x, &out)
        case .int32(let x): put(x, &out)
        case .uint64(let x): put(x, &out)
        case .int64(let x): put(x, &out)
        case .float32(let x): put(x.bitPattern, &out)
        case .float64(let x): put(x.bitPattern, &out)
        case .bool(let b): put(UInt8(b ? 1 : 0), &out)
        case .string(let s): putString(s, &out)
        case .array(let a):
            put(a.elementType.rawValue, &out)
            put(UInt64(a.count), &out)
            switch a {
            case .strings(let xs): xs.forEach { putString($0, &out) }
            case .float32(let xs): xs.forEach { put($0.bitPattern, &out) }
            case .int32(let xs): xs.forEach { put($0, &out) }
            case .uint32(let xs): xs.forEach { put($0, &out) }
            case .int64(let xs): xs.forEach { put($0, &out) }
            case .uint64(let xs): xs.forEach { put($0, &out) }
            case .uint8(let xs): out += xs
            case .int8(let xs): xs.forEach { put($0, &out) }
            case .bool(let xs): xs.forEach { put(UInt8($0 ? 1 : 0), &out) }
            case .others(let n, let t): out += [UInt8](repeating: 0, count: n * (t.scalarSize ?? 0))
            }
        }
    }
}

