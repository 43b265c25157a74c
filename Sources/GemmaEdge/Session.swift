import GGUF
import Gemma3
import Sampling

/// One sequence: its KV cache, its tokens so far and the logits of its last token.
///
/// Prompts reach a session as items (`Engine.items(for:)`, Prompt.swift) and are evaluated by
/// `prefill`, which reuses the longest prefix the session already holds. On an engine with a
/// vision projector a session also takes images (Session+Images.swift): each view's soft tokens
/// are one bidirectional batch, recorded in `tokens` as `imagePlaceholder` and in `imageSpans`
/// with a key of what was encoded, so prefix reuse and snapshots cover them.
public final class Session: @unchecked Sendable {
    public typealias Item = PromptItem
    /// Called after each evaluated batch of a prompt but the last with the positions evaluated so
    /// far; return false to stop (the evaluation then throws `EngineError.cancelled`, and the
    /// session holds the batches evaluated before it).
    public typealias Progress = (Int) -> Bool

    /// The id recorded in `tokens` for each soft token of an image.
    public static let imagePlaceholder: Int32 = -1

    public let engine: Engine
    public let cache: KVCache
    /// Every position evaluated so far, in order: token ids, and `imagePlaceholder` for image soft
    /// tokens. Reserved to the context at creation.
    public internal(set) var tokens: [Int32]
    /// Logits after the last evaluated token (vocabulary size).
    public let logits: UnsafeMutableBufferPointer<Float>
    /// The image views the cache holds, in order: first position, soft tokens and key.
    public internal(set) var imageSpans: [SnapshotSpan] = []
    /// Seconds spent in the vision encoder so far, and the views encoded.
    public internal(set) var encodeSeconds: Double = 0
    public internal(set) var encodedViews = 0
    /// One view's soft tokens (tokensPerImage x width), allocated at the first image.
    var embeddings: UnsafeMutablePointer<Float>?
    /// Speculative decoding's verification batch and its logits, allocated at the first
    /// speculative `generate` (Speculative.swift).
    var verification: Verification?

    init(engine: Engine, context: Int) {
        self.engine = engine
        cache = KVCache(config: engine.config, context: context,
                        bidirectionalSpan: engine.vision?.tokensPerImage ?? 0, kvType: engine.options.kvType,
                        rollback: engine.options.maxDraft)
        tokens = []
        tokens.reserveCapacity(context)
        logits = .allocate(capacity: engine.config.vocabularySize)
        logits.initialize(repeating: 0)
    }

    deinit {
        logits.deallocate()
        embeddings?.deallocate()
    }

    public var context: Int { cache.context }
    public var remaining: Int { context - cache.length }

    /// Forgets everything (a fresh conversation).
    public func reset() {
        cache.reset()
        tokens.removeAll(keepingCapacity: true)
        imageSpans.removeAll(keepingCapacity: true)
    }

    // MARK: Prompts

    /// Makes the session hold `items`, reusing the longest prefix it already holds (text and whole
    /// image views whose keys match) and evaluating only the rest, with the logits of the last
    /// position. An image view is reused whole or not at all: its soft tokens attended to each
    /// other, so the cache cannot be cut inside one. Checks the whole prompt fits the context
    /// before evaluating anything. Returns how many positions were reused.
    @discardableResult
    public func prefill(_ items: [Item], progress: Progress? = nil) throws -> Int {
        let total = engine.positions(of: items)
        guard total > 0 else { throw EngineError.emptyPrompt }
        guard case .tokens(let tail)? = items.last, !tail.isEmpty else {
            throw EngineError.invalidOption("a prompt must end with text (the logits of its last token are needed)")
        }
        guard total <= context else { throw EngineError.promptTooLong(tokens: total, context: context) }
        var keys: [Int: String] = [:]  // item index -> key of the view
        var common = 0
        matching: for (i, item) in items.enumerated() {
            switch item {
            case .tokens(let ids):
                for id in ids {
                    guard common < tokens.count, tokens[common] == id else { break matching }
                    common += 1
                }
            case .view(let image):
                guard common < tokens.count, tokens[common] == Self.imagePlaceholder,
                      let span = imageSpans.first(where: { $0.start == common }) else { break matching }
                let key = try viewKey(image)
                keys[i] = key
                guard span.key == key, span.count == (try engine.requireVision()).model.tokensPerImage else { break matching }
                common += span.count
            }
        }
        if common == total, common == tokens.count { return common }  // logits are already those of the last token
        // The logits of the last prompt token are needed, so at least one token is evaluated.
        common = min(common, total - 1)
        if let inside = imageSpans.first(where: { $0.start < common && common < $0.start + $0.count }) {
            common = inside.start
        }
        if !cache.canTruncate(to: common) { common = 0 }
        truncate(to: common)
        try evaluate(items, skipping: common, keys: keys, progress: progress)
        return common
    }

