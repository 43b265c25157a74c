/// A compiled grammar: rules over bytes, flattened into one array of elements.
///
/// Every rule is a list of alternatives and every alternative a run of elements ending in `end`.
/// An element is a byte set (a terminal), a reference to a rule, or `end`. Character classes
/// outside ASCII become small rules of UTF-8 byte sequences, and repetitions become helper rules
/// (`x*` is `R ::= x R | ""`), so the matcher only ever sees bytes. Alternatives that can never
/// finish are removed; left recursion, undefined rules, rules that produce nothing and an empty
/// language are errors.
public final class Grammar: @unchecked Sendable {
    /// Elements: a terminal is its byte set's index (>= 0), `end` is -1, a reference to rule r
    /// is -(r + 2).
    let code: [Int32]
    /// Byte sets, four 64-bit words each.
    let sets: [UInt64]
    /// The alternatives of rule r start at `altStarts[ruleAlts[r] ..< ruleAlts[r + 1]]`.
    let ruleAlts: [Int32]
    let altStarts: [Int32]
    let root: Int32
    public let limits: GrammarLimits
    /// Rule names by index (helper rules are named after the rule they came from).
    let ruleNames: [String]
    /// The grammar text this was compiled from (GBNF); the key of token caches.
    public let source: String

    static let end: Int32 = -1

    /// Number of elements (a size figure for limits and reports).
    public var elementCount: Int { code.count }
    public var ruleCount: Int { ruleNames.count }

    /// Compiles GBNF text; `root` is the start rule.
    public convenience init(gbnf text: String, limits: GrammarLimits = GrammarLimits()) throws {
        let rules = try GBNFParser.parse(text, limits: limits)
        var c = GrammarCompiler(limits: limits, text: Array(text.utf8))
        try c.lower(rules)
        try self.init(compiler: c, source: text)
    }

    private init(compiler c: GrammarCompiler, source: String) throws {
        let checked = try c.checkedRules()
        var code: [Int32] = []
        var sets: [UInt64] = []
        var setIndex: [ByteSet: Int32] = [:]
        var ruleAlts: [Int32] = [0]
        var altStarts: [Int32] = []
        for alts in checked {
            for alt in alts {
                altStarts.append(Int32(code.count))
                for e in alt {
                    switch e {
                    case .set(let s):
                        if let k = setIndex[s] {
                            code.append(k)
                        } else {
                            let k = Int32(setIndex.count)
                            setIndex[s] = k
                            sets.append(contentsOf: [s.w0, s.w1, s.w2, s.w3])
                            code.append(k)
                        }
                    case .ref(let r): code.append(-Int32(r) - 2)
                    }
                }
                code.append(Grammar.end)
            }
            ruleAlts.append(Int32(altStarts.count))
        }
        self.code = code
        self.sets = sets
        self.ruleAlts = ruleAlts
        self.altStarts = altStarts
        self.root = Int32(c.index["root"]!)
        self.limits = c.limits
        self.ruleNames = c.names
        self.source = source
    }

    @inline(__always) func contains(set k: Int32, _ b: UInt8) -> Bool {
        (sets[Int(k) &* 4 &+ Int(b >> 6)] >> UInt64(b & 63)) & 1 != 0
    }
}

/// 256 bits, one per byte value.
struct ByteSet: Hashable {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    init() {}
    init(_ r: ClosedRange<UInt8>) { for b in r { insert(b) } }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        default: w3 |= bit
        }
    }

    var isEmpty: Bool { w0 | w1 | w2 | w3 == 0 }
}

enum Elem: Hashable {
    case set(ByteSet)
    case ref(Int)
}

/// Lowers parsed GBNF to byte-level rules and checks them.
struct GrammarCompiler {
    let limits: GrammarLimits
    let text: [UInt8]
    var names: [String] = []
    var index: [String: Int] = [:]
    var rules: [[[Elem]]] = []
    var elements = 0
    /// Helper rules for character classes, shared by every use of the same class.
    var classRules: [[ClosedRange<UInt32>]: Int] = [:]

