import CSentencePiece
import Foundation

/// Encoding through libsentencepiece, over the `CSentencePiece` shim.
///
/// Either from a user's `tokenizer.model`, or from a GGUF vocabulary turned into a `ModelProto`
/// (see `SentencePieceModel.serialize`), which gives the same ids as `BPETokenizer` and llama.cpp.
public final class SentencePieceTokenizer: Tokenizing, @unchecked Sendable {
    public let vocabulary: Vocabulary
    private let processor: OpaquePointer

    /// Loads a SentencePiece `tokenizer.model` file. Only BPE models are accepted, since the rest
    /// of the runtime (and `BPETokenizer`) assumes SentencePiece BPE.
    public init(modelFile path: String) throws {
        let data: [UInt8]
        do {
            data = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw TokenizerError("\(path): cannot read the SentencePiece model: \(error.localizedDescription)")
        }
        let contents: SentencePieceModel.Contents
        do {
            contents = try SentencePieceModel.parse(data)
        } catch let e as TokenizerError {
            throw TokenizerError("\(path): \(e.message)")
        }
        guard contents.modelType == 2 else {
            throw TokenizerError("\(path): the SentencePiece model is not BPE (model type \(contents.modelType))")
        }
        do {
            vocabulary = try Vocabulary(tokens: contents.pieces, scores: contents.scores, types: contents.types,
                                        addBOS: contents.bosID >= 0, addSpacePrefix: contents.addDummyPrefix,
                                        llamaCppOverrides: false)
        } catch let e as TokenizerError {
            throw TokenizerError("\(path): \(e.message)")
        }
        processor = try SentencePieceTokenizer.load(what: path) { error, capacity in
            csp_create_from_file(path, error, capacity)
        }
        try checkPieceCount()
    }

    /// Builds a SentencePiece model from a vocabulary (normally read from a GGUF file).
    public init(vocabulary: Vocabulary) throws {
        self.vocabulary = vocabulary
        let proto = try SentencePieceModel.serialize(vocabulary)
        processor = try SentencePieceTokenizer.load(what: "the model built from the GGUF vocabulary") { error, capacity in
            proto.withUnsafeBytes { csp_create_from_proto($0.baseAddress, $0.count, error, capacity) }
        }
        try checkPieceCount()
    }

    deinit {
        csp_destroy(processor)
    }

    /// Encodes user text with libsentencepiece (see `Tokenizing.encode`).
    public func encode(_ text: String, addBOS: Bool) throws -> [Int32] {
        var output: [Int32] = []
        if addBOS, let bos = vocabulary.specialTokens.bos { output.append(bos) }
        var text = text
        var capacity = text.utf8.count + 8
        var error = [CChar](repeating: 0, count: 512)
        while true {
            var ids = [Int32](repeating: 0, count: capacity)
            let n = text.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { chars in
                    csp_encode(processor, chars.baseAddress, chars.count, &ids, ids.count, &error, error.count)
                }
            }
            guard n >= 0 else {
                throw TokenizerError("SentencePiece could not encode the text: \(SentencePieceTokenizer.message(error))")
            }
            if Int(n) <= capacity {
                output.append(contentsOf: ids[0..<Int(n)])
                return output
            }
            capacity = Int(n)
        }
    }

    /// The piece libsentencepiece holds for an id (user-defined spaces appear as `▁`).
    public func sentencePiece(_ id: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        var n = csp_id_to_piece(processor, id, &buffer, buffer.count)
        if n > buffer.count {
            buffer = [CChar](repeating: 0, count: Int(n))
            n = csp_id_to_piece(processor, id, &buffer, buffer.count)
        }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func load(what: String,
                             _ create: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws -> OpaquePointer {
        var error = [CChar](repeating: 0, count: 1024)
        let p = error.withUnsafeMutableBufferPointer { create($0.baseAddress!, $0.count) }
        guard let p else {
            throw TokenizerError("SentencePiece could not load \(what): \(SentencePieceTokenizer.message(error))")
        }
        return p
    }

    private static func message(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func checkPieceCount() throws {
        let n = Int(csp_piece_count(processor))
        guard n == vocabulary.count else {
            throw TokenizerError("SentencePiece loaded \(n) pieces but the vocabulary has \(vocabulary.count)")
        }
    }
}
