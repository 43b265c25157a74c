import Foundation

/// The top levels of a stack, as `GrammarMatcher.signature` makes them.
typealias Signature = SIMD8<Int32>

/// How a token fares from a parser state.
enum Verdict { case accepted, rejected, uncertain }

/// The tokens allowed from a stack top, as far as the top levels of the stack decide them
/// (XGrammar's idea, keyed by the positions of the top six levels): accepted tokens are valid whatever lies
/// below, the rest are invalid except `uncertain` ones, which run past the known levels and are
/// checked against the real stack at each step.
final class TokenClasses: @unchecked Sendable {
    /// The accepted ids, when they are few (`bits` is then empty).
    let accepted: [Int32]
    /// The accepted ids as a bitmask over the vocabulary, when they are many.
    let bits: [UInt64]
    /// Indices into `TokenVocabulary.sorted`, ascending (so walked in trie order).
    let uncertain: [Int32]
    /// Above this many accepted ids the classes keep a bitmask (ORed in a few microseconds)
    /// instead of a list.
    static let listLimit = 2048

    init(accepted: [Int32], words: Int, uncertain: [Int32]) {
        if accepted.count > Self.listLimit {
            var bits = [UInt64](repeating: 0, count: words)
            for id in accepted { bits[Int(id) >> 6] |= 1 << UInt64(id & 63) }
            self.bits = bits
            self.accepted = []
        } else {
            self.bits = []
            self.accepted = accepted
        }
        self.uncertain = uncertain
    }

    var memoryBytes: Int { 64 + accepted.count * 4 + bits.count * 8 + uncertain.count * 4 }
}

/// The structure built once per grammar and vocabulary (and shared by every matcher of that
/// grammar): token classes for each stack signature met so far, computed on first use.
///
/// Bounded: the classes kept take at most `byteCap` bytes. A grammar with very many signatures
/// (a hostile schema) fills it; past the cap new classes are computed for the step that needs
/// them and not kept (correct, slower), and counted in `uncachedClasses`.
public final class TokenMaskCache: @unchecked Sendable {
    public let grammar: Grammar
    public let vocabulary: TokenVocabulary
    /// Most bytes the cached classes may take.
    public let byteCap: Int
    /// The default cap: 1,024 full bitmasks of Gemma 3's vocabulary, far above what the schemas
    /// and grammars of the test set use (a few hundred KiB to a few MiB).
    public static let defaultByteCap = 32 << 20
    private var entries: [Signature: TokenClasses] = [:]
    private var bytes = 0
    private var uncached = 0
    private let lock = NSLock()

    public init(grammar: Grammar, vocabulary: TokenVocabulary, byteCap: Int = TokenMaskCache.defaultByteCap) {
        self.grammar = grammar
        self.vocabulary = vocabulary
        self.byteCap = max(0, byteCap)
    }

    /// Signatures cached so far.
    public var entryCount: Int { lock.withLock { entries.count } }

    /// Bytes the cached token classes take (the vocabulary is counted apart); at most `byteCap`.
    public var memoryBytes: Int { lock.withLock { bytes } }

    /// Classes computed and not kept because the cache was full, so far.
    public var uncachedClasses: Int { lock.withLock { uncached } }

    /// The classes of `key`: cached, or computed (and kept while they fit under the cap; `uncached`
    /// is incremented when they do not).
    func classes(_ key: Signature, uncached counted: inout Int, compute: () -> TokenClasses) -> TokenClasses {
        if let c = lock.withLock({ entries[key] }) { return c }
        let c = compute()
        let size = c.memoryBytes + 32
        let kept = lock.withLock { () -> Bool in
            if entries[key] != nil { return true }  // another generation stored them meanwhile
            guard bytes + size <= byteCap else {
                uncached += 1
                return false
            }
            entries[key] = c
            bytes += size
            return true
        }
        if !kept { counted += 1 }
        return c
    }
}

extension GrammarMatcher {
    /// Stack levels a signature holds.
    static let signatureDepth = 6

    /// The cache key of the stack topped by node `n`: the positions of its top levels (plus one;
    /// zero where the stack is shallower) and, in the last lane, whether it goes deeper.
    func signature(_ n: Int32) -> Signature {
        var key = Signature(repeating: 0)
        var q = n
        for level in 0..<Self.signatureDepth {
            if q < 0 { return key }
            key[level] = arena.pos[Int(q)] + 1
            q = arena.parent[Int(q)]
        }
        if q >= 0 { key[7] = 1 }
        return key
    }

