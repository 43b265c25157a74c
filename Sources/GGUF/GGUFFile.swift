/// A validated GGUF file over one read-only mapping.
///
/// Parsing checks every count, length, offset and size with checked arithmetic against the bytes
/// actually present before trusting any of them (see shared/EDGE.md for the inputs that have
/// crashed other loaders). After `init` succeeds, every tensor view lies inside the mapping.
public final class GGUFFile: @unchecked Sendable {
    public static let supportedVersions: ClosedRange<UInt32> = 2...3
    public static let maxTensorNameLength = 63
    public static let maxDimensions = 4

    public let path: String
    public let version: UInt32
    public let alignment: Int
    /// Metadata keys in file order.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// Byte offset of the data section.
    public let dataOffset: Int
    public let mapping: MappedFile
    private let tensorIndex: [String: Int]

    public convenience init(path: String, readAhead: Bool = true) throws {
        try self.init(mapping: MappedFile(path: path, readAhead: readAhead))
    }

    public init(mapping: MappedFile) throws {
        self.mapping = mapping
        self.path = mapping.path
        var r = ByteReader(bytes: mapping.bytes, file: mapping.path)

        let magic = try r.bytes(4, what: "magic")
        guard Array(magic) == Array("GGUF".utf8) else {
            throw GGUFError(.badMagic, file: path, offset: 0,
                            "not a GGUF file (magic \(magic.map { String(format2: $0) }.joined(separator: " ")))")
        }
        version = try r.u32("version")
        guard Self.supportedVersions.contains(version) else {
            throw GGUFError(.badVersion, file: path, offset: 4,
                            "GGUF version \(version) is not supported (supported: 2 and 3)")
        }
        let tensorCount = try r.count("tensor count", minimumEntryBytes: 8 + 4 + 8 + 4 + 8)
        let kvCount = try r.count("metadata count", minimumEntryBytes: 8 + 1 + 4 + 1)

        var keys: [String] = []
        keys.reserveCapacity(kvCount)
        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(kvCount)
        for _ in 0..<kvCount {
            let at = r.position
            let key = try r.string("metadata key")
            guard !key.isEmpty else { throw GGUFError(.badKey, file: path, offset: at, "empty metadata key") }
            guard metadata[key] == nil else {
                throw GGUFError(.badKey, file: path, offset: at, "duplicate metadata key '\(key)'")
            }
            metadata[key] = try r.value(key: key)
            keys.append(key)
        }
        self.keys = keys
        self.metadata = metadata

        var align = 32
        if let v = metadata["general.alignment"] {
            guard case .uint32(let a) = v else {
                throw GGUFError(.wrongType, file: path, "general.alignment is \(v.type), expected uint32")
            }
            guard a > 0, a & (a - 1) == 0 else {
                throw GGUFError(.badValue, file: path, "general.alignment \(a) is not a power of two")
            }
            align = Int(a)
        }
        alignment = align

        var infos: [(name: String, dims: [Int], type: TensorType, offset: Int, at: Int)] = []
        infos.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        for i in 0..<tensorCount {
            let at = r.position
            let name = try r.string("tensor \(i) name")
            guard !name.isEmpty, name.utf8.count <= Self.maxTensorNameLength else {
                throw GGUFError(.badTensor, file: path, offset: at,
                                "tensor \(i) name is empty or longer than \(Self.maxTensorNameLength) bytes")
            }
            guard index[name] == nil else {
                throw GGUFError(.badTensor, file: path, offset: at, "duplicate tensor name '\(name)'")
            }
            let nDims = try r.u32("tensor '\(name)' dimension count")
            guard nDims >= 1, nDims <= Self.maxDimensions else {
                throw GGUFError(.badTensor, file: path, offset: at,
                                "tensor '\(name)' has \(nDims) dimensions (1 to \(Self.maxDimensions) allowed)")
            }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let v = try r.u64("tensor '\(name)' dimension \(d)")
                guard v >= 1, v <= UInt64(Int32.max) else {
                    throw GGUFError(.badTensor, file: path, offset: at,
                                    "tensor '\(name)' dimension \(d) is \(v) (must be 1...\(Int32.max))")
                }
                dims.append(Int(v))
            }
            let typeAt = r.position
            let rawType = try r.u32("tensor '\(name)' type")
            guard let type = TensorType(rawValue: rawType) else {
                let known = TensorType.knownUnsupportedName(rawType).map { " (\($0))" } ?? ""
                throw GGUFError(.unsupportedType, file: path, offset: typeAt,
                                "tensor '\(name)' has type \(rawType)\(known), which this runtime does not read; "
                                + "supported: \(TensorType.allCases.map(\.description).joined(separator: ", "))")
            }
            let off = try r.u64("tensor '\(name)' offset")
            guard let offset = Int(exactly: off) else {
                throw GGUFError(.overflow, file: path, offset: at, "tensor '\(name)' offset \(off) overflows")
            }
            index[name] = i
            infos.append((name, dims, type, offset, at))
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, o1) = r.position.addingReportingOverflow(align - 1)
        guard !o1 else { throw GGUFError(.overflow, file: path, "data offset overflows") }
        dataOffset = padded / align * align
        guard dataOffset <= mapping.size else {
            throw GGUFError(.truncated, file: path, offset: r.position,
                            "file ends before its data section (needs \(dataOffset) bytes, has \(mapping.size))")
        }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(infos.count)
        for info in infos {
            var elements = 1
            for d in info.dims {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else {
                    throw GGUFError(.overflow, file: path, offset: info.at,
                                    "tensor '\(info.name)' shape \(info.dims) overflows")
                }
                elements = p
            }
            guard let rowBytes = info.type.rowBytes(info.dims[0]) else {
                throw GGUFError(.badTensor, file: path, offset: info.at,
                                "tensor '\(info.name)' row length \(info.dims[0]) is not a multiple of the "
                                + "\(info.type) block of \(info.type.blockElements)")
            }
            let rows = elements / info.dims[0]
            let (byteCount, o2) = rowBytes.multipliedReportingOverflow(by: rows)
            guard !o2 else {
                throw GGUFError(.overflow, file: path, offset: info.at, "tensor '\(info.name)' size overflows")
            }
            guard info.offset % align == 0 else {
                throw GGUFError(.badTensor, file: path, offset: info.at,
                                "tensor '\(info.name)' offset \(info.offset) is not aligned to \(align)")
            }
            let (start, o3) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o4) = start.addingReportingOverflow(byteCount)
            guard !o3, !o4 else {
                throw GGUFError(.overflow, file: path, offset: info.at, "tensor '\(info.name)' extent overflows")
            }
            guard end <= mapping.size else {
                throw GGUFError(.truncated, file: path, offset: info.at,
                                "tensor '\(info.name)' (\(byteCount) bytes at \(start)) extends past the end of "
                                + "the file (\(mapping.size) bytes): the file is truncated or corrupt")
            }
            tensors.append(GGUFTensorInfo(name: info.name, dimensions: info.dims, type: info.type,
                                          fileOffset: start, byteCount: byteCount, rowBytes: rowBytes))
        }
        // Tensors must not overlap one another.
        let sorted = tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.fileOffset + a.byteCount > b.fileOffset {
            throw GGUFError(.badTensor, file: path, offset: b.fileOffset,
                            "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    // MARK: Tensors

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes, a view into the mapping.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[tensor.fileOffset..<(tensor.fileOffset + tensor.byteCount)])
    }

    // MARK: Typed metadata access (the wrong type for a key is an error, never a reinterpretation)

    public func value(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw GGUFError(.missingKey, file: path, "missing metadata key '\(key)'") }
        return v
    }

    private func wrongType(_ key: String, _ v: GGUFValue, _ expected: String) -> GGUFError {
        GGUFError(.wrongType, file: path, "metadata '\(key)' is \(v.type)\(v.arrayElementSuffix), expected \(expected)")
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard case .string(let s) = v else { throw wrongType(key, v, "string") }
        return s
    }

    /// Any non-negative integer type that fits in UInt32.
    public func uint32(_ key: String) throws -> UInt32 {
        let v = try value(key)
        guard let i = v.integer, let u = UInt32(exactly: i) else { throw wrongType(key, v, "unsigned 32-bit integer") }
        return u
    }

    public func float32(_ key: String) throws -> Float {
        let v = try value(key)
        guard let f = v.floatingPoint else { throw wrongType(key, v, "float") }
        return Float(f)
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard case .bool(let b) = v else { throw wrongType(key, v, "bool") }
        return b
    }

    public func stringArray(_ key: String) throws -> [String] {
        let v = try value(key)
        guard case .array(.strings(let a)) = v else { throw wrongType(key, v, "array of strings") }
        return a
    }

    public func float32Array(_ key: String) throws -> [Float] {
        let v = try value(key)
        guard case .array(.float32(let a)) = v else { throw wrongType(key, v, "array of float32") }
        return a
    }

    public func int32Array(_ key: String) throws -> [Int32] {
        let v = try value(key)
        guard case .array(.int32(let a)) = v else { throw wrongType(key, v, "array of int32") }
        return a
    }

    public func optionalString(_ key: String) throws -> String? { metadata[key] == nil ? nil : try string(key) }
    public func optionalUInt32(_ key: String) throws -> UInt32? { metadata[key] == nil ? nil : try uint32(key) }
    public func optionalFloat32(_ key: String) throws -> Float? { metadata[key] == nil ? nil : try float32(key) }
    public func optionalBool(_ key: String) throws -> Bool? { metadata[key] == nil ? nil : try bool(key) }
}

/// Where a tensor lies in the file and what it holds.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// GGUF order: dimensions[0] is the row length (contiguous), then rows, ...
    public let dimensions: [Int]
    public let type: TensorType
    /// Absolute byte offset in the file.
    public let fileOffset: Int
    public let byteCount: Int
    public let rowBytes: Int

    public var rowLength: Int { dimensions[0] }
    public var rows: Int { dimensions.dropFirst().reduce(1, *) }
    public var elementCount: Int { dimensions.reduce(1, *) }
}

extension GGUFValue {
    fileprivate var arrayElementSuffix: String {
        if case .array(let a) = self { return " of \(a.elementType)" }
        return ""
    }
}

extension String {
    fileprivate init(format2 byte: UInt8) {
        let hex = Array("0123456789abcdef")
        self = String([hex[Int(byte >> 4)], hex[Int(byte & 15)]])
    }
}
