import Foundation
@testable import Profiler
import XCTest

/// A source with fixed properties, for captures built by hand.
final class FakeSource: PowerSource {
    let kind: PowerSourceKind
    let device = "fake"
    let scope: String
    let quality: PowerQuality
    let notes: [String] = []
    let health = SensorHealth(label: "fake")
    init(kind: PowerSourceKind = .hwmon, quality: PowerQuality = .measured, scope: String = "board input") {
        self.kind = kind
        self.quality = quality
        self.scope = scope
    }
    func read(at time: Double) -> PowerReading { .unavailable }
}

/// The report's figures from hand-made captures whose right answers are known.
final class ReportTests: XCTestCase {
    static func record(_ i: Int, start: Double, prefillEnd: Double, tokens: [Double], prompt: Int) -> ConversationRecord {
        var layers = LayerSeconds(zeros: 2)
        layers.attention = [0.01, 0.02]
        layers.feedForward = [0.03, 0.04]
        return ConversationRecord(index: i, run: 0, promptIndex: i, promptTokens: prompt, start: start, prefillEnd: prefillEnd,
                                  tokenTimes: tokens, end: tokens.last! + 0.01, decodeSeconds: 0.05 * Double(tokens.count - 1),
                                  samplingSeconds: 0.001 * Double(tokens.count), stop: "length", prefillLayers: layers,
                                  decodeLayers: layers)
    }

    /// Two conversations; power `watts(t)` sampled at 10 Hz; cpu0 drops to 1200 MHz at 1.4 s;
    /// the cpufreq cooling device steps up at 1.5 s; a throttle counter rises by 2.
    static func capture(source: PowerSource? = FakeSource(), watts: (Double) -> Double = { _ in 2.5 },
                        batteryWh: Double? = 10) -> ProfileCapture {
        let records = [record(0, start: 1.0, prefillEnd: 1.2, tokens: [1.25, 1.35, 1.45, 1.55, 1.65], prompt: 10),
                       record(1, start: 2.0, prefillEnd: 2.1, tokens: [2.12, 2.22, 2.32], prompt: 6)]
        var spans = [PhaseSpan(kind: .idle, start: 0, end: 0.5, conversation: nil),
                     PhaseSpan(kind: .load, start: 0.5, end: 0.9, conversation: nil)]
        for r in records {
            spans.append(PhaseSpan(kind: .prefill, start: r.start, end: r.firstToken, conversation: r.index))
            spans.append(PhaseSpan(kind: .decode, start: r.firstToken, end: r.end, conversation: r.index))
        }
        let columns = [SensorColumn(group: .cpufreq, name: "cpu0", unit: "MHz", limit: 2400),
                       SensorColumn(group: .temperature, name: "cpu-thermal", unit: "C", limit: nil),
                       SensorColumn(group: .cooling, name: "cooling_device0 cpufreq-cpu0", unit: "state", limit: 3),
                       SensorColumn(group: .throttle, name: "cpu0 core_throttle_count", unit: "count", limit: nil)]
        let rows: [[Double]] = (0...30).map { k in
            let t = Double(k) / 10
            return [t, 0, watts(t), .nan, 300e6, 50e-6,
                    t >= 1.4 && t < 1.6 ? 1200 : 2000, 50 + Double(k) * 20 / 30, t >= 1.5 ? 1 : 0, t >= 2 ? 12 : 10]
        }
        let model = ProfileReport.ModelInfo(path: "/m/tiny.gguf", fileBytes: 1, blocks: 2, embedding: 64, vocabulary: 300,
                                            kernels: "scalar", threads: 1, context: 64, batch: 8)
        let settings = ProfileReport.Settings(runs: 1, prompts: 2, maxTokens: 5, temperature: 0, seed: 1, chatTemplate: false,
                                              ignoreStop: false, idleSeconds: 0.5, sampleHz: 10, power: "hwmon", sysfsRoot: nil,
                                              batteryWh: batteryWh, conversationsForShare: 25)
        return ProfileCapture(
            clock: RunClock(origin: 0, epoch: 1_700_000_000), machine: .init(hostname: "h", kernel: "6.1", cpu: "test", cores: 2),
            model: model, settings: settings, loadSeconds: 0.4, spans: spans, records: records, sensorColumns: columns, rows: rows,
            source: source, probes: [PowerProbe(source: "hwmon", found: source != nil, detail: "test")], meter: nil,
            samplerCPUSeconds: 0.01, samplerSeconds: 3, missedTicks: 0, overwritten: 0, processCPUSeconds: 5, peakRSSBytes: 3e8,
            sensorProblems: [], missingSensors: [])
    }

