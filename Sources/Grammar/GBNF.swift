/// GBNF, the grammar notation of llama.cpp (`grammars/README.md` there): rules `name ::= body`,
/// alternation `|`, sequences, groups `( )`, repetition `*` `+` `?` `{m}` `{m,}` `{m,n}`, string
/// literals, character classes `[a-z]` / `[^...]` with escapes, `.` for any character and `#`
/// comments. A rule ends at a newline unless the newline is inside parentheses or follows `|`
/// or `::=`. The start rule is `root`.
///
/// Grammars are untrusted input: every limit in `GrammarLimits` is checked and broken input is a
/// `GrammarError` naming the line, never a crash.

/// Why a grammar or schema was refused.
public struct GrammarError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Bounds on untrusted grammars; the defaults serve any realistic grammar.
public struct GrammarLimits: Sendable {
    /// Longest grammar text, in bytes.
    public var maxTextBytes = 1 << 20
    /// Most rules after repetitions and groups are expanded.
    public var maxRules = 20_000
    /// Most grammar elements after expansion (a `{m,n}` repetition copies its item).
    public var maxElements = 400_000
    /// Deepest nesting of groups in the text.
    public var maxNesting = 64
    /// Largest bound in `{m,n}`.
    public var maxRepetition = 10_000
    /// Deepest parse stack a matcher builds (deeper inputs are refused, token by token).
    public var maxStackDepth = 512
    public init() {}
}

/// A parsed GBNF expression.
indirect enum GExpr: Equatable {
    case bytes([UInt8])                         // a string literal, as UTF-8
    case charClass(negated: Bool, ranges: [ClosedRange<UInt32>])
    case anyChar
    case ref(String, offset: Int)      // offset: where it appears, for messages
    case sequence([GExpr])
    case choice([GExpr])
    case repeated(GExpr, min: Int, max: Int?)   // max nil: unbounded
}

/// Parses GBNF text into rules (name, body), in the order they are defined. A rule defined twice
/// gets the alternatives of both definitions, as llama.cpp does.
struct GBNFParser {
    private let s: [UInt8]
    private var i = 0
    private var depth = 0
    private let limits: GrammarLimits

    static func parse(_ text: String, limits: GrammarLimits) throws -> [(name: String, body: GExpr)] {
        let bytes = Array(text.utf8)
        guard bytes.count <= limits.maxTextBytes else {
            throw GrammarError("the grammar is \(bytes.count) bytes; the limit is \(limits.maxTextBytes)")
        }
        var p = GBNFParser(s: bytes, limits: limits)
        return try p.rules()
    }

    private init(s: [UInt8], limits: GrammarLimits) {
        self.s = s
        self.limits = limits
    }

