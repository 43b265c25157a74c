// Speculative decoding: a drafter proposes the next few tokens, the model evaluates the last
// chosen token and the drafts in one batch (the prefill path: the weights are read once for all
// of them) and keeps the drafts its own choice agrees with. Greedy output is the plain decode's,
// token for token; sampled output has plain sampling's distribution (`Sampler.sample(_:recent:
// draft:)`). References: Leviathan et al. 2023 (speculative sampling), Saxena 2023 and llama.cpp's
// examples/lookup (prompt lookup), llama.cpp's examples/speculative (a draft model).
import Gemma3
import Sampling

/// Which drafter an engine's sessions decode with (`EngineOptions.speculative`).
public enum SpeculativeMode: String, CaseIterable, Sendable {
    /// Plain decoding, one token per step.
    case off
    /// Prompt lookup (`PromptLookup`): no extra model.
    case lookup
    /// A draft model (`EngineOptions.draftModel`, `DraftModel`).
    case draft
}

/// An engine's drafter, its draft length and what it did so far. Used by one generation at a time
/// (an engine runs one evaluation at a time).
public final class Speculator: @unchecked Sendable {
    public let drafter: AnyDrafter
    public var length: DraftLength
    public var stats = SpeculationStats()

    public init(drafter: AnyDrafter, maxDraft: Int) {
        self.drafter = drafter
        length = DraftLength(limit: maxDraft)
    }
}

/// Limits and defaults of speculative decoding.
public enum Speculation {
    /// Most draft tokens one verification takes (`EngineOptions.maxDraft`).
    public static let maxDraftLimit = 16
    /// The default draft length limit of the commands.
    public static let defaultMaxDraft = 8
}

/// Proposes tokens that may come next. A deterministic drafter's draft distribution is a point
/// mass on what it proposes; one that samples (a draft model at a temperature) says what it drew
/// from (`distributions`), and the acceptance rule uses that.
public protocol Drafter {
    /// Writes up to `out.count` tokens that may follow `history` then `next` (`next` is chosen but
    /// not yet evaluated) and returns how many it wrote (0: no guess). Allocates nothing once warm.
    func draft(history: UnsafeBufferPointer<Int32>, next: Int32, into out: UnsafeMutableBufferPointer<Int32>) throws -> Int
    /// Called once before a generation with its sampling parameters: a drafter that samples draws
    /// with them, seeded from them (so a seeded run repeats); the others ignore it.
    func begin(sampling: SamplingParameters)
    /// The distributions the last draft's tokens were drawn from; nil when they are point masses
    /// (a deterministic drafter, or greedy decoding).
    var distributions: DraftDistributions? { get }
}

extension Drafter {
    public func begin(sampling: SamplingParameters) {}
    public var distributions: DraftDistributions? { nil }
}

/// Prompt lookup: the longest n-gram (`ngram.upperBound` down to `ngram.lowerBound` tokens) that
/// ends the sequence is looked up, latest occurrence first, in everything before it (the prompt
/// and the output so far), and the tokens that followed it there are the draft. No extra model;
/// it pays when the output copies from the prompt (extraction, rewriting, answers from a given
/// text).
public struct PromptLookup: Drafter, Sendable {
    public var ngram: ClosedRange<Int>

    public init(ngram: ClosedRange<Int> = 2...4) {
        precondition(ngram.lowerBound >= 1)
        self.ngram = ngram
    }

    public func draft(history: UnsafeBufferPointer<Int32>, next: Int32, into out: UnsafeMutableBufferPointer<Int32>) -> Int {
        let m = history.count + 1  // the sequence is history then next
        guard !out.isEmpty else { return 0 }
        var n = min(ngram.upperBound, m - 1) + 1
        while n > ngram.lowerBound {  // longest first (a while loop: a reversed range allocated per call)
            n -= 1
            var start = m - n - 1  // an earlier occurrence s[start..<start + n], followed by s[start + n]
            while start >= 0 {
                var k = 0
                while k < n, Self.token(start + k, history, next) == Self.token(m - n + k, history, next) { k += 1 }
                if k == n {
                    var count = 0
                    // Image positions (negative ids) are not tokens to propose.
                    while count < out.count, start + n + count < m, Self.token(start + n + count, history, next) >= 0 {
                        out[count] = Self.token(start + n + count, history, next)
                        count += 1
                    }
                    if count > 0 { return count }
                }
                start -= 1
            }
        }
        return 0
    }

    /// Token `i` of the sequence `history` then `next`.
    @inline(__always) static func token(_ i: Int, _ history: UnsafeBufferPointer<Int32>, _ next: Int32) -> Int32 {
        i < history.count ? history[i] : next
    }
}

