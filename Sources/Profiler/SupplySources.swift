import Foundation

/// A battery under `/sys/class/power_supply` (type "Battery", not a peripheral's): `power_now`
/// uW, or `voltage_now` uV x `current_now` uA (negative while discharging on some drivers, so
/// the sign is dropped). While the battery is charging its figure is the charger's, not the
/// system's draw, so `auto` only takes a discharging battery.
public final class BatteryPower: PowerSource {
    public let kind = PowerSourceKind.battery
    public let device: String
    public let scope = "battery output (the whole system while discharging)"
    public let quality = PowerQuality.measured
    public let notes: [String]
    public let health: SensorHealth
    /// The battery's full energy in watt-hours when the driver says (`energy_full` uWh, or
    /// `charge_full` uAh x `voltage_min_design` uV).
    public let capacityWh: Double?
    /// `status` when the source was found.
    public let statusAtStart: String
    let rail: Rail
    let root: SysfsRoot
    let path: String

    init(root: SysfsRoot, path: String, name: String, rail: Rail, status: String, capacityWh: Double?, notes: [String]) {
        self.root = root
        self.path = path
        self.rail = rail
        self.statusAtStart = status
        self.capacityWh = capacityWh
        self.notes = notes
        device = "\(name) at \(path)"
        health = SensorHealth(label: "battery \(name)")
    }

    public func read(at time: Double) -> PowerReading {
        switch rail.watts() {
        case .success(let w):
            health.note(nil, at: time)
            return PowerReading(watts: w)
        case .failure(let f):
            health.note(f, at: time)
            return .unavailable
        }
    }

    /// The status now (read again after the run to see whether it changed).
    public func status() -> String { root.text(path + "/status") ?? "unknown" }

    static func find(root: SysfsRoot, requireDischarging: Bool) -> Result<PowerSource, ProbeMiss> {
        let base = "/sys/class/power_supply"
        var reasons: [String] = []
        for name in root.list(base) {
            let p = base + "/" + name
            guard root.text(p + "/type") == "Battery" else { continue }
            if root.text(p + "/scope") == "Device" { continue }  // a mouse or headset battery
            let status = root.text(p + "/status") ?? "unknown"
            let rail: Rail
            var notes: [String] = []
            if root.exists(p + "/power_now") {
                rail = Rail(label: name, power: root.path(p + "/power_now"), scale: 1e-6)
                notes.append("power_now (uW)")
            } else if root.exists(p + "/voltage_now"), root.exists(p + "/current_now") {
                rail = Rail(label: name, volts: root.path(p + "/voltage_now"), voltScale: 1e-6,
                            amps: root.path(p + "/current_now"), ampScale: 1e-6)
                notes.append("voltage_now (uV) x |current_now| (uA)")
            } else {
                reasons.append("\(name) has neither power_now nor voltage_now+current_now")
                continue
            }
            if case .failure(let f) = rail.watts() {
                reasons.append("\(name): reading it failed (\(f.rawValue))")
                continue
            }
            if requireDischarging, status != "Discharging" {
                reasons.append("\(name) is \(status): its figure is the charger's, not the system's draw (unplug, or pass --power battery)")
                continue
            }
            if status != "Discharging" { notes.append("status was \(status), not Discharging: the figure may not be the system's draw") }
            return .success(BatteryPower(root: root, path: p, name: name, rail: rail, status: status,
                                         capacityWh: capacity(root: root, path: p), notes: notes))
        }
        if reasons.isEmpty { return .failure(ProbeMiss("no system battery under \(root.path(base))")) }
        return .failure(ProbeMiss(reasons.joined(separator: "; ")))
    }

    static func capacity(root: SysfsRoot, path p: String) -> Double? {
        func int(_ f: String) -> Int64? {
            guard let t = root.text(p + "/" + f), case .success(let v) = SysfsFile.parseInteger(t), v > 0 else { return nil }
            return v
        }
        if let e = int("energy_full") { return Double(e) * 1e-6 }
        if let q = int("charge_full"), let v = int("voltage_min_design") { return Double(q) * 1e-6 * Double(v) * 1e-6 }
        return nil
    }
}

/// Intel RAPL through powercap (also AMD Zen on recent kernels): `energy_uj` counters that wrap
/// at `max_energy_range_uj`. Uses `psys` (the whole platform) when present, otherwise every
/// package plus any DRAM sub-zones. It covers the processor, not the board: the report says so.
public final class RaplPower: PowerSource {
    public let kind = PowerSourceKind.rapl
    public let device: String
    public let scope: String
    public let quality = PowerQuality.measured
    public let notes: [String]
    public let health: SensorHealth

    /// One counter with its wrap range and the unwrapped total so far.
    final class Zone {
        let name: String
        let file: SysfsFile
        let range: Int64
        var last: Int64?
        var total: Int64 = 0
        init(name: String, file: SysfsFile, range: Int64) {
            self.name = name
            self.file = file
            self.range = range
        }
    }

