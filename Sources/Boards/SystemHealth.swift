import Foundation

/// One cpufreq policy (a cluster of cores sharing a clock).
public struct FrequencyPolicy: Codable, Sendable, Equatable {
    /// The CPUs the policy covers ("4-5").
    public var cpus: String
    /// `scaling_governor`.
    public var governor: String?
    /// `scaling_driver` ("cpufreq-dt", "intel_pstate", ...).
    public var driver: String?
    /// `scaling_cur_freq` and `cpuinfo_max_freq`, kHz.
    public var currentKhz: Int?
    public var maxKhz: Int?
}

/// One thermal zone's reading.
public struct TemperatureReading: Codable, Sendable, Equatable {
    /// The sysfs directory name ("thermal_zone1").
    public var zone: String
    /// Its `type` ("bigcore0-thermal").
    public var type: String
    /// `temp` / 1000.
    public var celsius: Double
    /// True when the board profile names this zone.
    public var watched: Bool
}

/// The Raspberry Pi firmware's throttling word (`get_throttled`), decoded.
public struct ThrottleState: Codable, Sendable, Equatable {
    /// The file read and its text ("0x50005").
    public var file: String
    public var raw: String
    /// Conditions active now.
    public var now: [String]
    /// Conditions seen since boot.
    public var sinceBoot: [String]
}

/// Clocks, temperatures, throttling and power sensors of a root: what `doctor` shows so a
/// slow run can be told apart from a hot or power-starved board.
public struct SystemHealth: Codable, Sendable, Equatable {
    /// cpufreq policies (one per cluster); empty without cpufreq.
    public var policies: [FrequencyPolicy]
    /// Every thermal zone with a readable temperature.
    public var temperatures: [TemperatureReading]
    /// The firmware throttling word, when the profile names a file that exists.
    public var throttled: ThrottleState?
    /// hwmon devices found whose `name` the profile lists ("ina3221 at hwmon2").
    public var powerSensors: [String]
    /// Files that were present but held garbage.
    public var notes: [String]

    /// Reads everything under `root`; `profile` says which zones, sensors and files matter.
    public init(root: SystemRoot, profile: BoardProfile?) {
        var notes: [String] = []
        // cpufreq policies, or per-CPU cpufreq directories on kernels without policy links.
        var policies: [FrequencyPolicy] = []
        let policyDirs = root.numberedEntries("/sys/devices/system/cpu/cpufreq", prefix: "policy")
            .map { "/sys/devices/system/cpu/cpufreq/" + $0.name }
        let dirs = !policyDirs.isEmpty ? policyDirs
            : root.numberedEntries("/sys/devices/system/cpu", prefix: "cpu").map { "/sys/devices/system/cpu/\($0.name)/cpufreq" }
        for d in dirs where root.exists(d + "/scaling_governor") {
            func int(_ f: String) -> Int? {
                guard root.exists(d + "/" + f) else { return nil }
                do { return try root.integer(d + "/" + f) } catch { notes.append("\(error)"); return nil }
            }
            let gov = root.readIfPresent(d + "/scaling_governor")?.trimmingCharacters(in: .whitespacesAndNewlines)
            let driver = root.readIfPresent(d + "/scaling_driver")?.trimmingCharacters(in: .whitespacesAndNewlines)
            let cpus = (root.readIfPresent(d + "/related_cpus") ?? root.readIfPresent(d + "/affected_cpus"))
                .map { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: ",") }
            let label = cpus.flatMap { try? CPUList.parse($0) }.map(CPUList.format)
                ?? String(d.split(separator: "/").dropLast(d.hasSuffix("cpufreq") ? 1 : 0).last ?? "")
            policies.append(FrequencyPolicy(cpus: label, governor: gov, driver: driver, currentKhz: int("scaling_cur_freq"), maxKhz: int("cpuinfo_max_freq")))
        }
        self.policies = policies