    func testConstantPowerFigures() throws {
        let r = ReportBuilder.build(Self.capture())
        XCTAssertEqual(r.power.status, "measured")
        let avg = try XCTUnwrap(r.power.averageWatts)
        XCTAssertEqual(avg, 2.5, accuracy: 2.5 * 0.01)
        // Energy per decode token = power x decode time / decode tokens.
        let decode = try XCTUnwrap(r.power.decode)
        let decodeTime = (1.66 - 1.25) + (2.33 - 2.12), steps = 4 + 2
        XCTAssertEqual(decode.tokens, steps)
        XCTAssertClose(decode.seconds, decodeTime)
        XCTAssertClose(decode.millijoulesPerToken, 2.5 * decodeTime / Double(steps) * 1000, relative: 1e-9)
        let prefill = try XCTUnwrap(r.power.prefill)
        XCTAssertClose(prefill.millijoulesPerToken, 2.5 * (0.25 + 0.12) / 16 * 1000, relative: 1e-9)
        XCTAssertEqual(prefill.coverage, 1, accuracy: 1e-12)
        XCTAssertClose(r.power.idleWatts, 2.5)
        XCTAssertEqual(decode.netMillijoulesPerToken ?? 1, 0, accuracy: 1e-9)
        XCTAssertClose(r.load.joules, 2.5 * 0.4)
        let total = try XCTUnwrap(r.power.total)
        XCTAssertClose(r.power.tokensPerJoule, 8 / total.joules)
        let battery = try XCTUnwrap(r.power.battery)
        XCTAssertClose(battery.percent, total.joules / 2 * 25 / 36000 * 100)
        XCTAssertEqual(battery.capacityFrom, "--battery-wh")
        XCTAssertClose(r.conversations[0].decodeMillijoulesPerToken, 2.5 * 0.41 / 4 * 1000, relative: 1e-9)
    }

    func testLatencyAndSpeedFigures() throws {
        let r = ReportBuilder.build(Self.capture())
        XCTAssertEqual(r.totals.promptTokens, 16)
        XCTAssertEqual(r.totals.generatedTokens, 8)
        XCTAssertClose(r.totals.decodeTokensPerSecond, 6 / 0.6, relative: 1e-9)
        XCTAssertClose(r.totals.prefillTokensPerSecond, 16 / 0.3, relative: 1e-9)
        let itl = try XCTUnwrap(r.totals.interTokenLatency)
        XCTAssertEqual(itl.count, 6)
        XCTAssertEqual(itl.p50Ms, 100, accuracy: 0.1)
        XCTAssertEqual(itl.maxMs, 100, accuracy: 1e-6)
        XCTAssertEqual(r.totals.ttft?.maxMs ?? 0, 250, accuracy: 1e-6)
        XCTAssertEqual(r.totals.ttft?.minMs ?? 0, 120, accuracy: 1e-6)
        XCTAssertEqual(r.conversations.map(\.generatedTokens), [5, 3])
        XCTAssertClose(r.totals.phaseSeconds.wall, 2.33 - 1.0)
        XCTAssertEqual(r.layers.prefill.map(\.attentionSeconds), [0.02, 0.04])
        XCTAssertEqual(r.layers.decode.map(\.feedForwardSeconds), [0.06, 0.08])
    }

    func testThermalFiguresAndThrottleEvents() throws {
        let r = ReportBuilder.build(Self.capture())
        let zone = try XCTUnwrap(r.thermal.zones.first)
        XCTAssertEqual(zone.startC, 50)
        XCTAssertEqual(zone.maxC!, 70, accuracy: 1e-9)
        let core = try XCTUnwrap(r.thermal.cpufreq.first)
        XCTAssertEqual(core.minMhz, 1200)
        XCTAssertEqual(core.maxMhz, 2000)
        XCTAssertEqual(core.limitMhz, 2400)
        let whats = r.thermal.throttleEvents.map(\.what)
        XCTAssertTrue(whats.contains { $0.contains("cpu0 frequency fell to 1200 MHz") }, "\(whats)")
        XCTAssertTrue(whats.contains { $0.contains("state 0 -> 1") }, "\(whats)")
        XCTAssertTrue(whats.contains { $0.contains("rose by 2") }, "\(whats)")
        XCTAssertEqual(r.thermal.throttleCounters, [.init(name: "cpu0 core_throttle_count", delta: 2)])
        XCTAssertEqual(r.thermal.throttleEvents.map(\.timeSeconds), r.thermal.throttleEvents.map(\.timeSeconds).sorted())
    }

