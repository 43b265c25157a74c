/// Persistent parse stacks: every node is (position, parent) and is stored once (hash-consed), so
/// a stack is one node id, stacks share their common bottoms and equal stacks have equal ids.
/// Nodes made while trying bytes out (masks) are removed again by `rollback(to:)`, newest first,
/// which keeps the open-addressing table valid.
struct StackArena {
    /// The bottom of every real stack: popping it means the grammar is complete.
    static let root: Int32 = -1
    /// The bottom of a stack cut for a context-independent check: popping it means "depends on
    /// what is below" (see `TokenMaskCache`).
    static let context: Int32 = -2

    private(set) var pos: [Int32] = []
    private(set) var parent: [Int32] = []
    private(set) var depth: [Int32] = []
    private var slot: [Int32] = []
    private var table: [Int32]
    private var mask: Int

    init(capacity: Int = 1 << 14) {
        var size = 64
        while size < capacity * 2 { size *= 2 }
        table = [Int32](repeating: -1, count: size)
        mask = size - 1
        pos.reserveCapacity(capacity)
        parent.reserveCapacity(capacity)
        depth.reserveCapacity(capacity)
        slot.reserveCapacity(capacity)
    }

    var count: Int { pos.count }

    @inline(__always) func depthOf(_ n: Int32) -> Int32 { n < 0 ? 0 : depth[Int(n)] }

    @inline(__always) private static func hash(_ p: Int32, _ q: Int32) -> Int {
        let x = UInt64(UInt32(bitPattern: p)) << 32 | UInt64(UInt32(bitPattern: q))
        return Int(truncatingIfNeeded: (x &* 0x9E37_79B9_7F4A_7C15) >> 29)
    }

    /// The node (p, q), made when new.
    mutating func node(_ p: Int32, _ q: Int32) -> Int32 {
        var h = Self.hash(p, q) & mask
        while true {
            let n = table[h]
            if n < 0 { break }
            if pos[Int(n)] == p, parent[Int(n)] == q { return n }
            h = (h + 1) & mask
        }
        if (pos.count + 1) * 2 > table.count {
            grow()
            return node(p, q)
        }
        let id = Int32(pos.count)
        pos.append(p)
        parent.append(q)
        depth.append(depthOf(q) + 1)
        slot.append(Int32(h))
        table[h] = id
        return id
    }

    /// Removes every node made after the arena held `n` nodes.
    mutating func rollback(to n: Int) {
        while pos.count > n {
            table[Int(slot.removeLast())] = -1
            pos.removeLast()
            parent.removeLast()
            depth.removeLast()
        }
    }

    private mutating func grow() {
        let size = table.count * 2
        table = [Int32](repeating: -1, count: size)
        mask = size - 1
        for n in 0..<pos.count {
            var h = Self.hash(pos[n], parent[n]) & mask
            while table[h] >= 0 { h = (h + 1) & mask }
            table[h] = Int32(n)
            slot[n] = Int32(h)
        }
    }
}

/// Where a grammar stands after the bytes it accepted: a set of parse stacks (a pushdown automaton
/// over bytes, nondeterministic where the grammar is ambiguous), each topped by a terminal.
///
/// `accept` moves it on; `TokenMaskCache.fill` computes which tokens may come next. Apart from
/// the nodes of the stacks it accepts, nothing is allocated once its buffers have grown to fit.
public final class GrammarMatcher {
    public let grammar: Grammar
    var arena = StackArena()
    /// The current stacks (sorted node ids).
    var tops: [Int32] = []
    /// True when the bytes so far are a whole sentence of the grammar.
    public private(set) var isComplete = false

    // Work space of `advance`: new tops are appended to `flat`.
    var flat: [Int32] = []
    // Work space of `walk` (TokenMaskCache.swift): the state at each prefix length, and the
    // interned states of the walk.
    var walkStates: [Int32] = []
    var states = WalkStates()
    var walkEnd: [Bool] = []
    var walkContext: [Bool] = []
    private var reachedRoot = false
    private var reachedContext = false
    private var work = 0
    /// Expansion steps one byte may take before the input is refused (ambiguity bombs).
    static let workBudget = 200_000

    public init(grammar: Grammar) {
        self.grammar = grammar
        flat.reserveCapacity(1024)
        tops.reserveCapacity(64)
        reset()
    }

    /// Back to the start: nothing accepted.
    public func reset() {
        arena.rollback(to: 0)
        flat.removeAll(keepingCapacity: true)
        reachedRoot = false
        reachedContext = false
        work = 0
        let r = Int(grammar.root)
        for a in Int(grammar.ruleAlts[r])..<Int(grammar.ruleAlts[r + 1]) {
            expand(grammar.altStarts[a], StackArena.root)
        }
        sortUnique(from: 0)
        tops.removeAll(keepingCapacity: true)
        tops.append(contentsOf: flat)
        flat.removeAll(keepingCapacity: true)
        isComplete = reachedRoot
    }

    /// True when some byte can still be accepted.
    public var canContinue: Bool { !tops.isEmpty }

