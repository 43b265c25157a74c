import Foundation

/// The profile report written as `report.json` (keys in snake_case; schema in `REPORT.md`).
/// Optional figures are left out when they could not be measured; `power.status` and the
/// probes say why.
public struct ProfileReport: Sendable, Codable, Equatable {
    public static let schemaName = "gemma-edge-profile/1"

    public var schema = ProfileReport.schemaName
    public var createdAt: String
    public var machine: Machine
    public var model: ModelInfo
    public var settings: Settings
    public var load: LoadFigures
    public var totals: Totals
    public var layers: LayerBreakdown
    public var conversations: [ConversationFigures]
    public var power: PowerFigures
    public var thermal: ThermalFigures
    public var sampler: SamplerFigures
    /// Sensors that failed during the run (disappeared, unreadable, garbage), one line each.
    public var sensorProblems: [String]
    public var notes: [String]
    /// Files written beside the report.
    public var files: [String]

    /// The machine the profile ran on.
    public struct Machine: Sendable, Codable, Equatable {
        public var hostname: String
        public var kernel: String
        public var cpu: String
        public var cores: Int
    }

    /// The model file and how the engine ran it.
    public struct ModelInfo: Sendable, Codable, Equatable {
        public var path: String
        public var fileBytes: Int
        public var blocks: Int
        public var embedding: Int
        public var vocabulary: Int
        public var kernels: String
        public var threads: Int
        public var context: Int
        public var batch: Int
        /// Speculative decoding during the run (nil when off, or in reports from before it).
        public var speculation: Speculation?
    }

    /// What speculative decoding did over the whole workload (`--speculative`), so two reports of
    /// the same prompts with and without it compare energy per token (`profile compare`).
    public struct Speculation: Sendable, Codable, Equatable {
        /// lookup or draft.
        public var mode: String
        /// The draft model's file name (draft mode).
        public var draftModel: String?
        /// The most tokens drafted per step.
        public var draftMax: Int
        /// Batches of the last token and its drafts evaluated at once, and plain steps (nothing drafted).
        public var verifications: Int
        public var plainSteps: Int
        /// Tokens drafted and kept.
        public var drafted: Int
        public var accepted: Int
        /// accepted / drafted (0 when nothing was drafted).
        public var acceptanceRate: Double

        public init(mode: String, draftModel: String?, draftMax: Int, verifications: Int, plainSteps: Int, drafted: Int,
                    accepted: Int) {
            self.mode = mode
            self.draftModel = draftModel
            self.draftMax = draftMax
            self.verifications = verifications
            self.plainSteps = plainSteps
            self.drafted = drafted
            self.accepted = accepted
            acceptanceRate = drafted == 0 ? 0 : Double(accepted) / Double(drafted)
        }
    }

    /// The options the profile ran with.
    public struct Settings: Sendable, Codable, Equatable {
        public var runs: Int
        public var prompts: Int
        public var maxTokens: Int
        public var temperature: Double
        public var seed: UInt64
        public var chatTemplate: Bool
        public var ignoreStop: Bool
        public var idleSeconds: Double
        public var sampleHz: Double
        /// The `--power` value.
        public var power: String
        public var sysfsRoot: String?
        public var batteryWh: Double?
        public var conversationsForShare: Int
    }

    /// The model load: its time and, with a power source, its energy.
    public struct LoadFigures: Sendable, Codable, Equatable {
        public var seconds: Double
        public var joules: Double?
    }

    /// Seconds spent in each phase, summed over conversations.
    public struct PhaseSeconds: Sendable, Codable, Equatable {
        /// Forward passes over prompts.
        public var prefill: Double
        /// Forward passes of single decode steps.
        public var decode: Double
        /// Time in the sampler.
        public var sampling: Double
        /// From the first prefill to the end of the last conversation.
        public var wall: Double
    }

    /// Speed and latency over every conversation.
    public struct Totals: Sendable, Codable, Equatable {
        public var conversations: Int
        public var promptTokens: Int
        public var generatedTokens: Int
        public var ttft: LatencySummary?
        public var prefillTokensPerSecond: Double?
        public var decodeTokensPerSecond: Double?
        public var interTokenLatency: LatencySummary?
        public var phaseSeconds: PhaseSeconds
        public var peakRssBytes: Double?
    }

    /// Seconds one layer spent in attention and in the feed-forward network.
    public struct LayerRow: Sendable, Codable, Equatable {
        public var layer: Int
        public var attentionSeconds: Double
        public var feedForwardSeconds: Double
    }

    /// Per-layer forward-pass time, summed over conversations, for prefill and decode.
    public struct LayerBreakdown: Sendable, Codable, Equatable {
        public var prefill: [LayerRow]
        public var decode: [LayerRow]
        public var prefillEmbeddingSeconds: Double
        public var prefillOutputSeconds: Double
        public var decodeEmbeddingSeconds: Double
        public var decodeOutputSeconds: Double
    }

    /// The figures of one conversation (one prompt, one run).
    public struct ConversationFigures: Sendable, Codable, Equatable {
        public var index: Int
        public var run: Int
        public var prompt: Int
        public var promptTokens: Int
        public var generatedTokens: Int
        public var stop: String
        public var startSeconds: Double
        public var ttftSeconds: Double
        public var prefillSeconds: Double
        public var prefillTokensPerSecond: Double
        /// From the first token to the last.
        public var decodeSeconds: Double
        public var decodeTokensPerSecond: Double?
        public var decodeStepSeconds: Double
        public var samplingSeconds: Double
        public var interTokenLatency: LatencySummary?
        public var joules: Double?
        public var averageWatts: Double?
        public var prefillMillijoulesPerToken: Double?
        public var decodeMillijoulesPerToken: Double?
    }

