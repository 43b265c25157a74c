import Gemma3
import GGUF
import Tokenizer

/// The GGUF reader: header, metadata, tensor table and data bounds, then what reads them,
/// including the value checks (block scales and float values finite).
enum GGUFFuzz {
    /// True when the file was accepted.
    static func run(_ data: [UInt8]) throws -> Bool {
        let file: GGUFFile
        do {
            file = try data.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "fuzz.gguf")) }
        } catch is GGUFError {
            return false
        }
        // Every tensor view must lie inside the bytes; touching its ends lets ASan check that.
        var sum: UInt8 = 0
        for t in file.tensors {
            guard t.fileOffset >= file.dataOffset, t.fileOffset + t.byteCount <= data.count else {
                throw FuzzTarget.gguf.finding("tensor '\(t.name)' lies outside the file")
            }
            guard t.byteCount == t.rowBytes * t.rows, file.tensor(named: t.name) == t else {
                throw FuzzTarget.gguf.finding("tensor '\(t.name)' has an inconsistent size or index")
            }
            let bytes = file.data(of: t)
            if let first = bytes.first, let last = bytes.last { sum &+= first &+ last }
        }
        _ = sum
        _ = file.identity
        // The value checks read every block scale and float value: a refusal is a bad-value
        // error naming a tensor inside the file, never a trap.
        do {
            try file.verifyValues()
        } catch let e as GGUFError {
            guard e.kind == .badValue, let at = e.offset, (file.dataOffset..<data.count).contains(at),
                  file.tensors.contains(where: { e.message.contains("'\($0.name)'") }) else {
                throw FuzzTarget.gguf.finding("value check refused with an unexpected error: \(e)")
            }
        }
        for key in file.keys { _ = file.metadata[key]?.summary }
        // The metadata consumers: a wrong type or value for a key they read is an error, never a trap.
        _ = try? Gemma3Config(file: file)
        if let vocabulary = try? Vocabulary(gguf: file) {
            let tokenizer = BPETokenizer(vocabulary: vocabulary)
            let ids = tokenizer.encode("Hello, world! <start_of_turn>user  \n\u{1F600}", addBOS: true)
            guard ids.allSatisfy({ (0..<Int32(vocabulary.count)).contains($0) }) else {
                throw FuzzTarget.gguf.finding("a vocabulary from the file encodes to ids outside it")
            }
            _ = tokenizer.decode(ids, includeControl: true)
        }
        return true
    }
}
