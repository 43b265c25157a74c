import Grammar
import Sampling
import Tokenizer

/// The fields `/v1/chat/completions` and `/v1/completions` share, as sent (not yet checked).
public struct GenerationFields: Decodable, Sendable {
    var model: String?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var repetitionPenalty: Double?
    var frequencyPenalty: Double?
    var presencePenalty: Double?
    var seed: Int64?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var stop: StopField?
    var ignoreEOS: Bool?
    /// `true`/`false` on chat, an integer (alternatives per token) on completions.
    var logprobs: LogprobsField?
    var topLogprobs: Int?

    enum LogprobsField: Sendable, Equatable {
        case flag(Bool)
        case count(Int)
    }

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    enum CodingKeys: String, CodingKey {
        case model, temperature, seed, n, stream, stop, logprobs, topLogprobs = "top_logprobs"
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p", topK = "top_k", minP = "min_p"
        case repetitionPenalty = "repetition_penalty", frequencyPenalty = "frequency_penalty"
        case presencePenalty = "presence_penalty", streamOptions = "stream_options", ignoreEOS = "ignore_eos"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        maxTokens = try c.integer(.maxTokens)
        maxCompletionTokens = try c.integer(.maxCompletionTokens)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        topK = try c.integer(.topK)
        minP = try c.decodeIfPresent(Double.self, forKey: .minP)
        repetitionPenalty = try c.decodeIfPresent(Double.self, forKey: .repetitionPenalty)
        frequencyPenalty = try c.decodeIfPresent(Double.self, forKey: .frequencyPenalty)
        presencePenalty = try c.decodeIfPresent(Double.self, forKey: .presencePenalty)
        seed = try c.integer(.seed).map(Int64.init)
        n = try c.integer(.n)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        stop = try c.decodeIfPresent(StopField.self, forKey: .stop)
        ignoreEOS = try c.decodeIfPresent(Bool.self, forKey: .ignoreEOS)
        if c.contains(.logprobs), try !c.decodeNil(forKey: .logprobs) {
            if let b = try? c.decode(Bool.self, forKey: .logprobs) {
                logprobs = .flag(b)
            } else if let n = try? c.integer(.logprobs) {
                logprobs = .count(n)
            } else {
                throw RequestError("`logprobs` must be true or false (chat) or an integer (completions)", param: "logprobs")
            }
        }
        topLogprobs = try c.integer(.topLogprobs)
    }
}

extension KeyedDecodingContainer {
    /// An optional integer field. A number that is not a whole number in Int64's range is an error
    /// naming the field (the JSON decoder alone reports it without saying where).
    func integer(_ key: Key) throws -> Int? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let v = try? decode(Int.self, forKey: key) { return v }
        let field = RequestJSON.path(codingPath + [key])
        if let d = try? decode(Double.self, forKey: key) {
            throw RequestError("`\(field)` must be a whole number within 64 bits (got \(d))", param: field)
        }
        throw RequestError("`\(field)` must be an integer", param: field)
    }
}

/// `stop`: one string or an array of strings.
struct StopField: Decodable, Sendable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { values = []; return }
        if let s = try? c.decode(String.self) { values = [s]; return }
        if let a = try? c.decode([String].self) { values = a; return }
        let field = RequestJSON.path(decoder.codingPath)
        throw RequestError("`\(field)` must be a string or an array of strings", param: field)
    }
}

/// A checked request: what the scheduler and the response writer need.
public struct GenerationSettings: Equatable, Sendable {
    public var maxTokens: Int
    public var parameters: SamplingParameters
    public var stop: [String]
    public var stream: Bool
    public var includeUsage: Bool
    public var ignoreEOS: Bool
    /// Log-probabilities wanted: nil for none, else how many alternatives per token (0...20).
    public var logprobs: Int?
}

