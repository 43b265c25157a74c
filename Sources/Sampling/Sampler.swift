/// Token sampling: greedy, temperature, top-k, top-p, min-p and a repetition penalty, with a
/// seeded generator so a run can be reproduced.
///
/// The chain follows the order llama.cpp's default sampler uses: penalties, top-k, top-p, min-p,
/// temperature, then a draw. All buffers are allocated once, in `init`; `sample` allocates nothing.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 (or less) means greedy: the highest logit after penalties.
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens; 0 keeps all.
    public var topK: Int = 40
    /// Keep the smallest set of tokens whose probability adds up to at least p; 1 keeps all.
    public var topP: Float = 0.95
    /// Drop tokens less likely than minP times the most likely one; 0 keeps all.
    public var minP: Float = 0.05
    /// Divides positive and multiplies negative logits of recently seen tokens; 1 is off.
    public var repetitionPenalty: Float = 1.0
    /// How many of the most recent tokens the penalty looks at.
    public var repetitionWindow: Int = 64
    /// OpenAI's penalties, over the tokens this sampler has drawn (not the prompt): a token drawn
    /// c times so far has its logit lowered by `c * frequencyPenalty + (c > 0 ? presencePenalty : 0)`.
    /// 0 is off; OpenAI allows -2...2.
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    public var seed: UInt64 = 0x5EED

    public init() {}

    public static var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }

    /// Checks every field's range; returns a message naming the bad field.
    public func validate() -> String? {
        if !temperature.isFinite || temperature < 0 { return "temperature must be a finite number >= 0" }
        if topK < 0 { return "top-k must be >= 0" }
        if !(topP > 0 && topP <= 1) { return "top-p must be in (0, 1]" }
        if !(minP >= 0 && minP <= 1) { return "min-p must be in [0, 1]" }
        if !repetitionPenalty.isFinite || repetitionPenalty <= 0 { return "repetition penalty must be > 0" }
        if repetitionWindow < 0 { return "repetition window must be >= 0" }
        if !presencePenalty.isFinite || !frequencyPenalty.isFinite { return "presence and frequency penalties must be finite" }
        return nil
    }
}

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64).
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        s = (Self.splitmix(&x), Self.splitmix(&x), Self.splitmix(&x), Self.splitmix(&x))
    }

    /// SplitMix64's step (a static function: a nested one capturing the state is a heap box in
    /// debug builds, and a sampler is reseeded per generation on the decode path).
    private static func splitmix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = Self.rotl(s.3, 45)
        return result
    }

    /// A uniform float in [0, 1).
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }
}

public final class Sampler {
    public let parameters: SamplingParameters
    public let vocabularySize: Int
    private var rng: Xoshiro256
    // Preallocated work space, reused for every token.
    private let ids: UnsafeMutableBufferPointer<Int32>
    private let values: UnsafeMutableBufferPointer<Float>
    private let seenStamp: UnsafeMutableBufferPointer<UInt32>
    private var stamp: UInt32 = 0
    /// Times each token was drawn (allocated only when a presence or frequency penalty is set),
    /// and the distinct tokens drawn, in order.
    private let drawn: UnsafeMutableBufferPointer<Int32>?
    private var drawnIDs: [Int32] = []
    /// When set, only the tokens it allows can be chosen, and it hears each choice.
    public var constraint: (any TokenConstraint)?
    /// Logits of a constraint's short list of allowed tokens (TokenConstraint.swift).
    var candidateLogits: UnsafeMutableBufferPointer<Float>
    /// The draft distribution of `sample(_:recent:draft:)`: a point mass on its draft.
    private let pointMass = DraftDistributions(positions: 1, capacity: 1)

    public init(parameters: SamplingParameters, vocabularySize: Int) {
        precondition(vocabularySize > 0)
        self.parameters = parameters
        self.vocabularySize = vocabularySize
        self.rng = Xoshiro256(seed: parameters.seed)
        let k = parameters.topK > 0 ? min(parameters.topK, vocabularySize) : vocabularySize
        ids = .allocate(capacity: k)
        values = .allocate(capacity: k)
        seenStamp = .allocate(capacity: vocabularySize)
        seenStamp.initialize(repeating: 0)
        if parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0 {
            let counts = UnsafeMutableBufferPointer<Int32>.allocate(capacity: vocabularySize)
            counts.initialize(repeating: 0)
            drawn = counts
            drawnIDs.reserveCapacity(1024)
        } else {
            drawn = nil
        }
        candidateLogits = .allocate(capacity: min(vocabularySize, 4096))
    }