    /// The line of a byte offset of `text` (1-based), for messages.
    static func line(of offset: Int, in text: [UInt8]) -> Int {
        1 + text[..<min(offset, text.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    private func fail(_ m: String) -> GrammarError { GrammarError("line \(Self.line(of: i, in: s)): \(m)") }
    private var atEnd: Bool { i >= s.count }
    private var peek: UInt8 { i < s.count ? s[i] : 0 }

    /// Skips spaces, tabs, comments and (when `newlines`) line breaks.
    private mutating func space(newlines: Bool) {
        while i < s.count {
            let c = s[i]
            if c == 0x20 || c == 0x09 {
                i += 1
            } else if c == 0x23 {  // '#' to the end of the line
                while i < s.count, s[i] != 0x0A, s[i] != 0x0D { i += 1 }
            } else if newlines, c == 0x0A || c == 0x0D {
                i += 1
            } else {
                return
            }
        }
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }

    private mutating func name() -> String? {
        let start = i
        while i < s.count, Self.isNameByte(s[i]) { i += 1 }
        return i > start ? String(decoding: s[start..<i], as: UTF8.self) : nil
    }

    private mutating func rules() throws -> [(name: String, body: GExpr)] {
        var out: [(name: String, body: GExpr)] = []
        space(newlines: true)
        while !atEnd {
            guard let n = name() else { throw fail("expected a rule name, found '\(Self.show(peek))'") }
            space(newlines: false)
            guard s.count - i >= 3, s[i] == 0x3A, s[i + 1] == 0x3A, s[i + 2] == 0x3D else {
                throw fail("expected '::=' after '\(n)'")
            }
            i += 3
            space(newlines: true)
            let body = try alternatives(nested: false)
            out.append((n, body))
            space(newlines: false)
            if !atEnd {
                guard peek == 0x0A || peek == 0x0D else { throw fail("unexpected '\(Self.show(peek))' after rule '\(n)'") }
            }
            space(newlines: true)
        }
        return out
    }

    private mutating func alternatives(nested: Bool) throws -> GExpr {
        var alts = [try sequence(nested: nested)]
        while peek == 0x7C {  // '|'
            i += 1
            space(newlines: true)
            alts.append(try sequence(nested: nested))
        }
        return alts.count == 1 ? alts[0] : .choice(alts)
    }

    private mutating func sequence(nested: Bool) throws -> GExpr {
        var items: [GExpr] = []
        while !atEnd {
            let c = peek
            var item: GExpr
            if c == 0x22 {  // "literal"
                i += 1
                var bytes: [UInt8] = []
                while true {
                    guard !atEnd else { throw fail("unterminated string literal") }
                    if peek == 0x22 { i += 1; break }
                    let cp = try character()
                    bytes.append(contentsOf: UTF8Ranges.encode(cp))
                }
                item = .bytes(bytes)
            } else if c == 0x5B {  // [class]
                i += 1
                var negated = false
                if peek == 0x5E { negated = true; i += 1 }
                var ranges: [ClosedRange<UInt32>] = []
                while true {
                    guard !atEnd else { throw fail("unterminated character class") }
                    if peek == 0x5D { i += 1; break }
                    let lo = try character()
                    var hi = lo
                    if peek == 0x2D, i + 1 < s.count, s[i + 1] != 0x5D {
                        i += 1
                        hi = try character()
                    }
                    guard lo <= hi else { throw fail("character range is backwards") }
                    ranges.append(lo...hi)
                }
                item = .charClass(negated: negated, ranges: ranges)
            } else if c == 0x2E {  // .
                i += 1
                item = .anyChar
            } else if c == 0x28 {  // (group)
                i += 1
                depth += 1
                guard depth <= limits.maxNesting else { throw fail("groups nest deeper than \(limits.maxNesting)") }
                space(newlines: true)
                item = try alternatives(nested: true)
                guard peek == 0x29 else { throw fail("expected ')'") }
                i += 1
                depth -= 1
            } else if Self.isNameByte(c) {
                let save = i
                let n = name()!
                // A name followed by '::=' starts the next rule (only possible after a newline).
                var j = i
                while j < s.count, s[j] == 0x20 || s[j] == 0x09 { j += 1 }
                if s.count - j >= 3, s[j] == 0x3A, s[j + 1] == 0x3A, s[j + 2] == 0x3D {
                    i = save
                    break
                }
                item = .ref(n, offset: save)
            } else {
                break
            }
            space(newlines: nested)
            // Postfix repetition operators, possibly several (`x*?` is legal but odd).
            while true {
                if peek == 0x2A { i += 1; item = .repeated(item, min: 0, max: nil) }
                else if peek == 0x2B { i += 1; item = .repeated(item, min: 1, max: nil) }
                else if peek == 0x3F { i += 1; item = .repeated(item, min: 0, max: 1) }
                else if peek == 0x7B {
                    i += 1
                    space(newlines: nested)
                    let lo = try number()
                    space(newlines: nested)
                    var hi: Int? = lo
                    if peek == 0x2C {
                        i += 1
                        space(newlines: nested)
                        hi = (peek >= 0x30 && peek <= 0x39) ? try number() : nil
                        space(newlines: nested)
                    }
                    guard peek == 0x7D else { throw fail("expected '}' to close a repetition") }
                    i += 1
                    if let h = hi, h < lo { throw fail("repetition {\(lo),\(h)} has max below min") }
                    item = .repeated(item, min: lo, max: hi)
                } else { break }
                space(newlines: nested)
            }
            items.append(item)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func number() throws -> Int {
        var v = 0
        let start = i
        while peek >= 0x30, peek <= 0x39 {
            v = v * 10 + Int(peek - 0x30)
            guard v <= limits.maxRepetition else { throw fail("repetition count above the limit of \(limits.maxRepetition)") }
            i += 1
        }
        guard i > start else { throw fail("expected a number in a repetition") }
        return v
    }

    /// One character of a literal or class: a UTF-8 sequence or an escape. Returns a code point.
    private mutating func character() throws -> UInt32 {
        let c = s[i]
        if c == 0x5C {  // backslash
            guard i + 1 < s.count else { throw fail("a backslash ends the grammar") }
            let e = s[i + 1]
            i += 2
            switch e {
            case 0x6E: return 0x0A
            case 0x72: return 0x0D
            case 0x74: return 0x09
            case 0x30: return 0
            case 0x5C, 0x22, 0x5B, 0x5D, 0x27, 0x2D, 0x5E, 0x2F: return UInt32(e)
            case 0x78: return try hex(2)
            case 0x75: return try hex(4)
            case 0x55: return try hex(8)
            default: throw fail("unknown escape '\\\(Self.show(e))'")
            }
        }
        // A UTF-8 sequence (the text came from a Swift String, so it is valid).
        let n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
        guard i + n <= s.count else { throw fail("truncated UTF-8") }
        var cp = n == 1 ? UInt32(c) : UInt32(c) & (0xFF >> (n + 1))
        for k in 1..<max(1, n) where n > 1 { cp = (cp << 6) | UInt32(s[i + k] & 0x3F) }
        i += n
        return cp
    }

    private mutating func hex(_ digits: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<digits {
            guard !atEnd else { throw fail("truncated hex escape") }
            let c = s[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            default: throw fail("bad hex digit '\(Self.show(c))'")
            }
            v = v << 4 | d
            i += 1
        }
        guard v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v) else { throw fail("escape \\x\(String(v, radix: 16)) is not a Unicode scalar") }
        return v
    }

    private static func show(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }
}
