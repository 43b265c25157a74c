/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable {
        /// `tool`: a function's result given back to the model (rendered inside a user turn).
        case system, user, model, tool
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
    public static func tool(_ text: String) -> ChatMessage { ChatMessage(.tool, text) }
}

/// The Gemma 3 instruction-tuned chat format:
///
///     <bos><start_of_turn>user\n{system}\n\n{text}<end_of_turn>\n<start_of_turn>model\n
///
/// Message texts are trimmed of surrounding whitespace and a system prompt is prepended to the
/// first user message, as llama.cpp's Gemma template does. Gemma 3 has no tool role: a tool's
/// result goes back in a user turn inside a ```tool_output block (Google's function-calling
/// guide), and user or tool messages next to a tool message share that turn. This is the only place the format is
/// written: `pieces` renders a conversation (whose messages may hold media, such as images, between
/// their texts) into texts, control tokens and media slots in order; `encode` turns a text-only
/// conversation into ids, and the engine's prompt builder turns pieces with images into positions.
/// Texts are encoded by the tokenizer (which never turns user text into control pieces); the turn
/// markers are inserted as ids, so a user typing `<end_of_turn>` cannot close a turn. The ids
/// equal what llama.cpp gives for the rendered template when the texts contain no special piece names.
public struct ChatTemplate: Sendable {
    /// Part of a message's content: text, or the caller's media item `index` (an image).
    public enum Part: Sendable, Equatable {
        case text(String)
        case media(Int)
    }

    /// One message whose content is texts and media in order.
    public struct Turn: Sendable, Equatable {
        public var role: ChatMessage.Role
        public var parts: [Part]

        public init(_ role: ChatMessage.Role, _ parts: [Part]) {
            self.role = role
            self.parts = parts
        }
    }

    /// A rendered step: text to tokenise on its own, a control token, or a media item.
    public enum Piece: Sendable, Equatable {
        case text(String)
        case token(Int32)
        case media(Int)
    }

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

    /// The conversation as pieces, optionally followed by the opening of the model's turn.
    ///
    /// A system message may only come first and holds text only; after it, turns alternate user,
    /// model, user, ... starting with the user. Within a message the first text is trimmed at its
    /// start and the last at its end (a text between two media items is kept as it is).
    public func pieces(_ turns: [Turn], addGenerationPrompt: Bool = true) throws -> [Piece] {
        var system: String?
        var rest = turns[...]
        if let first = rest.first, first.role == .system {
            var text = ""
            for part in first.parts {
                guard case .text(let t) = part else { throw TokenizerError("a system message cannot hold images") }
                text += text.isEmpty ? t : " " + t
            }
            system = Self.trim(text, leading: true, trailing: true)
            rest = rest.dropFirst()
        }
        var out: [Piece] = [.token(bos)]
        for (i, turn) in try Self.foldingToolResults(rest).enumerated() {
            let expected: ChatMessage.Role = i % 2 == 0 ? .user : .model
            guard turn.role == expected else {
                if turn.role == .system {
                    throw TokenizerError("a system message may only be the first message of a conversation")
                }
                throw TokenizerError("conversation roles must alternate user, model, user, ... starting with "
                                     + "the user; message \(i + (system == nil ? 0 : 1)) is \(turn.role.rawValue)")
            }
            // Texts before the first and after the last media item (a message always has them,
            // empty where the content starts or ends with media).
            var parts = turn.parts
            if case .text? = parts.first {} else { parts.insert(.text(""), at: 0) }
            if case .text? = parts.last {} else { parts.append(.text("")) }
            let last = parts.count - 1
            for (j, part) in parts.enumerated() {
                switch part {
                case .media(let index):
                    out.append(.media(index))
                case .text(var text):
                    text = Self.trim(text, leading: j == 0, trailing: j == last)
                    if j == 0 {
                        if i == 0, let system, !system.isEmpty { text = system + "\n\n" + text }
                        out.append(.token(startOfTurn))
                        text = turn.role.rawValue + "\n" + text
                    }
                    if !text.isEmpty { out.append(.text(text)) }
                }
            }
            out.append(.token(endOfTurn))
            out.append(.text("\n"))
        }
        if addGenerationPrompt {
            out.append(.token(startOfTurn))
            out.append(.text("model\n"))
        }
        return out
    }

    /// `turns` with each tool result rendered as user text in a ```tool_output block, joined with
    /// the user or tool messages next to it into one user turn.
    static func foldingToolResults(_ turns: ArraySlice<Turn>) throws -> [Turn] {
        var out: [Turn] = []
        var lastWasTool = false
        for turn in turns {
            var t = turn
            let isTool = turn.role == .tool
            if isTool {
                var text = ""
                for part in turn.parts {
                    guard case .text(let s) = part else { throw TokenizerError("a tool message cannot hold images") }
                    text += s
                }
                t = Turn(.user, [.text("```tool_output\n" + trim(text) + "\n```")])
            }
            if t.role == .user, isTool || lastWasTool, let last = out.last, last.role == .user {
                var parts = last.parts
                if case .text(let a)? = parts.last, case .text(let b)? = t.parts.first {
                    parts[parts.count - 1] = .text(trim(a, leading: false) + "\n\n" + trim(b, trailing: false))
                    parts += t.parts.dropFirst()
                } else {
                    parts += [.text("\n\n")] + t.parts
                }
                out[out.count - 1].parts = parts
            } else {
                out.append(t)
            }
            lastWasTool = isTool
        }
        return out
    }

    /// `pieces` of a text-only conversation.
    public func pieces(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Piece] {
        try pieces(messages.map { Turn($0.role, [.text($0.text)]) }, addGenerationPrompt: addGenerationPrompt)
    }

    /// The ids of a text-only conversation, optionally followed by the opening of the model's turn.
    public func encode(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int32] {
        var ids: [Int32] = []
        for piece in try pieces(messages, addGenerationPrompt: addGenerationPrompt) {
            switch piece {
            case .token(let id): ids.append(id)
            case .text(let text): ids += try tokenizer.encode(text, addBOS: false)
            case .media: preconditionFailure("text-only messages render no media")
            }
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
        var out = ""
        for piece in try pieces(messages, addGenerationPrompt: addGenerationPrompt) {
            switch piece {
            case .token(let id): out += tokenizer.vocabulary.piece(id) ?? ""
            case .text(let text): out += text
            case .media: out += "<__media__>"
            }
        }
        return out
    }

    /// `s` without leading and/or trailing ASCII whitespace (C `isspace`), as llama.cpp's template trims.
    public static func trim(_ s: String, leading: Bool = true, trailing: Bool = true) -> String {
        let bytes = Array(s.utf8)
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        var start = 0, end = bytes.count
        if leading { while start < end && isSpace(bytes[start]) { start += 1 } }
        if trailing { while end > start && isSpace(bytes[end - 1]) { end -= 1 } }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