/// A smaller model with the same vocabulary proposes (the 270M for the 1B), greedily under greedy
/// decoding and otherwise sampling with the generation's parameters from its own logits, recording
/// each draft's distribution for the acceptance rule (`DraftDistributions`): it keeps its
/// own session (KV cache, run state and compute threads: its engine's), catches up with the
/// accepted tokens at each draft and drops what was rejected (its local rings have room for it).
public final class DraftModel: Drafter, @unchecked Sendable {
    public let session: Session

    /// A drafter for `target` on `engine`, which must have the target's vocabulary (the same pieces
    /// in the same order) and room to roll back (`EngineOptions.maxDraft`) at least the target's.
    public init(engine: Engine, target: Engine) throws {
        guard engine.config.vocabularySize == target.config.vocabularySize,
              (0..<engine.config.vocabularySize).allSatisfy({ engine.tokenizer.vocabulary.piece(Int32($0))
                                                              == target.tokenizer.vocabulary.piece(Int32($0)) })
        else {
            throw EngineError.invalidOption("the draft model's vocabulary (\(engine.config.vocabularySize) pieces) is not the "
                                            + "model's (\(target.config.vocabularySize) pieces): a draft model must share it")
        }
        guard engine.options.maxDraft >= target.options.maxDraft else {
            throw EngineError.invalidOption("the draft model's engine must allow drafts of \(target.options.maxDraft) tokens")
        }
        guard engine.options.context >= target.options.context else {
            throw EngineError.invalidOption("the draft model's context (\(engine.options.context)) is shorter than the "
                                            + "model's (\(target.options.context))")
        }
        session = engine.makeSession()
        q = DraftDistributions(positions: max(1, engine.options.maxDraft))
        scratch = .allocate(capacity: engine.config.vocabularySize)
        scratch.initialize(repeating: 0)
    }

    deinit { scratch.deallocate() }

    /// What a draft model holds beside its engine and session (`MemoryPlan.draftModel`): the
    /// copy of its logits it samples from and the drafts' distributions.
    static func bytes(vocabulary: Int, maxDraft: Int) -> Int {
        vocabulary * MemoryLayout<Float>.size + DraftDistributions.bytes(positions: max(1, maxDraft))
    }

    /// Draws drafts when the generation samples (nil, or unused, under greedy decoding).
    private var sampler: Sampler?
    private var sampling = false
    /// What the drafts of the last `draft` were drawn from.
    private let q: DraftDistributions
    /// The draft session's logits, copied for the sampler's penalties to change.
    private let scratch: UnsafeMutableBufferPointer<Float>

    public func begin(sampling parameters: SamplingParameters) {
        sampling = parameters.temperature > 0
        guard sampling else { return }
        var p = parameters
        p.seed ^= 0x9E37_79B9_7F4A_7C15  // a stream of its own, apart from the verifying sampler's
        if let s = sampler, s.parameters == p {
            s.restart(seed: p.seed)
        } else {
            sampler = Sampler(parameters: p, vocabularySize: session.engine.config.vocabularySize)
        }
    }

    public var distributions: DraftDistributions? { sampling ? q : nil }

    public func draft(history: UnsafeBufferPointer<Int32>, next: Int32, into out: UnsafeMutableBufferPointer<Int32>) throws -> Int {
        let m = history.count + 1
        // The draft model sees no images.
        guard !out.isEmpty, m < session.context, !history.contains(Session.imagePlaceholder) else { return 0 }
        // Catch up: keep the longest common prefix, evaluate the rest (the last position at least,
        // for its logits).
        var common = 0
        let held = session.tokens.count
        while common < min(held, m), session.tokens[common] == PromptLookup.token(common, history, next) { common += 1 }
        if common < m || held != m {
            common = min(common, m - 1)
            if !session.cache.canTruncate(to: common) { common = 0 }
            session.truncate(to: common)
            if common < history.count {
                try session.append(UnsafeBufferPointer(rebasing: history[common...]), logits: false, progress: nil, done: 0)
            }
            try session.append(token: next)
        }
        var count = 0
        while count < out.count, count < q.positions, session.remaining > 0 {
            let t: Int32
            if sampling, let sampler {
                scratch.baseAddress!.update(from: session.logits.baseAddress!, count: scratch.count)
                t = session.tokens.withUnsafeBufferPointer { sampler.sample(scratch, recent: $0, recordingInto: q, at: count) }
            } else {
                t = Sampler.argmax(UnsafeBufferPointer(session.logits))
            }
            guard t >= 0 else { break }
            out[count] = t
            count += 1
            if count < out.count { try session.append(token: t) }
        }
        return count
    }
}

