import Foundation
@testable import Profiler
import XCTest

/// Integer parsing, system sensors and the sampler thread.
final class SensorTests: XCTestCase {
    func testParseIntegerAcceptsOnlyWhatSysfsPrints() {
        func ok(_ s: String, hex: Bool = false) -> Int64? {
            if case .success(let v) = SysfsFile.parseInteger(s, hex: hex) { return v }
            return nil
        }
        XCTAssertEqual(ok("2500000\n"), 2_500_000)
        XCTAssertEqual(ok("  -512000 \n"), -512_000)
        XCTAssertEqual(ok("+7"), 7)
        XCTAssertEqual(ok("0x50005", hex: true), 0x50005)
        XCTAssertEqual(ok("50000\n", hex: true), 0x50000)
        for bad in ["", "\n", "N/A", "1.5", "12abc", "abc", "- 5", "9223372036854775808", "0x"] {
            XCTAssertNil(ok(bad), "'\(bad)'")
        }
        XCTAssertNil(ok("0xZZ", hex: true))
    }

    func testFileFaultsAndFields() {
        let t = SysfsTree()
        t.write("/a", "12")
        t.write("/statm", "1000 250 30 4 0 50 0")
        t.makeUnreadable("/dir")
        XCTAssertEqual(try SysfsFile(fullPath: t.root + "/a").readInteger().get(), 12)
        XCTAssertEqual(try SysfsFile(fullPath: t.root + "/statm").readInteger(field: 1).get(), 250)
        XCTAssertThrowsError(try SysfsFile(fullPath: t.root + "/statm").readInteger(field: 9).get())
        XCTAssertThrowsError(try SysfsFile(fullPath: t.root + "/nope").readInteger().get()) { XCTAssertEqual($0 as? SensorFault, .missing) }
        XCTAssertThrowsError(try SysfsFile(fullPath: t.root + "/dir").readInteger().get()) { XCTAssertEqual($0 as? SensorFault, .unreadable) }
        t.write("/long", String(repeating: "1", count: 400))
        XCTAssertThrowsError(try SysfsFile(fullPath: t.root + "/long").readInteger().get()) { XCTAssertEqual($0 as? SensorFault, .garbage) }
    }

    func testSystemSensorsReadUnitsAndRejectGarbage() {
        let t = SysfsTree()
        t.cpufreq(cpus: 2, khz: 1_800_000, maxKHz: 2_400_000)
        t.thermalZone(0, type: "cpu-thermal", milliC: 61_250)
        t.thermalZone(1, type: "broken", milliC: -274_000)
        t.otherHwmon(0, name: "k10temp")
        t.write("/sys/class/thermal/cooling_device0/type", "cpufreq-cpu0")
        t.write("/sys/class/thermal/cooling_device0/cur_state", "2")
        t.write("/sys/class/thermal/cooling_device0/max_state", "9")
        t.write("/sys/devices/platform/soc/soc:firmware/get_throttled", "0x50005")
        let s = SystemSensors(root: t.sysfs)
        XCTAssertEqual(s.columns.map(\.name), ["cpu0", "cpu1", "cpu-thermal", "broken", "k10temp/temp1",
                                               "cooling_device0 cpufreq-cpu0", "get_throttled"])
        XCTAssertEqual(s.columns[0].limit, 2400)
        XCTAssertEqual(s.columns[5].limit, 9)
        var row = [Double](repeating: 0, count: s.columns.count)
        row.withUnsafeMutableBufferPointer { s.read(into: $0.baseAddress!, at: 1) }
        XCTAssertEqual(row[0], 1800)
        XCTAssertEqual(row[2], 61.25)
        XCTAssertTrue(row[3].isNaN)   // -274 C is a driver's "no reading"
        XCTAssertEqual(row[4], 45)
        XCTAssertEqual(row[5], 2)
        XCTAssertEqual(row[6], Double(0x50005))
        XCTAssertTrue(s.health[3].summary!.contains("garbage"))
        XCTAssertEqual(s.missing.count, 0)
        XCTAssertGreaterThan(s.residentBytes(), 1_000_000)
        XCTAssertGreaterThan(SystemSensors.peakResidentBytes() ?? 0, 1_000_000)

        let empty = SystemSensors(root: SysfsTree().sysfs)
        XCTAssertTrue(empty.columns.isEmpty)
        XCTAssertEqual(empty.missing.count, 3)
    }

    func testRingKeepsTheNewestRowsAndCountsTheRest() {
        let ring = SampleRing(width: 2, capacity: 3)
        for i in 0..<5 {
            let r = ring.nextRow()
            r[0] = Double(i); r[1] = Double(i * 10)
            ring.commit()
        }
        XCTAssertEqual(ring.rows(), [[2, 20], [3, 30], [4, 40]])
        XCTAssertEqual(ring.overwritten, 2)
    }

    func testSamplerTicksAtItsRateTakesMarksAndMeasuresItself() throws {
        let t = SysfsTree()
        t.ina226(0, microwatts: 2_500_000)
        t.cpufreq(cpus: 1, khz: 1_000_000, maxKHz: 1_000_000)
        let source = try XCTUnwrap(PowerDetector(root: t.sysfs, runner: CannedRunner(output: nil)).probe(.hwmon).0)
        let sampler = SensorSampler(hz: 100, clock: RunClock(), power: source, sensors: SystemSensors(root: t.sysfs))
        try sampler.start()
        usleep(150_000)
        sampler.mark()
        usleep(150_000)
        t.remove("/sys/class/hwmon/hwmon0/power1_input")  // the sensor goes away mid-run
        usleep(100_000)
        sampler.stop()
        let rows = sampler.ring.rows()
        // 0.4 s at 100 Hz is about 40 ticks plus the mark and the final sample; allow for a busy machine.
        XCTAssertGreaterThan(rows.count, 15)
        XCTAssertLessThan(rows.count, 60)
        XCTAssertGreaterThanOrEqual(rows.filter { $0[1] == 1 }.count, 2)  // the mark and the last sample
        let times = rows.map { $0[0] }
        XCTAssertEqual(times, times.sorted())
        XCTAssertTrue(rows.first![2] == 2.5)
        XCTAssertTrue(rows.last![2].isNaN)
        XCTAssertTrue(rows.allSatisfy { $0[5] > 0 && $0[5] < 0.1 })   // each sample's own cost
        XCTAssertTrue(rows.allSatisfy { $0[6] == 1000 })
        XCTAssertGreaterThan(sampler.cpuSeconds, 0)
        XCTAssertLessThan(sampler.cpuSeconds, sampler.stoppedAt - sampler.startedAt)
        XCTAssertTrue(source.health.summary?.contains("missing") ?? false)
        XCTAssertEqual(sampler.columnNames, ["t_s", "mark", "power_w", "energy_j", "rss_bytes", "sample_cost_s", "cpu0_mhz"])
    }
}
