import Foundation
@testable import Profiler
import XCTest

/// Energy integration, meter logs, battery share and latency percentiles.
final class EnergyTests: XCTestCase {
    func testConstantPowerIntegratesExactly() {
        let t = stride(from: 0.0, through: 10, by: 0.1).map { $0 }
        let s = PowerSeries(times: t, watts: t.map { _ in 2.5 })
        let w = s.energy(from: 1.234, to: 5.678)
        XCTAssertClose(w.knownJoules, 2.5 * 4.444, relative: 1e-12)
        XCTAssertEqual(w.coverage, 1, accuracy: 1e-12)
        XCTAssertClose(w.meanWatts, 2.5)
        // A window reaching past the last sample is partly covered, and filled at its mean.
        let late = s.energy(from: 9, to: 11)
        XCTAssertEqual(late.coverage, 0.5, accuracy: 1e-9)
        XCTAssertClose(late.joules, 5, relative: 1e-9)
        XCTAssertNil(s.energy(from: 20, to: 21).joules)
    }

    func testTrapezoidOnARamp() {
        // P(t) = t: the energy from 0 to 4 is 8 J exactly with linear segments.
        let t = [0.0, 1, 2, 3, 4]
        let s = PowerSeries(times: t, watts: t)
        XCTAssertClose(s.energy(from: 0, to: 4).knownJoules, 8)
    }

    func testCounterSourceUsesCounterDifferences() {
        // Watts are NaN (a counter source's first reading); joules decide.
        let s = PowerSeries(times: [0, 1, 2, 3], watts: [.nan, 5, 5, 5], joules: [100, 105, 110, 116])
        XCTAssertClose(s.energy(from: 0, to: 3).knownJoules, 16)
        XCTAssertClose(s.energy(from: 0.5, to: 1.5).knownJoules, 5)
        XCTAssertClose(s.energy(from: 2.5, to: 3).knownJoules, 3)
    }

    func testGapsReduceCoverageAndAreFilledAtTheMean() {
        let s = PowerSeries(times: [0, 1, 2, 3, 4], watts: [2, 2, .nan, 2, 2])
        let w = s.energy(from: 0, to: 4)
        XCTAssertClose(w.knownJoules, 4)
        XCTAssertEqual(w.coverage, 0.5, accuracy: 1e-12)
        XCTAssertClose(w.joules, 8)
    }

    func testBatteryShareMatchesTheDefinition() {
        // 25 conversations of 19.44 J each from an 18 Wh battery: 486 J of 64800 J = 0.75 %.
        XCTAssertClose(BatteryShare.percent(joulesPerConversation: 19.44, conversations: 25, capacityWh: 18), 0.75, relative: 1e-12)
    }

    func testMeterLogParsesHeadersISOAndReportsBadLines() {
        let text = """
            timestamp,watts
            # comment
            1700000000.0,2.5
            1700000000.5;2.7
            2023-11-14T22:13:21Z\t2.9
            2023-11-14T22:13:21.500Z,3.1
            not a line
            1700000003,abc
            1700000004,-1

            1700000002.5,3.3
            """
        let log = MeterLog.parse(text)
        XCTAssertEqual(log.times.count, 5)
        XCTAssertEqual(log.watts, [2.5, 2.7, 2.9, 3.1, 3.3])
        XCTAssertEqual(log.times[2], 1_700_000_001)
        XCTAssertEqual(log.times[3], 1_700_000_001.5)
        XCTAssertEqual(log.badCount, 3)
        XCTAssertEqual(log.badLines, [7, 8, 9])
        XCTAssertFalse(log.relative)
        XCTAssertFalse(log.wasUnsorted)
        XCTAssertTrue(log.notes.joined().contains("lines 7, 8, 9"), "\(log.notes)")
        // Mapped to the run clock: Unix 1700000000 is run time 0 when the run started then.
        let s = log.series(epoch: 1_700_000_000)
        XCTAssertEqual(s.times, [0, 0.5, 1, 1.5, 2.5])
        XCTAssertClose(s.watts(near: 0.25, tolerance: 1), 2.6)
        XCTAssertTrue(s.watts(near: 50, tolerance: 1).isNaN)
    }

    func testMeterLogSortsAndTakesSmallTimestampsAsRelative() throws {
        let log = MeterLog.parse("2,1\n0,1\n1,1\n")
        XCTAssertTrue(log.wasUnsorted)
        XCTAssertTrue(log.relative)
        XCTAssertEqual(log.series(epoch: 1_700_000_000).times, [0, 1, 2])
        let dir = NSTemporaryDirectory() + "/meter-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/bad.csv", contents: Data("x,y\nfoo,bar\n".utf8))
        XCTAssertThrowsError(try MeterLog.load(path: dir + "/bad.csv")) { XCTAssertTrue("\($0)".contains("no timestamp,watts lines")) }
        XCTAssertThrowsError(try MeterLog.load(path: dir + "/missing.csv")) { XCTAssertTrue("\($0)".contains("cannot read")) }
    }

    func testHistogramPercentilesAgreeWithExactOnes() {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = []
        var l = LatencyRecorder()
        for _ in 0..<5000 {
            // A body around 40 ms and a tail up to 400 ms.
            let v = Double.random(in: 0.030...0.050, using: &rng) + (Double.random(in: 0...1, using: &rng) < 0.02 ? 0.35 : 0)
            values.append(v)
            l.record(seconds: v)
        }
        let s = l.summary!
        for (q, got) in [(50.0, s.p50Ms), (90, s.p90Ms), (99, s.p99Ms)] {
            let exact = LatencyRecorder.exactPercentile(values, q) * 1000
            XCTAssertLessThanOrEqual(abs(got - exact) / exact, 0.002, "p\(q): \(got) vs \(exact)")
        }
        XCTAssertEqual(s.maxMs, values.max()! * 1000, accuracy: 1e-9)
        XCTAssertEqual(s.meanMs, values.reduce(0, +) / 5000 * 1000, accuracy: 1e-9)
        XCTAssertEqual(s.count, 5000)
    }

    func testLatencyRecorderEdges() {
        var l = LatencyRecorder()
        XCTAssertNil(l.summary)
        l.record(seconds: -1)
        l.record(seconds: .nan)
        l.record(seconds: 1e9)
        XCTAssertEqual(l.rejected, 3)
        l.record(seconds: 0.010)
        var m = LatencyRecorder()
        m.record(seconds: 0.030)
        l.add(m)
        XCTAssertEqual(l.summary?.count, 2)
        XCTAssertEqual(l.summary!.p50Ms, 10, accuracy: 0.01)
        XCTAssertEqual(l.summary!.maxMs, 30, accuracy: 1e-9)
        XCTAssertEqual(LatencyRecorder.exactPercentile([1, 2, 3, 4], 50), 2)
        XCTAssertEqual(LatencyRecorder.exactPercentile([1, 2, 3, 4], 100), 4)
    }
}