/// The drafters the commands and the server choose between, without a protocol existential per
/// token.
public enum AnyDrafter: Drafter {
    case lookup(PromptLookup)
    case model(DraftModel)

    public func draft(history: UnsafeBufferPointer<Int32>, next: Int32, into out: UnsafeMutableBufferPointer<Int32>) throws -> Int {
        switch self {
        case .lookup(let d): return d.draft(history: history, next: next, into: out)
        case .model(let d): return try d.draft(history: history, next: next, into: out)
        }
    }

    public func begin(sampling: SamplingParameters) {
        if case .model(let d) = self { d.begin(sampling: sampling) }
    }

    public var distributions: DraftDistributions? {
        if case .model(let d) = self { return d.distributions }
        return nil
    }
}

/// The draft length, chosen before each verification from the running acceptance rate a (the
/// share of drafted tokens accepted, an exponential average): with k drafts a verification yields
/// (1 - a^(k+1)) / (1 - a) tokens on average and costs about 1 + c k decode steps, c being the
/// cost of one more token in the batch relative to a decode step; k is the one that gives most
/// tokens per cost.
public struct DraftLength: Sendable {
    public let limit: Int
    /// The cost of one more token in a verification batch, in decode steps: 0.2-0.4 on the x86
    /// machine of Benchmarks/RESULTS.md ("Speculative decoding"); lower where a step is bound by
    /// memory bandwidth alone.
    public var tokenCost: Double
    /// The running acceptance rate.
    public private(set) var acceptance: Double
    /// The draft length of the next verification.
    public private(set) var current: Int

    public init(limit: Int, tokenCost: Double = 0.25, initialAcceptance: Double = 0.6) {
        self.limit = max(1, limit)
        self.tokenCost = tokenCost
        acceptance = initialAcceptance
        current = 1
        current = best()
    }

    /// Takes the outcome of a verification of `drafted` tokens of which `accepted` were kept.
    public mutating func update(drafted: Int, accepted: Int) {
        guard drafted > 0 else { return }
        // A verification that stopped at the first rejection saw accepted + 1 trials.
        let trials = min(drafted, accepted + 1)
        let rate = Double(accepted) / Double(trials)
        let weight = min(0.5, 0.15 * Double(trials))
        acceptance = (1 - weight) * acceptance + weight * rate
        current = best()
    }

    private func best() -> Int {
        let a = min(acceptance, 0.99)
        var bestK = 1, bestValue = -1.0
        for k in 1...limit {
            var yield = 0.0, p = 1.0
            for _ in 0...k { yield += p; p *= a }  // 1 + a + ... + a^k
            let value = yield / (1 + tokenCost * Double(k))
            if value > bestValue { bestValue = value; bestK = k }
        }
        return bestK
    }
}

/// What speculative decoding did (over one `generate`, or an engine's whole life in `Speculator`).
public struct SpeculationStats: Sendable, Equatable {
    /// Verifications (batches of the last token and its drafts) and plain steps (no draft).
    public var verifications = 0
    public var plainSteps = 0
    public var drafted = 0
    public var accepted = 0

    public init() {}

    /// The share of drafted tokens that were kept.
    public var acceptanceRate: Double { drafted == 0 ? 0 : Double(accepted) / Double(drafted) }
}

/// A session's verification batch (the last chosen token and its drafts) and the logits of each
/// of its positions.
final class Verification {
    let capacity: Int
    let batch: UnsafeMutableBufferPointer<Int32>  // [capacity]
    let logits: UnsafeMutablePointer<Float>       // [capacity][vocab]
    let vocabulary: Int

    init(capacity: Int, vocabulary: Int) {
        self.capacity = capacity
        self.vocabulary = vocabulary
        batch = .allocate(capacity: capacity)
        batch.initialize(repeating: 0)
        logits = .allocate(capacity: capacity * vocabulary)
        logits.initialize(repeating: 0, count: capacity * vocabulary)
    }

    deinit {
        batch.deallocate()
        logits.deallocate()
    }

    /// What `init(capacity:vocabulary:)` allocates (`MemoryPlan.verification`).
    static func bytes(capacity: Int, vocabulary: Int) -> Int {
        capacity * (MemoryLayout<Int32>.size + vocabulary * MemoryLayout<Float>.size)
    }

    /// What this batch holds.
    var bytes: Int { Self.bytes(capacity: capacity, vocabulary: vocabulary) }
}

