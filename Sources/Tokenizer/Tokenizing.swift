/// What the runtime needs from a tokenizer: text to ids, and ids back to bytes.
///
/// `BPETokenizer` (pure Swift) and `SentencePieceTokenizer` (libsentencepiece) both conform and give
/// the same ids for the same vocabulary.
public protocol Tokenizing: AnyObject, Sendable {
    /// The pieces, scores, types and special ids this tokenizer uses.
    var vocabulary: Vocabulary { get }

    /// Encodes user text. Special pieces are never parsed out of `text` (typing `<eos>` gives the
    /// pieces of those characters); user-defined pieces (whitespace runs, HTML tags) are.
    /// - Parameter addBOS: prepend the BOS id.
    func encode(_ text: String, addBOS: Bool) throws -> [Int32]
}

extension Tokenizing {
    /// The number of ids, i.e. the model's vocabulary size.
    public var vocabularySize: Int { vocabulary.count }

    public var specialTokens: SpecialTokens { vocabulary.specialTokens }

    /// The bytes a token stands for in output text: `▁` becomes a space, a byte piece its byte,
    /// user-defined pieces their text. Control and unknown pieces give nothing unless
    /// `includeControl`, then their text (`<eos>`); unused pieces and bad ids give nothing.
    public func decodePieceBytes(_ id: Int32, includeControl: Bool = false) -> [UInt8] {
        vocabulary.decodedBytes(id, includeControl: includeControl)
    }

    /// Decodes a whole sequence; invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int32], includeControl: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { vocabulary.appendDecodedBytes(id, includeControl: includeControl, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Vocabulary {
    /// See `Tokenizing.decodePieceBytes`.
    public func decodedBytes(_ id: Int32, includeControl: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        appendDecodedBytes(id, includeControl: includeControl, to: &out)
        return out
    }

    /// Appends what `id` decodes to (see `Tokenizing.decodePieceBytes`) to `out`.
    public func appendDecodedBytes(_ id: Int32, includeControl: Bool, to out: inout [UInt8]) {
        guard id >= 0, Int(id) < count else { return }
        let start = Int(offsets[Int(id)]), end = Int(offsets[Int(id) + 1])
        switch types[Int(id)] {
        case .normal:
            // Unescape U+2581 (E2 96 81) to a space.
            var i = start
            while i < end {
                if bytes[i] == 0xE2, i + 2 < end, bytes[i + 1] == 0x96, bytes[i + 2] == 0x81 {
                    out.append(0x20)
                    i += 3
                } else {
                    out.append(bytes[i])
                    i += 1
                }
            }
        case .byte:
            if let b = Vocabulary.byteValue(bytes[start..<end]) { out.append(b) }
        case .userDefined:
            out.append(contentsOf: bytes[start..<end])
        case .control, .unknown:
            if includeControl { out.append(contentsOf: bytes[start..<end]) }
        case .unused, .undefined:
            break
        }
    }

    /// The byte a `<0xXX>` piece stands for.
    static func byteValue(_ piece: ArraySlice<UInt8>) -> UInt8? {
        guard piece.count == 6 else { return nil }
        let p = Array(piece)
        guard p[0] == UInt8(ascii: "<"), p[1] == UInt8(ascii: "0"), p[2] == UInt8(ascii: "x"),
              p[5] == UInt8(ascii: ">"),
              let hi = hexValue(p[3]), let lo = hexValue(p[4]) else { return nil }
        return hi << 4 | lo
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