    /// Which power source gave the figures and what it covers.
    public struct SourceInfo: Sendable, Codable, Equatable {
        public var kind: String
        public var device: String
        public var scope: String
        public var quality: PowerQuality
        public var notes: [String]
    }

    /// Energy over every window of one phase (prefill, decode or both).
    public struct PhaseEnergy: Sendable, Codable, Equatable {
        public var seconds: Double
        public var tokens: Int
        public var joules: Double
        public var averageWatts: Double
        public var millijoulesPerToken: Double?
        /// Fraction of the phase's time with power readings (gaps are filled at the mean power).
        public var coverage: Double
        public var quality: PowerQuality
        /// The same per token after subtracting the idle baseline power, when one was measured.
        public var netMillijoulesPerToken: Double?
    }

    /// The share of a battery that N conversations would use.
    public struct BatteryFigures: Sendable, Codable, Equatable {
        public var capacityWh: Double
        /// "--battery-wh" or the battery's own `energy_full`.
        public var capacityFrom: String
        public var conversations: Int
        public var joulesPerConversation: Double
        public var percent: Double
    }

    /// Power and energy figures, with the source they came from.
    public struct PowerFigures: Sendable, Codable, Equatable {
        /// "measured", "estimated" or "none".
        public var status: String
        public var source: SourceInfo?
        public var probes: [PowerProbe]
        public var idleWatts: Double?
        /// Over every conversation (prefill and decode).
        public var averageWatts: Double?
        public var prefill: PhaseEnergy?
        public var decode: PhaseEnergy?
        public var total: PhaseEnergy?
        public var tokensPerJoule: Double?
        public var decodeTokensPerJoule: Double?
        public var battery: BatteryFigures?
        public var notes: [String]
    }

    /// One temperature sensor over the run, in degrees Celsius.
    public struct ZoneFigures: Sendable, Codable, Equatable {
        public var name: String
        public var startC: Double?
        public var maxC: Double?
        public var endC: Double?
    }

    /// One core's frequency while the model ran.
    public struct CoreFrequency: Sendable, Codable, Equatable {
        public var cpu: String
        /// Over samples taken during prefill or decode.
        public var minMhz: Double?
        public var meanMhz: Double?
        public var maxMhz: Double?
        public var limitMhz: Double?
    }

    /// A sign of throttling at a moment of the run.
    public struct ThrottleEvent: Sendable, Codable, Equatable {
        public var timeSeconds: Double
        public var what: String
    }

    /// How much a throttle counter rose over the run.
    public struct CounterDelta: Sendable, Codable, Equatable {
        public var name: String
        public var delta: Double
    }

    /// Temperatures, frequencies and throttling.
    public struct ThermalFigures: Sendable, Codable, Equatable {
        public var zones: [ZoneFigures]
        public var cpufreq: [CoreFrequency]
        public var throttleEvents: [ThrottleEvent]
        public var throttleCounters: [CounterDelta]
        /// Sensors looked for and absent on this machine.
        public var missing: [String]
    }

    /// What the sampler did and what it cost.
    public struct SamplerFigures: Sendable, Codable, Equatable {
        public var hz: Double
        public var samples: Int
        /// Extra samples taken at phase boundaries.
        public var boundarySamples: Int
        public var overwritten: Int
        public var missedTicks: Int
        public var meanCostMicroseconds: Double
        public var maxCostMicroseconds: Double
        public var cpuSeconds: Double
        /// The sampler thread's CPU time as a share of one core over its lifetime.
        public var percentOfOneCore: Double
        /// The sampler thread's CPU time as a share of the whole process's CPU time.
        public var percentOfProcessCpu: Double?
        public var statement: String
    }
}

extension ProfileReport {
    /// JSON with sorted snake_case keys.
    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Figures are checked to be finite before they get here; this only keeps a slip from
        // failing a long run at its very end.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try e.encode(self)
    }

    /// Reads a report written by `encoded()`; anything else is a clear error.
    public static func decode(_ data: Data, name: String) throws -> ProfileReport {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let any = try? JSONSerialization.jsonObject(with: data) else {
            throw ProfilerError.badReport("\(name) is not JSON")
        }
        guard let object = any as? [String: Any], let schema = object["schema"] as? String else {
            throw ProfilerError.badReport("\(name) is not a gemma-edge profile report (no \"schema\" key)")
        }
        guard schema == schemaName else {
            throw ProfilerError.badReport("\(name) has schema \(schema); this build reads \(schemaName)")
        }
        do {
            return try d.decode(ProfileReport.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ProfilerError.badReport("\(name) lacks \(ctx.codingPath.map(\.stringValue).joined(separator: ".")).\(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw ProfilerError.badReport("\(name): wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw ProfilerError.badReport("\(name) cannot be read as a report: \(error)")
        }
    }

    /// Loads and decodes a report file.
    public static func load(path: String) throws -> ProfileReport {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProfilerError.io("cannot read \(path)") }
        return try decode(data, name: path)
    }
}
