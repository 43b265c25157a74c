/// A SentencePiece vocabulary: pieces, merge scores, piece types, and the flags that steer encoding.
///
/// Pieces are kept as raw UTF-8 bytes in one contiguous buffer (with GGUF's convention: `▁` for a
/// space inside normal pieces, literal spaces inside user-defined pieces), and an open-addressing
/// table finds a piece's id from a byte range without building a `String`.
public final class Vocabulary: @unchecked Sendable {
    /// The tokenizer model name from `tokenizer.ggml.model`; only "llama" (SentencePiece) is used.
    public let model: String
    public let scores: [Float]
    /// Piece types as tokenization uses them: the stored types, after llama.cpp's by-name
    /// overrides when those were asked for (see `init`).
    public let types: [TokenType]
    /// Piece types as stored in the file.
    public let storedTypes: [TokenType]
    public let specialTokens: SpecialTokens
    /// Whether callers should prepend BOS by default (`tokenizer.ggml.add_bos_token`).
    public let addBOS: Bool
    /// Whether a space is prepended to text that starts the input or follows a special piece
    /// (`tokenizer.ggml.add_space_prefix`; false for Gemma).
    public let addSpacePrefix: Bool
    /// Length in bytes of the longest piece.
    public let maxPieceLength: Int

    /// All piece bytes, back to back; piece `i` is `bytes[offsets[i] ..< offsets[i + 1]]`.
    let bytes: [UInt8]
    let offsets: [Int32]
    /// Open-addressing hash table of ids (-1 = empty); its count is a power of two.
    private let slots: [Int32]
    /// The token each byte falls back to: `<0xXX>`, else the one-byte piece, else `<unk>`.
    let byteTokens: [Int32]
    /// User-defined pieces, longest first (ties by id), for splitting raw text before merging.
    let userDefinedByLength: [Int32]

    /// The number of pieces.
    public var count: Int { scores.count }

