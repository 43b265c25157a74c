import Base
import Foundation
import GemmaEdge
import Grammar
import Logging
import Sampling

/// One accepted request: its prompt (ids, and image views for a chat with images) and limits, a
/// cancel flag, and the stream of events the worker sends back to the HTTP handler.
final class GenerationJob: @unchecked Sendable {
    let prompt: [Session.Item]
    let maxTokens: Int
    let parameters: SamplingParameters
    let stopTokens: [Int32]
    /// Alternatives per token whose log-probabilities are reported; nil for none.
    let logprobs: Int?
    /// The grammar the output follows (its shared mask cache), or nil for free text.
    let grammar: TokenMaskCache?
    /// Monotonic seconds at arrival (the request timeout and latencies count from here).
    let arrival: Double
    let events: AsyncStream<GenerationEvent>
    private let continuation: AsyncStream<GenerationEvent>.Continuation
    private let lock = NSLock()
    private var _cancelReason: FinishReason?
    private var finished = false

    init(prompt: [Session.Item], maxTokens: Int, parameters: SamplingParameters, stopTokens: [Int32],
         logprobs: Int? = nil, grammar: TokenMaskCache? = nil, arrival: Double) {
        self.prompt = prompt
        self.logprobs = logprobs
        self.grammar = grammar
        self.maxTokens = maxTokens
        self.parameters = parameters
        self.stopTokens = stopTokens
        self.arrival = arrival
        (events, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
    }

    /// Asks the worker to stop this job at its next token (or drops it from the queue). The first
    /// reason given wins.
    func cancel(_ reason: FinishReason) {
        lock.withLock { if _cancelReason == nil { _cancelReason = reason } }
        onCancel?(self)
    }

    /// Why the job was cancelled, if it was.
    var cancelReason: FinishReason? { lock.withLock { _cancelReason } }

    /// Set by the scheduler so a cancel can take the job out of the queue at once.
    var onCancel: (@Sendable (GenerationJob) -> Void)? {
        get { lock.withLock { _onCancel } }
        set { lock.withLock { _onCancel = newValue } }
    }
    private var _onCancel: (@Sendable (GenerationJob) -> Void)?

    func send(_ event: GenerationEvent) {
        if case .token = event { lock.withLock { producedToken = true } }
        continuation.yield(event)
    }
    private var producedToken = false

    /// Sends a `.heartbeat` while no token has come yet (the job waits or its prompt is being
    /// evaluated), so a streaming handler writes something and learns whether the client is there.
    func heartbeat() {
        let quiet = lock.withLock { !producedToken && !finished }
        if quiet { continuation.yield(.heartbeat) }
    }

    /// Sends the summary and ends the event stream; later calls do nothing.
    func finish(_ summary: GenerationSummary) {
        let first = lock.withLock { () -> Bool in
            defer { finished = true }
            return !finished
        }
        guard first else { return }
        continuation.yield(.finished(summary))
        continuation.finish()
    }
}

/// What the worker reports for a job.
enum GenerationEvent: Sendable {
    /// The job left the queue and the prompt is being evaluated.
    case started
    /// Nothing yet: sent about once a second until the first token.
    case heartbeat
    /// One generated token (stop tokens are not sent), with its log-probabilities when asked for.
    case token(Int32, TokenLogprobs?)
    /// The last event.
    case finished(GenerationSummary)
}

/// How a job ended.
struct GenerationSummary: Sendable {
    var reason: FinishReason
    var promptTokens: Int
    var generatedTokens: Int
    /// Prompt positions reused from the prompt cache (not evaluated).
    var cachedTokens: Int = 0
    /// Engine failure message when `reason == .error`.
    var error: String?
}

/// Runs generations one at a time on a dedicated thread (the engine is not thread-safe and its
/// work is CPU-bound, so it stays off the async executors), with a bounded queue in front.
final class GenerationScheduler: @unchecked Sendable {
    /// Jobs allowed to wait while one runs.
    let capacity: Int
    let metrics: ServiceMetrics
    /// Prompt cache slots and where they are saved (see `PromptCache`).
    let cacheSlots: Int
    let cacheDirectory: String?
    let logger: Logger
    private let condition = NSCondition()
    private var waiting: [GenerationJob] = []
    private var running: GenerationJob?
    private var stopping = false
    private var started = false
    /// Smoothed seconds per job, for `Retry-After`.
    private var averageJobSeconds = 2.0

