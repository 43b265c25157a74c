/// Reads a tool call as the model writes it (`{"name": ..., "parameters": {...}}`, the form the
/// tool grammar allows), piece by piece, so a server can stream it as OpenAI does: the name once
/// it is whole, then the arguments object's text in fragments as they are decoded. The fragments
/// concatenate to exactly the text the model wrote for the arguments, which is also what a whole
/// answer reports (`ToolCalls.parse`).
public struct ToolCallStream: Sendable {
    /// The function's name, known once the text has reached the arguments object.
    public private(set) var name: String?
    /// The arguments text so far (a JSON object once `complete`).
    public private(set) var arguments = ""
    /// True once the arguments object has closed.
    public private(set) var complete = false
    /// False once the text can no longer be a call in this form.
    public private(set) var viable = true

    private var head = ""  // the text before the arguments object
    private var depth = 0
    private var inString = false
    private var escaped = false

    public init() {}

    /// Feeds the next piece of text; returns the name when it became known with this piece, and
    /// the fragment of the arguments the piece carried (possibly empty).
    public mutating func append(_ piece: String) -> (name: String?, fragment: String) {
        var newName: String?
        var fragment = ""
        for ch in piece {
            guard viable, !complete else { break }
            if name == nil {
                head.append(ch)
                switch Self.readHead(head) {
                case .needMore: continue
                case .invalid: viable = false
                case .name(let n):
                    name = n
                    newName = n
                    depth = 1
                    fragment.append("{")
                }
                continue
            }
            fragment.append(ch)
            if inString {
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
                continue
            }
            switch ch {
            case "\"": inString = true
            case "{", "[": depth += 1
            case "}", "]":
                depth -= 1
                if depth == 0 { complete = true }
            default: break
            }
        }
        arguments += fragment
        return (newName, fragment)
    }

    private enum Head { case needMore, invalid, name(String) }

    /// Reads `ws "{" ws "\"name\"" ws ":" ws STRING ws "," ws "\"parameters\"" ws ":" ws "{"`:
    /// the name once `text` ends with the arguments' opening brace.
    private static func readHead(_ text: String) -> Head {
        let s = Array(text.utf8)
        var i = 0
        func ws() { while i < s.count, s[i] == 0x20 || s[i] == 0x0A || s[i] == 0x0D || s[i] == 0x09 { i += 1 } }
        /// Matches `lit`; nil when the text ran out first (a prefix so far).
        func expect(_ lit: String) -> Bool? {
            for b in lit.utf8 {
                guard i < s.count else { return nil }
                guard s[i] == b else { return false }
                i += 1
            }
            return true
        }
        var quoted: String?
        let steps: [() -> Bool?] = [
            { ws(); return expect("{") }, { ws(); return expect("\"name\"") }, { ws(); return expect(":") },
            {
                ws()
                guard i < s.count else { return nil }
                guard s[i] == 0x22 else { return false }
                let start = i
                i += 1
                var esc = false
                while i < s.count {
                    let b = s[i]
                    i += 1
                    if esc { esc = false } else if b == 0x5C { esc = true } else if b == 0x22 {
                        quoted = String(decoding: s[start..<i], as: UTF8.self)
                        return true
                    }
                }
                return nil
            },
            { ws(); return expect(",") }, { ws(); return expect("\"parameters\"") }, { ws(); return expect(":") },
            { ws(); return expect("{") },
        ]
        for step in steps {
            switch step() {
            case nil: return .needMore
            case false?: return .invalid
            case true?: continue
            }
        }
        guard i == s.count, let quoted, case .string(let name)? = try? JSONValue.parse(quoted) else { return .invalid }
        return .name(name)
    }
}
