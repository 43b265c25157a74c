import Prometheus

/// The server's Prometheus metrics, served as text at `GET /metrics`.
///
/// Each server owns its registry (nothing global), so tests and several servers in one process
/// never mix their counts.
public final class ServiceMetrics: Sendable {
    /// The registry the metrics live in (rendered by `render()`).
    public let registry = PrometheusCollectorRegistry()
    let promptTokens: Counter
    let completionTokens: Counter
    let queueDepth: Gauge
    let busy: Gauge
    let modelLoaded: Gauge
    let requestDuration: DurationHistogram
    let timeToFirstToken: DurationHistogram
    let generationDuration: DurationHistogram
    let connectionsOpen: Gauge
    let promptCacheHits: Counter
    let promptCacheMisses: Counter
    let promptCacheReusedTokens: Counter
    let grammarMaskSeconds: Counter
    let grammarMasks: Counter
    let grammarUncachedClasses: Counter

    /// The paths counted by name; anything else is counted as "other" (bounded label values).
    static let knownPaths: Set<String> = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics",
                                          "/tokenize", "/detokenize", "/props"]

    public init() {
        let d = Self.descriptor
        promptTokens = registry.makeCounter(descriptor: d("prompt_tokens", "total", "Prompt tokens evaluated."))
        completionTokens = registry.makeCounter(descriptor: d("completion_tokens", "total", "Tokens generated."))
        queueDepth = registry.makeGauge(descriptor: d("queue", "depth", "Requests waiting for the engine."))
        busy = registry.makeGauge(descriptor: d("busy", "", "1 while a request is generating."))
        modelLoaded = registry.makeGauge(descriptor: d("model_loaded", "", "1 once the model is loaded."))
        let seconds: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                   .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
                                   .seconds(30), .seconds(60), .seconds(120)]
        requestDuration = registry.makeDurationHistogram(
            descriptor: d("request_duration", "seconds", "Time from arrival to the response head (the whole answer unless streamed)."),
            buckets: seconds)
        timeToFirstToken = registry.makeDurationHistogram(
            descriptor: d("time_to_first_token", "seconds", "Time from arrival to the first generated token."), buckets: seconds)
        generationDuration = registry.makeDurationHistogram(
            descriptor: d("generation_duration", "seconds", "Time from arrival to the end of generation."), buckets: seconds)
        connectionsOpen = registry.makeGauge(descriptor: d("connections", "open", "HTTP connections open now."))
        promptCacheHits = registry.makeCounter(descriptor: d("prompt_cache_hits", "total",
                                                             "Requests whose prompt reused a cached prefix."))
        promptCacheMisses = registry.makeCounter(descriptor: d("prompt_cache_misses", "total",
                                                               "Requests whose prompt was evaluated from the start."))
        promptCacheReusedTokens = registry.makeCounter(descriptor: d("prompt_cache_reused_tokens", "total",
                                                                     "Prompt positions taken from the cache instead of evaluated."))
        grammarMaskSeconds = registry.makeCounter(descriptor: d("grammar_mask", "seconds",
                                                                "Time spent computing token masks for constrained output."))
        grammarMasks = registry.makeCounter(descriptor: d("grammar_masks", "total", "Token masks computed for constrained output."))
        grammarUncachedClasses = registry.makeCounter(descriptor: d("grammar_uncached_classes", "total",
                                                                    "Token classes computed uncached: their grammar's cache was at its byte cap."))
    }

    /// Sets the grammar store's gauges: grammars held, bytes of the vocabulary and of the cached
    /// token classes, and the store's hits and misses so far.
    func recordGrammarStore(grammars: Int, vocabularyBytes: Int, cacheBytes: Int, hits: Int, misses: Int, capped: Int = 0) {
        let d = Self.descriptor
        registry.makeGauge(descriptor: d("grammar_cache_capped", "", "Grammars held whose mask cache reached its byte cap."))
            .set(Double(capped))
        registry.makeGauge(descriptor: d("grammar_cache_grammars", "", "Grammars whose token masks are cached.")).set(Double(grammars))
        registry.makeGauge(descriptor: d("grammar_cache", "bytes", "Memory of the grammar store, by part."),
                           labels: [("part", "vocabulary")]).set(Double(vocabularyBytes))
        registry.makeGauge(descriptor: d("grammar_cache", "bytes", "Memory of the grammar store, by part."),
                           labels: [("part", "masks")]).set(Double(cacheBytes))
        registry.makeGauge(descriptor: d("grammar_cache_hits", "", "Requests that found their grammar cached.")).set(Double(hits))
        registry.makeGauge(descriptor: d("grammar_cache_misses", "", "Requests that compiled their grammar.")).set(Double(misses))
    }

    /// `gemma_edge_<name>_<unit>` with its help text.
    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "gemma_edge", metricName: name, unitName: unit, helpText: help)
    }

    /// Counts one answered request by path and status code.
    func countRequest(path: String, status: Int) {
        let p = Self.knownPaths.contains(path) ? path : "other"
        registry.makeCounter(descriptor: Self.descriptor("requests", "total", "HTTP requests answered, by path and status."),
                             labels: [("path", p), ("status", String(status))]).increment()
    }

    /// Counts one connection the server closed on its own, by why (limit, timeouts).
    func countConnectionClosed(_ reason: String) {
        registry.makeCounter(descriptor: Self.descriptor("connections_closed", "total",
                                                         "Connections the server closed on its own, by reason."),
                             labels: [("reason", reason)]).increment()
    }

    /// Counts one finished generation by why it ended.
    func countFinish(_ reason: FinishReason) {
        registry.makeCounter(descriptor: Self.descriptor("generations", "total", "Generations finished, by reason."),
                             labels: [("reason", reason.rawValue)]).increment()
    }

    /// The metrics in Prometheus text format.
    public func render() -> String { registry.emitToString() }
}

/// Why a generation ended, as reported to clients and counted in metrics.
enum FinishReason: String, Sendable {
    /// A stop token or a stop sequence.
    case stop
    /// `max_tokens` or a full context.
    case length
    /// The client went away.
    case cancelled
    /// The request timeout passed.
    case timeout
    /// The server is shutting down.
    case shutdown
    /// The engine failed.
    case error
}