    init(capacity: Int, metrics: ServiceMetrics, cacheSlots: Int = 1, cacheDirectory: String? = nil,
         logger: Logger = Logger(label: "gemma-edge.generate")) {
        self.capacity = capacity
        self.metrics = metrics
        self.cacheSlots = cacheSlots
        self.cacheDirectory = cacheDirectory
        self.logger = logger
    }

    /// Starts the worker thread for `engine`. Called once, when the model is loaded.
    func start(engine: Engine) {
        condition.withLock {
            precondition(!started, "the scheduler was already started")
            started = true
        }
        let thread = Thread { [self] in workerLoop(engine: engine) }
        thread.name = "gemma-edge-generate"
        thread.stackSize = 8 << 20
        thread.start()
    }

    enum Submission: Equatable {
        case accepted
        case full(retryAfter: Int)
        case stopping
    }

    /// Queues `job` unless the queue is full.
    func submit(_ job: GenerationJob) -> Submission {
        job.onCancel = { [weak self] job in self?.dropIfWaiting(job) }
        let result = condition.withLock { () -> Submission in
            if stopping { return .stopping }
            let busy = running != nil || !waiting.isEmpty
            if busy && waiting.count >= capacity {
                let ahead = Double(waiting.count + 1)
                return .full(retryAfter: Int(min(300, max(1, (averageJobSeconds * ahead).rounded(.up)))))
            }
            waiting.append(job)
            condition.signal()
            return .accepted
        }
        if result == .accepted { updateGauges() }
        return result
    }

    /// (waiting, running) right now.
    var depth: (waiting: Int, running: Int) {
        condition.withLock { (waiting.count, running == nil ? 0 : 1) }
    }

    /// Seconds since the running job last made progress (a prompt chunk or a token); 0 when idle.
    /// A supervisor reads this from `/health` to tell a long generation from a hung engine.
    var stalledSeconds: Double {
        let last = progressLock.withLock { lastProgress }
        return condition.withLock { running == nil } ? 0 : max(0, monotonicSeconds() - last)
    }

    private let progressLock = NSLock()
    private var lastProgress = 0.0

    private func progressed() {
        let now = monotonicSeconds()
        progressLock.withLock { lastProgress = now }
    }

    /// Refuses new work, ends waiting jobs with `.shutdown` and stops the running one.
    func shutdown() {
        let (dropped, current) = condition.withLock { () -> ([GenerationJob], GenerationJob?) in
            stopping = true
            let d = waiting
            waiting.removeAll()
            condition.broadcast()
            return (d, running)
        }
        for job in dropped { end(job, GenerationSummary(reason: .shutdown, promptTokens: 0, generatedTokens: 0)) }
        current?.cancel(.shutdown)
        updateGauges()
    }

    private func dropIfWaiting(_ job: GenerationJob) {
        let removed = condition.withLock { () -> Bool in
            guard let i = waiting.firstIndex(where: { $0 === job }) else { return false }
            waiting.remove(at: i)
            return true
        }
        guard removed else { return }
        end(job, GenerationSummary(reason: job.cancelReason ?? .cancelled, promptTokens: 0, generatedTokens: 0))
        updateGauges()
    }

    private func updateGauges() {
        let (w, r) = depth
        metrics.queueDepth.set(Double(w))
        metrics.busy.set(Double(r))
    }

    private func end(_ job: GenerationJob, _ summary: GenerationSummary) {
        metrics.countFinish(summary.reason)
        metrics.promptTokens.increment(by: Int64(summary.promptTokens - summary.cachedTokens))
        metrics.completionTokens.increment(by: Int64(summary.generatedTokens))
        metrics.generationDuration.record(.seconds(monotonicSeconds() - job.arrival))
        job.finish(summary)
    }

