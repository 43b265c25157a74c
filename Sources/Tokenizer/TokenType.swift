/// The kind of a vocabulary piece. The raw values are shared by GGUF's
/// `tokenizer.ggml.token_type` and SentencePiece's `ModelProto.SentencePiece.Type`.
public enum TokenType: Int32, Sendable, CaseIterable {
    case undefined = 0
    /// Ordinary text, produced by merges; `▁` stands for a space.
    case normal = 1
    case unknown = 2
    /// `<bos>`, `<eos>`, `<start_of_turn>`, ...: inserted by code, never produced from user text.
    case control = 3
    /// Matched literally and atomically in the raw text before merging (whitespace runs, HTML tags).
    case userDefined = 4
    case unused = 5
    /// `<0x00>` ... `<0xFF>`: the fallback for text no piece covers.
    case byte = 6

    /// Maps a stored value; unknown values become `.undefined`, as llama.cpp does.
    public init(storedValue: Int32) {
        self = TokenType(rawValue: storedValue) ?? .undefined
    }
}

/// Ids of the pieces the runtime needs by name, found by their text in the vocabulary.
public struct SpecialTokens: Sendable, Equatable {
    public var bos: Int32?
    public var eos: Int32?
    public var pad: Int32?
    public var unk: Int32?
    public var startOfTurn: Int32?
    public var endOfTurn: Int32?
    public var startOfImage: Int32?
    public var endOfImage: Int32?

    public init(bos: Int32? = nil, eos: Int32? = nil, pad: Int32? = nil, unk: Int32? = nil,
                startOfTurn: Int32? = nil, endOfTurn: Int32? = nil,
                startOfImage: Int32? = nil, endOfImage: Int32? = nil) {
        self.bos = bos
        self.eos = eos
        self.pad = pad
        self.unk = unk
        self.startOfTurn = startOfTurn
        self.endOfTurn = endOfTurn
        self.startOfImage = startOfImage
        self.endOfImage = endOfImage
    }

    /// The texts the ids are looked up by.
    public static let texts: [(WritableKeyPath<SpecialTokens, Int32?>, String)] = [
        (\.bos, "<bos>"), (\.eos, "<eos>"), (\.pad, "<pad>"), (\.unk, "<unk>"),
        (\.startOfTurn, "<start_of_turn>"), (\.endOfTurn, "<end_of_turn>"),
        (\.startOfImage, "<start_of_image>"), (\.endOfImage, "<end_of_image>"),
    ]
}