extension GenerationFields {
    /// Range-checks every number and turns the fields into settings.
    /// - Parameters:
    ///   - cap: the server's `--max-tokens-cap`; larger requests are lowered to it.
    ///   - vocabularySize: the upper bound of `top_k`.
    ///   - randomSeed: the seed used when the request gives none.
    public func validated(cap: Int, vocabularySize: Int, randomSeed: UInt64) throws -> GenerationSettings {
        func bad(_ field: String, _ rule: String) -> RequestError { RequestError("`\(field)` \(rule)", param: field) }
        func finite(_ v: Double, _ field: String) throws -> Double {
            guard v.isFinite else { throw bad(field, "must be a finite number") }
            return v
        }

        var maxTokens = cap
        for (field, value) in [("max_tokens", self.maxTokens), ("max_completion_tokens", maxCompletionTokens)] {
            guard let value else { continue }
            guard value >= 1 else { throw bad(field, "must be at least 1 (got \(value))") }
            maxTokens = min(value, cap)
        }
        if let n, n != 1 { throw bad("n", "must be 1: this server returns one choice per request (got \(n))") }
        var logprobCount: Int?
        switch logprobs {
        case .flag(true):
            let k = topLogprobs ?? 0
            guard (0...20).contains(k) else { throw bad("top_logprobs", "must be between 0 and 20 (got \(k))") }
            logprobCount = k
        case .count(let k):
            guard (0...20).contains(k) else { throw bad("logprobs", "must be between 0 and 20 (got \(k))") }
            logprobCount = k
        case .flag(false), nil:
            if let k = topLogprobs, k != 0 { throw bad("top_logprobs", "needs `logprobs: true`") }
        }

        var p = SamplingParameters()
        p.seed = seed.map { UInt64(bitPattern: $0) } ?? randomSeed
        if let t = temperature {
            guard try (0...2).contains(finite(t, "temperature")) else { throw bad("temperature", "must be between 0 and 2 (got \(t))") }
            p.temperature = Float(t)
        }
        if let v = topP {
            guard try finite(v, "top_p") > 0 && v <= 1 else { throw bad("top_p", "must be greater than 0 and at most 1 (got \(v))") }
            p.topP = Float(v)
        }
        if let k = topK {
            guard (0...vocabularySize).contains(k) else {
                throw bad("top_k", "must be between 0 (off) and the vocabulary size \(vocabularySize) (got \(k))")
            }
            p.topK = k
        }
        if let v = minP {
            guard try (0...1).contains(finite(v, "min_p")) else { throw bad("min_p", "must be between 0 and 1 (got \(v))") }
            p.minP = Float(v)
        }
        if let v = repetitionPenalty {
            guard try finite(v, "repetition_penalty") > 0 && v <= 10 else {
                throw bad("repetition_penalty", "must be greater than 0 and at most 10 (got \(v))")
            }
            p.repetitionPenalty = Float(v)
        }
        for (field, value) in [("frequency_penalty", frequencyPenalty), ("presence_penalty", presencePenalty)] {
            guard let value else { continue }
            guard try (-2...2).contains(finite(value, field)) else { throw bad(field, "must be between -2 and 2 (got \(value))") }
        }
        p.frequencyPenalty = Float(frequencyPenalty ?? 0)
        p.presencePenalty = Float(presencePenalty ?? 0)
        if let problem = p.validate() { throw RequestError(problem) }

        let stops = stop?.values ?? []
        guard stops.count <= 4 else { throw bad("stop", "may hold at most 4 sequences (got \(stops.count))") }
        for s in stops where s.isEmpty || s.utf8.count > 256 {
            throw bad("stop", "sequences must be 1 to 256 bytes long")
        }
        return GenerationSettings(maxTokens: maxTokens, parameters: p, stop: stops, stream: stream ?? false,
                                  includeUsage: streamOptions?.includeUsage ?? false, ignoreEOS: ignoreEOS ?? false,
                                  logprobs: logprobCount)
    }
}

/// The body of `POST /v1/chat/completions`. The constrained-output fields (`response_format`,
/// `tools`, ...) are read by `OutputConstraint`.
public struct ChatCompletionBody: Decodable, Sendable {
    public var messages: [Message]
    public var fields: GenerationFields

    public struct Message: Decodable, Sendable {
        public var role: String
        public var content: Content?
        /// The calls an assistant message made (given back in the conversation).
        var toolCalls: [ToolCall]?

        struct ToolCall: Decodable, Sendable {
            var function: Function
            struct Function: Decodable, Sendable {
                var name: String
                var arguments: String
            }
        }

        enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
    }

    /// Message content: a string, or an array of `{"type": "text", "text": ...}` parts and (vision)
    /// `{"type": "image_url", "image_url": {"url": ...}}` parts.
    public struct Content: Decodable, Sendable {
        public var text: String
        /// Vision: the image parts' URLs in order, and the text before each image and after the
        /// last (text parts joined with newlines); `segments` is `[text]` without images.
        public var imageURLs: [String] = []
        public var segments: [String] = []

        struct Part: Decodable, Sendable {
            var type: String
            var text: String?
            var imageURL: ImageURL?

            struct ImageURL: Decodable, Sendable { var url: String }
            enum CodingKeys: String, CodingKey { case type, text, imageURL = "image_url" }
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            let field = RequestJSON.path(decoder.codingPath)
            if c.decodeNil() { text = ""; segments = [text]; return }
            if let s = try? c.decode(String.self) { text = s; segments = [text]; return }
            guard let parts = try? c.decode([Part].self) else {
                throw RequestError("`\(field)` must be a string or an array of text and image_url parts", param: field)
            }
            var pieces: [String] = [], all: [String] = []
            for (i, part) in parts.enumerated() {
                if part.type == "image_url" {
                    guard let url = part.imageURL?.url else {
                        throw RequestError("`\(field)[\(i)].image_url.url` is missing", param: "\(field)[\(i)].image_url")
                    }
                    imageURLs.append(url)
                    segments.append(pieces.joined(separator: "\n"))
                    pieces.removeAll()
                    continue
                }
                guard part.type == "text", let t = part.text else {
                    throw RequestError("`\(field)` has a part of type \"\(part.type)\": only text and image_url "
                                       + "parts are supported", param: field)
                }
                pieces.append(t)
                all.append(t)
            }
            segments.append(pieces.joined(separator: "\n"))
            text = all.joined(separator: "\n")
        }
    }