    /// The node under the levels a signature describes (the root sentinel when there is none).
    func nodeBelowSignature(_ n: Int32) -> Int32 {
        var q = n
        for _ in 0..<Self.signatureDepth where q >= 0 { q = arena.parent[Int(q)] }
        return q
    }

    /// Builds the stack a signature describes, cut at `StackArena.context` when it goes deeper.
    func stack(of key: Signature) -> Int32 {
        var n: Int32 = key[7] != 0 ? StackArena.context : StackArena.root
        for level in stride(from: Self.signatureDepth - 1, through: 0, by: -1) where key[level] != 0 {
            n = arena.node(key[level] - 1, n)
        }
        return n
    }

    /// Classifies every token from the one-node state `top` (whose stack is cut by the context
    /// sentinel or ends at the root).
    func classify(top: Int32, vocabulary v: TokenVocabulary) -> TokenClasses {
        var accepted: [Int32] = [], uncertain: [Int32] = []
        walk(v, from: top, count: v.sorted.count, index: { $0 }, visitRejected: false) { i, verdict in
            switch verdict {
            case .accepted: accepted.append(v.sorted[i])
            case .rejected: break
            case .uncertain: uncertain.append(Int32(i))
            }
        }
        return TokenClasses(accepted: accepted, words: v.valid.count, uncertain: uncertain)
    }

    /// Walks tokens in trie order from the one-node state `top`: `index(k)` for k in 0..<count
    /// gives ascending indices into `v.sorted`, and `visit` gets each with its verdict
    /// (`visitRejected` false skips rejected tokens, and with them whole dead subtrees when the
    /// walk covers the vocabulary in order). Parser states are interned and each (state, byte)
    /// step is computed once per walk, so a loop such as a string's characters costs one table
    /// look-up per trie edge.
    func walk(_ v: TokenVocabulary, from top: Int32, count: Int, index: (Int) -> Int,
              visitRejected: Bool = true, visit: (Int, Verdict) -> Void) {
        let base = arena.count
        let levels = v.maxLength + 2
        if walkStates.count < levels {
            walkStates = [Int32](repeating: 0, count: levels)
            walkEnd = [Bool](repeating: false, count: levels)
            walkContext = [Bool](repeating: false, count: levels)
        }
        states.clear()
        flat.removeAll(keepingCapacity: true)
        flat.append(top)
        walkStates[0] = states.intern(flat[...], flags: 0)
        walkEnd[0] = false
        walkContext[0] = false
        let contiguous = count == v.sorted.count
        var have = 0
        var prev = -1
        v.bytes.withUnsafeBufferPointer { bytes in
            var k = 0
            while k < count {
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
                have = min(common, have)
                while have < length, !states.isEmpty(walkStates[have]) {
                    let d = have
                    let next = step(walkStates[d], bytes[s + d])
                    let flags = states.flags(next)
                    walkStates[d + 1] = next
                    walkEnd[d + 1] = flags != 0
                    walkContext[d + 1] = walkContext[d] || flags & 2 != 0
                    have = d + 1
                }
                let verdict: Verdict
                if have == length {
                    if !states.isEmpty(walkStates[length]) || walkEnd[length] {
                        verdict = .accepted
                    } else {
                        verdict = length >= 1 && walkContext[length - 1] ? .uncertain : .rejected
                    }
                } else {
                    verdict = walkContext[have] ? .uncertain : .rejected
                }
                if verdict != .rejected || visitRejected { visit(i, verdict) }
                prev = i
                k += 1
                if verdict == .rejected, have > 0, have < length, contiguous, !visitRejected {
                    // Every following token that shares the dead prefix is rejected too.
                    while k < count, Int(v.lcp[k]) >= have {
                        k += 1
                        prev = k - 1
                    }
                }
            }
        }
        flat.removeAll(keepingCapacity: true)
        arena.rollback(to: base)
    }

    /// The state after `byte` from interned state `s` (memoised for the current walk).
    private func step(_ s: Int32, _ byte: UInt8) -> Int32 {
        let key = UInt64(UInt32(s)) << 8 | UInt64(byte)
        if let t = states.transition(key) { return t }
        flat.removeAll(keepingCapacity: true)
        states.appendNodes(of: s, to: &flat)
        let n = flat.count
        let (root, context) = advance(from: 0, to: n, byte: byte)
        let t = states.intern(flat[n...], flags: (root ? 1 : 0) | (context ? 2 : 0))
        states.setTransition(key, t)
        return t
    }
}

