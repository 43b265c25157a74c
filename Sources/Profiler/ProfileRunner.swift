import Foundation
import GemmaEdge

#if canImport(Glibc)
import Glibc
#endif

/// How to profile.
public struct ProfileConfiguration {
    public var workload = WorkloadOptions()
    /// Sampler rate in samples per second.
    public var sampleHz = 10.0
    public var power: PowerSelection = .auto
    public var root = SysfsRoot.live
    /// Runs `vcgencmd` for the Pi 5 PMIC source (tests inject captured output).
    public var runner: any CommandRunner = ProcessRunner()
    /// Battery capacity for the "N conversations use x %" figure.
    public var batteryWh: Double?
    /// N in that figure (Google quotes 25).
    public var conversationsForShare = 25
    /// Where report.json, samples.csv and the charts go (created if missing).
    public var outputDirectory: String
    /// Sampler ring rows (nil: an hour at the chosen rate).
    public var ringCapacity: Int?
    /// Progress lines (for stderr).
    public var log: (String) -> Void = { _ in }

    /// Defaults for everything but where the outputs go.
    public init(outputDirectory: String) { self.outputDirectory = outputDirectory }

    /// Checks the values before anything runs.
    public func validate() throws {
        guard sampleHz > 0, sampleHz <= 1000 else { throw ProfilerError.badArgument("--sample-hz must be above 0 and at most 1000") }
        guard workload.runs >= 1, workload.runs <= 10_000 else { throw ProfilerError.badArgument("--runs must be 1...10000") }
        guard workload.maxTokens >= 1, workload.maxTokens <= 100_000 else { throw ProfilerError.badArgument("--max-tokens must be 1...100000") }
        guard !workload.prompts.isEmpty else { throw ProfilerError.badArgument("no prompts") }
        guard workload.idleSeconds >= 0, workload.idleSeconds <= 600 else { throw ProfilerError.badArgument("--idle-seconds must be 0...600") }
        if let b = batteryWh { guard b > 0, b < 1_000_000 else { throw ProfilerError.badArgument("--battery-wh must be positive") } }
        guard conversationsForShare >= 1 else { throw ProfilerError.badArgument("--conversations must be at least 1") }
        if !root.prefix.isEmpty {
            var dir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.prefix, isDirectory: &dir), dir.boolValue else {
                throw ProfilerError.badArgument("--sysfs-root \(root.prefix) is not a directory")
            }
        }
    }
}

