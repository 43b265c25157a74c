import Foundation
@testable import Profiler
import XCTest

/// A synthetic kernel tree in a temporary directory, for `--sysfs-root`.
final class SysfsTree {
    let root: String

    init() {
        root = NSTemporaryDirectory() + "/prof-sysfs-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var sysfs: SysfsRoot { SysfsRoot(root) }

    /// Writes `text` (a newline is added) at `path` under the root, replacing it atomically so a
    /// sampler reading at the same moment sees the old or the new value, never half of one.
    func write(_ path: String, _ text: String) {
        let full = root + path
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let tmp = full + ".tmp"
        _ = FileManager.default.createFile(atPath: tmp, contents: Data((text + "\n").utf8))
        _ = rename(tmp, full)
    }

    func remove(_ path: String) { try? FileManager.default.removeItem(atPath: root + path) }

    /// Makes `path` a directory, which opens but cannot be read as a file (EISDIR): an
    /// "unreadable" sensor even for root, who ignores file permissions.
    func makeUnreadable(_ path: String) {
        remove(path)
        try! FileManager.default.createDirectory(atPath: root + path, withIntermediateDirectories: true)
    }

    // MARK: Devices

    /// An INA226 on hwmon`n` reading `microwatts` in power1_input.
    func ina226(_ n: Int = 0, microwatts: Int) {
        write("/sys/class/hwmon/hwmon\(n)/name", "ina226")
        write("/sys/class/hwmon/hwmon\(n)/power1_input", String(microwatts))
        write("/sys/class/hwmon/hwmon\(n)/in1_input", "5000")
        write("/sys/class/hwmon/hwmon\(n)/curr1_input", "500")
    }

    /// A hwmon temperature or other chip that is not a power monitor.
    func otherHwmon(_ n: Int, name: String) {
        write("/sys/class/hwmon/hwmon\(n)/name", name)
        write("/sys/class/hwmon/hwmon\(n)/temp1_input", "45000")
    }

    /// An INA3221 with channels (label or nil, millivolts, milliamps).
    func ina3221(_ n: Int, _ channels: [(String?, Int, Int)]) {
        let p = "/sys/class/hwmon/hwmon\(n)"
        write(p + "/name", "ina3221")
        for (i, c) in channels.enumerated() {
            if let l = c.0 { write(p + "/in\(i + 1)_label", l) }
            write(p + "/in\(i + 1)_input", String(c.1))
            write(p + "/curr\(i + 1)_input", String(c.2))
            write(p + "/in\(i + 4)_input", "123456")  // shunt voltage in uV: never used
        }
    }

    func cpufreq(cpus: Int, khz: Int, maxKHz: Int) {
        for c in 0..<cpus {
            write("/sys/devices/system/cpu/cpu\(c)/cpufreq/scaling_cur_freq", String(khz))
            write("/sys/devices/system/cpu/cpu\(c)/cpufreq/cpuinfo_max_freq", String(maxKHz))
        }
    }

    func thermalZone(_ n: Int, type: String, milliC: Int) {
        write("/sys/class/thermal/thermal_zone\(n)/type", type)
        write("/sys/class/thermal/thermal_zone\(n)/temp", String(milliC))
    }
}

/// Command output captured from a board, fed to the PMIC source instead of running vcgencmd.
struct CannedRunner: CommandRunner {
    var output: String?
    func run(_ arguments: [String]) throws -> String {
        guard let output else { throw ProfilerError.io("\(arguments[0]) is not installed (not found in PATH)") }
        return output
    }
}

/// A runner whose output can change between calls (thread-safe).
final class ScriptedRunner: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var outputs: [String?]
    private var index = 0
    init(_ outputs: [String?]) { self.outputs = outputs }
    func run(_ arguments: [String]) throws -> String {
        lock.lock(); defer { lock.unlock() }
        let o = outputs[min(index, outputs.count - 1)]
        index += 1
        guard let o else { throw ProfilerError.io("vcgencmd exited with status 1") }
        return o
    }
}

func XCTAssertClose(_ a: Double?, _ b: Double, relative: Double = 1e-9, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let a else { return XCTFail("nil, expected \(b) \(message)", file: file, line: line) }
    XCTAssertLessThanOrEqual(abs(a - b), relative * max(abs(b), 1e-12), "\(a) vs \(b) \(message)", file: file, line: line)
}
