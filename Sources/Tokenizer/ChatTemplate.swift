/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable {
        case system, user, model
    }

    public var role: Role
    public var text: String

    public init(_ role: Role, _ text: String) {
        self.role = role
        self.text = text
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(.system, text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(.user, text) }
    public static func model(_ text: String) -> ChatMessage { ChatMessage(.model, text) }
}

/// The Gemma 3 instruction-tuned chat format, as token ids:
///
///     <bos><start_of_turn>user\n{system}\n\n{text}<end_of_turn>\n<start_of_turn>model\n
///
/// Message texts are trimmed of surrounding whitespace and a system prompt is prepended to the
/// first user message, as llama.cpp's Gemma template does. Texts are encoded by the tokenizer
/// (which never turns user text into control pieces); the turn markers are inserted as ids, so
/// a user typing `<end_of_turn>` cannot close a turn. The ids equal what llama.cpp gives for the
/// rendered template when the texts contain no special piece names.
public struct ChatTemplate: Sendable {
    public let tokenizer: any Tokenizing
    public let bos: Int32
    public let startOfTurn: Int32
    public let endOfTurn: Int32
    public let eos: Int32

    /// Fails when the vocabulary lacks `<bos>`, `<eos>`, `<start_of_turn>` or `<end_of_turn>`
    /// (a base model without chat pieces).
    public init(tokenizer: any Tokenizing) throws {
        let s = tokenizer.vocabulary.specialTokens
        var missing: [String] = []
        if s.bos == nil { missing.append("<bos>") }
        if s.eos == nil { missing.append("<eos>") }
        if s.startOfTurn == nil { missing.append("<start_of_turn>") }
        if s.endOfTurn == nil { missing.append("<end_of_turn>") }
        guard let bos = s.bos, let eos = s.eos, let sot = s.startOfTurn, let eot = s.endOfTurn else {
            throw TokenizerError("the vocabulary has no \(missing.joined(separator: ", ")) piece, "
                                 + "so the Gemma chat format cannot be used")
        }
        self.tokenizer = tokenizer
        self.bos = bos
        self.eos = eos
        self.startOfTurn = sot
        self.endOfTurn = eot
    }

    /// Generation stops at either of these: `<end_of_turn>` then `<eos>`.
    public var stopTokens: [Int32] { [endOfTurn, eos] }

    /// The ids of a conversation, optionally followed by the opening of the model's turn.
    ///
    /// A system message may only come first; after it, turns alternate user, model, user, ...
    /// starting with the user.
    public func encode(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int32] {
        let turns = try ChatTemplate.turns(messages)
        var ids: [Int32] = [bos]
        for (role, text) in turns {
            ids.append(startOfTurn)
            ids += try tokenizer.encode(role.rawValue + "\n" + text, addBOS: false)
            ids.append(endOfTurn)
            ids += try tokenizer.encode("\n", addBOS: false)
        }
        if addGenerationPrompt {
            ids.append(startOfTurn)
            ids += try tokenizer.encode("model\n", addBOS: false)
        }
        return ids
    }

    /// The ids for a single user message, with an optional system prompt.
    public func encode(user text: String, system: String? = nil) throws -> [Int32] {
        var messages: [ChatMessage] = []
        if let system { messages.append(.system(system)) }
        messages.append(.user(text))
        return try encode(messages)
    }

    /// The conversation as text, the way llama.cpp renders Gemma's template (for display and logs).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        var out = "<bos>"
        for (role, text) in try ChatTemplate.turns(messages) {
            out += "<start_of_turn>\(role.rawValue)\n\(text)<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
        return out
    }

    /// Checks the order of roles and folds the system prompt into the first user turn.
    static func turns(_ messages: [ChatMessage]) throws -> [(ChatMessage.Role, String)] {
        var system: String?
        var rest = messages[...]
        if let first = rest.first, first.role == .system {
            system = trim(first.text)
            rest = rest.dropFirst()
        }
        var turns: [(ChatMessage.Role, String)] = []
        for (i, m) in rest.enumerated() {
            let expected: ChatMessage.Role = i % 2 == 0 ? .user : .model
            guard m.role == expected else {
                if m.role == .system {
                    throw TokenizerError("a system message may only be the first message of a conversation")
                }
                throw TokenizerError("conversation roles must alternate user, model, user, ... starting with "
                                     + "the user; message \(i + (system == nil ? 0 : 1)) is \(m.role.rawValue)")
            }
            var text = trim(m.text)
            if i == 0, let system, !system.isEmpty { text = system + "\n\n" + text }
            turns.append((m.role, text))
        }
        return turns
    }

    /// Removes leading and trailing ASCII whitespace (C `isspace`), as llama.cpp's template does.
    static func trim(_ s: String) -> String {
        let bytes = Array(s.utf8)
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        var start = 0, end = bytes.count
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
