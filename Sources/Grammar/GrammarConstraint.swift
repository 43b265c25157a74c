import Sampling

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A grammar applied to sampling: at each step the allowed tokens are the cached classes of each
/// stack top plus the uncertain tokens checked against the real stacks; stop tokens are allowed
/// exactly when the grammar is complete. One per generation; the cache is shared.
public final class GrammarConstraint: TokenConstraint {
    public let cache: TokenMaskCache
    public let matcher: GrammarMatcher
    /// True once a stop token was accepted (the output is a complete sentence of the grammar).
    public private(set) var finished = false
    /// Tokens `accept` was given that the grammar refused (zero unless the sampler ignored the mask).
    public private(set) var refusedTokens = 0
    /// Time spent computing masks, and how many.
    public private(set) var maskSeconds: Double = 0
    public private(set) var maskCount = 0
    /// Token classes computed and not kept because the grammar's cache was at its byte cap.
    public private(set) var uncachedClasses = 0
    /// Most ids handed over as a list by default; larger sets go as a bitmask.
    public static let defaultListCapacity = 4096
    /// Most ids this constraint hands over as a list (0: always a bitmask). Either form gives the
    /// same choices and the same logprobs; tests force one or the other.
    public let listCapacity: Int

    private let words: Int
    private let bits: UnsafeMutablePointer<UInt64>
    private let list: UnsafeMutablePointer<Int32>
    private var listCount = 0
    private var anyAllowed = false
    private struct UncertainKey: Hashable {
        let signature: Signature
        let below: Int32
    }
    /// Accepted uncertain ids by signature and the stack below it, as ranges of `memoIds`;
    /// cleared by `reset` (both keep their storage, so a warm generation allocates nothing here).
    private var uncertainMemo: [UncertainKey: Range<Int>] = [:]
    private var memoIds: [Int32] = []

    public init(cache: TokenMaskCache, listCapacity: Int = GrammarConstraint.defaultListCapacity) {
        self.cache = cache
        self.listCapacity = max(0, listCapacity)
        matcher = GrammarMatcher(grammar: cache.grammar)
        words = (cache.vocabulary.size + 63) / 64
        bits = .allocate(capacity: words)
        bits.initialize(repeating: 0, count: words)
        list = .allocate(capacity: max(1, self.listCapacity))
    }

    deinit {
        bits.deallocate()
        list.deallocate()
    }

    /// Starts over (a new generation with the same grammar).
    public func reset() {
        matcher.reset()
        uncertainMemo.removeAll(keepingCapacity: true)
        memoIds.removeAll(keepingCapacity: true)
        finished = false
        refusedTokens = 0
    }

    public func accept(_ token: Int32) {
        let v = cache.vocabulary
        if isStop(token) {
            if matcher.isComplete { finished = true } else { refusedTokens += 1 }
            return
        }
        let bytes = v.bytes(of: token)
        if bytes.isEmpty || !bytes.withUnsafeBufferPointer({ matcher.accept(buffer: $0) }) { refusedTokens += 1 }
    }

    // The per-token code uses index loops: generic iteration allocates where it is not specialised.
    private func isStop(_ token: Int32) -> Bool {
        let stops = cache.vocabulary.stopTokens
        for k in 0..<stops.count where stops[k] == token { return true }
        return false
    }

    private func allowStopTokens() {
        let stops = cache.vocabulary.stopTokens
        for k in 0..<stops.count { allow(stops[k]) }
    }

    public func allowedTokens() -> AllowedTokens {
        let t0 = Self.now()
        fill()
        maskSeconds += Self.now() - t0
        maskCount += 1
        return lastAllowed
    }

    /// The set the last `allowedTokens` returned, in the same form (valid until the next call):
    /// what the logprobs of the chosen token are computed over.
    public var lastAllowed: AllowedTokens {
        if listCount >= 0 { return .list(UnsafeBufferPointer(start: list, count: listCount)) }
        return .mask(UnsafeBufferPointer(start: bits, count: words))
    }

