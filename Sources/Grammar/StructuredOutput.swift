/// What an OpenAI-style request asks for, as GBNF: `response_format` (`text`, `json_object`,
/// `json_schema`), llama-server's `json_schema` and `grammar` fields, and tool calls. The server
/// decodes the request body and hands the fields here as `JSONValue`s / text.
public enum StructuredOutput {
    /// The grammar a request asks for, or nil for free text. Giving more than one of the three
    /// fields is an error, as is a malformed `response_format`.
    public static func gbnf(responseFormat: JSONValue?, jsonSchema: JSONValue?, grammar: String?) throws -> String? {
        let given = [responseFormat.map { if case .object = $0 { return $0["type"] != .string("text") } else { return true } } ?? false,
                     jsonSchema != nil, grammar != nil].filter { $0 }.count
        guard given <= 1 else {
            throw GrammarError("give only one of response_format, json_schema and grammar")
        }
        if let grammar { return grammar }
        if let jsonSchema { return try JSONSchemaGrammar.gbnf(schemaValue: jsonSchema) }
        guard let rf = responseFormat else { return nil }
        guard case .string(let type)? = rf["type"] else {
            throw GrammarError("response_format must be an object with a string 'type'")
        }
        switch type {
        case "text": return nil
        case "json_object":
            // llama-server also takes a schema here.
            if let schema = rf["schema"] { return try JSONSchemaGrammar.gbnf(schemaValue: schema) }
            return JSONSchemaGrammar.anyJSON(objectOnly: true)
        case "json_schema":
            guard let js = rf["json_schema"], let schema = js["schema"] else {
                throw GrammarError("response_format json_schema needs json_schema.schema")
            }
            return try JSONSchemaGrammar.gbnf(schemaValue: schema)
        default:
            throw GrammarError("response_format type '\(type)' is not one of text, json_object, json_schema")
        }
    }
}

/// A function the model may call (OpenAI `tools[].function`).
public struct ToolFunction: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The JSON Schema of the arguments (an object schema; nil takes no arguments).
    public var parameters: JSONValue?

    public init(name: String, description: String? = nil, parameters: JSONValue? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// OpenAI `tool_choice`.
public enum ToolChoice: Sendable, Equatable {
    case auto, none, required
    case function(String)
}

/// Prompt-based function calling for Gemma 3, which has no tool tokens: the tools are described
/// in the system text in the JSON form of Google's function-calling guide for Gemma, and a call is
/// one JSON object `{"name": ..., "parameters": {...}}`, constrained by the grammar of the
/// functions' parameter schemas.
public enum ToolCalls {
    /// Text for the system turn that describes the tools and the call format.
    public static func prompt(tools: [ToolFunction]) -> String {
        var out = "You have access to functions. If you decide to invoke any of the function(s), you MUST put it in "
            + "the format of {\"name\": function name, \"parameters\": dictionary of argument name and its value}\n\n"
            + "You SHOULD NOT include any other text in the response if you call a function\n"
        for t in tools {
            var f: [(key: String, value: JSONValue)] = [("name", .string(t.name))]
            if let d = t.description { f.append(("description", .string(d))) }
            f.append(("parameters", t.parameters ?? .object([])))
            out += JSONValue.object(f).serialized + "\n"
        }
        return out
    }

    /// A call as the model writes it (for an assistant message that made a call, given back in
    /// the conversation): `arguments` is the JSON text of the arguments object.
    public static func callText(name: String, arguments: String) throws -> String {
        let args = try JSONValue.parse(arguments.isEmpty ? "{}" : arguments)
        guard case .object = args else { throw GrammarError("the arguments of a call to '\(name)' must be a JSON object") }
        return "{\"name\": \(JSONValue.quote(name)), \"parameters\": \(args.serialized)}"
    }

    /// The grammar of what the model may write: nil for `none` (free text); one call for
    /// `required` or a named function; a call or text that does not start with `{` for `auto`.
    public static func gbnf(tools: [ToolFunction], choice: ToolChoice) throws -> String? {
        if choice == .none { return nil }
        guard !tools.isEmpty else { throw GrammarError("tool_choice needs at least one tool") }
        var names = Set<String>()
        for t in tools {
            guard !t.name.isEmpty, names.insert(t.name).inserted else {
                throw GrammarError("tool names must be non-empty and distinct ('\(t.name)')")
            }
        }
        var chosen = tools
        if case .function(let name) = choice {
            chosen = tools.filter { $0.name == name }
            guard !chosen.isEmpty else { throw GrammarError("tool_choice names '\(name)', which is not in tools") }
        }
        var b = SchemaBuilder(root: .null)
        b.useBasics()
        var calls: [String] = []
        for (k, t) in chosen.enumerated() {
            b.root = t.parameters ?? .null
            let args = try t.parameters.map { try b.rule(for: $0, path: "tools/\(t.name)/parameters", name: "args\(k)") }
                ?? "\"{\" ws \"}\""
            calls.append("\"{\" ws \"\\\"name\\\"\" ws \":\" ws \(SchemaBuilder.literal(JSONValue.quote(t.name))) ws \",\" ws "
                         + "\"\\\"parameters\\\"\" ws \":\" ws \(args) ws \"}\"")
        }
        var root = "root ::= call\ncall ::= " + calls.map { "( \($0) )" }.joined(separator: " | ") + "\n"
        if choice == .auto { root = "root ::= call | [^{] .*\ncall ::= " + calls.map { "( \($0) )" }.joined(separator: " | ") + "\n" }
        return root + b.text()
    }

    /// The call in a model's answer: (name, arguments as JSON text), or nil when the answer is
    /// not a call of one of `tools`. The arguments are the text the model wrote for them, as
    /// `ToolCallStream` streams it (so streamed fragments join to the same string); a call in
    /// another key order gets them re-serialised.
    public static func parse(_ text: String, tools: [ToolFunction]) -> (name: String, arguments: String)? {
        guard let v = try? JSONValue.parse(text.trimmingWhitespace), case .string(let name)? = v["name"],
              tools.contains(where: { $0.name == name }) else { return nil }
        let args = v["parameters"] ?? .object([])
        guard case .object = args else { return nil }
        var stream = ToolCallStream()
        _ = stream.append(text)
        if stream.complete, stream.name == name { return (name, stream.arguments) }
        return (name, args.serialized)
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
