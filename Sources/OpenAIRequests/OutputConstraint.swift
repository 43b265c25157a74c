import Grammar

/// What a request asks the output to follow: OpenAI's `response_format` (`json_object`,
/// `json_schema`), llama-server's `json_schema` and `grammar`, and (chat) `tools` with
/// `tool_choice`. The fields are read from the body parsed again with the grammar module's JSON
/// parser, which keeps object keys in order: a schema's `properties` order is the order the
/// output writes them in.
public struct OutputConstraint: Sendable {
    /// The grammar (GBNF text) the output must follow, or nil for free text.
    public var gbnf: String?
    /// The request field the grammar comes from, for errors that name it.
    public var field: String
    /// The functions the model may call: empty without `tools`, and with `tool_choice: "none"`.
    public var tools: [ToolFunction] = []
    public var toolChoice: ToolChoice = .auto

    /// No constraint.
    public static let none = OutputConstraint(gbnf: nil, field: "")

    /// Whether an answer may be a tool call (and is read as one when it parses as a call).
    public var callsTools: Bool { !tools.isEmpty }

    /// The text describing the tools, for the start of the system turn (nil without tools).
    public var toolPrompt: String? { tools.isEmpty ? nil : ToolCalls.prompt(tools: tools) }

    /// Reads the constrained-output fields of a request body.
    /// - Parameter chat: true for `/v1/chat/completions` (only chat takes `tools`).
    public init(body bytes: [UInt8], chat: Bool) throws {
        let body: JSONValue
        do {
            body = try JSONValue.parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            throw RequestError("the request body is not valid JSON: \(error)")
        }
        func present(_ key: String) -> JSONValue? {
            guard let v = body[key], v != .null else { return nil }
            return v
        }
        var responseFormat = present("response_format")
        if case .object = responseFormat, responseFormat?["type"] == .string("text") { responseFormat = nil }
        let schema = present("json_schema")
        var grammar: String?
        if let g = present("grammar") {
            guard case .string(let text) = g else { throw RequestError("`grammar` must be a string of GBNF", param: "grammar") }
            grammar = text
        }
        let given = [("response_format", responseFormat != nil), ("json_schema", schema != nil), ("grammar", grammar != nil)]
            .filter(\.1).map(\.0)
        guard given.count <= 1 else {
            throw RequestError("give only one of `response_format`, `json_schema` and `grammar` (got \(given.joined(separator: ", ")))",
                               param: given[1])
        }
        field = given.first ?? ""
        do {
            gbnf = try StructuredOutput.gbnf(responseFormat: responseFormat, jsonSchema: schema, grammar: grammar)
        } catch let error as GrammarError {
            throw RequestError("`\(field)`: \(error.message)", param: field)
        }

        let tools = present("tools"), choice = present("tool_choice")
        if !chat {
            for name in ["tools", "tool_choice"] where present(name) != nil {
                throw RequestError("`\(name)` is a chat field: use /v1/chat/completions", param: name)
            }
            return
        }
        if let parallel = present("parallel_tool_calls") {
            guard case .bool(let allowed) = parallel else {
                throw RequestError("`parallel_tool_calls` must be true or false", param: "parallel_tool_calls")
            }
            // Gemma 3's prompt format (Google's function-calling guide) has the model write one
            // call; an answer holds at most one.
            if allowed {
                throw RequestError("`parallel_tool_calls: true` is not supported: an answer holds at most one tool call "
                                   + "(leave the field out or set it to false)", param: "parallel_tool_calls")
            }
        }
        let functions = try Self.functions(tools)
        toolChoice = try Self.choice(choice, hasTools: !functions.isEmpty)
        guard !functions.isEmpty, toolChoice != .none else { return }
        guard gbnf == nil else {
            throw RequestError("`tools` cannot be combined with `\(field)`: a tool call has its own grammar", param: "tools")
        }
        self.tools = functions
        field = "tools"
        do {
            gbnf = try ToolCalls.gbnf(tools: functions, choice: toolChoice)
        } catch let error as GrammarError {
            throw RequestError("`tools`: \(error.message)", param: "tools")
        }
    }

    private init(gbnf: String?, field: String) {
        self.gbnf = gbnf
        self.field = field
    }

    /// `tools`: an array of `{"type": "function", "function": {"name", "description", "parameters"}}`.
    static func functions(_ value: JSONValue?) throws -> [ToolFunction] {
        guard let value else { return [] }
        guard case .array(let items) = value else { throw RequestError("`tools` must be an array", param: "tools") }
        return try items.enumerated().map { i, item in
            let field = "tools[\(i)]"
            guard case .object = item else { throw RequestError("`\(field)` must be an object", param: field) }
            guard item["type"] == .string("function") else {
                throw RequestError("`\(field).type` must be \"function\"", param: "\(field).type")
            }
            guard let f = item["function"], case .string(let name)? = f["name"] else {
                throw RequestError("`\(field).function.name` must be a string", param: "\(field).function.name")
            }
            guard !name.isEmpty, name.utf8.count <= 64,
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-".unicodeScalars.contains($0)) })
            else {
                throw RequestError("`\(field).function.name` must be 1 to 64 letters, digits, underscores or dashes (got \"\(name)\")",
                                   param: "\(field).function.name")
            }
            var description: String?
            if let d = f["description"], d != .null {
                guard case .string(let s) = d else {
                    throw RequestError("`\(field).function.description` must be a string", param: "\(field).function.description")
                }
                description = s
            }
            var parameters: JSONValue?
            if let p = f["parameters"], p != .null {
                guard case .object = p else {
                    throw RequestError("`\(field).function.parameters` must be a JSON Schema object", param: "\(field).function.parameters")
                }
                parameters = p
            }
            return ToolFunction(name: name, description: description, parameters: parameters)
        }
    }

    /// `tool_choice`: "auto", "none", "required", or `{"type": "function", "function": {"name": ...}}`.
    static func choice(_ value: JSONValue?, hasTools: Bool) throws -> ToolChoice {
        guard let value else { return .auto }
        let bad = RequestError("`tool_choice` must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                               + "\"function\": {\"name\": ...}}", param: "tool_choice")
        let choice: ToolChoice
        switch value {
        case .string("auto"): choice = .auto
        case .string("none"): choice = .none
        case .string("required"): choice = .required
        case .object:
            guard value["type"] == .string("function"), case .string(let name)? = value["function"]?["name"] else { throw bad }
            choice = .function(name)
        default: throw bad
        }
        if !hasTools, choice != .none, choice != .auto {
            throw RequestError("`tool_choice` asks for a call but `tools` is empty or missing", param: "tool_choice")
        }
        return choice
    }
}