    private func workerLoop(engine: Engine) {
        let cache = PromptCache(engine: engine, slots: cacheSlots, directory: cacheDirectory, logger: logger)
        while true {
            condition.lock()
            while waiting.isEmpty && !stopping { condition.wait() }
            if stopping && waiting.isEmpty {
                condition.unlock()
                cache.close()
                return
            }
            let job = waiting.removeFirst()
            progressed()
            running = job
            condition.unlock()
            updateGauges()

            let t0 = monotonicSeconds()
            let summary = run(job, engine: engine, cache: cache)
            let seconds = monotonicSeconds() - t0
            condition.withLock {
                running = nil
                averageJobSeconds = 0.8 * averageJobSeconds + 0.2 * seconds
            }
            end(job, summary)
            updateGauges()
        }
    }

    /// Evaluates the prompt in the prompt cache's best slot (only what follows the prefix the
    /// slot already holds) and samples tokens, checking the cancel flag before the prompt and at
    /// every token.
    private func run(_ job: GenerationJob, engine: Engine, cache: PromptCache) -> GenerationSummary {
        var summary = GenerationSummary(reason: .length, promptTokens: 0, generatedTokens: 0)
        if let reason = job.cancelReason {
            summary.reason = reason
            return summary
        }
        job.send(.started)
        let slot = cache.slot(for: job.prompt)
        let session = slot.session
        do {
            summary.promptTokens = engine.positions(of: job.prompt)
            guard let reused = try cache.prefill(slot, job.prompt, between: { [self] in
                progressed()
                return job.cancelReason == nil
            }) else {
                summary.reason = job.cancelReason ?? .cancelled
                return summary
            }
            summary.cachedTokens = reused
            progressed()
            if reused > 0 {
                metrics.promptCacheHits.increment()
                metrics.promptCacheReusedTokens.increment(by: Int64(reused))
            } else {
                metrics.promptCacheMisses.increment()
            }
            cache.checkpoint(slot)
            let sampler = Sampler(parameters: job.parameters, vocabularySize: engine.config.vocabularySize)
            let constraint = job.grammar.map { GrammarConstraint(cache: $0) }
            sampler.constraint = constraint
            defer {
                if let constraint {
                    metrics.grammarMaskSeconds.increment(by: constraint.maskSeconds)
                    metrics.grammarMasks.increment(by: Int64(constraint.maskCount))
                    metrics.grammarUncachedClasses.increment(by: Int64(constraint.uncachedClasses))
                    let s = engine.grammars.statistics
                    metrics.recordGrammarStore(grammars: s.grammars, vocabularyBytes: s.vocabularyBytes, cacheBytes: s.cacheBytes,
                                               hits: s.hits, misses: s.misses, capped: s.cappedGrammars)
                }
            }
            var generated = 0
            let stop = try session.generate(maxTokens: job.maxTokens, sampler: sampler, stopTokens: job.stopTokens) { id in
                progressed()
                if job.cancelReason != nil { return false }
                if generated == 0 && !job.stopTokens.contains(id) {
                    metrics.timeToFirstToken.record(.seconds(monotonicSeconds() - job.arrival))
                }
                if job.stopTokens.contains(id) { return true }
                generated += 1
                let logprobs = job.logprobs.map { k in
                    TokenLogprobs(logits: UnsafeBufferPointer(session.logits), chosen: id, k: k, allowed: constraint?.lastAllowed)
                }
                job.send(.token(id, logprobs))
                return true
            }
            summary.generatedTokens = generated
            switch stop {
            case .stopToken: summary.reason = .stop
            case .maxTokens, .contextFull: summary.reason = .length
            case .callback: summary.reason = job.cancelReason ?? .cancelled
            }
        } catch {
            // A failed evaluation may leave the cache partly written: start this slot afresh.
            session.reset()
            summary.reason = .error
            summary.error = "\(error)"
        }
        return summary
    }
}