    let zones: [Zone]
    private var lastJoules = Double.nan
    private var lastTime = Double.nan

    init(zones: [Zone], device: String, scope: String, notes: [String]) {
        self.zones = zones
        self.device = device
        self.scope = scope
        self.notes = notes
        health = SensorHealth(label: "rapl")
    }

    /// Advances a counter to `raw`: a negative step means it wrapped once, so the range is added.
    static func unwrap(last: Int64, raw: Int64, range: Int64) -> Int64 {
        let d = raw - last
        return d >= 0 ? d : d + range
    }

    /// The running total after the counter reads `raw` (microjoules), given the total so far, the
    /// previous reading (nil for the first) and the wrap range; nil when the reading cannot be a
    /// counter value (negative, above a positive range) or the total would overflow.
    public static func advance(total: Int64, last: Int64?, raw: Int64, range: Int64) -> Int64? {
        guard raw >= 0, range <= 0 || raw <= range else { return nil }
        guard let last else { return total }
        guard last >= 0, range <= 0 || last <= range else { return nil }
        // Both readings lie in 0...range (or are non-negative without a range), so the step and
        // the wrap cannot overflow; only the sum can.
        guard raw >= last || range > 0 else { return nil }
        let (sum, overflow) = total.addingReportingOverflow(unwrap(last: last, raw: raw, range: range))
        return overflow ? nil : sum
    }

    public func read(at time: Double) -> PowerReading {
        for z in zones {
            switch z.file.readInteger() {
            case .failure(let f):
                health.note(f, at: time)
                return .unavailable
            case .success(let raw):
                guard let total = Self.advance(total: z.total, last: z.last, raw: raw, range: z.range) else {
                    health.note(.garbage, at: time)
                    return .unavailable
                }
                z.total = total
                z.last = raw
            }
        }
        health.note(nil, at: time)
        let joules = zones.reduce(0.0) { $0 + Double($1.total) } * 1e-6
        let watts = lastTime.isNaN || time <= lastTime ? Double.nan : (joules - lastJoules) / (time - lastTime)
        lastJoules = joules
        lastTime = time
        return PowerReading(watts: watts, joules: joules)
    }

    static func find(root: SysfsRoot) -> Result<PowerSource, ProbeMiss> {
        let base = "/sys/class/powercap"
        let entries = root.list(base).filter { $0.hasPrefix("intel-rapl:") }
        if entries.isEmpty { return .failure(ProbeMiss("no RAPL zones under \(root.path(base))")) }
        // Top-level zones are "intel-rapl:N"; sub-zones are "intel-rapl:N:M".
        func zone(_ entry: String) -> (name: String, path: String)? {
            let p = base + "/" + entry
            guard let name = root.text(p + "/name") else { return nil }
            return (name, p)
        }
        let top = entries.filter { $0.split(separator: ":").count == 2 }.compactMap(zone)
        let sub = entries.filter { $0.split(separator: ":").count == 3 }.compactMap(zone)
        var chosen: [(name: String, path: String)]
        let scope: String
        if let psys = top.first(where: { $0.name == "psys" }) {
            chosen = [psys]
            scope = "platform (RAPL psys): processor, memory controller and platform devices the firmware includes"
        } else {
            chosen = top.filter { $0.name.hasPrefix("package") }
            let dram = sub.filter { $0.name == "dram" }
            chosen += dram
            scope = dram.isEmpty ? "CPU packages only (RAPL), not the board" : "CPU packages and DRAM (RAPL), not the board"
        }
        if chosen.isEmpty { return .failure(ProbeMiss("RAPL zones found but none is a package or psys")) }
        var zones: [Zone] = []
        for z in chosen {
            let file = SysfsFile(fullPath: root.path(z.path + "/energy_uj"))
            switch file.readInteger() {
            case .failure(.unreadable):
                return .failure(ProbeMiss("\(z.path)/energy_uj is not readable (root only since Linux 5.10; run as root or grant read access)"))
            case .failure(let f):
                return .failure(ProbeMiss("\(z.path)/energy_uj: \(f.rawValue)"))
            case .success: break
            }
            guard let t = root.text(z.path + "/max_energy_range_uj"), case .success(let range) = SysfsFile.parseInteger(t), range > 0 else {
                return .failure(ProbeMiss("\(z.path)/max_energy_range_uj is missing or not a positive number"))
            }
            zones.append(Zone(name: z.name, file: file, range: range))
        }
        return .success(RaplPower(zones: zones, device: chosen.map { "\($0.name) at \($0.path)" }.joined(separator: ", "), scope: scope,
                                  notes: ["energy_uj counters (uJ), wrap at max_energy_range_uj"]))
    }
}
