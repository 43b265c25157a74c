import GGUF

/// Well-formed GGUF files with wrong values, made from good ones: what the load-time value checks
/// must refuse (a NaN block scale, an infinite norm, a RoPE base of +inf, ...).
public enum Corrupt {
    /// `bytes` (a GGUF file) with `patch` written at byte `offset` of tensor `name`'s data.
    public static func tensor(_ bytes: [UInt8], _ name: String, at offset: Int, _ patch: [UInt8]) throws -> [UInt8] {
        let file = try bytes.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "corrupt.gguf")) }
        guard let t = file.tensor(named: name) else { throw GGUFError(.missingTensor, file: "corrupt.gguf", "no tensor '\(name)'") }
        precondition(offset >= 0 && offset + patch.count <= t.byteCount, "patch outside tensor \(name)")
        var out = bytes
        out.replaceSubrange((t.fileOffset + offset)..<(t.fileOffset + offset + patch.count), with: patch)
        return out
    }

    /// `bytes` with the f32 value at element `index` of f32 tensor `name` set to `value`.
    public static func float(_ bytes: [UInt8], _ name: String, element index: Int, _ value: Float) throws -> [UInt8] {
        try tensor(bytes, name, at: 4 * index, withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) })
    }

    /// `bytes` re-written with its metadata and tensors edited by `edit` (keys set or removed,
    /// tensors replaced), through the project's writer.
    public static func rewrite(_ bytes: [UInt8], _ edit: (inout GGUFWriter) -> Void) throws -> [UInt8] {
        let file = try bytes.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "corrupt.gguf")) }
        var w = GGUFWriter()
        for k in file.keys { w.set(k, file.metadata[k]!) }
        for t in file.tensors {
            w.addTensor(name: t.name, dimensions: t.dimensions, type: t.type, data: Array(file.data(of: t)))
        }
        edit(&w)
        return w.serialize()
    }
}