        // Thermal zones.
        let watched = Set(profile?.thermal.zones ?? [])
        var temps: [TemperatureReading] = []
        for z in root.numberedEntries("/sys/class/thermal", prefix: "thermal_zone") {
            let base = "/sys/class/thermal/" + z.name
            guard let type = root.readIfPresent(base + "/type")?.trimmingCharacters(in: .whitespacesAndNewlines),
                  root.exists(base + "/temp") else { continue }
            do {
                let milli = try root.integer(base + "/temp")
                guard milli > -60_000 && milli < 200_000 else {
                    notes.append("\(root.resolve(base + "/temp")) reads \(milli) m°C, outside -60...200 °C: ignored")
                    continue
                }
                temps.append(TemperatureReading(zone: z.name, type: type, celsius: Double(milli) / 1000, watched: watched.contains(type)))
            } catch {
                notes.append("\(error)")
            }
        }
        temperatures = temps

        // Raspberry Pi firmware throttling word.
        throttled = nil
        for f in profile?.power.throttledFiles ?? [] where root.exists(f) {
            guard let text = root.readIfPresent(f)?.trimmingCharacters(in: .whitespacesAndNewlines) else { continue }
            let digits = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
            guard let word = UInt32(digits, radix: 16) else {
                notes.append("\(root.resolve(f)) holds \(SystemRoot.quote(text)), not a hex word")
                continue
            }
            throttled = Self.decodeThrottled(word, file: root.resolve(f), raw: text)
            break
        }

        // Power sensors by hwmon name.
        let wanted = Set(profile?.power.hwmonNames ?? [])
        powerSensors = root.numberedEntries("/sys/class/hwmon", prefix: "hwmon").compactMap { h in
            guard let n = root.readIfPresent("/sys/class/hwmon/\(h.name)/name")?.trimmingCharacters(in: .whitespacesAndNewlines),
                  wanted.contains(n) else { return nil }
            return "\(n) at \(h.name)"
        }
        self.notes = notes
    }

    /// Bits 0-3 are conditions now, 16-19 the same conditions since boot.
    static func decodeThrottled(_ w: UInt32, file: String, raw: String) -> ThrottleState {
        let names = ["under-voltage", "frequency capped", "throttled", "soft temperature limit"]
        let now = names.indices.filter { w & (1 << UInt32($0)) != 0 }.map { names[$0] }
        let past = names.indices.filter { w & (1 << UInt32($0 + 16)) != 0 }.map { names[$0] }
        return ThrottleState(file: file, raw: raw, now: now, sinceBoot: past)
    }

    /// The hottest reading among the profile's zones (or among all zones when none is named).
    public var hottestWatched: TemperatureReading? {
        let w = temperatures.filter(\.watched)
        return (w.isEmpty ? temperatures : w).max { $0.celsius < $1.celsius }
    }

    /// Advice about clocks and heat for a board with `profile`.
    public func advice(profile: BoardProfile?) -> [String] {
        var out: [String] = []
        // intel_pstate and amd-pstate-epp in active mode scale clocks themselves under "powersave".
        let slow = Set(policies.filter { !($0.driver ?? "").hasPrefix("intel_pstate") && $0.driver != "amd-pstate-epp" }
            .compactMap(\.governor)).intersection(["powersave", "conservative", "userspace"])
        if !slow.isEmpty {
            out.append("the CPU frequency governor is \(slow.sorted().joined(separator: "/")): decode runs at low clocks; "
                + "use performance or schedutil (for example: echo performance | sudo tee /sys/devices/system/cpu/cpufreq/policy*/scaling_governor)")
        }
        if let t = hottestWatched, let limit = profile?.thermal.throttleCelsius, t.celsius >= limit - 5 {
            out.append(String(format: "%@ is at %.1f °C, within 5 °C of the %.0f °C throttling point: add a heatsink and fan "
                + "or expect clocks to drop during long generations", t.type, t.celsius, limit))
        }
        if let th = throttled {
            if th.now.contains("under-voltage") || th.sinceBoot.contains("under-voltage") {
                out.append("the firmware reports under-voltage (\(th.raw)): use the power supply the board asks for (\(profile?.power.source ?? "see the board's documentation"))")
            }
            if !th.now.filter({ $0 != "under-voltage" }).isEmpty {
                out.append("the firmware is throttling now (\(th.now.joined(separator: ", "))): speeds measured now are not representative")
            }
        }
        return out
    }
}
