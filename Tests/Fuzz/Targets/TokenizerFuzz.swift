import Foundation
import GGUF
import TestSupport
import Tokenizer

/// The tokenizer on arbitrary bytes. Properties:
/// - every id encode returns is inside the vocabulary;
/// - for valid UTF-8, decode(encode(s)) == s, except that U+2581 (`▁`) comes back as a space:
///   normal pieces spell spaces as `▁`, so an input `▁` is indistinguishable from one after
///   encoding (SentencePiece and llama.cpp decode it the same way);
/// - the streaming decoder, fed one id at a time and flushed, gives the same text as `decode`;
/// - arbitrary ids (the input read as little-endian Int32s) decode without trapping.
/// The same bytes also go to `SentencePieceModel.parse` (a user's `tokenizer.model`).
final class TokenizerFuzz: @unchecked Sendable {
    /// The vocabulary the fuzzer uses: the real Gemma 3 vocabulary (262,144 pieces) when the model
    /// is present (`GEMMA_FUZZ_VOCAB=real`, the default when it is), else TinyGemma's
    /// (`GEMMA_FUZZ_VOCAB=tiny`).
    static let shared: TokenizerFuzz = {
        let choice = ProcessInfo.processInfo.environment["GEMMA_FUZZ_VOCAB"] ?? "auto"
        let useReal = choice == "real" || (choice == "auto" && FileManager.default.fileExists(atPath: RealModel.path))
        do {
            if useReal {
                let file = try GGUFFile(path: RealModel.path)
                return TokenizerFuzz(vocabulary: try Vocabulary(gguf: file), name: "gemma-3 (\(RealModel.path))")
            }
            return TokenizerFuzz(vocabulary: try tinyVocabulary(), name: "tiny")
        } catch {
            fatalError("the tokenizer fuzz target cannot build its vocabulary: \(error)")
        }
    }()

    /// TinyGemma's vocabulary, read back from the GGUF file TestSupport writes.
    static func tinyVocabulary() throws -> Vocabulary {
        var g = TinyGemma()
        g.blocks = 1
        g.embedding = 32
        g.feedForward = 32
        g.heads = 1
        g.kvHeads = 1
        g.headDim = 32
        let bytes = g.serialize()
        let file = try bytes.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "tiny.gguf")) }
        return try Vocabulary(gguf: file)
    }

    let tokenizer: BPETokenizer
    let name: String

    init(vocabulary: Vocabulary, name: String) {
        tokenizer = BPETokenizer(vocabulary: vocabulary)
        self.name = name
    }

    /// `text` with every U+2581 replaced by a space: what a round trip gives back.
    static func expectedRoundTrip(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{2581}", with: " ")
    }

    /// True when the input was valid UTF-8 (so the round trip was checked).
    func run(_ data: [UInt8]) throws -> Bool {
        let vocabulary = tokenizer.vocabulary
        let n = Int32(vocabulary.count)
        let ids = data.withUnsafeBufferPointer { tokenizer.encode(utf8: $0, addBOS: false) }
        guard ids.allSatisfy({ (0..<n).contains($0) }) else {
            throw FuzzTarget.tokenizer.finding("encode returned an id outside 0..<\(n)")
        }
        let text = String(validating: data, as: UTF8.self)
        if let text {
            let decoded = tokenizer.decode(ids)
            let expected = Self.expectedRoundTrip(text)
            guard decoded == expected else {
                throw FuzzTarget.tokenizer.finding("round trip of \(Array(text.utf8)) gave \(Array(decoded.utf8)) "
                                                   + "(ids \(ids), vocabulary \(name))")
            }
            guard tokenizer.encode(text, addBOS: false) == ids else {
                throw FuzzTarget.tokenizer.finding("encoding a String and its UTF-8 bytes differ")
            }
            var stream = StreamingDecoder(vocabulary: vocabulary)
            let streamed = stream.append(contentsOf: ids) + stream.flush()
            guard streamed == decoded else {
                throw FuzzTarget.tokenizer.finding("streaming decode \(Array(streamed.utf8)) differs from decode "
                                                   + "\(Array(decoded.utf8)) (ids \(ids))")
            }
        }
        // Arbitrary ids, in range or not, with and without control pieces.
        var raw: [Int32] = []
        var i = 0
        while i + 4 <= data.count {
            raw.append(Int32(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16
                                 | UInt32(data[i + 3]) << 24))
            i += 4
        }
        _ = tokenizer.decode(raw, includeControl: true)
        var stream = StreamingDecoder(vocabulary: vocabulary, showControlTokens: true)
        _ = stream.append(contentsOf: raw.map { $0 % (n + 8) })
        _ = stream.flush()
        // The same bytes as a SentencePiece model file.
        if let contents = try? SentencePieceModel.parse(data) {
            guard contents.pieces.count == contents.scores.count, contents.pieces.count == contents.types.count else {
                throw FuzzTarget.tokenizer.finding("SentencePieceModel.parse returned arrays of different lengths")
            }
        }
        return text != nil
    }
}