    deinit {
        ids.deallocate()
        values.deallocate()
        seenStamp.deallocate()
        drawn?.deallocate()
        candidateLogits.deallocate()
    }

    /// Lowers the logits of tokens drawn so far by OpenAI's presence and frequency penalties.
    public func applyOccurrencePenalties(_ logits: UnsafeMutableBufferPointer<Float>) {
        guard let drawn else { return }
        for t in drawnIDs {
            let c = drawn[Int(t)]
            logits[Int(t)] -= Float(c) * parameters.frequencyPenalty + parameters.presencePenalty
        }
    }

    /// Counts `token` as drawn (for the occurrence penalties).
    private func record(_ token: Int32) -> Int32 {
        guard let drawn, token >= 0, Int(token) < vocabularySize else { return token }
        if drawn[Int(token)] == 0 { drawnIDs.append(token) }
        drawn[Int(token)] += 1
        return token
    }

    /// Applies the repetition penalty to `logits` in place for the distinct tokens among `recent`
    /// (only the last `repetitionWindow` are read).
    public func applyPenalty(_ logits: UnsafeMutableBufferPointer<Float>, recent: UnsafeBufferPointer<Int32>) {
        let p = parameters.repetitionPenalty
        guard p != 1, parameters.repetitionWindow > 0, !recent.isEmpty else { return }
        stamp &+= 1
        if stamp == 0 {  // wrapped: clear old stamps
            seenStamp.update(repeating: 0)
            stamp = 1
        }
        let start = max(0, recent.count - parameters.repetitionWindow)
        for i in start..<recent.count {
            let t = Int(recent[i])
            guard t >= 0, t < vocabularySize, seenStamp[t] != stamp else { continue }
            seenStamp[t] = stamp
            let l = logits[t]
            logits[t] = l > 0 ? l / p : l * p
        }
    }

    /// What `sample` and `argmax` return when no logit is a number (all NaN): no token. Callers
    /// should not get there (`Session.generate` refuses non-finite logits before sampling), but
    /// when they do, the answer is the same on every run and never a real token.
    public static let noToken: Int32 = -1

    /// Picks the next token from `logits` (modified in place by the penalties); `noToken` when
    /// every logit is NaN. Reads only what it wrote: no choice depends on memory of an earlier call.
    public func sample(_ logits: UnsafeMutableBufferPointer<Float>, recent: UnsafeBufferPointer<Int32>) -> Int32 {
        precondition(logits.count == vocabularySize)
        applyPenalty(logits, recent: recent)
        applyOccurrencePenalties(logits)
        if let constraint { return record(sampleConstrained(logits, constraint)) }
        return record(choose(logits))
    }

    /// The chain after the penalties, over any set of logits (the whole vocabulary, or the logits
    /// of a constraint's allowed tokens): top-k, top-p, min-p, temperature and the draw; returns
    /// an index into `logits`, or `noToken` when every logit is NaN.
    func choose(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        if parameters.temperature <= 0 { return Self.argmax(UnsafeBufferPointer(logits)) }
        let (keep, total) = weigh(logits)
        guard keep > 0 else { return Self.noToken }
        return draw(keep: keep, total: total)
    }

    /// Speculative sampling against a drafted token whose draft distribution q is a point mass on
    /// `draft` (a deterministic drafter's): the rule of `sample(_:recent:draft:drawnFrom:at:)`
    /// (Leviathan et al. 2023, Chen et al. 2023) with q = 1 at `draft`, which accepts it with
    /// probability p(draft) and otherwise draws from p without it. Either way the token returned is
    /// distributed as `sample` would draw it. Greedy returns the argmax (the draft when it is the
    /// argmax). Applies the penalties to `logits` in place, as `sample` does; not for a constrained
    /// sampler (its allowed set is elsewhere).
    public func sample(_ logits: UnsafeMutableBufferPointer<Float>, recent: UnsafeBufferPointer<Int32>,
                       draft: Int32) -> Int32 {
        pointMass.recordPointMass(draft, at: 0)
        return sample(logits, recent: recent, draft: draft, drawnFrom: pointMass, at: 0)
    }

