import CIntegrity

extension GGUFFile {
    /// Checks the values the model computes with, where `init` checked only the structure: every
    /// f16 scale of every quantised block (`d`, and `m` / `dmin`) and every value of every float
    /// tensor (the norm vectors, and whole matrices in float models) must be finite. One pass over
    /// the tensors in file order; the first bad value is an error naming its tensor, block or
    /// element, and byte offset. A NaN scale would otherwise turn every output into NaN, and an
    /// infinite norm weight every activation after it.
    public func verifyValues() throws {
        for t in tensors {
            let data = self.data(of: t)
            guard let base = data.baseAddress, !data.isEmpty else { continue }
            let type = t.type
            switch type {
            case .f32, .f16, .bf16:
                let n = Int64(t.elementCount)
                let bad = type == .f32 ? ci_find_nonfinite_f32(base, n)
                    : type == .f16 ? ci_find_nonfinite_f16(base, n) : ci_find_nonfinite_bf16(base, n)
                guard bad >= 0 else { continue }
                let at = Int(bad) * type.blockBytes
                throw GGUFError(.badValue, file: path, offset: t.fileOffset + at,
                                "tensor '\(t.name)' (\(type)) holds \(Self.describe(data, at: at, type)) at element \(bad) "
                                + "of \(n): the file is corrupt")
            case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K:
                let blocks = t.byteCount / type.blockBytes
                let offsets = type.scaleOffsets
                let bad = offsets.withUnsafeBufferPointer {
                    ci_find_nonfinite_f16_fields(base, Int64(blocks), Int64(type.blockBytes), $0.baseAddress, Int32($0.count))
                }
                guard bad >= 0 else { continue }
                let block = Int(bad) * type.blockBytes
                let field = offsets.first { Self.nonFiniteF16(data, at: block + Int($0)) } ?? offsets[0]
                let at = block + Int(field)
                let name = field == offsets[0] ? "d" : (type == .q4_1 || type == .q5_1 ? "m" : "dmin")
                throw GGUFError(.badValue, file: path, offset: t.fileOffset + at,
                                "tensor '\(t.name)' (\(type)) has a non-finite block scale (\(name) = "
                                + "\(Self.describe(data, at: at, .f16))) in block \(bad) of \(blocks): the file is corrupt")
            }
        }
    }

    private static func nonFiniteF16(_ data: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        data.loadUnaligned(fromByteOffset: offset, as: UInt16.self) & 0x7C00 == 0x7C00
    }

    /// "inf", "-inf" or "nan" for the non-finite value of `type` at `offset`.
    private static func describe(_ data: UnsafeRawBufferPointer, at offset: Int, _ type: TensorType) -> String {
        let value: Float
        switch type {
        case .f32: value = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .bf16:
            value = Float(bitPattern: UInt32(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) << 16)
        default:
            let h = UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            value = h & 0x03FF != 0 ? .nan : (h & 0x8000 != 0 ? -.infinity : .infinity)
        }
        return "\(value)"
    }

    /// An identity of the weights for what is built from them (session snapshots): the model's
    /// name, the file's size, the CRC32C of its header (metadata and tensor table) and the CRC32C
    /// of each quarter of the rest (the tensor data). Any change to any byte of the file changes
    /// it (a CRC detects every error burst up to 32 bits long), while a copy of the file keeps it
    /// (no path or time in it). It reads the whole file, 25 to 90 ms for the 270M on the x86
    /// build machine: compute it once per loaded model, when it is needed.
    public var identity: String {
        let all = mapping.bytes
        let split = min(dataOffset, all.count)
        let header = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[0..<split]))
        let data = CRC32C.quarters(UnsafeRawBufferPointer(rebasing: all[split..<all.count]))
        let name = ((try? optionalString("general.name")) ?? nil) ?? "model"
        return "\(name):\(mapping.size):\(String(header, radix: 16)):"
            + data.map { String($0, radix: 16) }.joined(separator: "-")
    }
}