    /// Whether `token` is allowed by the last computed mask.
    public func isAllowed(_ token: Int32) -> Bool {
        token >= 0 && Int(token) < cache.vocabulary.size && (bits[Int(token) >> 6] >> UInt64(token & 63)) & 1 != 0
    }

    @inline(__always) private func allow(_ id: Int32) {
        let w = Int(id) >> 6, bit = UInt64(1) << UInt64(id & 63)
        bits[w] |= bit
        anyAllowed = true
    }

    /// Reads the allowed ids out of `bits` into `list`, in id order, while there are at most
    /// `listCapacity`; otherwise `listCount` is -1 and the set goes as the bitmask. Id order
    /// makes the two forms agree on ties (the sampler keeps the lowest id) and on the order the
    /// logprobs are summed in. One pass over the words, as the clearing at the start of `fill`.
    private func extractList() {
        var n = 0
        for w in 0..<words {
            var word = bits[w]
            guard word != 0 else { continue }
            if n + word.nonzeroBitCount > listCapacity {
                listCount = -1
                return
            }
            let base = Int32(w << 6)
            while word != 0 {
                list[n] = base | Int32(word.trailingZeroBitCount)
                n += 1
                word &= word - 1
            }
        }
        listCount = n
    }

    /// Computes the allowed set into `bits` (and `list` when it is short).
    private func fill() {
        let v = cache.vocabulary
        bits.update(repeating: 0, count: words)
        anyAllowed = false
        let m = matcher
        // A top deep in the stack could be refused by the depth limit further down than the cached
        // classes looked: check every token against the real stack there.
        let deep = m.grammar.limits.maxStackDepth / 2
        for k in 0..<m.tops.count {
            let top = m.tops[k]
            if m.arena.depthOf(top) > deep {
                m.walk(v, from: top, count: v.sorted.count, index: { $0 }) { i, verdict in
                    if verdict == .accepted { allow(v.sorted[i]) }
                }
                continue
            }
            let key = m.signature(top)
            let classes = cache.classes(key, uncached: &uncachedClasses) {
                let mark = m.arena.count
                let c = m.classify(top: m.stack(of: key), vocabulary: v)
                m.arena.rollback(to: mark)
                return c
            }
            if classes.bits.isEmpty {
                let accepted = classes.accepted
                for k in 0..<accepted.count { allow(accepted[k]) }
            } else {
                var union: UInt64 = 0
                classes.bits.withUnsafeBufferPointer { b in
                    for w in 0..<words {
                        bits[w] |= b[w]
                        union |= b[w]
                    }
                }
                if union != 0 { anyAllowed = true }
            }
            if !classes.uncertain.isEmpty {
                // Their verdicts depend only on the signature and the stack below it (a node,
                // shared and unchanging): computed once per such pair, e.g. once per string.
                let memoKey = UncertainKey(signature: key, below: m.nodeBelowSignature(top))
                if let range = uncertainMemo[memoKey] {
                    for k in range { allow(memoIds[k]) }
                } else {
                    if uncertainMemo.count >= 4096 {
                        uncertainMemo.removeAll(keepingCapacity: true)
                        memoIds.removeAll(keepingCapacity: true)
                    }
                    let first = memoIds.count
                    let uncertain = classes.uncertain
                    m.walk(v, from: top, count: uncertain.count, index: { Int(uncertain[$0]) }) { i, verdict in
                        if verdict == .accepted { memoIds.append(v.sorted[i]) }
                    }
                    for k in first..<memoIds.count { allow(memoIds[k]) }
                    uncertainMemo[memoKey] = first..<memoIds.count
                }
            }
        }
        if m.isComplete { allowStopTokens() }
        if !anyAllowed {
            // No token can continue (a vocabulary without the bytes the grammar needs): end the
            // output rather than hand the sampler an empty set; `finished` stays false.
            allowStopTokens()
            if !anyAllowed { allow(0) }
        }
        extractList()
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
