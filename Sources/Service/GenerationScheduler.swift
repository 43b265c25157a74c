import Base
import Foundation
import GemmaEdge
import Sampling

/// One accepted request: its prompt (ids, and image views for a chat with images) and limits, a
/// cancel flag, and the stream of events the worker sends back to the HTTP handler.
final class GenerationJob: @unchecked Sendable {
    let prompt: [Session.Item]
    let maxTokens: Int
    let parameters: SamplingParameters
    let stopTokens: [Int32]
    /// Monotonic seconds at arrival (the request timeout and latencies count from here).
    let arrival: Double
    let events: AsyncStream<GenerationEvent>
    private let continuation: AsyncStream<GenerationEvent>.Continuation
    private let lock = NSLock()
    private var _cancelReason: FinishReason?
    private var finished = false

    init(prompt: [Session.Item], maxTokens: Int, parameters: SamplingParameters, stopTokens: [Int32], arrival: Double) {
        self.prompt = prompt
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
    /// One generated token (stop tokens are not sent).
    case token(Int32)
    /// The last event.
    case finished(GenerationSummary)
}

/// How a job ended.
struct GenerationSummary: Sendable {
    var reason: FinishReason
    var promptTokens: Int
    var generatedTokens: Int
    /// Engine failure message when `reason == .error`.
    var error: String?
}

/// Runs generations one at a time on a dedicated thread (the engine is not thread-safe and its
/// work is CPU-bound, so it stays off the async executors), with a bounded queue in front.
final class GenerationScheduler: @unchecked Sendable {
    /// Jobs allowed to wait while one runs.
    let capacity: Int
    let metrics: ServiceMetrics
    private let condition = NSCondition()
    private var waiting: [GenerationJob] = []
    private var running: GenerationJob?
    private var stopping = false
    private var started = false
    /// Smoothed seconds per job, for `Retry-After`.
    private var averageJobSeconds = 2.0

    init(capacity: Int, metrics: ServiceMetrics) {
        self.capacity = capacity
        self.metrics = metrics
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
        metrics.promptTokens.increment(by: Int64(summary.promptTokens))
        metrics.completionTokens.increment(by: Int64(summary.generatedTokens))
        metrics.generationDuration.record(.seconds(monotonicSeconds() - job.arrival))
        job.finish(summary)
    }

    private func workerLoop(engine: Engine) {
        let session = engine.makeSession()
        while true {
            condition.lock()
            while waiting.isEmpty && !stopping { condition.wait() }
            if stopping && waiting.isEmpty {
                condition.unlock()
                return
            }
            let job = waiting.removeFirst()
            progressed()
            running = job
            condition.unlock()
            updateGauges()

            let t0 = monotonicSeconds()
            let summary = run(job, engine: engine, session: session)
            let seconds = monotonicSeconds() - t0
            condition.withLock {
                running = nil
                averageJobSeconds = 0.8 * averageJobSeconds + 0.2 * seconds
            }
            end(job, summary)
            updateGauges()
        }
    }

    /// Evaluates the prompt in chunks and samples tokens, checking the cancel flag between
    /// chunks and at every token.
    private func run(_ job: GenerationJob, engine: Engine, session: Session) -> GenerationSummary {
        var summary = GenerationSummary(reason: .length, promptTokens: 0, generatedTokens: 0)
        if let reason = job.cancelReason {
            summary.reason = reason
            return summary
        }
        job.send(.started)
        session.reset()
        do {
            let chunk = max(256, engine.options.batch * 4)
            for item in job.prompt {
                switch item {
                case .tokens(let ids):
                    var i = 0
                    while i < ids.count {
                        if let reason = job.cancelReason {
                            summary.reason = reason
                            return summary
                        }
                        let n = min(chunk, ids.count - i)
                        try session.append(Array(ids[i..<(i + n)]))
                        progressed()
                        i += n
                    }
                case .view(let image):
                    if let reason = job.cancelReason {
                        summary.reason = reason
                        return summary
                    }
                    try session.append(view: image)
                    progressed()
                }
            }
            summary.promptTokens = engine.positions(of: job.prompt)
            let sampler = Sampler(parameters: job.parameters, vocabularySize: engine.config.vocabularySize)
            var generated = 0
            let stop = try session.generate(maxTokens: job.maxTokens, sampler: sampler, stopTokens: job.stopTokens) { id in
                progressed()
                if job.cancelReason != nil { return false }
                if generated == 0 && !job.stopTokens.contains(id) {
                    metrics.timeToFirstToken.record(.seconds(monotonicSeconds() - job.arrival))
                }
                if job.stopTokens.contains(id) { return true }
                generated += 1
                job.send(.token(id))
                return true
            }
            summary.generatedTokens = generated
            switch stop {
            case .stopToken: summary.reason = .stop
            case .maxTokens, .contextFull: summary.reason = .length
            case .callback: summary.reason = job.cancelReason ?? .cancelled
            }
        } catch {
            summary.reason = .error
            summary.error = "\(error)"
        }
        return summary
    }
}
