import Foundation
import Tokenizer

/// Token counts reported with every completion.
struct Usage: Equatable {
    var promptTokens: Int
    var completionTokens: Int
    /// Prompt positions taken from the prompt cache (`prompt_tokens_details.cached_tokens`).
    var cachedTokens: Int = 0
}

/// Builds the JSON objects of both endpoints, whole and as stream chunks, in OpenAI's shapes.
struct ResponseFormatter {
    enum Kind { case chat, text }

    let kind: Kind
    let id: String
    let created: Int
    let model: String
    /// Set when the request asked for log-probabilities.
    let logprobs: LogprobsFormatter?

    init(kind: Kind, model: String, logprobs vocabulary: Vocabulary? = nil) {
        self.kind = kind
        self.model = model
        logprobs = vocabulary.map { LogprobsFormatter(vocabulary: $0) }
        created = Int(Date().timeIntervalSince1970)
        var rng = SystemRandomNumberGenerator()
        let hex = (0..<3).map { _ in String(rng.next() as UInt64, radix: 16) }.joined()
        id = (kind == .chat ? "chatcmpl-" : "cmpl-") + String(hex.prefix(24))
    }

    /// The `logprobs` value of a choice holding `entries` (null when none were asked for);
    /// `offset` is the text offset of the first (completions).
    func logprobsValue(_ entries: [TokenLogprobs], offset: Int) -> JSONValue {
        guard let logprobs else { return .null }
        return kind == .chat ? logprobs.chat(entries) : logprobs.completion(entries, offset: offset)
    }

    /// A tool call the model made: its name and the arguments as JSON text.
    struct ToolCall: Equatable {
        var name: String
        var arguments: String
    }

    /// A piece of a streamed tool call: the first carries the name (and the call's id and type),
    /// the next ones fragments of the arguments text only.
    struct ToolCallDelta: Equatable {
        var name: String?
        var arguments: String
    }

    /// The call's id (one call per answer).
    private var callID: String { "call_" + id.suffix(16) }

    /// A tool call in OpenAI's shape.
    func toolCallValue(_ call: ToolCall) -> JSONValue {
        .object(["id": .string(callID), "type": .string("function"),
                 "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)])])
    }

    /// A stream delta of tool call 0, in OpenAI's shape.
    func toolCallDeltaValue(_ delta: ToolCallDelta) -> JSONValue {
        var function: [String: JSONValue] = ["arguments": .string(delta.arguments)]
        var o: [String: JSONValue] = ["index": .int(0)]
        if let name = delta.name {
            function["name"] = .string(name)
            o["id"] = .string(callID)
            o["type"] = .string("function")
        }
        o["function"] = .object(function)
        return .object(o)
    }

    /// A whole (non-streamed) completion; a chat answer that is a tool call carries it in
    /// `tool_calls` (content null, finish reason `tool_calls`).
    func complete(text: String, finishReason: String, usage: Usage, logprobs entries: [TokenLogprobs] = [],
                  toolCall: ToolCall? = nil) -> [UInt8] {
        var choice: [String: JSONValue] = ["index": .int(0), "finish_reason": .string(toolCall == nil ? finishReason : "tool_calls"),
                                           "logprobs": logprobsValue(entries, offset: 0)]
        switch kind {
        case .chat:
            if let toolCall {
                choice["message"] = .object(["role": .string("assistant"), "content": .null,
                                             "tool_calls": .array([toolCallValue(toolCall)])])
            } else {
                choice["message"] = .object(["role": .string("assistant"), "content": .string(text)])
            }
        case .text:
            choice["text"] = .string(text)
        }
        return envelope(object: kind == .chat ? "chat.completion" : "text_completion",
                        choices: [.object(choice)], usage: usage)
    }

    /// One stream chunk carrying `text` (and, on the last one, the finish reason). `role` is sent
    /// on the first chat chunk.
    /// `entries` are the log-probabilities of the tokens this chunk carries; `offset` the text
    /// offset of its first (completions).
    /// `toolCall` is a piece of a tool call (chat).
    func chunk(text: String?, role: Bool = false, finishReason: String? = nil, logprobs entries: [TokenLogprobs] = [],
               offset: Int = 0, toolCall: ToolCallDelta? = nil) -> [UInt8] {
        var choice: [String: JSONValue] = ["index": .int(0), "finish_reason": finishReason.map(JSONValue.string) ?? .null,
                                           "logprobs": entries.isEmpty ? .null : logprobsValue(entries, offset: offset)]
        switch kind {
        case .chat:
            var delta: [String: JSONValue] = [:]
            if role { delta["role"] = .string("assistant") }
            if let text { delta["content"] = .string(text) }
            if let toolCall { delta["tool_calls"] = .array([toolCallDeltaValue(toolCall)]) }
            choice["delta"] = .object(delta)
        case .text:
            choice["text"] = .string(text ?? "")
        }
        return envelope(object: kind == .chat ? "chat.completion.chunk" : "text_completion", choices: [.object(choice)],
                        usage: nil)
    }

    /// The final usage chunk sent when `stream_options.include_usage` is set.
    func usageChunk(_ usage: Usage) -> [UInt8] {
        envelope(object: kind == .chat ? "chat.completion.chunk" : "text_completion", choices: [], usage: usage)
    }

    private func envelope(object: String, choices: [JSONValue], usage: Usage?) -> [UInt8] {
        var o: [String: JSONValue] = [
            "id": .string(id), "object": .string(object), "created": .int(created), "model": .string(model),
            "choices": .array(choices),
        ]
        if let usage {
            o["usage"] = .object(["prompt_tokens": .int(usage.promptTokens), "completion_tokens": .int(usage.completionTokens),
                                  "total_tokens": .int(usage.promptTokens + usage.completionTokens),
                                  "prompt_tokens_details": .object(["cached_tokens": .int(usage.cachedTokens)])])
        }
        return JSONValue.object(o).bytes()
    }

    /// An SSE event: `data: <json>\n\n`.
    static func event(_ json: [UInt8]) -> [UInt8] { Array("data: ".utf8) + json + [0x0A, 0x0A] }

    static let done = Array("data: [DONE]\n\n".utf8)
}

/// A small JSON tree that writes explicit nulls (OpenAI clients expect `"finish_reason": null`).
enum JSONValue: Encodable {
    case string(String), int(Int), double(Double), bool(Bool), null
    case array([JSONValue]), object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .int(let i): var c = encoder.singleValueContainer(); try c.encode(i)
        case .double(let d): var c = encoder.singleValueContainer(); try c.encode(d)
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .array(let a): var c = encoder.unkeyedContainer(); for v in a { try c.encode(v) }
        case .object(let o):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in o.sorted(by: { $0.key < $1.key }) { try c.encode(v, forKey: Key(k)) }
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func bytes() -> [UInt8] {
        Array((try? JSONCoding.encoder.encode(self)) ?? Data("null".utf8))
    }
}
