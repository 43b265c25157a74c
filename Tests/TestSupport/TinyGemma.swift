import Base
import CKernels
import Foundation
import GGUF

/// Makes tiny random Gemma 3 GGUF files of any shape and tensor type with the project's writer,
/// so model tests need no download.
public struct TinyGemma {
    public var blocks = 7
    public var embedding = 256
    public var feedForward = 512
    public var heads = 4
    public var kvHeads = 2
    public var headDim = 64
    public var window = 16
    public var context = 512
    public var ropeBase: Float = 1e6
    public var ropeBaseLocal: Float? = nil
    /// Type of the projection matrices (q, k, v, o, gate, up, down).
    public var matrixType: TensorType = .f32
    /// Type of the token embedding (also the tied output projection).
    public var embeddingType: TensorType = .f32
    /// Writes a separate output.weight instead of tying it to the embedding.
    public var untiedOutput = false
    /// Writes output.weight with the embedding's own values in this type (what holding the tied
    /// output projection in another type computes; see `EngineOptions.outputType`).
    public var outputType: TensorType? = nil
    public var seed: UInt64 = 1
    /// Spread of the embedding values: sets how peaked the tied output's logits are.
    public var embeddingScale: Float = 0.3
    /// Pieces written in place of the standard ones (a vocabulary that differs, for draft models).
    public var pieceOverrides: [Int: String] = [:]
    /// Tokenizer metadata (every `tokenizer.*` key) written instead of the tiny vocabulary: a
    /// random-weight model of any shape with a real model's vocabulary (`copyTokenizer(from:)`).
    public var tokenizer: [String: GGUFValue]? = nil
    /// `gemma3.rope.scaling.*` and other keys a shape needs beyond the ones set here.
    public var extraMetadata: [String: GGUFValue] = [:]

    public init() {}

    /// Takes `file`'s tokenizer (pieces, scores, types, special ids): the model then reads and
    /// writes text as that model does.
    public mutating func copyTokenizer(from file: GGUFFile) {
        tokenizer = file.metadata.filter { $0.key.hasPrefix("tokenizer.") }
    }

    /// The vocabulary: 4 specials, the chat specials, 256 byte pieces, then letters and words.
    public static let pieces: [String] = {
        var p = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>"]
        p += (0..<256).map { String(format: "<0x%02X>", $0) }
        p += "abcdefghijklmnopqrstuvwxyz".map { String($0) }
        p += ["▁", "▁the", "▁a", "he", "in", "er", "an", "th", "▁t", "▁h", "ll", "lo", "hello", "▁hello", "▁world", "or", "ld"]
        p += ["  ", "   ", "\n", "\n\n"]
        return p
    }()

    public static var tokenTypes: [Int32] {
        pieces.enumerated().map { i, p in
            if i < 8 { return i == 3 ? 2 : 3 }         // unknown = 2, control = 3
            if i < 8 + 256 { return 6 }                  // byte
            if p.hasPrefix(" ") || p.hasPrefix("\n") { return 4 }  // user-defined whitespace runs
            return 1
        }
    }

    public var vocabularySize: Int {
        if case .array(let tokens)? = tokenizer?["tokenizer.ggml.tokens"] { return tokens.count }
        return Self.pieces.count
    }