extension Session {
    /// `generate` with speculative decoding: before each step `drafter` proposes up to
    /// `length.current` tokens (at most the engine's `maxDraft`), the chosen token and the drafts
    /// are evaluated in one batch, and each draft is kept while the sampler's choice from the
    /// logits before it (`Sampler.sample(_:recent:draft:)`) is the draft; the first choice that
    /// differs is the next chosen token and the rejected positions are dropped from the cache.
    /// The tokens reported, the callbacks and the state left behind (tokens, cache, logits) are
    /// those of `generate` for a greedy sampler; a sampled run has the same distribution. A
    /// sampler with a token constraint, or an engine without `maxDraft`, decodes plainly.
    /// Allocates nothing per token once warm.
    @discardableResult
    public func generate<D: Drafter>(maxTokens: Int, sampler: Sampler, stopTokens: [Int32], drafter: D,
                                     length: inout DraftLength, stats: inout SpeculationStats,
                                     onToken: (Int32) throws -> Bool, onEvaluated: () -> Void = {}) throws -> StopReason {
        precondition(!tokens.isEmpty, "append a prompt first")
        let maxDraft = min(engine.options.maxDraft, engine.state.maxBatch - 1)
        guard maxDraft > 0, sampler.constraint == nil else {
            return try generatePlainly(maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens, onToken: onToken,
                                       onEvaluated: onEvaluated)
        }
        if verification == nil { verification = Verification(capacity: maxDraft + 1, vocabulary: engine.config.vocabularySize) }
        drafter.begin(sampling: sampler.parameters)
        let v = verification!
        let model = engine.model
        var produced = 0
        var chosen: Int32? = nil  // a token already chosen (a rejection's correction), not yet reported
        while produced < maxTokens {
            let next: Int32
            if let c = chosen {  // reported and checked when it was chosen
                next = c
                chosen = nil
            } else {
                next = try sampleNext(sampler)
                if let stop = try report(next, produced: &produced, maxTokens: maxTokens, stopTokens: stopTokens,
                                         onToken: onToken) {
                    return stop
                }
            }
            guard remaining >= 1 else { return .contextFull }

            // Draft no more than can be kept: the context and the tokens still wanted.
            let room = min(min(length.current, maxDraft), min(remaining - 1, maxTokens - produced))  // not variadic: no array
            v.batch[0] = next
            let k = room <= 0 ? 0 : try tokens.withUnsafeBufferPointer {
                try drafter.draft(history: $0, next: next, into: UnsafeMutableBufferPointer(rebasing: v.batch[1...room]))
            }
            if k == 0 {
                stats.plainSteps += 1
                try append(token: next)
                onEvaluated()
                continue
            }
            let start = cache.length
            try resettingOnBrokenState {
                try model.evaluate(UnsafeBufferPointer(rebasing: v.batch[0...k]), cache: cache, state: engine.state)
            }
            model.logits(engine.state, rows: 0..<(k + 1), into: v.logits)
            stats.verifications += 1
            stats.drafted += k

            // Walk the drafts: row i holds the logits after batch[i]. Each becomes the session's
            // logits in turn (a copy of a row, small beside a decode step), so `onToken` sees the
            // logits its token was chosen from, as in `generate`, and the session is left with
            // those after its last evaluated token.
            var kept = 0
            var stop: StopReason? = nil
            for i in 0...k {
                tokens.append(v.batch[i])
                onEvaluated()
                logits.baseAddress!.update(from: v.logits + i * v.vocabulary, count: v.vocabulary)
                if i == k { break }  // every draft was kept
                try requireFinite(logits, after: start + i + 1)
                let choice = tokens.withUnsafeBufferPointer { recent in
                    if let q = drafter.distributions {
                        return sampler.sample(logits, recent: recent, draft: v.batch[i + 1], drawnFrom: q, at: i)
                    }
                    return sampler.sample(logits, recent: recent, draft: v.batch[i + 1])
                }
                let accepted = choice == v.batch[i + 1]
                if accepted { kept += 1 }
                stop = try report(choice, produced: &produced, maxTokens: maxTokens, stopTokens: stopTokens, onToken: onToken)
                if stop == nil, !accepted { chosen = choice }
                if stop != nil || !accepted {
                    // The reported choice is not evaluated (as in `generate`): keep batch[...i].
                    truncate(to: start + i + 1)
                    break
                }
            }
            stats.accepted += kept
            length.update(drafted: k, accepted: kept)
            if let stop { return stop }
        }
        return .maxTokens
    }
}