    /// The drafting side of speculative sampling: `sample`, recording the distribution the token
    /// was drawn from at `position` of `q`. The chain's candidates beyond `q.capacity` (top-k off
    /// or above it) are left out of the draw, so q is exactly what was drawn from. Greedy records
    /// a point mass on the argmax. Applies the penalties to `logits` in place, as `sample` does.
    public func sample(_ logits: UnsafeMutableBufferPointer<Float>, recent: UnsafeBufferPointer<Int32>,
                       recordingInto q: DraftDistributions, at position: Int) -> Int32 {
        precondition(position < q.positions)
        if let greedy = speculativePrologue(logits, recent: recent) {
            q.recordPointMass(greedy, at: position)
            return record(greedy)
        }
        var (keep, total) = weigh(logits)
        guard keep > 0 else { return Self.noToken }
        if keep > q.capacity {  // the candidates are sorted by weight: keep the heaviest
            keep = q.capacity
            total = 0
            for i in 0..<keep { total += values[i] }
        }
        let t = draw(keep: keep, total: total)
        q.record(n: keep, id: { self.ids[$0] }, weight: { self.values[$0] }, total: total, at: position)
        return record(t)
    }

    /// The verifying side of speculative sampling against a token drawn from `q` at `position`
    /// (`sample(_:recent:recordingInto:at:)` of the drafter's sampler): accepts `draft` with
    /// probability min(1, p(draft) / q(draft)), otherwise draws from the normalised
    /// max(0, p - q). Greedy returns the argmax. Applies the penalties to `logits` in place.
    public func sample(_ logits: UnsafeMutableBufferPointer<Float>, recent: UnsafeBufferPointer<Int32>,
                       draft: Int32, drawnFrom q: DraftDistributions, at position: Int) -> Int32 {
        if let greedy = speculativePrologue(logits, recent: recent) { return record(greedy) }
        let (keep, total) = weigh(logits)
        guard keep > 0 else { return Self.noToken }
        var p: Float = 0
        for i in 0..<keep where ids[i] == draft { p = values[i] / total }
        let qx = q.probability(of: draft, at: position)
        if qx > 0, rng.nextUnitFloat() * qx < p { return record(draft) }  // accepted with probability min(1, p / q)
        // The residual max(0, p - q) over p's candidates (outside them p is 0).
        var residual: Float = 0
        for i in 0..<keep {
            let r = max(0, values[i] / total - q.probability(of: ids[i], at: position))
            values[i] = r
            residual += r
        }
        // p <= q everywhere only when p = q, where nothing is rejected: rounding's answer.
        guard residual > 0 else { return record(draft) }
        return record(draw(keep: keep, total: residual))
    }

    /// What the speculative variants of `sample` do first: the penalties, in place, then greedy's
    /// choice (nil when sampling, which goes on from the penalised logits). Not for a constrained
    /// sampler (its allowed set is elsewhere).
    private func speculativePrologue(_ logits: UnsafeMutableBufferPointer<Float>, recent: UnsafeBufferPointer<Int32>) -> Int32? {
        precondition(logits.count == vocabularySize)
        precondition(constraint == nil, "speculative sampling does not take a token constraint")
        applyPenalty(logits, recent: recent)
        applyOccurrencePenalties(logits)
        return parameters.temperature <= 0 ? Self.argmax(UnsafeBufferPointer(logits)) : nil
    }

    /// Restarts the draw sequence from `seed` and forgets the tokens drawn (the occurrence
    /// penalties' counts): a sampler reused for another generation behaves as a new one.
    public func restart(seed: UInt64) {
        rng = Xoshiro256(seed: seed)
        guard let drawn else { return }
        for t in drawnIDs { drawn[Int(t)] = 0 }
        drawnIDs.removeAll(keepingCapacity: true)
    }

