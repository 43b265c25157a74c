/// A JSON value with object keys in document order (a schema's `properties` order decides the
/// order the output writes them in). The parser takes untrusted text: depth and size are bounded.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number as written (so `1.0` and `1` stay apart) and its value.
    case number(String, Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(_, let x), .number(_, let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    /// Compact JSON text.
    public var serialized: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text, _): return text
        case .string(let s): return JSONValue.quote(s)
        case .array(let items): return "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { JSONValue.quote($0.key) + ":" + $0.value.serialized }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        "\"" + escaped(s, control: { u in
            guard u < 0x20 else { return nil }
            let hex = String(u, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }) + "\""
    }

    /// `s` with quote, backslash, newline, return and tab escaped, and other characters that
    /// `control` names replaced by what it returns.
    static func escaped(_ s: String, control: (UInt32) -> String?) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if let e = control(u.value) { out += e } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    /// Parses JSON text (RFC 8259); nesting deeper than `maxDepth` is an error.
    public static func parse(_ text: String, maxDepth: Int = 128) throws -> JSONValue {
        var p = JSONTextParser(bytes: Array(text.utf8), maxDepth: maxDepth)
        p.space()
        let v = try p.value(depth: 0)
        p.space()
        guard p.i == p.bytes.count else { throw p.fail("trailing characters after the JSON value") }
        return v
    }
}

struct JSONTextParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var i = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ m: String) -> GrammarError { GrammarError("JSON at byte \(i): \(m)") }

    mutating func space() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    mutating func literal(_ word: String, _ v: JSONValue) throws -> JSONValue {
        let w = Array(word.utf8)
        guard bytes.count - i >= w.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("unexpected character") }
        i += w.count
        return v
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case 0x6E: return try literal("null", .null)
        case 0x74: return try literal("true", .bool(true))
        case 0x66: return try literal("false", .bool(false))
        case 0x22: return .string(try string())
        case 0x5B:
            i += 1
            var items: [JSONValue] = []
            space()
            if i < bytes.count, bytes[i] == 0x5D { i += 1; return .array(items) }
            while true {
                space()
                items.append(try value(depth: depth + 1))
                space()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == 0x2C { i += 1; continue }
                if bytes[i] == 0x5D { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case 0x7B:
            i += 1
            var members: [(key: String, value: JSONValue)] = []
            space()
            if i < bytes.count, bytes[i] == 0x7D { i += 1; return .object(members) }
            while true {
                space()
                guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a key") }
                let k = try string()
                space()
                guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':'") }
                i += 1
                space()
                members.append((k, try value(depth: depth + 1)))
                space()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == 0x2C { i += 1; continue }
                if bytes[i] == 0x7D { i += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        default:
            return try number()
        }
    }

    mutating func number() throws -> JSONValue {
        let start = i
        if i < bytes.count, bytes[i] == 0x2D { i += 1 }
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            return i - s
        }
        guard i < bytes.count else { throw fail("unexpected end") }
        if bytes[i] == 0x30 { i += 1 } else if digits() == 0 { throw fail("unexpected character") }
        if i < bytes.count, bytes[i] == 0x2E {
            i += 1
            guard digits() > 0 else { throw fail("digits expected after '.'") }
        }
        if i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
            i += 1
            if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
            guard digits() > 0 else { throw fail("digits expected in the exponent") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard let d = Double(text) else { throw fail("bad number") }
        return .number(text, d)
    }

    mutating func string() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            if c == 0x22 { break }
            if c < 0x20 { throw fail("control character in a string") }
            if c != 0x5C { out.append(c); continue }
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var cp = try hex4()
                if (0xD800...0xDBFF).contains(cp), bytes.count - i >= 6, bytes[i] == 0x5C, bytes[i + 1] == 0x75 {
                    i += 2
                    let lo = try hex4()
                    guard (0xDC00...0xDFFF).contains(lo) else { throw fail("bad surrogate pair") }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                }
                guard !(0xD800...0xDFFF).contains(cp) else { throw fail("lone surrogate") }
                out.append(contentsOf: UTF8Ranges.encode(cp))
            default: throw fail("bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws -> UInt32 {
        guard bytes.count - i >= 4, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        i += 4
        return v
    }
}