    /// Accepts `bytes` when the grammar allows all of them (then returns true); otherwise leaves
    /// the matcher as it was and returns false.
    @discardableResult
    public func accept<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        if let done = bytes.withContiguousStorageIfAvailable({ accept(buffer: $0) }) { return done }
        return Array(bytes).withUnsafeBufferPointer { accept(buffer: $0) }
    }

    /// `accept` on contiguous bytes: the per-token path (plain index loops, which allocate
    /// nothing even where generic code is not specialised, as in debug builds).
    @discardableResult
    public func accept(buffer bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if bytes.isEmpty { return true }
        let mark = arena.count
        flat.removeAll(keepingCapacity: true)
        for k in 0..<tops.count { flat.append(tops[k]) }
        var start = 0
        var complete = false
        var ok = true
        for k in 0..<bytes.count {
            let end = flat.count
            guard end > start else { ok = false; break }
            complete = advance(from: start, to: end, byte: bytes[k]).root
            start = end
        }
        guard ok, flat.count > start || complete else {
            arena.rollback(to: mark)
            flat.removeAll(keepingCapacity: true)
            return false
        }
        tops.removeAll(keepingCapacity: true)
        for k in start..<flat.count { tops.append(flat[k]) }
        flat.removeAll(keepingCapacity: true)
        isComplete = complete
        return true
    }

    /// Advances the stacks `flat[from..<to]` by `byte`, appending the new tops (sorted, unique) to
    /// `flat`. Returns whether a path completed the grammar and whether one popped a cut stack's
    /// context sentinel.
    @discardableResult
    func advance(from: Int, to: Int, byte: UInt8) -> (root: Bool, context: Bool) {
        reachedRoot = false
        reachedContext = false
        work = 0
        let out = flat.count
        for k in from..<to {
            let n = Int(flat[k])
            let p = arena.pos[n]
            if grammar.contains(set: grammar.code[Int(p)], byte) {
                expand(p + 1, arena.parent[n])
            }
        }
        if work > Self.workBudget {  // too ambiguous: refuse the byte
            flat.removeSubrange(out...)
            return (false, false)
        }
        sortUnique(from: out)
        return (reachedRoot, reachedContext)
    }

    /// Continues at position `p` of an alternative whose caller is `parent`: records the terminal
    /// there as a new top, or pops (at `end`), or expands a rule reference.
    private func expand(_ p: Int32, _ parent: Int32) {
        work += 1
        if work > Self.workBudget { return }
        let e = grammar.code[Int(p)]
        if e >= 0 {
            flat.append(arena.node(p, parent))
            return
        }
        if e == Grammar.end {
            if parent == StackArena.root { reachedRoot = true; return }
            if parent == StackArena.context { reachedContext = true; return }
            expand(arena.pos[Int(parent)], arena.parent[Int(parent)])
            return
        }
        let r = Int(-e - 2)
        var caller = parent
        if grammar.code[Int(p) + 1] != Grammar.end {  // a reference in tail position pushes nothing
            guard arena.depthOf(parent) < grammar.limits.maxStackDepth else { return }
            caller = arena.node(p + 1, parent)
        }
        for a in Int(grammar.ruleAlts[r])..<Int(grammar.ruleAlts[r + 1]) {
            expand(grammar.altStarts[a], caller)
        }
    }

    /// Sorts `flat[from...]` and removes duplicates (the segments are short).
    private func sortUnique(from: Int) {
        let n = flat.count
        guard n - from > 1 else { return }
        // The standard library's sort takes a scratch buffer from the heap: a Shell sort in place
        // keeps the warm decode path free of allocations.
        var gap = 1
        while gap * 3 + 1 < n - from { gap = gap * 3 + 1 }
        while gap > 1 {
            gapInsertionSort(from: from, to: n, gap: gap)
            gap /= 3
        }
        gapInsertionSort(from: from, to: n, gap: 1)
        var w = from + 1
        for k in (from + 1)..<n where flat[k] != flat[w - 1] {
            flat[w] = flat[k]
            w += 1
        }
        flat.removeSubrange(w...)
    }

    /// Insertion sort of `flat[from..<n]` among elements `gap` apart (gap 1: plain insertion sort).
    private func gapInsertionSort(from: Int, to n: Int, gap: Int) {
        var i = from + gap
        while i < n {
            let v = flat[i]
            var j = i - gap
            while j >= from, flat[j] > v {
                flat[j + gap] = flat[j]
                j -= gap
            }
            flat[j + gap] = v
            i += 1
        }
    }
}

extension GrammarMatcher {
    /// The current stacks as "rule@position" lists, top first (for diagnostics).
    public var debugTops: [String] {
        tops.map { n in
            var parts: [String] = []
            var q = n
            while q >= 0 {
                let p = arena.pos[Int(q)]
                parts.append(grammar.describe(position: p))
                q = arena.parent[Int(q)]
            }
            return parts.joined(separator: " < ")
        }
    }
}

extension Grammar {
    /// "rule.alternative:element" of a position (for diagnostics).
    func describe(position p: Int32) -> String {
        var a = 0
        while a + 1 < altStarts.count, altStarts[a + 1] <= p { a += 1 }
        var r = 0
        while r + 1 < ruleAlts.count - 1, ruleAlts[r + 1] <= Int32(a) { r += 1 }
        return "\(ruleNames[r]).\(a - Int(ruleAlts[r])):\(p - altStarts[a])"
    }
}