/// Runs a profile: sensors and sampler first, an idle baseline, the model load, the workload,
/// then the report, samples and charts.
public enum ProfileRunner {
    /// Profiles `load()`'s engine and writes every output. Returns the report as written.
    @discardableResult
    public static func run(_ config: ProfileConfiguration, modelPath: String, load: () throws -> Engine) throws -> ProfileReport {
        try config.validate()
        let out = config.outputDirectory
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw ProfilerError.io("cannot create the output directory \(out): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: out) else { throw ProfilerError.io("cannot write to \(out)") }

        let clock = RunClock()
        let sensors = SystemSensors(root: config.root)
        let (source, probes) = PowerDetector(root: config.root, runner: config.runner).resolve(config.power)
        config.log(source.map { "power: \($0.kind.rawValue), \($0.device) (\($0.quality.rawValue))" }
            ?? "power: none (" + probes.map { "\($0.source): \($0.detail)" }.joined(separator: "; ") + ")")
        let sampler = SensorSampler(hz: config.sampleHz, clock: clock, power: source, sensors: sensors, capacity: config.ringCapacity)
        try sampler.start()
        var spans: [PhaseSpan] = []
        let engine: Engine
        let records: [ConversationRecord]
        do {
            if config.workload.idleSeconds > 0 {
                config.log(String(format: "idle baseline: %.1f s", config.workload.idleSeconds))
                let t = clock.now()
                usleep(UInt32(config.workload.idleSeconds * 1e6))
                spans.append(PhaseSpan(kind: .idle, start: t, end: clock.now(), conversation: nil))
            }
            sampler.mark()
            let t0 = clock.now()
            engine = try load()
            spans.append(PhaseSpan(kind: .load, start: t0, end: clock.now(), conversation: nil))
            sampler.mark()
            let runner = WorkloadRunner(engine: engine, options: config.workload, clock: clock)
            let prompts = try runner.tokenisedPrompts()
            config.log("running \(config.workload.runs) x \(prompts.count) conversations, up to \(config.workload.maxTokens) tokens each")
            let result = try runner.run(prompts: prompts, mark: sampler.mark)
            records = result.records
            spans += result.spans
        } catch {
            sampler.stop()
            throw error
        }
        sampler.stop()

        var meter: MeterLog?
        var notes: [String] = []
        if case .csv(let path) = config.power {
            do { meter = try MeterLog.load(path: path) } catch { notes.append("external meter not used: \(error)") }
        }
        let capture = ProfileCapture(
            clock: clock, machine: machine(), model: modelInfo(engine, path: modelPath), settings: settings(config),
            loadSeconds: engine.loadSeconds, spans: spans, records: records, sensorColumns: sensors.columns,
            rows: sampler.ring.rows(), source: source, probes: probes, meter: meter, samplerCPUSeconds: sampler.cpuSeconds,
            samplerSeconds: sampler.stoppedAt - sampler.startedAt, missedTicks: sampler.missedTicks,
            overwritten: sampler.ring.overwritten, processCPUSeconds: processCPUSeconds(),
            peakRSSBytes: SystemSensors.peakResidentBytes(),
            sensorProblems: ([source?.health.summary] + sensors.health.map(\.summary)).compactMap { $0 },
            missingSensors: sensors.missing, notes: notes)
        return try write(capture, columnNames: sampler.columnNames, to: out)
    }

    /// Analyses a capture and writes report.json, samples.csv, timeline.png and latency.png.
    public static func write(_ capture: ProfileCapture, columnNames: [String], to out: String) throws -> ProfileReport {
        var report = ReportBuilder.build(capture)
        let series = ReportBuilder.powerSeries(capture)
        let csv = SamplesCSV.render(capture, columnNames: columnNames,
                                    meter: capture.meter == nil ? nil : series, sampleHz: capture.settings.sampleHz)
        try DurableFile.write(Data(csv.utf8), to: out + "/samples.csv")

        let times = capture.rows.map { $0[0] }
        let fixed = SensorSampler.Fixed.allCases.count
        func columns(_ g: SensorColumn.Group) -> [(name: String, values: [Double])] {
            capture.sensorColumns.enumerated().filter { $0.element.group == g }.map { k, col in
                (col.name, capture.rows.map { $0[fixed + k] })
            }
        }
        var itl: [Double] = [], itlTimes: [Double] = []
        for r in capture.records {
            for i in r.tokenTimes.indices.dropFirst() {
                itl.append((r.tokenTimes[i] - r.tokenTimes[i - 1]) * 1000)
                itlTimes.append(r.tokenTimes[i])
            }
        }
        let label = report.power.source.map { "\($0.kind.uppercased()) (\($0.quality.rawValue.uppercased()))" } ?? "NONE"
        let timeline = Charts.timeline(times: times, power: series.map { ($0.times, $0.watts) }, powerLabel: label,
                                       temperatures: columns(.temperature), frequencies: columns(.cpufreq),
                                       latency: (itlTimes, itl), spans: capture.spans, title: "GEMMA-EDGE PROFILE: " + (capture.model.path as NSString).lastPathComponent)
        try DurableFile.write(try timeline.png(), to: out + "/timeline.png")
        let hist = Charts.latencyHistogram(milliseconds: itl, summary: report.totals.interTokenLatency,
                                           title: "INTER-TOKEN LATENCY, \(itl.count) TOKENS")
        try DurableFile.write(try hist.png(), to: out + "/latency.png")
        report.files = ["report.json", "samples.csv", "timeline.png", "latency.png"]
        try DurableFile.write(try report.encoded(), to: out + "/report.json")
        return report
    }

    static func settings(_ c: ProfileConfiguration) -> ProfileReport.Settings {
        .init(runs: c.workload.runs, prompts: c.workload.prompts.count, maxTokens: c.workload.maxTokens,
              temperature: Double(c.workload.sampling.temperature), seed: c.workload.sampling.seed,
              chatTemplate: c.workload.chatTemplate, ignoreStop: c.workload.ignoreStop, idleSeconds: c.workload.idleSeconds,
              sampleHz: c.sampleHz, power: c.power.description, sysfsRoot: c.root.prefix.isEmpty ? nil : c.root.prefix,
              batteryWh: c.batteryWh, conversationsForShare: c.conversationsForShare)
    }

    static func modelInfo(_ e: Engine, path: String) -> ProfileReport.ModelInfo {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        return .init(path: path, fileBytes: bytes, blocks: e.config.blockCount, embedding: e.config.embeddingLength,
                     vocabulary: e.config.vocabularySize, kernels: e.model.compute.kernels.name, threads: e.options.threads,
                     context: e.options.context, batch: e.options.batch, speculation: speculation(e))
    }

    static func speculation(_ e: Engine) -> ProfileReport.Speculation? {
        guard let s = e.speculator else { return nil }
        return .init(mode: e.options.speculative.rawValue,
                     draftModel: e.options.draftModel.map { ($0 as NSString).lastPathComponent },
                     draftMax: s.length.limit, verifications: s.stats.verifications, plainSteps: s.stats.plainSteps,
                     drafted: s.stats.drafted, accepted: s.stats.accepted)
    }

    static func machine() -> ProfileReport.Machine {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var cpu = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for key in ["model name", "Model", "Hardware", "CPU part"] {
                if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }), let v = line.split(separator: ":", maxSplits: 1).last {
                    cpu = v.trimmingCharacters(in: .whitespaces)
                    break
                }
            }
        }
        return .init(hostname: ProcessInfo.processInfo.hostName, kernel: release, cpu: cpu,
                     cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    static func processCPUSeconds() -> Double? {
        var u = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u) == 0 else { return nil }
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return s(u.ru_utime) + s(u.ru_stime)
    }
}
