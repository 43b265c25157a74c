import Foundation
import Gemma3
import GemmaEdge
import Sampling
import Tokenizer

/// What the profiler asks the model to do.
public struct WorkloadOptions: Sendable {
    /// Prompts, each run once per repetition (one "conversation" each).
    public var prompts: [String] = WorkloadOptions.defaultPrompts
    /// Repetitions of the whole prompt list.
    public var runs = 1
    /// Most tokens generated per conversation.
    public var maxTokens = 64
    public var sampling = SamplingParameters.greedy
    /// Wrap each prompt in the Gemma 3 chat template.
    public var chatTemplate = false
    /// Keep generating through stop tokens, so every conversation produces `maxTokens`.
    public var ignoreStop = false
    /// Seconds of idle sampling before loading (the baseline power).
    public var idleSeconds = 2.0

    public init() {}

    /// Short chat-like prompts used when no prompt file is given.
    public static let defaultPrompts = [
        "Explain in two sentences why the sky is blue.",
        "Write a haiku about a single-board computer.",
        "List three uses for a Raspberry Pi at home.",
    ]

    /// Reads prompts from a file: one per line; blank lines and lines starting with `#` skipped.
    public static func prompts(file: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: file) else { throw ProfilerError.io("cannot read the prompt file \(file)") }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !lines.isEmpty else { throw ProfilerError.io("the prompt file \(file) has no prompts") }
        return lines
    }
}

/// A stretch of the run clock spent in one phase.
public struct PhaseSpan: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case idle, load, prefill, decode }
    public var kind: Kind
    public var start: Double
    public var end: Double
    /// The conversation the span belongs to (prefill and decode only).
    public var conversation: Int?
}

/// Seconds per layer, split into attention and feed-forward, plus embedding and output.
public struct LayerSeconds: Sendable, Equatable {
    public var attention: [Double]
    public var feedForward: [Double]
    public var embedding: Double
    public var output: Double

    init(_ t: ForwardTimings) {
        attention = Array(t.attention)
        feedForward = Array(t.feedForward)
        embedding = t.embedding
        output = t.output
    }

    init(zeros layers: Int) {
        attention = Array(repeating: 0, count: layers)
        feedForward = attention
        embedding = 0
        output = 0
    }

    static func - (a: LayerSeconds, b: LayerSeconds) -> LayerSeconds {
        var r = a
        for i in r.attention.indices {
            r.attention[i] -= b.attention[i]
            r.feedForward[i] -= b.feedForward[i]
        }
        r.embedding -= b.embedding
        r.output -= b.output
        return r
    }

    static func + (a: LayerSeconds, b: LayerSeconds) -> LayerSeconds {
        var r = a
        for i in r.attention.indices {
            r.attention[i] += b.attention[i]
            r.feedForward[i] += b.feedForward[i]
        }
        r.embedding += b.embedding
        r.output += b.output
        return r
    }
}

/// Everything measured about one conversation (times on the run clock).
public struct ConversationRecord: Sendable {
    public var index: Int
    public var run: Int
    public var promptIndex: Int
    public var promptTokens: Int
    /// When prefill began (the prompt was already tokenised).
    public var start: Double
    /// When prefill's forward pass ended.
    public var prefillEnd: Double
    /// When each generated token was sampled; the first is the time to first token.
    public var tokenTimes: [Double]
    public var end: Double
    /// Seconds in `Session.append` for decode steps.
    public var decodeSeconds: Double
    /// Seconds in the sampler, all tokens.
    public var samplingSeconds: Double
    public var stop: String
    public var prefillLayers: LayerSeconds
    public var decodeLayers: LayerSeconds

    public var generated: Int { tokenTimes.count }
    public var firstToken: Double { tokenTimes.first ?? end }
    public var prefillSeconds: Double { prefillEnd - start }
}

/// Drives prefill, decode and sampling itself so each phase is timed per token, and marks phase
/// boundaries for the sampler.
public struct WorkloadRunner {
    public let engine: Engine
    public let options: WorkloadOptions
    public let clock: RunClock

    public init(engine: Engine, options: WorkloadOptions, clock: RunClock) {
        self.engine = engine
        self.options = options
        self.clock = clock
    }

    /// Tokenises every prompt up front (through the engine's prompt path), so a prompt that cannot
    /// fit fails before any measuring.
    public func tokenisedPrompts() throws -> [[Int32]] {
        try options.prompts.enumerated().map { i, p in
            let items = try engine.items(for: MultimodalPrompt(p), chatTemplate: options.chatTemplate)
            guard items.count == 1, case .tokens(let ids) = items[0] else { preconditionFailure("a text prompt is one run of ids") }
            guard ids.count < engine.options.context else {
                throw ProfilerError.badArgument("prompt \(i + 1) is \(ids.count) tokens; the context holds \(engine.options.context) (raise --ctx or shorten it)")
            }
            return ids
        }
    }

    /// Runs every conversation through `Session.prefill` and `Session.generate`, timing each part.
    /// `mark` is called at each phase boundary.
    public func run(prompts: [[Int32]], mark: () -> Void) throws -> (records: [ConversationRecord], spans: [PhaseSpan]) {
        let timings = ForwardTimings(layers: engine.config.blockCount)
        engine.model.timings = timings
        defer { engine.model.timings = nil }
        let session = engine.makeSession()
        let stops = options.ignoreStop ? [] : engine.stopTokens
        var records: [ConversationRecord] = []
        var spans: [PhaseSpan] = []
        for run in 0..<options.runs {
            for (pi, ids) in prompts.enumerated() {
                session.reset()  // every conversation measures its whole prefill
                timings.reset()
                let sampler = Sampler(parameters: options.sampling, vocabularySize: engine.config.vocabularySize)
                var times: [Double] = []
                times.reserveCapacity(options.maxTokens)
                mark()
                let start = clock.now()
                try session.prefill(ids)
                let prefillEnd = clock.now()
                var decodeSeconds = 0.0, samplingSeconds = 0.0
                var prefillLayers = LayerSeconds(zeros: timings.layers)
                var ready = prefillEnd        // when the logits of the last position were ready
                var decodeStart = prefillEnd  // when the last sampled token's decode step began
                let stop = try session.generate(maxTokens: options.maxTokens, sampler: sampler, stopTokens: stops, onToken: { _ in
                    let sampled = clock.now()
                    samplingSeconds += sampled - ready
                    times.append(sampled)
                    if times.count == 1 {
                        prefillLayers = LayerSeconds(timings)
                        mark()
                    }
                    decodeStart = clock.now()
                    return true
                }, onEvaluated: {
                    ready = clock.now()
                    decodeSeconds += ready - decodeStart
                })
                let end = clock.now()
                mark()
                let index = records.count
                let firstToken = times.first ?? end
                spans.append(PhaseSpan(kind: .prefill, start: start, end: firstToken, conversation: index))
                spans.append(PhaseSpan(kind: .decode, start: firstToken, end: end, conversation: index))
                records.append(ConversationRecord(
                    index: index, run: run, promptIndex: pi, promptTokens: ids.count, start: start, prefillEnd: prefillEnd,
                    tokenTimes: times, end: end, decodeSeconds: decodeSeconds, samplingSeconds: samplingSeconds,
                    stop: stop.rawValue,
                    prefillLayers: prefillLayers, decodeLayers: LayerSeconds(timings) - prefillLayers))
            }
        }
        return (records, spans)
    }
}