    /// Builds a vocabulary from parallel arrays.
    ///
    /// - Parameters:
    ///   - tokens: the pieces, by id; empty pieces are renamed `[EMPTY_<id>]` as llama.cpp does.
    ///   - scores: merge priorities (higher merges first); `nil` means all zero.
    ///   - types: piece types by id; `nil` means all normal.
    ///   - specialOverrides: ids to use for special tokens whose text is not in the vocabulary
    ///     (for example the ids stored under `tokenizer.ggml.bos_token_id`).
    ///   - llamaCppOverrides: apply llama.cpp's rule that pieces named like end-of-generation
    ///     markers are control pieces whatever their stored type (see
    ///     `llamaCppEndOfGenerationNames`). In Gemma 3 this turns the user-defined `</s>` (an HTML
    ///     strike-through tag, id 212) into a control piece, so `</s>` in user text is spelled
    ///     with ordinary pieces, exactly as llama.cpp does; SentencePiece itself would match it.
    public init(tokens: [String], scores: [Float]? = nil, types: [TokenType]? = nil,
                model: String = "llama", addBOS: Bool = true, addSpacePrefix: Bool = false,
                specialOverrides: SpecialTokens = SpecialTokens(), llamaCppOverrides: Bool = true) throws {
        guard model == "llama" else {
            throw TokenizerError("tokenizer model '\(model)' is not supported: only SentencePiece vocabularies "
                                 + "(tokenizer.ggml.model = \"llama\") can be tokenized by this runtime")
        }
        let n = tokens.count
        guard n > 0 else { throw TokenizerError("the vocabulary is empty") }
        guard n < Int(Int32.max) else { throw TokenizerError("the vocabulary has \(n) pieces, too many") }
        if let scores, scores.count != n {
            throw TokenizerError("the vocabulary has \(n) pieces but \(scores.count) scores")
        }
        if let types, types.count != n {
            throw TokenizerError("the vocabulary has \(n) pieces but \(types.count) piece types")
        }
        self.model = model
        self.scores = scores ?? [Float](repeating: 0, count: n)
        let storedTypes = types ?? [TokenType](repeating: .normal, count: n)
        self.storedTypes = storedTypes
        self.addBOS = addBOS
        self.addSpacePrefix = addSpacePrefix

        // Pack the pieces.
        var totalBytes = 0
        for t in tokens { totalBytes += t.utf8.count }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(totalBytes + 16)
        var offsets: [Int32] = []
        offsets.reserveCapacity(n + 1)
        offsets.append(0)
        var maxLength = 0
        for (i, t) in tokens.enumerated() {
            if t.isEmpty {
                bytes.append(contentsOf: "[EMPTY_\(i)]".utf8)
            } else {
                var t = t
                t.withUTF8 { bytes.append(contentsOf: $0) }
            }
            guard bytes.count < Int(Int32.max) else { throw TokenizerError("the vocabulary's pieces are too large") }
            maxLength = max(maxLength, bytes.count - Int(offsets[i]))
            offsets.append(Int32(bytes.count))
        }
        self.bytes = bytes
        self.offsets = offsets
        self.maxPieceLength = maxLength

        // Index them; a duplicated piece would make text-to-id lookups ambiguous.
        var capacity = 1
        while capacity < n * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        try bytes.withUnsafeBufferPointer { b in
            try offsets.withUnsafeBufferPointer { o in
                try slots.withUnsafeMutableBufferPointer { s in
                    for id in 0..<n {
                        let start = Int(o[id]), length = Int(o[id + 1]) - start
                        var slot = Vocabulary.hash(b.baseAddress! + start, length) & mask
                        while s[slot] >= 0 {
                            let other = Int(s[slot])
                            let os = Int(o[other]), ol = Int(o[other + 1]) - os
                            if ol == length && memcmp(b.baseAddress! + os, b.baseAddress! + start, length) == 0 {
                                throw TokenizerError("the vocabulary holds the piece '\(tokens[id])' twice "
                                                     + "(ids \(other) and \(id))")
                            }
                            slot = (slot + 1) & mask
                        }
                        s[slot] = Int32(id)
                    }
                }
            }
        }
        self.slots = slots

        var effectiveTypes = storedTypes
        if llamaCppOverrides {
            let find = { (text: String) in Vocabulary.find(text, bytes: bytes, offsets: offsets, slots: slots) }
            for name in Vocabulary.llamaCppEndOfGenerationNames {
                if let id = find(name) { effectiveTypes[Int(id)] = .control }
            }
            // llama.cpp keeps `</s>` an ordinary piece when the vocabulary is Gemma 4's or PLaMo's.
            if let s = find("</s>"), find("<|tool_response>") != nil || find("<|plamo:eos|>") != nil {
                effectiveTypes[Int(s)] = .normal
            }
        }
        self.types = effectiveTypes

        // Special tokens by text; overrides only fill gaps.
        var specials = SpecialTokens()
        for (path, text) in SpecialTokens.texts {
            specials[keyPath: path] = Vocabulary.find(text, bytes: bytes, offsets: offsets, slots: slots)
                ?? specialOverrides[keyPath: path].flatMap { (0..<Int32(n)).contains($0) ? $0 : nil }
        }
        self.specialTokens = specials

        // Byte fallback.
        let hex = Array("0123456789ABCDEF".utf8)
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let name: [UInt8] = [UInt8(ascii: "<"), UInt8(ascii: "0"), UInt8(ascii: "x"), hex[b >> 4], hex[b & 15],
                                 UInt8(ascii: ">")]
            let id = Vocabulary.find(name, bytes: bytes, offsets: offsets, slots: slots)
                ?? Vocabulary.find([UInt8(b)], bytes: bytes, offsets: offsets, slots: slots)
                ?? specials.unk
            guard let id else {
                throw TokenizerError("the vocabulary has neither a byte piece <0x\(String(b, radix: 16, uppercase: true))> "
                                     + "nor an <unk> piece, so some text could not be encoded")
            }
            byteTokens[b] = id
        }
        self.byteTokens = byteTokens

