/// Integer bounds as GBNF: the digit patterns of a range (no leading zeros), as regex engines
/// build numeric ranges.
enum IntegerRange {
    /// Integers in lo...hi (nil: unbounded on that side), at most 16 digits.
    static func gbnf(lo: Int64?, hi: Int64?) -> String {
        var alts: [String] = []
        // Non-negative part.
        if hi.map({ $0 >= 0 }) ?? true {
            alts += nonNegative(from: max(0, lo ?? 0), to: hi)
        }
        // Negative part: "-" then the magnitudes.
        if lo.map({ $0 < 0 }) ?? true {
            let top = min(hi ?? -1, -1)
            let mags = nonNegative(from: -top, to: lo.map { -$0 })
            alts += mags.map { "\"-\" \($0)" }
        }
        return alts.map { "( \($0) )" }.joined(separator: " | ")
    }

    /// Patterns for a...b (b nil: no upper bound), 0 <= a.
    private static func nonNegative(from a: Int64, to b: Int64?) -> [String] {
        guard let b else {
            let d = String(a).count
            let limit = d >= 16 ? Int64(9_999_999_999_999_999) : pow10(d) - 1
            var out = a <= limit ? ranges(a, limit) : []
            if d < 16 { out.append("[1-9] [0-9]{\(d),15}") }
            return out
        }
        return a <= b ? ranges(a, b) : []
    }

    private static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(Int64(1)) { r, _ in r * 10 } }

    /// Patterns for a...b, splitting by digit count first.
    private static func ranges(_ a: Int64, _ b: Int64) -> [String] {
        let da = String(a).count, db = String(b).count
        if da < db { return ranges(a, pow10(da) - 1) + ranges(pow10(da), b) }
        return sameLength(Array(String(a).utf8).map { Int($0) - 48 }, Array(String(b).utf8).map { Int($0) - 48 })
    }

    private static func digit(_ lo: Int, _ hi: Int) -> String { lo == hi ? "\"\(lo)\"" : "[\(lo)-\(hi)]" }

    /// a <= b, same number of digits (inner digits may be 0).
    private static func sameLength(_ a: [Int], _ b: [Int]) -> [String] {
        let n = a.count
        if n == 1 { return [digit(a[0], b[0])] }
        if a[0] == b[0] {
            return sameLength(Array(a.dropFirst()), Array(b.dropFirst())).map { "\"\(a[0])\" \($0)" }
        }
        var out: [String] = []
        let restA = Array(a.dropFirst()), restB = Array(b.dropFirst())
        let aZeros = restA.allSatisfy { $0 == 0 }, bNines = restB.allSatisfy { $0 == 9 }
        var midLo = a[0] + 1, midHi = b[0] - 1
        if aZeros { midLo = a[0] } else {
            out += sameLength(restA, [Int](repeating: 9, count: n - 1)).map { "\"\(a[0])\" \($0)" }
        }
        if bNines { midHi = b[0] }
        if midLo <= midHi { out.append("\(digit(midLo, midHi)) [0-9]{\(n - 1)}") }
        if !bNines { out += sameLength([Int](repeating: 0, count: n - 1), restB).map { "\"\(b[0])\" \($0)" } }
        return out
    }
}

/// A JSON Schema `pattern` (a plain regular expression, taken as matching the whole string) as a
/// GBNF expression over the JSON text of the string's content: `.` and negated classes never
/// produce a raw quote, backslash or control character, so the output stays valid JSON.
struct RegexToGBNF {
    private let s: [Character]
    private var i = 0
    private var depth = 0
    private let path: String

    init(_ pattern: String, path: String) {
        var chars = Array(pattern)
        if chars.first == "^" { chars.removeFirst() }
        if chars.last == "$", !(chars.count >= 2 && chars[chars.count - 2] == "\\") { chars.removeLast() }
        s = chars
        self.path = path
    }

    private func fail(_ m: String) -> GrammarError { GrammarError("JSON Schema at \(path): pattern: \(m)") }

    mutating func convert() throws -> String {
        let e = try alternation()
        guard i == s.count else { throw fail("unexpected '\(s[i])'") }
        return e.isEmpty ? "\"\"" : e
    }

    private mutating func alternation() throws -> String {
        var alts = [try sequence()]
        while i < s.count, s[i] == "|" {
            i += 1
            alts.append(try sequence())
        }
        return alts.count == 1 ? alts[0] : alts.map { $0.isEmpty ? "\"\"" : "( \($0) )" }.joined(separator: " | ")
    }