    init(limits: GrammarLimits, text: [UInt8]) {
        self.limits = limits
        self.text = text
    }

    mutating func lower(_ parsed: [(name: String, body: GExpr)]) throws {
        for (name, _) in parsed where index[name] == nil { _ = try newRule(name) }
        guard index["root"] != nil else { throw GrammarError("the grammar has no 'root' rule") }
        for (name, body) in parsed {
            let alts = try alternatives(body, owner: name)
            rules[index[name]!].append(contentsOf: alts)
        }
    }

    private mutating func newRule(_ name: String) throws -> Int {
        guard rules.count < limits.maxRules else { throw GrammarError("the grammar needs more than \(limits.maxRules) rules") }
        let r = rules.count
        names.append(name)
        if index[name] == nil { index[name] = r }
        rules.append([])
        return r
    }

    private mutating func count(_ n: Int) throws {
        elements += n
        guard elements <= limits.maxElements else {
            throw GrammarError("the grammar expands to more than \(limits.maxElements) elements (large repetition counts?)")
        }
    }

    private mutating func alternatives(_ e: GExpr, owner: String) throws -> [[Elem]] {
        if case .choice(let alts) = e { return try alts.map { try sequence($0, owner: owner) } }
        return [try sequence(e, owner: owner)]
    }

    private mutating func helper(_ owner: String, _ alts: [[Elem]]) throws -> Int {
        let r = try newRule(owner + "_" + String(rules.count))
        rules[r] = alts
        return r
    }

    private mutating func sequence(_ e: GExpr, owner: String) throws -> [Elem] {
        switch e {
        case .bytes(let b):
            try count(b.count)
            return b.map { .set(ByteSet($0...$0)) }
        case .charClass(let negated, let ranges):
            return [try charClass(UTF8Ranges.normalise(ranges, negated: negated), owner: owner)]
        case .anyChar:
            return [try charClass(UTF8Ranges.normalise([0...0x10FFFF], negated: false), owner: owner)]
        case .ref(let name, let offset):
            guard let r = index[name] else {
                throw GrammarError("line \(GBNFParser.line(of: offset, in: text)): undefined rule '\(name)'")
            }
            try count(1)
            return [.ref(r)]
        case .sequence(let items):
            var out: [Elem] = []
            for item in items { out.append(contentsOf: try sequence(item, owner: owner)) }
            return out
        case .choice:
            let alts = try alternatives(e, owner: owner)
            try count(1)
            return [.ref(try helper(owner, alts))]
        case .repeated(let item, let lo, let hi):
            var x = try sequence(item, owner: owner)
            if x.isEmpty { return [] }  // repeating the empty string gives the empty string
            let copies = lo + (hi.map { $0 - lo } ?? 1)
            if x.count > 1, copies > 1 {
                x = [.ref(try helper(owner, [x]))]
                try count(1)
            }
            var out: [Elem] = []
            try count(x.count * lo)
            for _ in 0..<lo { out.append(contentsOf: x) }
            if let hi = hi {
                // (n - m) nested optional copies: O1 ::= x | "", Ok ::= x Ok-1 | "".
                var inner: Int? = nil
                for _ in 0..<(hi - lo) {
                    try count(x.count + 1)
                    inner = try helper(owner, [x + (inner.map { [Elem.ref($0)] } ?? []), []])
                }
                if let inner { out.append(.ref(inner)) }
            } else {
                let r = try newRule(owner + "_" + String(rules.count))
                try count(x.count + 2)
                rules[r] = [x + [.ref(r)], []]
                out.append(.ref(r))
            }
            return out
        }
    }