    func testNoSourceIsMarkedNotZero() throws {
        let r = ReportBuilder.build(Self.capture(source: nil))
        XCTAssertEqual(r.power.status, "none")
        XCTAssertNil(r.power.averageWatts)
        XCTAssertNil(r.power.decode)
        XCTAssertNil(r.conversations[0].joules)
        XCTAssertNil(r.load.joules)
        XCTAssertTrue(r.power.notes.joined().contains("no power source"))
        let json = String(decoding: try r.encoded(), as: UTF8.self)
        XCTAssertTrue(json.contains("\"status\" : \"none\""), json)
        XCTAssertFalse(json.contains("millijoules_per_token"))
    }

    func testEstimatedSourceAndGapsAreMarked() throws {
        let src = FakeSource(kind: .pi5PMIC, quality: .estimated, scope: "sum of PMIC rails")
        let gap = ReportBuilder.build(Self.capture(source: src, watts: { $0 > 1.3 && $0 < 1.5 ? .nan : 2 }))
        XCTAssertEqual(gap.power.status, "estimated")
        XCTAssertEqual(gap.power.decode?.quality, .estimated)
        XCTAssertLessThan(gap.power.decode!.coverage, 0.999)
        XCTAssertTrue(gap.power.notes.contains { $0.contains("decode had power readings for") }, "\(gap.power.notes)")
        XCTAssertTrue(gap.power.notes.contains { $0.contains("estimate") })
        // The gap is filled at the mean power: still 2 W.
        XCTAssertEqual(gap.power.decode!.averageWatts, 2, accuracy: 1e-9)
    }

    func testReportRoundTripsAndBadFilesAreClearErrors() throws {
        let r = ReportBuilder.build(Self.capture(), createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        let data = try r.encoded()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"decode_tokens_per_second\""))
        XCTAssertTrue(text.contains("\"percent_of_one_core\""))
        XCTAssertEqual(try ProfileReport.decode(data, name: "r"), r)
        XCTAssertThrowsError(try ProfileReport.decode(Data("{".utf8), name: "x.json")) { XCTAssertTrue("\($0)".contains("not JSON")) }
        XCTAssertThrowsError(try ProfileReport.decode(Data("{\"a\":1}".utf8), name: "x.json")) {
            XCTAssertTrue("\($0)".contains("not a gemma-edge profile report"))
        }
        XCTAssertThrowsError(try ProfileReport.decode(Data("{\"schema\":\"gemma-edge-profile/9\"}".utf8), name: "x.json")) {
            XCTAssertTrue("\($0)".contains("gemma-edge-profile/9"))
        }
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object.removeValue(forKey: "totals")
        XCTAssertThrowsError(try ProfileReport.decode(try JSONSerialization.data(withJSONObject: object), name: "x.json")) {
            XCTAssertTrue("\($0)".contains("totals"), "\($0)")
        }
    }

    func testCompareShowsChangesAndCaveats() throws {
        let a = ReportBuilder.build(Self.capture())
        var b = ReportBuilder.build(Self.capture(source: FakeSource(kind: .rapl, scope: "CPU packages only"), watts: { _ in 2.0 }))
        b.model.threads = 4
        let c = ReportComparison(a, b)
        let power = try XCTUnwrap(c.rows.first { $0.name == "average power" })
        XCTAssertEqual(power.changePercent ?? 0, -20, accuracy: 1e-6)
        let text = c.render(nameA: "a.json", nameB: "b.json")
        XCTAssertTrue(text.contains("-20.0 % better"), text)
        XCTAssertTrue(text.contains("threads: A 1, B 4"), text)
        XCTAssertTrue(text.contains("power sources differ"), text)
        let none = ReportComparison(a, ReportBuilder.build(Self.capture(source: nil))).render(nameA: "a", nameB: "n")
        XCTAssertTrue(none.contains("only in A"), none)
    }
}