    /// The chain after the penalties up to the draw: fills ids/values with the kept candidates
    /// and their unnormalised weights (top-k, top-p, min-p, then temperature); returns how many
    /// were kept (0 when every logit is NaN) and the sum of their weights.
    private func weigh(_ logits: UnsafeMutableBufferPointer<Float>) -> (keep: Int, total: Float) {
        // Top-k (all tokens when topK is 0), sorted by logit, highest first.
        let n = selectTop(logits)
        guard n > 0 else { return (0, 0) }
        // Softmax at temperature 1 over the kept candidates, for top-p and min-p.
        let maxLogit = values[0]
        var sum: Float = 0
        for i in 0..<n {
            let e = expf(values[i] - maxLogit)
            values[i] = e
            sum += e
        }
        var keep = n
        if parameters.topP < 1 {
            var cumulative: Float = 0
            for i in 0..<n {
                cumulative += values[i] / sum
                if cumulative >= parameters.topP { keep = i + 1; break }
            }
        }
        if parameters.minP > 0 {
            let floor = parameters.minP * values[0]
            var i = 1
            while i < keep, values[i] >= floor { i += 1 }
            keep = i
        }
        // Temperature on the kept set: p_i ~ exp((l_i - l_max) / T) = e_i ^ (1 / T).
        let invT = 1 / parameters.temperature
        var total: Float = 0
        for i in 0..<keep {
            let w = invT == 1 ? values[i] : powf(values[i], invT)
            values[i] = w
            total += w
        }
        return (keep, total)
    }

    /// Draws one of the first `keep` candidates in proportion to their weights (summing to `total`).
    private func draw(keep: Int, total: Float) -> Int32 {
        let r = rng.nextUnitFloat() * total
        var acc: Float = 0
        for i in 0..<keep {
            acc += values[i]
            if r < acc { return ids[i] }
        }
        // Rounding left r at the very top: the last candidate that has a weight.
        var last = keep - 1
        while last > 0, values[last] == 0 { last -= 1 }
        return ids[last]
    }

    /// The index of the largest value; the lowest index on ties. NaN never wins; `noToken` when
    /// every value is NaN.
    public static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int32 {
        var best = -1
        var bestValue = -Float.infinity
        for i in 0..<x.count where x[i] > bestValue || (best < 0 && x[i] == bestValue) {
            bestValue = x[i]
            best = i
        }
        return best < 0 ? noToken : Int32(best)
    }

    /// Fills ids/values with the `capacity` largest logits in descending order, in place, using a
    /// bounded min-heap then heap sort (no allocation). Returns how many were kept.
    private func selectTop(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
        let k = ids.count
        var size = 0
        for t in 0..<logits.count {
            let v = logits[t]
            guard !v.isNaN else { continue }
            if size < k {
                values[size] = v
                ids[size] = Int32(t)
                size += 1
                siftUp(size - 1)
            } else if v > values[0] {
                values[0] = v
                ids[0] = Int32(t)
                siftDown(0, size)
            }
        }
        // Heap sort the min-heap: repeatedly move the smallest to the end -> descending order.
        var end = size
        while end > 1 {
            end -= 1
            swapAt(0, end)
            siftDown(0, end)
        }
        return size
    }

    // Min-heap ordered by value; ties broken so that the larger token id is "smaller" (evicted
    // first), which keeps the lower id among equal logits, like argmax.
    @inline(__always) private func less(_ a: Int, _ b: Int) -> Bool {
        values[a] < values[b] || (values[a] == values[b] && ids[a] > ids[b])
    }

    @inline(__always) private func swapAt(_ a: Int, _ b: Int) {
        let v = values[a]; values[a] = values[b]; values[b] = v
        let i = ids[a]; ids[a] = ids[b]; ids[b] = i
    }

    private func siftUp(_ i: Int) {
        var c = i
        while c > 0 {
            let p = (c - 1) / 2
            guard less(c, p) else { break }
            swapAt(c, p)
            c = p
        }
    }

    private func siftDown(_ i: Int, _ n: Int) {
        var p = i
        while true {
            let l = 2 * p + 1
            guard l < n else { return }
            var m = l
            if l + 1 < n, less(l + 1, l) { m = l + 1 }
            guard less(m, p) else { return }
            swapAt(m, p)
            p = m
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
