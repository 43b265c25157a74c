import GemmaEdge
import Grammar
import OpenAIRequests

/// A request's constrained output, ready for the worker: the grammar's mask cache taken from the
/// engine's grammar store (compiled by the first request with that grammar, shared by the next)
/// and the tools an answer may call.
struct PreparedOutput: Sendable {
    /// The grammar's mask cache, or nil for free text.
    let grammar: TokenMaskCache?
    /// The request field the grammar comes from.
    let field: String
    let tools: [ToolFunction]
    /// The tools' description for the system text.
    let toolPrompt: String?

    /// Reads the constrained-output fields of `body` and compiles (or finds) their grammar; a bad
    /// schema or grammar is a 400 naming the field and the problem.
    init(body: [UInt8], chat: Bool, engine: Engine) throws {
        let c = try APIError.checkingRequest { try OutputConstraint(body: body, chat: chat) }
        field = c.field
        tools = c.tools
        toolPrompt = c.toolPrompt
        guard let gbnf = c.gbnf else {
            grammar = nil
            return
        }
        do {
            grammar = try engine.grammars.maskCache(gbnf: gbnf)
        } catch let error as GrammarError {
            throw APIError.badRequest("`\(c.field)`: \(error.message)", param: c.field)
        }
    }

    /// The call an answer makes, when there are tools and the answer is one of their calls.
    static func toolCall(in text: String, tools: [ToolFunction]) -> ResponseFormatter.ToolCall? {
        guard !tools.isEmpty, let call = ToolCalls.parse(text, tools: tools) else { return nil }
        return ResponseFormatter.ToolCall(name: call.name, arguments: call.arguments)
    }
}
