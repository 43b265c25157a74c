@testable import Tokenizer

/// A hand-built SentencePiece vocabulary small enough to reason about, laid out like Gemma's:
/// control pieces first (with `<unk>` a control piece), the 256 byte pieces, user-defined
/// whitespace runs and HTML tags, then normal pieces with scores chosen to exercise merge order.
enum TinyVocabulary {
    static let control = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    static let byteBase: Int32 = 6
    static let userDefined = ["\n", "\n\n", "  ", "   ", "\t", "<b>", "</b>"]
    /// Normal pieces and their scores (higher merges first).
    static let normal: [(String, Float)] = [
        ("▁", 0), ("a", 0), ("b", 0), ("c", 0), ("d", 0), ("e", 0), ("h", 0), ("i", 0), ("l", 0), ("m", 0),
        ("o", 0), ("r", 0), ("s", 0), ("u", 0), ("x", 0), ("<", 0), (">", 0), ("H", 0),
        ("ab", -1), ("bc", -0.5),                         // "abc" -> a + bc
        ("aa", -0.1),                                      // "aaa" -> aa + a (left-most wins ties)
        ("he", -2), ("ll", -2.5), ("lo", -2.6), ("hell", -3), ("hello", -3.5), ("▁hello", -7),
        ("us", -1.1), ("er", -1.2), ("user", -1.3),
        ("mo", -1.4), ("de", -1.5), ("del", -1.6), ("model", -1.7),
        ("Hi", -0.2),
    ]

    static var pieces: [String] {
        control + (0..<256).map { "<0x" + hex($0) + ">" } + userDefined + normal.map(\.0)
    }

    static func make(addSpacePrefix: Bool = false) throws -> Vocabulary {
        let types: [TokenType] = control.map { _ in .control } + Array(repeating: .byte, count: 256)
            + userDefined.map { _ in .userDefined } + normal.map { _ in .normal }
        let scores: [Float] = control.map { _ in -1000 } + Array(repeating: 0, count: 256)
            + userDefined.map { _ in -1000 } + normal.map(\.1)
        return try Vocabulary(tokens: pieces, scores: scores, types: types, addBOS: true,
                              addSpacePrefix: addSpacePrefix)
    }

    static func hex(_ b: Int) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[b >> 4], digits[b & 15]])
    }
}

extension Vocabulary {
    /// The id of a piece the test knows is there.
    func must(_ piece: String) -> Int32 {
        guard let id = id(of: piece) else { fatalError("test vocabulary lacks '\(piece)'") }
        return id
    }

    func byte(_ b: UInt8) -> Int32 { TinyVocabulary.byteBase + Int32(b) }
}