    /// The file's bytes.
    public func serialize() -> [UInt8] {
        var rng = SplitMix(seed: seed)
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        w.set("general.name", .string("tiny-gemma3"))
        w.set("gemma3.block_count", .uint32(UInt32(blocks)))
        w.set("gemma3.embedding_length", .uint32(UInt32(embedding)))
        w.set("gemma3.feed_forward_length", .uint32(UInt32(feedForward)))
        w.set("gemma3.attention.head_count", .uint32(UInt32(heads)))
        w.set("gemma3.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("gemma3.attention.key_length", .uint32(UInt32(headDim)))
        w.set("gemma3.attention.value_length", .uint32(UInt32(headDim)))
        w.set("gemma3.attention.sliding_window", .uint32(UInt32(window)))
        w.set("gemma3.attention.layer_norm_rms_epsilon", .float32(1e-6))
        w.set("gemma3.rope.freq_base", .float32(ropeBase))
        if let b = ropeBaseLocal { w.set("gemma3.rope.freq_base_swa", .float32(b)) }
        w.set("gemma3.context_length", .uint32(UInt32(context)))
        if let tokenizer {
            for (key, value) in tokenizer.sorted(by: { $0.key < $1.key }) { w.set(key, value) }
        } else {
            w.set("tokenizer.ggml.model", .string("llama"))
            w.set("tokenizer.ggml.tokens", .array(.strings(Self.pieces.enumerated().map { pieceOverrides[$0] ?? $1 })))
            w.set("tokenizer.ggml.scores", .array(.float32(Self.pieces.indices.map { -Float($0) })))
            w.set("tokenizer.ggml.token_type", .array(.int32(Self.tokenTypes)))
            w.set("tokenizer.ggml.bos_token_id", .uint32(2))
            w.set("tokenizer.ggml.eos_token_id", .uint32(1))
            w.set("tokenizer.ggml.add_bos_token", .bool(true))
            w.set("tokenizer.ggml.add_space_prefix", .bool(false))
        }
        for (key, value) in extraMetadata.sorted(by: { $0.key < $1.key }) { w.set(key, value) }

        @discardableResult
        func add(_ name: String, _ dims: [Int], _ type: TensorType, scale: Float, offset: Float = 0) -> [Float] {
            let n = dims.reduce(1, *)
            let values = (0..<n).map { _ in offset + scale * rng.nextSigned() }
            w.addTensor(name: name, dimensions: dims, type: type, data: Self.encode(values, type))
            return values
        }
        let q = heads * headDim, kv = kvHeads * headDim
        let embeddingValues = add("token_embd.weight", [embedding, vocabularySize], embeddingType, scale: embeddingScale)
        if let outputType {
            w.addTensor(name: "output.weight", dimensions: [embedding, vocabularySize], type: outputType,
                        data: Self.encode(embeddingValues, outputType))
        }
        if untiedOutput { add("output.weight", [embedding, vocabularySize], embeddingType, scale: embeddingScale) }
        add("output_norm.weight", [embedding], .f32, scale: 0.2, offset: 1)
        for i in 0..<blocks {
            let p = "blk.\(i)."
            add(p + "attn_norm.weight", [embedding], .f32, scale: 0.2, offset: 1)
            add(p + "attn_q.weight", [embedding, q], matrixType, scale: 0.1)
            add(p + "attn_k.weight", [embedding, kv], matrixType, scale: 0.1)
            add(p + "attn_v.weight", [embedding, kv], matrixType, scale: 0.1)
            add(p + "attn_q_norm.weight", [headDim], .f32, scale: 0.2, offset: 1)
            add(p + "attn_k_norm.weight", [headDim], .f32, scale: 0.2, offset: 1)
            add(p + "attn_output.weight", [q, embedding], matrixType, scale: 0.1)
            add(p + "post_attention_norm.weight", [embedding], .f32, scale: 0.2, offset: 1)
            add(p + "ffn_norm.weight", [embedding], .f32, scale: 0.2, offset: 1)
            add(p + "ffn_gate.weight", [embedding, feedForward], matrixType, scale: 0.1)
            add(p + "ffn_up.weight", [embedding, feedForward], matrixType, scale: 0.1)
            add(p + "ffn_down.weight", [feedForward, embedding], matrixType, scale: 0.1)
            add(p + "post_ffw_norm.weight", [embedding], .f32, scale: 0.2, offset: 1)
        }
        return w.serialize()
    }

    /// Writes the model to a new temporary file and returns its path.
    public func write(directory: String = NSTemporaryDirectory()) throws -> String {
        let path = directory + "/tiny-gemma3-\(UUID().uuidString).gguf"
        try AtomicFile.write(serialize(), to: path)
        return path
    }

    /// Encodes floats (a whole number of rows) in `type` with the reference quantisers.
    public static func encode(_ values: [Float], _ type: TensorType) -> [UInt8] {
        let bytes = type.rowBytes(values.count)!
        var out = [UInt8](repeating: 0, count: bytes)
        let rc = values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                ck_quantize_row_ref(ck_type(rawValue: type.rawValue), src.baseAddress, dst.baseAddress, Int64(values.count))
            }
        }
        precondition(rc == 0, "cannot encode \(type)")
        return out
    }
}

/// A deterministic generator for test data.
public struct SplitMix {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    public mutating func nextSigned() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// Where the real Gemma 3 270M is: $GEMMA_EDGE_MODEL, else the cache `make model` fills.
public enum RealModel {
    public static var path: String {
        if let p = ProcessInfo.processInfo.environment["GEMMA_EDGE_MODEL"], !p.isEmpty { return p }
        let cache = ProcessInfo.processInfo.environment["GEMMA_EDGE_CACHE"] ?? (NSHomeDirectory() + "/.cache/gemma-edge")
        return cache + "/models/gemma-3-270m-q4_k_m.gguf"
    }

    /// The path, or an error telling how to get the model (tests that need it fail, not skip).
    public static func require() throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingModel(path: path)
        }
        return path
    }

    public struct MissingModel: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "the real Gemma 3 270M is not at \(path): run `make model` (make test does)" }
    }
}

/// The repository's Tests/Fixtures folder.
public enum Fixtures {
    public static func url(_ relative: String, file: StaticString = #filePath) -> URL {
        URL(fileURLWithPath: "\(file)").deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(relative)
    }
}