    /// One element for a set of code points: a byte set when it is all ASCII, otherwise a
    /// helper rule of UTF-8 sequences (one shared rule per distinct class).
    private mutating func charClass(_ ranges: [ClosedRange<UInt32>], owner: String) throws -> Elem {
        try count(1)
        if ranges.allSatisfy({ $0.upperBound < 0x80 }) {
            var s = ByteSet()
            for r in ranges { for b in UInt8(r.lowerBound)...UInt8(r.upperBound) { s.insert(b) } }
            return .set(s)
        }
        if let r = classRules[ranges] { return .ref(r) }
        var single = ByteSet()
        var alts: [[Elem]] = []
        for range in ranges {
            for seq in UTF8Ranges.sequences(range) {
                if seq.count == 1 {
                    for b in seq[0] { single.insert(b) }
                } else {
                    alts.append(seq.map { .set(ByteSet($0)) })
                }
            }
        }
        if !single.isEmpty { alts.insert([.set(single)], at: 0) }
        try count(alts.reduce(0) { $0 + $1.count + 1 })
        let r = try helper(owner, alts)
        classRules[ranges] = r
        return .ref(r)
    }

    /// The rules with alternatives that cannot finish removed, after the checks.
    func checkedRules() throws -> [[[Elem]]] {
        let n = rules.count
        // Productive: can derive some finite byte string.
        var productive = [Bool](repeating: false, count: n)
        func elemProductive(_ e: Elem) -> Bool {
            switch e {
            case .set(let s): return !s.isEmpty
            case .ref(let r): return productive[r]
            }
        }
        var changed = true
        while changed {
            changed = false
            for r in 0..<n where !productive[r] {
                if rules[r].contains(where: { $0.allSatisfy(elemProductive) }) {
                    productive[r] = true
                    changed = true
                }
            }
        }
        let root = index["root"]!
        guard productive[root] else {
            throw GrammarError("the grammar's language is empty: rule 'root' cannot produce any finite text")
        }
        // Only what root reaches matters.
        var reachable = [Bool](repeating: false, count: n)
        var work = [root]
        reachable[root] = true
        while let r = work.popLast() {
            for alt in rules[r] where alt.allSatisfy(elemProductive) {
                for case .ref(let s) in alt where !reachable[s] {
                    reachable[s] = true
                    work.append(s)
                }
            }
        }
        for r in 0..<n where reachable[r] && !productive[r] {
            throw GrammarError("rule '\(names[r])' cannot produce any finite text")
        }
        let pruned = rules.map { $0.filter { $0.allSatisfy(elemProductive) } }
        // Nullable rules, then left recursion: a rule reachable from itself without consuming.
        var nullable = [Bool](repeating: false, count: n)
        changed = true
        while changed {
            changed = false
            for r in 0..<n where !nullable[r] {
                if pruned[r].contains(where: { $0.allSatisfy { if case .ref(let s) = $0 { return nullable[s] } else { return false } } }) {
                    nullable[r] = true
                    changed = true
                }
            }
        }
        var left = [[Int]](repeating: [], count: n)
        for r in 0..<n where reachable[r] {
            for alt in pruned[r] {
                for e in alt {
                    guard case .ref(let s) = e else { break }
                    left[r].append(s)
                    if !nullable[s] { break }
                }
            }
        }
        // Iterative DFS with colours: 1 on the path, 2 done.
        var colour = [UInt8](repeating: 0, count: n)
        for start in 0..<n where reachable[start] && colour[start] == 0 {
            var path: [(rule: Int, next: Int)] = [(start, 0)]
            colour[start] = 1
            while !path.isEmpty {
                let (r, k) = path[path.count - 1]
                if k < left[r].count {
                    path[path.count - 1].next += 1
                    let s = left[r][k]
                    if colour[s] == 1 {
                        throw GrammarError("rule '\(baseName(s))' is left-recursive (it can reach itself without consuming input)")
                    }
                    if colour[s] == 0 {
                        colour[s] = 1
                        path.append((s, 0))
                    }
                } else {
                    colour[r] = 2
                    path.removeLast()
                }
            }
        }
        return pruned
    }

    /// The user's rule a helper rule came from.
    private func baseName(_ r: Int) -> String {
        let n = names[r]
        if index[n] == r { return n }
        return String(n[..<(n.lastIndex(of: "_") ?? n.endIndex)])
    }
}