    private mutating func sequence() throws -> String {
        var items: [String] = []
        while i < s.count, s[i] != "|", s[i] != ")" {
            var atom: String
            let c = s[i]
            i += 1
            switch c {
            case "(":
                depth += 1
                guard depth <= 32 else { throw fail("groups nest deeper than 32") }
                if i < s.count, s[i] == "?" {
                    guard i + 1 < s.count, s[i + 1] == ":" else { throw fail("lookarounds and named groups are not supported") }
                    i += 2
                }
                let inner = try alternation()
                guard i < s.count, s[i] == ")" else { throw fail("missing ')'") }
                i += 1
                depth -= 1
                atom = "( \(inner.isEmpty ? "\"\"" : inner) )"
            case ".": atom = "char"
            case "[": atom = try charClass()
            case "\\": atom = try escape(inClass: false)
            case "^", "$": throw fail("anchors are only supported at the ends")
            case "*", "+", "?", "{": throw fail("a quantifier with nothing to repeat")
            default: atom = SchemaBuilder.literal(JSONValue.quoteBody(String(c)))
            }
            // Quantifiers (a trailing '?' for laziness makes no difference to the language).
            if i < s.count {
                switch s[i] {
                case "*", "+", "?":
                    atom += String(s[i])
                    i += 1
                case "{":
                    var j = i + 1
                    var body = ""
                    while j < s.count, s[j] != "}" { body.append(s[j]); j += 1 }
                    let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                    guard j < s.count, (1...2).contains(parts.count), let lo = Int(parts[0]), lo <= 1000,
                          parts.count == 1 || parts[1].isEmpty || (Int(parts[1]).map { $0 >= lo && $0 <= 1000 } ?? false)
                    else { throw fail("bad repetition {\(body)} (counts up to 1000)") }
                    atom += "{\(body)}"
                    i = j + 1
                default: break
                }
                if i < s.count, s[i] == "?" { i += 1 }
            }
            items.append(atom)
        }
        return items.joined(separator: " ")
    }

    /// `\d` and friends as a class body, or an escaped literal character.
    private mutating func escape(inClass: Bool) throws -> String {
        guard i < s.count else { throw fail("a backslash ends the pattern") }
        let e = s[i]
        i += 1
        let body: String
        switch e {
        case "d": body = "0-9"
        case "w": body = "a-zA-Z0-9_"
        case "s": body = " "
        case "D": return inClass ? "" : #"[^0-9"\\\x7F\x00-\x1F]"#
        case "W": return inClass ? "" : #"[^a-zA-Z0-9_"\\\x7F\x00-\x1F]"#
        case "S": return inClass ? "" : #"[^ "\\\x7F\x00-\x1F]"#
        case "n", "t", "r", "b", "B", "1", "2", "3", "4", "5", "6", "7", "8", "9":
            throw fail("'\\\(e)' is not supported")
        default:
            let lit = JSONValue.quoteBody(String(e))
            if inClass { return lit.count == 1 ? classEscape(lit.first!) : "" }
            return SchemaBuilder.literal(lit)
        }
        return inClass ? body : "[\(body)]"
    }

    private func classEscape(_ c: Character) -> String {
        switch c {
        case "]", "[", "\\", "^", "-", "\"": return "\\" + String(c)
        default: return String(c)
        }
    }

    private mutating func charClass() throws -> String {
        var negated = false
        if i < s.count, s[i] == "^" { negated = true; i += 1 }
        var body = ""
        var first = true
        while true {
            guard i < s.count else { throw fail("missing ']'") }
            let c = s[i]
            if c == "]", !first { i += 1; break }
            first = false
            i += 1
            if c == "\\" {
                body += try escape(inClass: true)
            } else if c == "\"" || c.unicodeScalars.first!.value < 0x20 {
                continue  // a raw quote or control character cannot appear unescaped in JSON
            } else {
                body += classEscape(c) == "\\-" && i < s.count && s[i] != "]" && !body.isEmpty ? "-" : classEscape(c)
            }
        }
        if negated { return "[^\(body)\"\\\\\\x7F\\x00-\\x1F]" }
        guard !body.isEmpty else { throw fail("an empty character class") }
        return "[\(body)]"
    }
}

extension JSONValue {
    /// The JSON-escaped text of a string, without the quotes.
    static func quoteBody(_ s: String) -> String { String(quote(s).dropFirst().dropLast()) }
}