    /// `prefill` of a text prompt.
    @discardableResult
    public func prefill(_ ids: [Int32], progress: Progress? = nil) throws -> Int {
        guard !ids.isEmpty else { throw EngineError.emptyPrompt }
        return try prefill([Item.tokens(ids)], progress: progress)
    }

    /// Evaluates `items` after what the session holds (no prefix reuse), with the logits of the
    /// last position; returns the positions they took.
    @discardableResult
    public func append(items: [Item], progress: Progress? = nil) throws -> Int {
        let needed = engine.positions(of: items)
        guard needed <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + needed, context: context) }
        try evaluate(items, skipping: 0, keys: [:], progress: progress)
        return needed
    }

    /// Evaluates a prompt of text and images (`Engine.items(for:addBOS:chatTemplate:)`) after what
    /// the session holds, with the logits of its last token. Checks the whole prompt fits before
    /// encoding anything. Returns the positions it took.
    @discardableResult
    public func append(_ prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> Int {
        try append(items: engine.items(for: prompt, addBOS: addBOS, chatTemplate: chatTemplate))
    }

    /// Evaluates `ids` in batches and leaves the logits of the last one in `logits`.
    public func append(_ ids: [Int32]) throws { try append(ids, logits: true, progress: nil, done: 0) }

    /// Evaluates `items` except their first `skip` positions (which the cache already holds),
    /// with the logits after the last item only.
    private func evaluate(_ items: [Item], skipping skip: Int, keys: [Int: String], progress: Progress?) throws {
        var mark = 0  // the prompt's own position
        var done = 0  // positions evaluated by this call
        for (i, item) in items.enumerated() {
            switch item {
            case .tokens(let ids):
                defer { mark += ids.count }
                guard mark + ids.count > skip else { continue }
                let rest = Array(ids[max(0, skip - mark)...])
                try append(rest, logits: i == items.count - 1, progress: progress, done: done)
                done += rest.count
            case .view(let image):
                let n = try engine.requireVision().model.tokensPerImage
                defer { mark += n }
                guard mark >= skip else { continue }
                try append(view: image, key: keys[i] ?? viewKey(image))
                done += n
                if let progress, !progress(done) { throw EngineError.cancelled }
            }
        }
    }

    /// Evaluates `ids` in batches of the run state's `maxBatch`, calling `progress` after each; the
    /// logits (the output projection, a whole vocabulary) only when `wanted`.
    private func append(_ ids: [Int32], logits wanted: Bool, progress: Progress?, done: Int) throws {
        try ids.withUnsafeBufferPointer { try append($0, logits: wanted, progress: progress, done: done) }
    }

    /// `append(_:logits:progress:done:)` over a buffer (allocates nothing itself: the draft model's
    /// catch-up, Speculative.swift, goes through here).
    func append(_ all: UnsafeBufferPointer<Int32>, logits wanted: Bool, progress: Progress?, done: Int) throws {
        guard !all.isEmpty else { throw EngineError.emptyPrompt }
        guard all.count <= remaining else {
            throw EngineError.promptTooLong(tokens: cache.length + all.count, context: context)
        }
        let model = engine.model
        try resettingOnBrokenState {
            var i = 0
            while i < all.count {
                let n = min(engine.state.maxBatch, all.count - i)
                try model.evaluate(UnsafeBufferPointer(rebasing: all[i..<(i + n)]), cache: cache, state: engine.state)
                tokens.append(contentsOf: all[i..<(i + n)])
                i += n
                // Not after the last batch: a prompt the session holds whole must have its
                // logits (prefill trusts them when the same prompt comes again).
                if let progress, i < all.count, !progress(done + i) { throw EngineError.cancelled }
            }
        }
        if wanted { model.lastLogits(engine.state, into: logits.baseAddress!) }
    }

    /// Drops the positions from `n` on (`cache.canTruncate(to: n)` must hold); the logits are then
    /// stale until the next evaluation.
    func truncate(to n: Int) {
        cache.truncate(to: n)
        tokens.removeSubrange(n...)
        // Not on an empty array: making the shared empty storage unique would allocate.
        if !imageSpans.isEmpty { imageSpans.removeAll { $0.start >= n } }
    }

    // MARK: Decoding

    /// Evaluates one token (the decode step). Allocates nothing.
    public func append(token: Int32) throws {
        guard remaining >= 1 else { throw EngineError.promptTooLong(tokens: cache.length + 1, context: context) }
        var t = token
        try resettingOnBrokenState {
            try withUnsafePointer(to: &t) {
                try engine.model.evaluate(UnsafeBufferPointer(start: $0, count: 1), cache: cache, state: engine.state)
            }
        }
        tokens.append(token)
        engine.model.lastLogits(engine.state, into: logits.baseAddress!)
    }

    /// Samples up to `maxTokens` tokens after what the session holds, calling `onToken` with each
    /// (return false to stop) and `onEvaluated` after each is evaluated (its logits are ready).
    /// Stops at a stop token (which is reported but not evaluated), at `maxTokens`, or when the
    /// context is full. Returns why it stopped.
    /// With the engine's speculative decoding on (`EngineOptions.speculative`) the tokens come
    /// from `generate(maxTokens:sampler:stopTokens:drafter:length:stats:onToken:onEvaluated:)`
    /// (Speculative.swift): the same tokens for a greedy sampler, the same distribution otherwise.
    @discardableResult
    public func generate(maxTokens: Int, sampler: Sampler, stopTokens: [Int32],
                         onToken: (Int32) throws -> Bool, onEvaluated: () -> Void = {}) throws -> StopReason {
        if let s = engine.speculator {
            return try generate(maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens, drafter: s.drafter,
                                length: &s.length, stats: &s.stats, onToken: onToken, onEvaluated: onEvaluated)
        }
        return try generatePlainly(maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens, onToken: onToken,
                                   onEvaluated: onEvaluated)
    }

    /// `generate` one token per step.
    func generatePlainly(maxTokens: Int, sampler: Sampler, stopTokens: [Int32],
                         onToken: (Int32) throws -> Bool, onEvaluated: () -> Void) throws -> StopReason {
        precondition(!tokens.isEmpty, "append a prompt first")
        var produced = 0
        while produced < maxTokens {
            let next = try sampleNext(sampler)
            if let stop = try report(next, produced: &produced, maxTokens: maxTokens, stopTokens: stopTokens, onToken: onToken) {
                return stop
            }
            guard remaining >= 1 else { return .contextFull }
            try append(token: next)
            onEvaluated()
        }
        return .maxTokens
    }

    /// The next token from `logits`.
    func sampleNext(_ sampler: Sampler) throws -> Int32 {
        try requireFinite(logits, after: cache.length)
        return tokens.withUnsafeBufferPointer { sampler.sample(logits, recent: $0) }
    }

    /// Counts and reports a chosen token; returns why generation stops after it, or nil (a stop
    /// token is reported but never evaluated).
    func report(_ token: Int32, produced: inout Int, maxTokens: Int, stopTokens: [Int32],
                onToken: (Int32) throws -> Bool) throws -> StopReason? {
        produced += 1
        let isStop = stopTokens.contains(token)
        guard try onToken(token) else { return .callback }
        if isStop { return .stopToken }
        return produced == maxTokens ? .maxTokens : nil
    }

    /// Never sample from numbers that are not numbers: the sampler's choice among NaNs would be
    /// arbitrary, and the state that produced them is broken (the session starts over).
    func requireFinite(_ row: UnsafeMutableBufferPointer<Float>, after position: Int) throws {
        if let bad = NonFinite.firstIndex(UnsafeBufferPointer(row)) {
            let problem = ModelError.nonFinite("the logits after position \(position) (token \(bad) is \(row[bad]))")
            reset()
            throw problem
        }
    }

    /// Runs `body`; when it finds non-finite activations the cache holds a half-written batch, so
    /// the session starts over (`reset`) before the error goes on.
    func resettingOnBrokenState(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as ModelError {
            if case .nonFinite = e { reset() }
            throw e
        }
    }

    public enum StopReason: String, Sendable {
        case stopToken = "stop", maxTokens = "length", contextFull = "context", callback = "cancelled"
    }

    // MARK: Snapshots

    /// Saves the whole state (KV cache, tokens, image spans, last logits) to `path`, atomically.
    public func save(to path: String) throws {
        try cache.saveSnapshot(to: path, tokens: tokens, logits: UnsafeBufferPointer(logits), model: engine.modelIdentity,
                               spans: imageSpans)
    }

    /// Replaces this session's state with a snapshot saved by `save(to:)` from the same model
    /// and context (and, when it holds images, a session that takes images).
    public func restore(from path: String) throws {
        let restored = try cache.restoreSnapshotState(from: path, logits: logits, model: engine.modelIdentity)
        // Every image position must belong to a span and every span hold only image positions.
        var inSpan = 0
        for span in restored.spans {
            inSpan += span.count
            guard restored.tokens[span.start..<(span.start + span.count)].allSatisfy({ $0 == Self.imagePlaceholder }) else {
                reset()
                throw SnapshotError("\(path): an image span covers token ids")
            }
        }
        guard restored.tokens.lazy.filter({ $0 == Self.imagePlaceholder }).count == inSpan else {
            reset()
            throw SnapshotError("\(path): image positions outside the recorded spans")
        }
        tokens.removeAll(keepingCapacity: true)
        tokens.append(contentsOf: restored.tokens)
        imageSpans = restored.spans
    }
}
