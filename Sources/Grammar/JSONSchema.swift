/// JSON Schema to GBNF. Output is compact JSON (optional single spaces or newlines between
/// tokens), object members in the order of `properties`.
///
/// Supported: `type` (one or a list), `properties`, `required`, `additionalProperties` (false,
/// true or a schema; absent means any other member may follow the listed ones), `enum`, `const`,
/// `anyOf` / `oneOf` (both as a choice), `allOf` with one schema, `$ref` to `#/$defs/...` or
/// `#/definitions/...`, `items`, `minItems` / `maxItems`, `minLength` / `maxLength`, `pattern`
/// (a plain regular expression, matched whole), `format` date / time / date-time / uuid, and
/// integer `minimum` / `maximum` / `exclusiveMinimum` / `exclusiveMaximum`. Annotations (`title`,
/// `description`, `default`, `examples`, ...) are ignored; any other keyword is an error naming it.
public enum JSONSchemaGrammar {
    /// The GBNF of any JSON value (`root` is an object when `objectOnly`).
    public static func anyJSON(objectOnly: Bool = false) -> String {
        var b = SchemaBuilder(root: .null)
        b.useBasics()
        return "root ::= \(objectOnly ? "object" : "value")\n" + b.text()
    }

    /// The GBNF of the JSON documents `schema` accepts.
    public static func gbnf(schema text: String) throws -> String {
        try gbnf(schemaValue: JSONValue.parse(text))
    }

    /// The GBNF of the JSON documents a parsed schema accepts.
    public static func gbnf(schemaValue schema: JSONValue) throws -> String {
        var b = SchemaBuilder(root: schema)
        let root = try b.rule(for: schema, path: "#", name: "root")
        return (root == "root" ? "" : "root ::= \(root)\n") + b.text()
    }

    /// Compiles a schema straight to a grammar.
    public static func grammar(schema text: String, limits: GrammarLimits = GrammarLimits()) throws -> Grammar {
        try Grammar(gbnf: gbnf(schema: text), limits: limits)
    }
}