    enum CodingKeys: String, CodingKey { case messages }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        messages = try c.decode([Message].self, forKey: .messages)
        fields = try GenerationFields(from: decoder)
        if case .count = fields.logprobs {
            throw RequestError("`logprobs` must be true or false on chat completions; use `top_logprobs` for alternatives",
                               param: "logprobs")
        }
        try RefusedFields.check(decoder, endpoint: .chat)
    }

    /// The conversation for the chat template; roles are checked here, their order by the template.
    /// An assistant message's tool calls become the call text the model writes; `tool` messages
    /// are the calls' results. `toolPrompt` (the tools' description) opens the system text.
    public func chatMessages(toolPrompt: String? = nil) throws -> [ChatMessage] {
        guard !messages.isEmpty else { throw RequestError("`messages` must hold at least one message", param: "messages") }
        var out = try messages.enumerated().map { i, m in
            let text = m.content?.text ?? ""
            switch m.role {
            case "system", "developer": return ChatMessage.system(text)
            case "user": return .user(text)
            case "tool": return .tool(text)
            case "assistant", "model":
                guard let calls = m.toolCalls, !calls.isEmpty else { return .model(text) }
                let written = try calls.enumerated().map { j, call in
                    do {
                        return try ToolCalls.callText(name: call.function.name, arguments: call.function.arguments)
                    } catch {
                        let field = "messages[\(i)].tool_calls[\(j)].function.arguments"
                        throw RequestError("`\(field)` must be a JSON object as text: \(error)", param: field)
                    }
                }
                return .model(([text].filter { !$0.isEmpty } + written).joined(separator: "\n"))
            default:
                throw RequestError("`messages[\(i)].role` must be system, user, assistant or tool (got \"\(m.role)\")",
                                   param: "messages[\(i)].role")
            }
        }
        if let toolPrompt {
            if out.first?.role == .system {
                out[0].text = toolPrompt + "\n" + out[0].text
            } else {
                out.insert(.system(toolPrompt), at: 0)
            }
        }
        return out
    }
}

/// The body of `POST /v1/completions`.
public struct CompletionBody: Decodable, Sendable {
    public var prompt: Prompt
    public var fields: GenerationFields
    var echo: Bool?
    var suffix: String?
    var bestOf: Int?

    /// A prompt: a string, an array holding one string, or an array of token ids.
    public enum Prompt: Sendable, Equatable {
        case text(String)
        case tokens([Int])
    }

    enum CodingKeys: String, CodingKey { case prompt, echo, suffix, bestOf = "best_of" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.contains(.prompt) else { throw RequestError("the required field `prompt` is missing", param: "prompt") }
        if let s = try? c.decode(String.self, forKey: .prompt) {
            prompt = .text(s)
        } else if let a = try? c.decode([String].self, forKey: .prompt) {
            guard !a.isEmpty else { throw RequestError("`prompt` must not be an empty array", param: "prompt") }
            guard a.count == 1 else {
                throw RequestError("`prompt` arrays must hold exactly one string (got \(a.count))", param: "prompt")
            }
            prompt = .text(a[0])
        } else if let ids = try? c.decode([Int].self, forKey: .prompt) {
            prompt = .tokens(ids)
        } else {
            throw RequestError("`prompt` must be a string, an array of one string or an array of token ids",
                                      param: "prompt")
        }
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        suffix = try c.decodeIfPresent(String.self, forKey: .suffix)
        bestOf = try c.decodeIfPresent(Int.self, forKey: .bestOf)
        fields = try GenerationFields(from: decoder)
        if case .flag = fields.logprobs {
            throw RequestError("`logprobs` must be an integer on completions: how many alternatives per token (0 to 20)",
                               param: "logprobs")
        }
        if fields.topLogprobs != nil {
            throw RequestError("`top_logprobs` is a chat field; completions take `logprobs` as an integer", param: "top_logprobs")
        }
        try RefusedFields.check(decoder, endpoint: .completions)
    }

    /// Refuses options this server does not implement.
    public func checkSupported() throws {
        if echo == true { throw RequestError("`echo` is not supported by this server", param: "echo") }
        if let suffix, !suffix.isEmpty { throw RequestError("`suffix` is not supported by this server", param: "suffix") }
        if let bestOf, bestOf != 1 { throw RequestError("`best_of` must be 1 (got \(bestOf))", param: "best_of") }
    }
}
