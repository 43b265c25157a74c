import FuzzTargets
import Profiler
import XCTest

/// The sensor fuzz target's committed inputs replayed through the fuzzers' own entry point, and
/// the parsers' fixes for what it found.
final class SensorFuzzRegressionTests: XCTestCase {
    func testCommittedFuzzInputs() throws {
        let accepted = try FuzzTarget.sensors.replayCommittedInputs()
        XCTAssertEqual(accepted["microwatts.txt"], true)
        XCTAssertEqual(accepted["pmic.txt"], true)
        XCTAssertEqual(accepted["regressions/vmhwm-overflows-to-infinity"], false)
    }

    /// Found by the fuzzer: "VmHWM: 1e308" became an infinite peak in the report.
    func testPeakResidentSizeRefusesNumbersThatOverflow() {
        XCTAssertNil(SystemSensors.peakResidentBytes(status: "VmHWM: 1e308"))
        XCTAssertNil(SystemSensors.peakResidentBytes(status: "VmHWM: -5 kB"))
        XCTAssertEqual(SystemSensors.peakResidentBytes(status: "Name:\tx\nVmHWM:\t   65432 kB\n"), 65432 * 1024)
    }

    func testRAPLTotalsRefuseImpossibleReadingsAndOverflow() {
        XCTAssertEqual(RaplPower.advance(total: 0, last: nil, raw: 5, range: 10), 0)
        XCTAssertEqual(RaplPower.advance(total: 0, last: 8, raw: 3, range: 10), 5)
        XCTAssertNil(RaplPower.advance(total: 0, last: 8, raw: 11, range: 10))
        XCTAssertNil(RaplPower.advance(total: 0, last: nil, raw: -1, range: 10))
        XCTAssertNil(RaplPower.advance(total: .max - 1, last: 0, raw: .max, range: .max))
    }

    func testFieldsParseFromBytes() {
        var statm = Array("123456 7890 1234\n".utf8)
        statm.withUnsafeMutableBufferPointer { b in
            let bytes = UnsafeBufferPointer(b)
            XCTAssertEqual(try? SysfsFile.parseInteger(bytes, field: 1).get(), 7890)
            XCTAssertEqual(try? SysfsFile.parseInteger(bytes, field: 3).get(), nil)
        }
    }
}
