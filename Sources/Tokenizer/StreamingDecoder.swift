/// Turns generated ids into text as they arrive, never printing half a character.
///
/// Byte-fallback pieces (`<0xF0>` `<0x9F>` ...) are gathered into bytes, `▁` becomes a space, and
/// a multi-byte UTF-8 character split across tokens is held back until its last byte arrives.
/// Bytes that can never become valid UTF-8 are given out as U+FFFD right away; `flush()` gives out
/// whatever is still held (an unfinished character as U+FFFD). Control pieces (`<eos>`,
/// `<end_of_turn>`) decode to nothing unless `showControlTokens` is set.
public struct StreamingDecoder: Sendable {
    public let vocabulary: Vocabulary
    public var showControlTokens: Bool
    private var pending: [UInt8] = []

    public init(vocabulary: Vocabulary, showControlTokens: Bool = false) {
        self.vocabulary = vocabulary
        self.showControlTokens = showControlTokens
    }

    public init(tokenizer: any Tokenizing, showControlTokens: Bool = false) {
        self.init(vocabulary: tokenizer.vocabulary, showControlTokens: showControlTokens)
    }

    /// Whether bytes of an unfinished character are being held back.
    public var hasPendingBytes: Bool { !pending.isEmpty }

    /// Adds one token and returns the text completed by it (often empty while a character is
    /// being assembled).
    public mutating func append(_ id: Int32) -> String {
        if id < 0 || Int(id) >= vocabulary.count {
            pending.append(contentsOf: [0xEF, 0xBF, 0xBD])  // an id no vocabulary piece has: U+FFFD
        } else {
            vocabulary.appendDecodedBytes(id, includeControl: showControlTokens, to: &pending)
        }
        let cut = StreamingDecoder.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Adds several tokens and returns the text completed by them.
    public mutating func append<S: Sequence>(contentsOf ids: S) -> String where S.Element == Int32 {
        var text = ""
        for id in ids { text += append(id) }
        return text
    }

    /// Gives out everything still held; an unfinished character becomes U+FFFD.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// How many leading bytes can be given out now: all of them, unless the buffer ends inside a
    /// character whose bytes so far are a valid start (then that start is held back).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // Find the last byte that is not a continuation byte, within a character's reach.
        var j = n - 1
        while j >= 0 && j > n - 4 && bytes[j] & 0xC0 == 0x80 { j -= 1 }
        guard j >= 0 else { return n }
        let lead = bytes[j]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return n  // ASCII, or a byte that never starts a character
        }
        let have = n - j
        guard have < needed else { return n }
        // The second byte of some leads has a narrower range (no overlongs, surrogates, > U+10FFFF).
        if have >= 2 {
            let second = bytes[j + 1]
            let valid: Bool
            switch lead {
            case 0xE0: valid = (0xA0...0xBF).contains(second)
            case 0xED: valid = (0x80...0x9F).contains(second)
            case 0xF0: valid = (0x90...0xBF).contains(second)
            case 0xF4: valid = (0x80...0x8F).contains(second)
            default: valid = true
            }
            guard valid else { return n }
        }
        return j
    }
}
