import Foundation

/// How a token fares from a parser state.
enum Verdict { case accepted, rejected, uncertain }

/// The tokens allowed from a stack top, as far as the top levels of the stack decide them
/// (XGrammar's idea, keyed by the top three positions): `accepted` tokens are valid whatever
/// lies below, the rest are invalid except `uncertain` ones, which run past the known levels and
/// are checked against the real stack at each step.
final class TokenClasses: @unchecked Sendable {
    /// True when `listed` holds the rejected ids (every other id with bytes, apart from the
    /// uncertain ones, is accepted); false when it holds the accepted ids.
    let complement: Bool
    let listed: [Int32]
    /// Indices into `TokenVocabulary.sorted`, ascending (so walked in trie order).
    let uncertain: [Int32]

    init(complement: Bool, listed: [Int32], uncertain: [Int32]) {
        self.complement = complement
        self.listed = listed
        self.uncertain = uncertain
    }

    var memoryBytes: Int { 48 + listed.count * 4 + uncertain.count * 4 }
}

/// The structure built once per grammar and vocabulary (and shared by every matcher of that
/// grammar): token classes for each stack signature met so far, computed on first use.
public final class TokenMaskCache: @unchecked Sendable {
    public let grammar: Grammar
    public let vocabulary: TokenVocabulary
    private var entries: [UInt64: TokenClasses] = [:]
    private let lock = NSLock()

    public init(grammar: Grammar, vocabulary: TokenVocabulary) {
        precondition(grammar.code.count < (1 << 20), "grammar element limit exceeded")
        self.grammar = grammar
        self.vocabulary = vocabulary
    }

    /// Signatures cached so far.
    public var entryCount: Int { lock.withLock { entries.count } }

    /// Bytes the cached token classes take (the vocabulary is counted apart).
    public var memoryBytes: Int { lock.withLock { entries.values.reduce(0) { $0 + $1.memoryBytes + 32 } } }

    func classes(_ key: UInt64, compute: () -> TokenClasses) -> TokenClasses {
        if let c = lock.withLock({ entries[key] }) { return c }
        let c = compute()
        lock.withLock { entries[key] = c }
        return c
    }
}

extension GrammarMatcher {
    /// The cache key of the stack topped by node `n`: its top three positions, and whether the
    /// stack goes deeper (bit 63).
    func signature(_ n: Int32) -> UInt64 {
        var key = UInt64(arena.pos[Int(n)])
        var q = arena.parent[Int(n)]
        var shift: UInt64 = 21
        while shift <= 42 {
            if q < 0 { return key }
            key |= UInt64(arena.pos[Int(q)] + 1) << shift
            q = arena.parent[Int(q)]
            shift += 21
        }
        return q < 0 ? key : key | (1 << 63)
    }

    /// Builds the stack a signature describes, cut at `StackArena.context` when it goes deeper.
    func stack(of key: UInt64) -> Int32 {
        let mask: UInt64 = (1 << 21) - 1
        var n: Int32 = key >> 63 != 0 ? StackArena.context : StackArena.root
        for shift: UInt64 in [42, 21] {
            let p = (key >> shift) & mask
            if p != 0 { n = arena.node(Int32(p - 1), n) }
        }
        return arena.node(Int32(key & mask), n)
    }

    /// Classifies every token from the one-node state `top` (whose stack is cut by the context
    /// sentinel or ends at the root).
    func classify(top: Int32, vocabulary v: TokenVocabulary) -> TokenClasses {
        var accepted: [Int32] = [], rejected: [Int32] = [], uncertain: [Int32] = []
        walk(v, from: top, count: v.sorted.count, index: { $0 }) { i, verdict in
            switch verdict {
            case .accepted: accepted.append(v.sorted[i])
            case .rejected: rejected.append(v.sorted[i])
            case .uncertain: uncertain.append(Int32(i))
            }
        }
        if accepted.count > rejected.count {
            return TokenClasses(complement: true, listed: rejected, uncertain: uncertain)
        }
        return TokenClasses(complement: false, listed: accepted, uncertain: uncertain)
    }

    /// Walks tokens in trie order from the one-node state `top`: `index(k)` for k in 0..<count
    /// gives ascending indices into `v.sorted`, and `visit` gets each with its verdict. Shared
    /// prefixes are advanced once; states die at the first byte no stack takes.
    func walk(_ v: TokenVocabulary, from top: Int32, count: Int, index: (Int) -> Int,
              visit: (Int, Verdict) -> Void) {
        let base = arena.count
        let levels = v.maxLength + 2
        if walkSegments.count < levels {
            walkSegments = [Int](repeating: 0, count: levels)
            walkMarks = [Int](repeating: 0, count: levels)
            walkEnd = [Bool](repeating: false, count: levels)
            walkContext = [Bool](repeating: false, count: levels)
        }
        flat.removeAll(keepingCapacity: true)
        flat.append(top)
        walkSegments[0] = 0
        walkSegments[1] = 1
        walkEnd[0] = false
        walkContext[0] = false
        var have = 0
        var prev = -1
        v.bytes.withUnsafeBufferPointer { bytes in
            for k in 0..<count {
                let i = index(k)
                let s = Int(v.offsets[i]), length = Int(v.offsets[i + 1]) - s
                var common = 0
                if prev >= 0 {
                    if i == prev + 1 {
                        common = Int(v.lcp[i])
                    } else {
                        let ps = Int(v.offsets[prev]), pl = Int(v.offsets[prev + 1]) - ps
                        while common < min(pl, length), bytes[ps + common] == bytes[s + common] { common += 1 }
                    }
                }
                let keep = min(common, have)
                if keep < have {
                    flat.removeSubrange(walkSegments[keep + 1]...)
                    arena.rollback(to: walkMarks[keep])
                    have = keep
                }
                while have < length, walkSegments[have + 1] > walkSegments[have] {
                    let d = have
                    walkMarks[d] = arena.count
                    let (root, context) = advance(from: walkSegments[d], to: walkSegments[d + 1], byte: bytes[s + d])
                    walkSegments[d + 2] = flat.count
                    walkEnd[d + 1] = root || context
                    walkContext[d + 1] = walkContext[d] || context
                    have = d + 1
                }
                let verdict: Verdict
                if have == length {
                    if walkSegments[length + 1] > walkSegments[length] || walkEnd[length] {
                        verdict = .accepted
                    } else {
                        verdict = length >= 1 && walkContext[length - 1] ? .uncertain : .rejected
                    }
                } else {
                    verdict = walkContext[have] ? .uncertain : .rejected
                }
                visit(i, verdict)
                prev = i
            }
        }
        flat.removeAll(keepingCapacity: true)
        arena.rollback(to: base)
    }
}