        // User-defined pieces, longest first. llama.cpp sorts by length only; pieces of equal length
        // that could overlap in text would make its order matter, and Gemma's do not.
        let types = self.types
        self.userDefinedByLength = (0..<Int32(n)).filter { types[Int($0)] == .userDefined }.sorted {
            let la = offsets[Int($0) + 1] - offsets[Int($0)], lb = offsets[Int($1) + 1] - offsets[Int($1)]
            return la != lb ? la > lb : $0 < $1
        }
    }

    /// Piece texts llama.cpp (`llama_vocab::impl::load`, the end-of-generation list) marks as
    /// control pieces whatever their stored type, so they are never matched in user text and
    /// decode to nothing.
    public static let llamaCppEndOfGenerationNames: [String] = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]

    // MARK: Lookups

    /// The piece's text as stored (GGUF convention), or `nil` for an out-of-range id.
    public func piece(_ id: Int32) -> String? {
        guard id >= 0, Int(id) < count else { return nil }
        return String(decoding: bytes[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])], as: UTF8.self)
    }

    /// The piece's stored bytes, or `nil` for an out-of-range id.
    public func pieceBytes(_ id: Int32) -> [UInt8]? {
        guard id >= 0, Int(id) < count else { return nil }
        return Array(bytes[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])])
    }

    /// The id of a piece given by its exact stored text, of any type.
    public func id(of piece: String) -> Int32? {
        Vocabulary.find(Array(piece.utf8), bytes: bytes, offsets: offsets, slots: slots)
    }

    /// The piece's type as tokenization uses it, or `nil` for an out-of-range id.
    public func type(of id: Int32) -> TokenType? {
        guard id >= 0, Int(id) < count else { return nil }
        return types[Int(id)]
    }

    /// The id of the piece spelled by `length` bytes at `start`, or -1. The caller keeps the bytes alive.
    @inline(__always)
    func lookup(_ start: UnsafePointer<UInt8>, _ length: Int,
                bytes b: UnsafeBufferPointer<UInt8>, offsets o: UnsafeBufferPointer<Int32>,
                slots s: UnsafeBufferPointer<Int32>) -> Int32 {
        let mask = s.count - 1
        var slot = Vocabulary.hash(start, length) & mask
        while true {
            let id = s[slot]
            if id < 0 { return -1 }
            let os = Int(o[Int(id)]), ol = Int(o[Int(id) + 1]) - os
            if ol == length && memcmp(b.baseAddress! + os, start, length) == 0 { return id }
            slot = (slot + 1) & mask
        }
    }

    /// Runs `body` with raw views of the piece bytes, offsets and hash table, for hot loops.
    func withTables<R>(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Int32>,
                                UnsafeBufferPointer<Int32>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { b in
            try offsets.withUnsafeBufferPointer { o in
                try slots.withUnsafeBufferPointer { s in try body(b, o, s) }
            }
        }
    }

    private static func find(_ key: [UInt8], bytes: [UInt8], offsets: [Int32], slots: [Int32]) -> Int32? {
        guard !key.isEmpty else { return nil }
        let mask = slots.count - 1
        return key.withUnsafeBufferPointer { k in
            bytes.withUnsafeBufferPointer { b in
                var slot = hash(k.baseAddress!, k.count) & mask
                while true {
                    let id = slots[slot]
                    if id < 0 { return nil }
                    let os = Int(offsets[Int(id)]), ol = Int(offsets[Int(id) + 1]) - os
                    if ol == k.count && memcmp(b.baseAddress! + os, k.baseAddress!, ol) == 0 { return id }
                    slot = (slot + 1) & mask
                }
            }
        }
    }

    private static func find(_ text: String, bytes: [UInt8], offsets: [Int32], slots: [Int32]) -> Int32? {
        find(Array(text.utf8), bytes: bytes, offsets: offsets, slots: slots)
    }

    /// FNV-1a over the bytes, finished with a multiplicative mix so the low bits spread well.
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n {
            h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3
        }
        h ^= h >> 29
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
