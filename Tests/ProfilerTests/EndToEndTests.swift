import Foundation
import GemmaEdge
@testable import Profiler
import TestSupport
import XCTest

/// Whole profile runs on a tiny synthetic model, in process and through the `gemma-edge` binary.
final class EndToEndTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "/prof-e2e-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func tinyModel() throws -> String {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64; m.feedForward = 128; m.heads = 2; m.kvHeads = 1; m.headDim = 32; m.context = 256
        return try m.write(directory: dir)
    }

    func board() -> SysfsTree {
        let t = SysfsTree()
        t.ina226(1, microwatts: 2_500_000)
        t.otherHwmon(0, name: "nvme")
        t.cpufreq(cpus: 2, khz: 1_500_000, maxKHz: 2_400_000)
        t.thermalZone(0, type: "cpu-thermal", milliC: 55_000)
        return t
    }

    func configuration(_ out: String, tree: SysfsTree) -> ProfileConfiguration {
        var c = ProfileConfiguration(outputDirectory: out)
        c.root = tree.sysfs
        c.runner = CannedRunner(output: nil)
        c.sampleHz = 50
        c.batteryWh = 18
        c.workload.idleSeconds = 0.2
        c.workload.prompts = ["hello world", "the tall tree"]
        c.workload.runs = 2
        c.workload.maxTokens = 12
        c.workload.ignoreStop = true
        return c
    }

    func load(_ path: String) -> () throws -> Engine {
        { var o = EngineOptions(); o.threads = 1; o.batch = 8; return try Engine(modelPath: path, options: o) }
    }

    func testConstantHwmonBoardEndToEnd() throws {
        let tree = board(), model = try tinyModel(), out = dir + "/out"
        let report = try ProfileRunner.run(configuration(out, tree: tree), modelPath: model, load: load(model))

        for f in ["report.json", "samples.csv", "timeline.png", "latency.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }
        XCTAssertEqual(try ProfileReport.load(path: out + "/report.json"), report)
        XCTAssertEqual(report.conversations.count, 4)
        XCTAssertEqual(report.conversations.map(\.generatedTokens), [12, 12, 12, 12])
        XCTAssertEqual(report.totals.interTokenLatency?.count, 44)
        XCTAssertGreaterThan(report.totals.decodeTokensPerSecond ?? 0, 0)
        XCTAssertEqual(report.layers.decode.count, 2)
        XCTAssertTrue(report.layers.decode.allSatisfy { $0.attentionSeconds > 0 && $0.feedForwardSeconds > 0 })

        // The check: 2.5 W constant gives 2.5 W within 1 %, and energy per token is
        // power x decode time / tokens.
        XCTAssertEqual(report.power.source?.kind, "hwmon")
        XCTAssertEqual(report.power.status, "measured")
        XCTAssertEqual(try XCTUnwrap(report.power.averageWatts), 2.5, accuracy: 0.025)
        let decode = try XCTUnwrap(report.power.decode)
        XCTAssertEqual(decode.tokens, 44)
        XCTAssertEqual(decode.coverage, 1, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(decode.millijoulesPerToken), 2.5 * decode.seconds / 44 * 1000, accuracy: 2.5 * decode.seconds / 44 * 10)
        XCTAssertEqual(report.power.idleWatts ?? 0, 2.5, accuracy: 1e-9)
        XCTAssertNotNil(report.power.battery)
        XCTAssertEqual(report.thermal.zones.first?.maxC, 55)
        XCTAssertEqual(report.thermal.cpufreq.map(\.maxMhz), [1500, 1500])
        XCTAssertTrue(report.sensorProblems.isEmpty, "\(report.sensorProblems)")

        // The sampler's own cost is measured and small.
        XCTAssertGreaterThan(report.sampler.samples, 10)
        XCTAssertGreaterThanOrEqual(report.sampler.boundarySamples, 2)
        XCTAssertGreaterThan(report.sampler.cpuSeconds, 0)
        XCTAssertLessThan(report.sampler.percentOfOneCore, 20)

        // samples.csv: a header and one line per sample, with phases.
        let csv = try String(contentsOfFile: out + "/samples.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(String(csv[0]), "t_s,mark,power_w,energy_j,rss_bytes,sample_cost_s,cpu0_mhz,cpu1_mhz,temp_cpu-thermal_c,phase,conversation")
        XCTAssertEqual(csv.count, report.sampler.samples + 1)
        XCTAssertTrue(csv.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false)[2] == "2.5" })
        XCTAssertTrue(csv.contains { $0.hasSuffix(",idle,") })

        let timeline = try PNG.decode(Data(contentsOf: URL(fileURLWithPath: out + "/timeline.png")))
        XCTAssertEqual(timeline.width, 1100)
        XCTAssertEqual(timeline.height, 1050)
        let hist = try PNG.decode(Data(contentsOf: URL(fileURLWithPath: out + "/latency.png")))
        XCTAssertEqual(hist.width, 900)
    }

    /// Energy per token with and without speculative decoding: the report says what the drafter
    /// did, and `profile compare` sets the two runs side by side.
    func testSpeculativeDecodingIsReportedAndCompared() throws {
        let tree = board(), model = try tinyModel()
        var c = configuration(dir + "/plain", tree: tree)
        c.workload.prompts = ["hello world hello world hello world the tall tree the tall tree"]
        c.workload.runs = 1
        c.workload.idleSeconds = 0
        let plain = try ProfileRunner.run(c, modelPath: model, load: load(model))
        c.outputDirectory = dir + "/lookup"
        let lookup = try ProfileRunner.run(c, modelPath: model) {
            var o = EngineOptions(); o.threads = 1; o.batch = 8
            o.speculative = .lookup
            o.maxDraft = 4
            return try Engine(modelPath: model, options: o)
        }
        XCTAssertNil(plain.model.speculation)
        let s = try XCTUnwrap(lookup.model.speculation)
        XCTAssertEqual(s.mode, "lookup")
        XCTAssertEqual(s.draftMax, 4)
        XCTAssertGreaterThan(s.drafted, 0, "the prompt repeats itself, so lookup drafts")
        XCTAssertEqual(s.acceptanceRate, Double(s.accepted) / Double(s.drafted))
        XCTAssertEqual(lookup.totals.generatedTokens, plain.totals.generatedTokens)
        XCTAssertNotNil(lookup.power.decode?.millijoulesPerToken)
        XCTAssertNotNil(plain.power.decode?.millijoulesPerToken)
        XCTAssertEqual(try ProfileReport.load(path: dir + "/lookup/report.json"), lookup)

        let comparison = ReportComparison(plain, lookup)
        XCTAssertTrue(comparison.remarks.contains("speculative decoding: A off, B lookup"), "\(comparison.remarks)")
        let row = try XCTUnwrap(comparison.rows.first { $0.name == "drafts accepted" })
        XCTAssertNil(row.a)
        XCTAssertEqual(try XCTUnwrap(row.b), s.acceptanceRate * 100, accuracy: 1e-9)
        XCTAssertNotNil(comparison.rows.first { $0.name == "decode energy per token" }?.changePercent)
    }

    func testExternalMeterCSVIsMergedByTime() throws {
        // A meter logging 3 W at 5 Hz with Unix timestamps from before the run to well after it.
        let now = Date().timeIntervalSince1970
        var lines = ["time,watts"]
        for k in -10...200 { lines.append(String(format: "%.3f,3.0", now + Double(k) * 0.2)) }
        lines.insert("garbage", at: 5)
        try lines.joined(separator: "\n").write(toFile: dir + "/meter.csv", atomically: true, encoding: .utf8)
        let model = try tinyModel(), out = dir + "/meter"
        let empty = SysfsTree()
        var c = configuration(out, tree: empty)
        c.power = .csv(path: dir + "/meter.csv")
        c.workload.runs = 1
        let report = try ProfileRunner.run(c, modelPath: model, load: load(model))
        XCTAssertEqual(report.power.source?.kind, "csv")
        XCTAssertEqual(try XCTUnwrap(report.power.averageWatts), 3, accuracy: 0.03)
        XCTAssertTrue(report.power.source!.notes.joined().contains("1 bad meter lines"), "\(report.power.source!.notes)")
        let header = try String(contentsOfFile: out + "/samples.csv", encoding: .utf8).split(separator: "\n")[0]
        XCTAssertTrue(header.hasSuffix(",meter_w"), String(header))
        // No sysfs sensors in an empty tree: reported as missing, not fatal.
        XCTAssertEqual(report.thermal.missing.count, 3)
    }

    func testBadConfigurationsAreClearErrors() throws {
        let empty = SysfsTree()
        var c = configuration(dir + "/x", tree: empty)
        c.sampleHz = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--sample-hz")) }
        c.sampleHz = 10
        c.root = SysfsRoot(dir + "/no-such-root")
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("not a directory")) }
        c.root = .live
        c.workload.maxTokens = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--max-tokens")) }
        _ = FileManager.default.createFile(atPath: dir + "/prompts.txt", contents: Data("# only a comment\n\n".utf8))
        XCTAssertThrowsError(try WorkloadOptions.prompts(file: dir + "/prompts.txt")) { XCTAssertTrue("\($0)".contains("no prompts")) }
        XCTAssertThrowsError(try WorkloadOptions.prompts(file: dir + "/none.txt")) { XCTAssertTrue("\($0)".contains("cannot read")) }
        // A model load failure stops the sampler and reports the error.
        let good = configuration(dir + "/y", tree: empty)
        XCTAssertThrowsError(try ProfileRunner.run(good, modelPath: "/nope") { throw ProfilerError.io("no model here") }) {
            XCTAssertEqual("\($0)", "no model here")
        }
    }

    // MARK: The binary

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gemma-edge").path
    }

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationReason, .uncaughtSignal, String(decoding: e, as: UTF8.self))
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testCommandLineProfileAndCompare() throws {
        let tree = board(), model = try tinyModel()
        let common = ["profile", "-m", model, "--threads", "1", "--sysfs-root", tree.root, "--max-tokens", "6",
                      "--idle-seconds", "0.1", "--sample-hz", "20", "--ignore-stop", "--quiet"]
        let a = try run(common + ["--out", dir + "/a", "--battery-wh", "18"])
        XCTAssertEqual(a.status, 0, a.err)
        XCTAssertTrue(a.out.contains("power: hwmon (measured)"), a.out)
        XCTAssertTrue(a.out.contains("conversations would use"), a.out)
        let b = try run(common + ["--out", dir + "/b", "--power", "none"])
        XCTAssertEqual(b.status, 0, b.err)
        XCTAssertTrue(b.out.contains("power: no source found"), b.out)

        let cmp = try run(["profile", "compare", dir + "/a", dir + "/b/report.json"])
        XCTAssertEqual(cmp.status, 0, cmp.err)
        XCTAssertTrue(cmp.out.contains("decode speed (tok/s)"), cmp.out)
        XCTAssertTrue(cmp.out.contains("only in A"), cmp.out)

        _ = FileManager.default.createFile(atPath: dir + "/other.json", contents: Data("{\"x\": 1}".utf8))
        let bad = try run(["profile", "compare", dir + "/a", dir + "/other.json"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("not a gemma-edge profile report"), bad.err)
        let missing = try run(["profile", "compare", dir + "/a", dir + "/nothing.json"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("cannot read"), missing.err)
    }

    func testCommandLineRejectsBadArguments() throws {
        let model = try tinyModel()
        for (args, text) in [(["--power", "watts"], "unknown power source"), (["--sample-hz", "0"], "--sample-hz"),
                             (["--sysfs-root", dir + "/none"], "not a directory"), (["--prompts", dir + "/none.txt"], "cannot read")] {
            let r = try run(["profile", "-m", model, "--out", dir + "/o"] + args)
            XCTAssertTrue([1, 64].contains(r.status), "\(args): \(r.status) \(r.err)")
            XCTAssertTrue(r.err.contains(text), "\(args): \(r.err)")
            XCTAssertFalse(r.err.contains("Fatal error"), r.err)
        }
    }
}