/// The parser states of one walk: sorted node lists interned to ids, with whether reaching them
/// completed the grammar (flag 1) or popped a cut stack's context (flag 2), and the memo of
/// steps. Cleared in O(1) between walks; allocates only when it grows.
struct WalkStates {
    private var nodes: [Int32] = []
    private var start: [Int32] = [0]
    private var flagsOf: [UInt8] = []
    private var interned = StampedTable()
    private var transitions = StampedTable()

    mutating func clear() {
        nodes.removeAll(keepingCapacity: true)
        start.removeAll(keepingCapacity: true)
        start.append(0)
        flagsOf.removeAll(keepingCapacity: true)
        interned.clear()
        transitions.clear()
    }

    func isEmpty(_ s: Int32) -> Bool { start[Int(s)] == start[Int(s) + 1] }
    func flags(_ s: Int32) -> UInt8 { flagsOf[Int(s)] }
    func transition(_ key: UInt64) -> Int32? { transitions.get(key) }
    mutating func setTransition(_ key: UInt64, _ t: Int32) { transitions.set(key, t) }

    func appendNodes(of s: Int32, to out: inout [Int32]) {
        for k in Int(start[Int(s)])..<Int(start[Int(s) + 1]) { out.append(nodes[k]) }
    }

    mutating func intern(_ list: ArraySlice<Int32>, flags: UInt8) -> Int32 {
        // Index loops, not iterators or elementsEqual: nothing is allocated even unspecialised.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(flags)
        for k in list.indices { h = (h ^ UInt64(UInt32(bitPattern: list[k]))) &* 0x1000_0000_01B3 }
        let candidate = Int32(flagsOf.count)
        let found = interned.findOrInsert(h, candidate) { s in
            let a = Int(start[Int(s)]), b = Int(start[Int(s) + 1])
            guard flagsOf[Int(s)] == flags, b - a == list.count else { return false }
            var i = list.startIndex
            for k in a..<b {
                if nodes[k] != list[i] { return false }
                i += 1
            }
            return true
        }
        if found == candidate {
            for k in list.indices { nodes.append(list[k]) }
            start.append(Int32(nodes.count))
            flagsOf.append(flags)
        }
        return found
    }
}

/// Open addressing from UInt64 keys to Int32 values, cleared in O(1) by a stamp per slot.
struct StampedTable {
    private var keys: [UInt64]
    private var values: [Int32]
    private var stamps: [UInt32]
    private var stamp: UInt32 = 1
    private var count = 0

    init(capacity: Int = 1024) {
        keys = [UInt64](repeating: 0, count: capacity)
        values = [Int32](repeating: 0, count: capacity)
        stamps = [UInt32](repeating: 0, count: capacity)
    }

    mutating func clear() {
        stamp &+= 1
        count = 0
        if stamp == 0 {
            stamps = [UInt32](repeating: 0, count: stamps.count)
            stamp = 1
        }
    }

    @inline(__always) private func slot(_ k: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 20) & (keys.count - 1)
    }

    func get(_ k: UInt64) -> Int32? {
        var h = slot(k)
        while stamps[h] == stamp {
            if keys[h] == k { return values[h] }
            h = (h + 1) & (keys.count - 1)
        }
        return nil
    }

    mutating func set(_ k: UInt64, _ v: Int32) {
        _ = findOrInsert(k, v) { _ in true }
    }

    /// The value stored under `k` for which `matches` holds, or `v` after inserting it.
    mutating func findOrInsert(_ k: UInt64, _ v: Int32, matches: (Int32) -> Bool) -> Int32 {
        if (count + 1) * 2 > keys.count { grow() }
        var h = slot(k)
        while stamps[h] == stamp {
            if keys[h] == k, matches(values[h]) { return values[h] }
            h = (h + 1) & (keys.count - 1)
        }
        keys[h] = k
        values[h] = v
        stamps[h] = stamp
        count += 1
        return v
    }

    private mutating func grow() {
        let old = (keys, values, stamps, stamp)
        let size = keys.count * 2
        keys = [UInt64](repeating: 0, count: size)
        values = [Int32](repeating: 0, count: size)
        stamps = [UInt32](repeating: 0, count: size)
        stamp = 1
        count = 0
        for i in 0..<old.0.count where old.2[i] == old.3 {
            var h = slot(old.0[i])
            while stamps[h] == stamp { h = (h + 1) & (size - 1) }
            keys[h] = old.0[i]
            values[h] = old.1[i]
            stamps[h] = stamp
            count += 1
        }
    }
}