struct SchemaBuilder {
    /// The schema `$ref`s resolve in.
    var root: JSONValue { didSet { refs = [:] } }
    private var rules: [(name: String, body: String)] = []
    private var byBody: [String: String] = [:]
    private var names: Set<String> = []
    private var refs: [String: String] = [:]
    private var basicsUsed = false

    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "readOnly", "writeOnly",
        "deprecated", "$defs", "definitions", "strict", "name",
    ]

    static let basics: [(String, String)] = [
        ("ws", #"( " " | "\n" [ \t]{0,20} )?"#),
        ("char", #"[^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )"#),
        ("string", #""\"" char* "\"""#),
        ("integer", #""-"? ( "0" | [1-9] [0-9]{0,15} )"#),
        ("number", #"integer ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?"#),
        ("boolean", #""true" | "false""#),
        ("null", #""null""#),
        ("value", "object | array | string | number | boolean | null"),
        ("object", #""{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}""#),
        ("array", #""[" ws ( value ws ( "," ws value ws )* )? "]""#),
    ]

    init(root: JSONValue) { self.root = root }

    mutating func useBasics() { basicsUsed = true }

    func text() -> String {
        var out = rules.map { "\($0.name) ::= \($0.body)\n" }.joined()
        if basicsUsed { out += Self.basics.map { "\($0.0) ::= \($0.1)\n" }.joined() }
        return out
    }

    /// A rule with this body (an existing one when the body was seen before).
    private mutating func add(_ name: String, _ body: String) -> String {
        if let existing = byBody[body] { return existing }
        var n = name
        var k = 1
        while names.contains(n) || Self.basics.contains(where: { $0.0 == n }) {
            k += 1
            n = "\(name)-\(k)"
        }
        names.insert(n)
        byBody[body] = n
        rules.append((n, body))
        return n
    }

    private static func ruleName(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.map { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) ? Character($0) : "-" })
        return cleaned.isEmpty ? "r" : String(cleaned.prefix(40))
    }

    /// A GBNF string literal for raw text.
    static func literal(_ s: String) -> String {
        "\"" + JSONValue.escaped(s, control: { $0 < 0x20 || $0 == 0x7F ? "\\x" + String(format2: $0) : nil }) + "\""
    }

    /// The name of a rule for values `schema` accepts.
    mutating func rule(for schema: JSONValue, path: String, name: String) throws -> String {
        try add(name, body(for: schema, path: path, name: name))
    }

    private func fail(_ path: String, _ m: String) -> GrammarError { GrammarError("JSON Schema at \(path): \(m)") }

    private mutating func body(for schema: JSONValue, path: String, name: String) throws -> String {
        if case .bool(let b) = schema {
            guard b else { throw fail(path, "the schema 'false' accepts nothing") }
            basicsUsed = true
            return "value"
        }
        guard case .object(let members) = schema else { throw fail(path, "a schema must be an object or a boolean") }
        let handled: Set<String> = [
            "type", "properties", "required", "additionalProperties", "enum", "const", "anyOf", "oneOf", "allOf",
            "$ref", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum",
            "maximum", "exclusiveMinimum", "exclusiveMaximum",
        ]
        for (k, _) in members where !handled.contains(k) && !Self.annotations.contains(k) {
            throw fail(path, "unsupported JSON Schema keyword '\(k)'")
        }
        if let r = schema["$ref"] {
            guard case .string(let ref) = r else { throw fail(path, "'$ref' must be a string") }
            return try reference(ref, path: path)
        }
        if let c = schema["const"] { return Self.literal(c.serialized) }
        if let e = schema["enum"] {
            guard case .array(let items) = e, !items.isEmpty else { throw fail(path, "'enum' must be a non-empty array") }
            return items.map { Self.literal($0.serialized) }.joined(separator: " | ")
        }
        for key in ["anyOf", "oneOf"] {
            if let a = schema[key] {
                guard case .array(let items) = a, !items.isEmpty else { throw fail(path, "'\(key)' must be a non-empty array") }
                var alts: [String] = []
                for (k, item) in items.enumerated() {
                    alts.append(try rule(for: item, path: "\(path)/\(key)/\(k)", name: "\(name)-\(k)"))
                }
                return alts.joined(separator: " | ")
            }
        }
        if let a = schema["allOf"] {
            guard case .array(let items) = a, items.count == 1 else {
                throw fail(path, "'allOf' is supported with exactly one schema")
            }
            return try rule(for: items[0], path: "\(path)/allOf/0", name: name)
        }
        var types: [String] = []
        switch schema["type"] {
        case .string(let t)?: types = [t]
        case .array(let ts)?:
            for t in ts {
                guard case .string(let s) = t else { throw fail(path, "'type' entries must be strings") }
                types.append(s)
            }
        case nil:
            if schema["properties"] != nil || schema["additionalProperties"] != nil { types = ["object"] }
            else if schema["items"] != nil { types = ["array"] }
            else if schema["pattern"] != nil || schema["format"] != nil || schema["minLength"] != nil { types = ["string"] }
            else {
                basicsUsed = true
                return "value"
            }
        default: throw fail(path, "'type' must be a string or an array of strings")
        }
        var alts: [String] = []
        for t in types {
            switch t {
            case "object": alts.append(try object(members, schema, path: path, name: name))
            case "array": alts.append(try array(schema, path: path, name: name))
            case "string": alts.append(try string(schema, path: path, name: name))
            case "integer": alts.append(try integer(schema, path: path))
            case "number":
                for k in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] where schema[k] != nil {
                    throw fail(path, "'\(k)' on a 'number' is not supported (it is on an 'integer')")
                }
                basicsUsed = true
                alts.append("number")
            case "boolean": basicsUsed = true; alts.append("boolean")
            case "null": basicsUsed = true; alts.append("null")
            default: throw fail(path, "unknown type '\(t)'")
            }
        }
        return alts.count == 1 ? alts[0] : alts.map { "( \($0) )" }.joined(separator: " | ")
    }

    private mutating func reference(_ ref: String, path: String) throws -> String {
        if let r = refs[ref] { return r }
        let parts = ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "#", parts[1] == "$defs" || parts[1] == "definitions",
              let target = root[parts[1]]?[parts[2]] else {
            throw fail(path, "'$ref' \(ref) is not a local #/$defs/... or #/definitions/... reference")
        }
        // Reserve the name first so recursive references resolve to it.
        var n = "def-" + Self.ruleName(parts[2])
        while names.contains(n) { n += "-x" }
        names.insert(n)
        refs[ref] = n
        let b = try body(for: target, path: ref, name: n)
        rules.append((n, b))
        return n
    }

    private mutating func object(_ members: [(key: String, value: JSONValue)], _ schema: JSONValue, path: String,
                                 name: String) throws -> String {
        basicsUsed = true
        var props: [(key: String, value: JSONValue)] = []
        if let p = schema["properties"] {
            guard case .object(let ps) = p else { throw fail(path, "'properties' must be an object") }
            props = ps
        }
        var required = Set<String>()
        if let r = schema["required"] {
            guard case .array(let rs) = r else { throw fail(path, "'required' must be an array") }
            for x in rs {
                guard case .string(let s) = x else { throw fail(path, "'required' entries must be strings") }
                guard props.contains(where: { $0.key == s }) else {
                    throw fail(path, "required property '\(s)' is not in 'properties' (only listed properties can be required)")
                }
                required.insert(s)
            }
        }
        var extra: String? = "string ws \":\" ws value"
        switch schema["additionalProperties"] {
        case .bool(false)?: extra = nil
        case .bool(true)?, nil: break
        case let s?: extra = "string ws \":\" ws " + (try rule(for: s, path: path + "/additionalProperties", name: name + "-additional"))
        }
        var kvs: [String] = []
        for (k, v) in props {
            let value = try rule(for: v, path: "\(path)/properties/\(k)", name: "\(name)-\(Self.ruleName(k))")
            kvs.append(Self.literal(JSONValue.quote(k)) + " ws \":\" ws " + value)
        }
        // Tails: rest(i) follows a member already written (each member starts with a comma);
        // first(i) is where no member was written yet.
        let n = kvs.count
        var rest = extra.map { add(name + "-extra", "( \",\" ws \($0) ws )*") } ?? ""
        var first = extra.map { add(name + "-extra-first", "( \($0) ws \(rest) )?") } ?? ""
        for i in stride(from: n - 1, through: 0, by: -1) {
            let isRequired = required.contains(props[i].key)
            let r = isRequired ? "\",\" ws \(kvs[i]) ws \(rest)"
                : "\",\" ws \(kvs[i]) ws \(rest) | \(rest.isEmpty ? "\"\"" : rest)"
            let f = isRequired ? "\(kvs[i]) ws \(rest)" : "\(kvs[i]) ws \(rest) | \(first.isEmpty ? "\"\"" : first)"
            rest = add("\(name)-rest\(i)", r)
            first = i == 0 ? f : add("\(name)-first\(i)", f)
        }
        if n == 0 { return "\"{\" ws \(first) \"}\"" }
        return "\"{\" ws ( \(first) ) \"}\""
    }

    private mutating func array(_ schema: JSONValue, path: String, name: String) throws -> String {
        basicsUsed = true
        var item = "value"
        if let items = schema["items"] { item = try rule(for: items, path: path + "/items", name: name + "-item") }
        let lo = try count(schema, "minItems", path: path) ?? 0
        let hi = try count(schema, "maxItems", path: path)
        if let hi, hi < lo { throw fail(path, "maxItems is below minItems") }
        if hi == 0 { return "\"[\" ws \"]\"" }
        let more: String
        if let hi { more = "( \",\" ws \(item) ws ){\(max(0, lo - 1)),\(hi - 1)}" }
        else { more = "( \",\" ws \(item) ws ){\(max(0, lo - 1)),}" }
        let body = "\(item) ws \(more)"
        return lo == 0 ? "\"[\" ws ( \(body) )? \"]\"" : "\"[\" ws \(body) \"]\""
    }

    private func count(_ schema: JSONValue, _ key: String, path: String) throws -> Int? {
        guard let v = schema[key] else { return nil }
        guard case .number(_, let d) = v, d >= 0, d <= 10_000, d == d.rounded() else {
            throw fail(path, "'\(key)' must be an integer in 0...10000")
        }
        return Int(d)
    }

    private mutating func string(_ schema: JSONValue, path: String, name: String) throws -> String {
        basicsUsed = true
        if let f = schema["format"] {
            guard case .string(let format) = f else { throw fail(path, "'format' must be a string") }
            let date = #"[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] )"#
            let time = #"( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#
            let body: String
            switch format {
            case "date": body = date
            case "time": body = time
            case "date-time": body = date + " \"T\" " + time
            case "uuid":
                let h = "[0-9a-fA-F]"
                body = "\(h){8} \"-\" \(h){4} \"-\" \(h){4} \"-\" \(h){4} \"-\" \(h){12}"
            default: throw fail(path, "unsupported string format '\(format)' (supported: date, time, date-time, uuid)")
            }
            return "\"\\\"\" " + add("format-" + format, body) + " \"\\\"\""
        }
        if let p = schema["pattern"] {
            guard case .string(let pattern) = p else { throw fail(path, "'pattern' must be a string") }
            var regex = RegexToGBNF(pattern, path: path)
            let body = try regex.convert()
            return "\"\\\"\" " + add(name + "-pattern", body) + " \"\\\"\""
        }
        let lo = try count(schema, "minLength", path: path) ?? 0
        let hi = try count(schema, "maxLength", path: path)
        if let hi, hi < lo { throw fail(path, "maxLength is below minLength") }
        if lo == 0 && hi == nil { return "string" }
        return "\"\\\"\" char{\(lo),\(hi.map(String.init) ?? "")} \"\\\"\""
    }

    private func integer(_ schema: JSONValue, path: String) throws -> String {
        func bound(_ key: String) throws -> Int64? {
            guard let v = schema[key] else { return nil }
            guard case .number(_, let d) = v, d.isFinite, abs(d) < 1e15 else { throw fail(path, "'\(key)' must be a number below 1e15") }
            return key.hasPrefix("exclusiveMin") ? Int64(d.rounded(.down)) + 1
                : key.hasPrefix("exclusiveMax") ? Int64(d.rounded(.up)) - 1
                : key == "minimum" ? Int64(d.rounded(.up)) : Int64(d.rounded(.down))
        }
        let lows = try [bound("minimum"), bound("exclusiveMinimum")].compactMap { $0 }
        let highs = try [bound("maximum"), bound("exclusiveMaximum")].compactMap { $0 }
        let lo = lows.max(), hi = highs.min()
        if lo == nil && hi == nil { return "integer" }
        if let lo, let hi, lo > hi { throw fail(path, "no integer lies between the bounds") }
        return IntegerRange.gbnf(lo: lo, hi: hi)
    }
}

extension String {
    init(format2 v: UInt32) {
        let h = String(v, radix: 16, uppercase: true)
        self = h.count < 2 ? "0" + h : h
    }
}
