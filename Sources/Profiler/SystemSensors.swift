import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What one sampled column holds.
public struct SensorColumn: Sendable, Codable, Equatable {
    public enum Group: String, Sendable, Codable { case cpufreq, temperature, cooling, throttle }
    public var group: Group
    /// e.g. "cpu3", "cpu-thermal", "k10temp/Tctl", "cooling0 cpufreq-cpu0", "core_throttle_count".
    public var name: String
    /// "MHz", "C", "state", "count" or "flags".
    public var unit: String
    /// For cpufreq: the core's highest frequency in MHz (`cpuinfo_max_freq`); for cooling: max_state.
    public var limit: Double?
}

/// Every non-power sensor the sampler reads each tick: CPU frequency per core (cpufreq
/// `scaling_cur_freq`, kHz), temperatures (thermal zones and CPU hwmon chips, millidegrees),
/// cooling device states, throttle counters, and the process's resident memory.
public final class SystemSensors: @unchecked Sendable {
    public let root: SysfsRoot
    public let columns: [SensorColumn]
    /// One health record per column, same order.
    public let health: [SensorHealth]
    /// What was looked for and not found, in words.
    public let missing: [String]
    private let files: [SysfsFile]
    private let kinds: [Kind]
    private let statm = SysfsFile(fullPath: "/proc/self/statm")
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    enum Kind { case kHz, milliC, plain, hex }

    /// hwmon chips whose temperatures are the CPU's (read when present, beside thermal zones).
    public static let cpuTemperatureChips: Set<String> = ["coretemp", "k10temp", "zenpower", "cpu_thermal", "soc_thermal"]

    public init(root: SysfsRoot) {
        self.root = root
        var columns: [SensorColumn] = [], files: [SysfsFile] = [], kinds: [Kind] = [], missing: [String] = []
        func add(_ c: SensorColumn, _ path: String, _ k: Kind) {
            columns.append(c)
            files.append(SysfsFile(fullPath: root.path(path)))
            kinds.append(k)
        }
        func int(_ path: String) -> Int64? {
            guard let t = root.text(path), case .success(let v) = SysfsFile.parseInteger(t) else { return nil }
            return v
        }

        let cpuBase = "/sys/devices/system/cpu"
        let cpus = root.list(cpuBase).filter { $0.hasPrefix("cpu") && Int($0.dropFirst(3)) != nil }
        var anyFreq = false
        for cpu in cpus where root.exists("\(cpuBase)/\(cpu)/cpufreq/scaling_cur_freq") {
            let maxKHz = int("\(cpuBase)/\(cpu)/cpufreq/cpuinfo_max_freq")
            add(SensorColumn(group: .cpufreq, name: cpu, unit: "MHz", limit: maxKHz.map { Double($0) / 1000 }),
                "\(cpuBase)/\(cpu)/cpufreq/scaling_cur_freq", .kHz)
            anyFreq = true
        }
        if !anyFreq { missing.append("CPU frequency: no \(cpuBase)/cpu*/cpufreq/scaling_cur_freq") }

        let thermal = "/sys/class/thermal"
        var anyTemp = false
        for zone in root.list(thermal) where zone.hasPrefix("thermal_zone") {
            let p = thermal + "/" + zone
            guard root.exists(p + "/temp") else { continue }
            let type = root.text(p + "/type") ?? zone
            add(SensorColumn(group: .temperature, name: type, unit: "C", limit: nil), p + "/temp", .milliC)
            anyTemp = true
        }
        for d in HwmonDevice.all(root: root) where Self.cpuTemperatureChips.contains(d.name) {
            for f in root.list(d.path) where f.hasPrefix("temp") && f.hasSuffix("_input") {
                let label = root.text(d.path + "/" + f.replacingOccurrences(of: "_input", with: "_label"))
                    ?? String(f.dropLast("_input".count))
                add(SensorColumn(group: .temperature, name: d.name + "/" + label, unit: "C", limit: nil), d.path + "/" + f, .milliC)
                anyTemp = true
            }
        }
        if !anyTemp { missing.append("temperature: no \(thermal)/thermal_zone* and no CPU hwmon chip") }

        for dev in root.list(thermal) where dev.hasPrefix("cooling_device") {
            let p = thermal + "/" + dev
            guard root.exists(p + "/cur_state") else { continue }
            let type = root.text(p + "/type") ?? "unknown"
            add(SensorColumn(group: .cooling, name: "\(dev) \(type)", unit: "state", limit: int(p + "/max_state").map(Double.init)),
                p + "/cur_state", .plain)
        }

        var anyThrottle = false
        for cpu in cpus {
            let p = "\(cpuBase)/\(cpu)/thermal_throttle/core_throttle_count"
            if root.exists(p) {
                add(SensorColumn(group: .throttle, name: "\(cpu) core_throttle_count", unit: "count", limit: nil), p, .plain)
                anyThrottle = true
            }
        }
        if let first = cpus.first, root.exists("\(cpuBase)/\(first)/thermal_throttle/package_throttle_count") {
            add(SensorColumn(group: .throttle, name: "package_throttle_count", unit: "count", limit: nil),
                "\(cpuBase)/\(first)/thermal_throttle/package_throttle_count", .plain)
            anyThrottle = true
        }
        let pi = "/sys/devices/platform/soc/soc:firmware/get_throttled"
        if root.exists(pi) {
            add(SensorColumn(group: .throttle, name: "get_throttled", unit: "flags", limit: nil), pi, .hex)
            anyThrottle = true
        }
        if !anyThrottle { missing.append("throttle counters: no thermal_throttle counts or Raspberry Pi get_throttled") }

        self.columns = columns
        self.files = files
        self.kinds = kinds
        self.missing = missing
        health = columns.map { SensorHealth(label: "\($0.group.rawValue) \($0.name)") }
    }

    /// Reads every column into `row` (NaN where a read failed). Allocates nothing.
    public func read(into row: UnsafeMutablePointer<Double>, at time: Double) {
        for i in 0..<files.count {
            let kind = kinds[i]
            let r = kind == .hex ? files[i].readHex() : files[i].readInteger()
            switch r {
            case .failure(let f):
                health[i].note(f, at: time)
                row[i] = .nan
            case .success(let v):
                let value: Double
                switch kind {
                case .kHz: value = Double(v) / 1000
                case .milliC: value = Double(v) / 1000
                case .plain, .hex: value = Double(v)
                }
                // Out-of-range values are misreads (some drivers print -274000 for "no reading").
                let sane: Bool
                switch kind {
                case .kHz: sane = value > 0 && value < 100_000
                case .milliC: sane = value > -60 && value < 200
                case .plain, .hex: sane = value >= 0
                }
                health[i].note(sane ? nil : .garbage, at: time)
                row[i] = sane ? value : .nan
            }
        }
    }

    /// The process's resident set in bytes now (`/proc/self/statm`), or NaN.
    public func residentBytes() -> Double {
        if case .success(let pages) = statm.readInteger(field: 1) { return Double(pages) * pageSize }
        return .nan
    }

    /// Peak resident set of this process in bytes (`VmHWM` in `/proc/self/status`), or nil.
    public static func peakResidentBytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return peakResidentBytes(status: text)
    }

    /// The `VmHWM` line of a `/proc/<pid>/status` text in bytes, or nil when there is none or its
    /// number is negative or too large for a finite count of bytes.
    public static func peakResidentBytes(status text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            // A number too large to be a size in bytes ("1e308") is as wrong as one that is not a number.
            if parts.count >= 2, let kb = Double(parts[1]), kb >= 0, (kb * 1024).isFinite { return kb * 1024 }
        }
        return nil
    }
}
