import ArgumentParser
import Foundation
import GemmaEdge
import Profiler
import Sampling

/// `gemma-edge profile`: power and latency profiling, and comparing two profiles.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure load time, latency, power and energy per token while generating (see Sources/Profiler/REPORT.md).",
        subcommands: [ProfileRun.self, ProfileCompare.self],
        defaultSubcommand: ProfileRun.self)
}

struct ProfileRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workload and write report.json, samples.csv, timeline.png and latency.png.")

    @OptionGroup var model: ModelOptions
    /// Energy per token with and without speculative decoding: two runs, then `profile compare`.
    @OptionGroup var speculative: SpeculativeOptions

    @Option(help: "Prompt file: one prompt per line, # for comments (default: three built-in prompts).")
    var prompts: String?
    @Option(help: "Repetitions of the prompt list.") var runs: Int = 1
    @Option(help: "Most tokens generated per conversation.") var maxTokens: Int = 64
    @Option(help: "Power source: auto, none, hwmon, battery, rapl, pi5-pmic, jetson or csv:FILE (timestamp,watts).")
    var power: String = "auto"
    @Option(help: "Sampler rate in samples per second.") var sampleHz: Double = 10
    @Option(help: "Read /sys under this directory instead (a copied or synthetic tree).") var sysfsRoot: String?
    @Option(help: "Battery capacity in Wh for the battery-share figure (default: a detected battery's own).")
    var batteryWh: Double?
    @Option(help: "Conversations in the battery-share figure.") var conversations: Int = 25
    @Option(help: "Seconds of idle sampling before loading, for the baseline power.") var idleSeconds: Double = 2
    @Option(help: "Sampling temperature; 0 (the default) is greedy, so runs repeat exactly.") var temperature: Float = 0
    @Option(help: "Random seed when sampling.") var seed: UInt64 = 0x5EED
    @Flag(help: "Wrap prompts in the Gemma 3 chat template.") var chatTemplate = false
    @Flag(help: "Generate through stop tokens so every conversation has --max-tokens tokens.") var ignoreStop = false
    @Option(help: "Output directory.") var out: String
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func run() throws {
        var config = ProfileConfiguration(outputDirectory: out)
        do {
            config.power = try PowerSelection(parsing: power)
        } catch { throw ValidationError("\(error)") }
        config.sampleHz = sampleHz
        config.root = SysfsRoot(sysfsRoot)
        config.batteryWh = batteryWh
        config.conversationsForShare = conversations
        config.workload.runs = runs
        config.workload.maxTokens = maxTokens
        config.workload.idleSeconds = idleSeconds
        config.workload.chatTemplate = chatTemplate
        config.workload.ignoreStop = ignoreStop
        if let prompts { config.workload.prompts = try WorkloadOptions.prompts(file: prompts) }
        var sampling = SamplingParameters.greedy
        sampling.temperature = temperature
        sampling.seed = seed
        if let problem = sampling.validate() { throw ValidationError(problem) }
        config.workload.sampling = sampling
        do { try config.validate() } catch { throw ValidationError("\(error)") }
        if !quiet { config.log = { FileHandle.standardError.write(Data(("profile: " + $0 + "\n").utf8)) } }

        let report = try ProfileRunner.run(config, modelPath: model.modelPath) {
            try model.prepare { speculative.apply(to: &$0) }.load()
        }
        emit(summary(report))
    }

    func summary(_ r: ProfileReport) -> String {
        func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "n/a" }
        var lines: [String] = []
        lines.append("model \((r.model.path as NSString).lastPathComponent), \(r.model.kernels), \(r.model.threads) threads; "
            + "\(r.totals.conversations) conversations, \(r.totals.promptTokens) prompt + \(r.totals.generatedTokens) generated tokens")
        lines.append("load \(f(r.load.seconds, "%.2f")) s; TTFT p50 \(f(r.totals.ttft?.p50Ms, "%.1f")) ms; "
            + "prefill \(f(r.totals.prefillTokensPerSecond, "%.1f")) tok/s; decode \(f(r.totals.decodeTokensPerSecond, "%.1f")) tok/s")
        if let l = r.totals.interTokenLatency {
            lines.append(String(format: "inter-token latency p50 %.2f, p90 %.2f, p99 %.2f, max %.2f ms", l.p50Ms, l.p90Ms, l.p99Ms, l.maxMs))
        }
        if let s = r.model.speculation {
            lines.append(String(format: "speculative %@: %d verifications, %d plain steps, %d of %d drafted tokens accepted (%.1f %%)",
                                s.mode, s.verifications, s.plainSteps, s.accepted, s.drafted, s.acceptanceRate * 100))
        }
        lines.append("peak RSS \(f(r.totals.peakRssBytes.map { $0 / 1_048_576 }, "%.0f")) MiB")
        if let s = r.power.source {
            lines.append("power: \(s.kind) (\(r.power.status)), \(s.scope)")
            lines.append("average \(f(r.power.averageWatts, "%.2f")) W; prefill \(f(r.power.prefill?.millijoulesPerToken, "%.1f")) mJ/token; "
                + "decode \(f(r.power.decode?.millijoulesPerToken, "%.1f")) mJ/token; \(f(r.power.tokensPerJoule, "%.2f")) tokens/J")
            if let b = r.power.battery {
                lines.append(String(format: "%d conversations would use %.3f %% of a %.1f Wh battery", b.conversations, b.percent, b.capacityWh))
            }
        } else {
            lines.append("power: no source found (" + r.power.probes.map { "\($0.source): \($0.detail)" }.joined(separator: "; ") + ")")
        }
        lines.append("throttle events: \(r.thermal.throttleEvents.count)" + (r.thermal.missing.isEmpty ? "" : "; not on this machine: "
            + r.thermal.missing.joined(separator: "; ")))
        if !r.sensorProblems.isEmpty { lines.append("sensor problems: " + r.sensorProblems.joined(separator: "; ")) }
        lines.append(r.sampler.statement)
        lines.append("wrote " + r.files.map { out + "/" + $0 }.joined(separator: ", "))
        return lines.joined(separator: "\n") + "\n"
    }
}

struct ProfileCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Print the differences between two profile reports (B relative to A).")

    @Argument(help: "report.json (or its directory) A.") var a: String
    @Argument(help: "report.json (or its directory) B.") var b: String

    func path(_ p: String) -> String {
        var dir: ObjCBool = false
        if FileManager.default.fileExists(atPath: p, isDirectory: &dir), dir.boolValue { return p + "/report.json" }
        return p
    }

    func run() throws {
        let pa = path(a), pb = path(b)
        let ra = try ProfileReport.load(path: pa), rb = try ProfileReport.load(path: pb)
        emit(ReportComparison(ra, rb).render(nameA: pa, nameB: pb))
    }
}
