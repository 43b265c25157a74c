import Foundation

/// Whether a power figure was measured at the point it describes or estimated from parts.
public enum PowerQuality: String, Sendable, Codable, Equatable {
    /// A sensor measures the figure directly (e.g. an INA226 on the board's input).
    case measured
    /// Computed from parts that do not cover everything (e.g. Pi 5 PMIC rails summed).
    case estimated
}

/// The kinds of power sources `--power` can name.
public enum PowerSourceKind: String, Sendable, Codable, CaseIterable {
    case hwmon, battery, rapl, pi5PMIC = "pi5-pmic", jetson, csv
}

/// One reading of a live source. NaN marks a figure the source could not give this time.
public struct PowerReading: Sendable, Equatable {
    /// Instantaneous (or since-last-read) power in watts.
    public var watts: Double
    /// A cumulative energy counter in joules, already unwrapped (RAPL), or NaN.
    public var joules: Double

    /// A reading in watts and, for counter sources, cumulative joules.
    public init(watts: Double, joules: Double = .nan) {
        self.watts = watts
        self.joules = joules
    }

    public static let unavailable = PowerReading(watts: .nan)
}

/// A power or energy sensor the sampler polls. Implementations read real kernel interfaces in
/// their documented units (see `EDGE.md`) and never throw while sampling: a failed read is a NaN
/// and a note in `health`.
public protocol PowerSource: AnyObject {
    var kind: PowerSourceKind { get }
    /// Which device, e.g. "ina226 at /sys/class/hwmon/hwmon2".
    var device: String { get }
    /// What the figure covers, e.g. "board input" or "CPU packages only".
    var scope: String { get }
    var quality: PowerQuality { get }
    /// Facts worth stating in the report (rails used, caveats).
    var notes: [String] { get }
    var health: SensorHealth { get }
    /// Reads once. `time` is seconds on the run clock (for rates and fault times).
    func read(at time: Double) -> PowerReading
}

/// What `--power` asked for.
public enum PowerSelection: Sendable, Equatable, CustomStringConvertible {
    case auto
    case none
    case source(PowerSourceKind)
    /// An external meter's log: `timestamp,watts` lines merged by time after the run.
    case csv(path: String)

    /// Parses a `--power` value: auto, none, hwmon, battery, rapl, pi5-pmic, jetson or csv:FILE.
    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("csv:") {
            let path = String(t.dropFirst(4))
            guard !path.isEmpty else { throw ProfilerError.badArgument("--power csv:FILE needs a file name") }
            self = .csv(path: path)
            return
        }
        switch t {
        case "auto", "": self = .auto
        case "none": self = .none
        case "csv": throw ProfilerError.badArgument("--power csv needs a file: csv:FILE")
        default:
            guard let k = PowerSourceKind(rawValue: t) else {
                throw ProfilerError.badArgument(
                    "unknown power source '\(t)' (use auto, none, hwmon, battery, rapl, pi5-pmic, jetson or csv:FILE)")
            }
            self = .source(k)
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .none: return "none"
        case .source(let k): return k.rawValue
        case .csv(let p): return "csv:" + p
        }
    }
}

/// The outcome of looking for one kind of source.
public struct PowerProbe: Sendable, Codable, Equatable {
    public var source: String
    public var found: Bool
    /// What was found or why not, in words.
    public var detail: String
}

/// Errors the profiler reports to the user.
public enum ProfilerError: Error, CustomStringConvertible, Equatable {
    case badArgument(String)
    case io(String)
    case badReport(String)

    public var description: String {
        switch self {
        case .badArgument(let m), .io(let m), .badReport(let m): return m
        }
    }
}

/// One rail read either from a power file or as voltage times current, with each file's unit
/// given as the number of watts, volts or amperes per count.
public final class Rail: @unchecked Sendable {
    public let label: String
    let power: SysfsFile?
    let powerScale: Double
    let volts: SysfsFile?
    let voltScale: Double
    let amps: SysfsFile?
    let ampScale: Double

    /// A rail with a power file (`scale` watts per count: 1e-6 for uW, 1e-3 for mW).
    public init(label: String, power: String, scale: Double) {
        self.label = label
        self.power = SysfsFile(fullPath: power)
        powerScale = scale
        volts = nil; amps = nil; voltScale = 0; ampScale = 0
    }

    /// A rail computed as V x I (the current's sign is ignored: some drivers report discharge
    /// as negative).
    public init(label: String, volts: String, voltScale: Double, amps: String, ampScale: Double) {
        self.label = label
        power = nil; powerScale = 0
        self.volts = SysfsFile(fullPath: volts)
        self.voltScale = voltScale
        self.amps = SysfsFile(fullPath: amps)
        self.ampScale = ampScale
    }

    /// The rail's power in watts, or the first fault.
    public func watts() -> Result<Double, SensorFault> {
        if let power {
            switch power.readInteger() {
            case .failure(let f): return .failure(f)
            case .success(let v): return Self.watts(power: v, scale: powerScale)
            }
        }
        let v: Int64, a: Int64
        switch volts!.readInteger() {
        case .failure(let f): return .failure(f)
        case .success(let x): v = x
        }
        switch amps!.readInteger() {
        case .failure(let f): return .failure(f)
        case .success(let x): a = x
        }
        return Self.watts(volts: v, voltScale: voltScale, amps: a, ampScale: ampScale)
    }

    /// Watts from a power file's count (`scale` watts per count).
    public static func watts(power count: Int64, scale: Double) -> Result<Double, SensorFault> {
        sane(Double(count) * scale)
    }

    /// Watts from a voltage and a current count; the current's sign is ignored.
    public static func watts(volts: Int64, voltScale: Double, amps: Int64, ampScale: Double) -> Result<Double, SensorFault> {
        sane(Double(volts) * voltScale * Double(amps) * ampScale)
    }

    /// No board-level rail draws 100 kW: such a number is a misread, not a measurement.
    private static func sane(_ w: Double) -> Result<Double, SensorFault> {
        let m = abs(w)
        guard m.isFinite, m < 100_000 else { return .failure(.garbage) }
        return .success(m)
    }
}

/// A source whose power is the sum of rails read each sample (hwmon INA2xx/INA3221, Jetson
/// rails, batteries). If any rail fails, the sample has no power (a partial sum would lie).
public final class RailSumSource: PowerSource {
    public let kind: PowerSourceKind
    public let device: String
    public let scope: String
    public let quality: PowerQuality
    public let notes: [String]
    public let health: SensorHealth
    public let rails: [Rail]

    /// A source summing `rails` (at least one).
    public init(kind: PowerSourceKind, device: String, scope: String, quality: PowerQuality,
                rails: [Rail], notes: [String] = []) {
        precondition(!rails.isEmpty)
        self.kind = kind
        self.device = device
        self.scope = scope
        self.quality = quality
        self.rails = rails
        self.notes = notes
        health = SensorHealth(label: "\(kind.rawValue) \(device)")
    }

    public func read(at time: Double) -> PowerReading {
        var sum = 0.0
        for r in rails {
            switch r.watts() {
            case .success(let w): sum += w
            case .failure(let f):
                health.note(f, at: time)
                return .unavailable
            }
        }
        health.note(nil, at: time)
        return PowerReading(watts: sum)
    }
}

/// Finds power sources under a sysfs root.
public struct PowerDetector {
    public let root: SysfsRoot
    public let runner: any CommandRunner

    /// A detector reading under `root` and running commands with `runner`.
    public init(root: SysfsRoot = .live, runner: any CommandRunner = ProcessRunner()) {
        self.root = root
        self.runner = runner
    }

    /// The order `auto` tries: sensors on the board's input first, then a discharging battery,
    /// then estimates, and RAPL (CPU package only) last.
    public static let autoOrder: [PowerSourceKind] = [.jetson, .hwmon, .battery, .pi5PMIC, .rapl]

    /// Looks for one kind. Returns the source, or nil with the reason in the probe.
    public func probe(_ kind: PowerSourceKind, requireDischarging: Bool = false) -> (PowerSource?, PowerProbe) {
        let result: Result<PowerSource, ProbeMiss>
        switch kind {
        case .hwmon: result = HwmonPower.find(root: root)
        case .jetson: result = JetsonPower.find(root: root)
        case .battery: result = BatteryPower.find(root: root, requireDischarging: requireDischarging)
        case .rapl: result = RaplPower.find(root: root)
        case .pi5PMIC: result = PMICPower.find(runner: runner)
        case .csv: result = .failure(ProbeMiss("an external meter is read from csv:FILE after the run"))
        }
        switch result {
        case .success(let s):
            return (s, PowerProbe(source: kind.rawValue, found: true,
                                  detail: "\(s.device): \(s.scope) (\(s.quality.rawValue))"))
        case .failure(let miss):
            return (nil, PowerProbe(source: kind.rawValue, found: false, detail: miss.reason))
        }
    }

    /// Resolves a selection to at most one live source, with a probe line for each kind tried.
    public func resolve(_ selection: PowerSelection) -> (PowerSource?, [PowerProbe]) {
        switch selection {
        case .none:
            return (nil, [PowerProbe(source: "none", found: false, detail: "power measurement turned off (--power none)")])
        case .csv(let path):
            return (nil, [PowerProbe(source: "csv", found: FileManager.default.isReadableFile(atPath: path),
                                     detail: "external meter log \(path), merged by time after the run")])
        case .source(let k):
            let (s, p) = probe(k)
            return (s, [p])
        case .auto:
            var probes: [PowerProbe] = []
            var chosen: PowerSource?
            for k in Self.autoOrder {
                let (s, p) = probe(k, requireDischarging: true)
                probes.append(p)
                if chosen == nil, let s { chosen = s }
            }
            return (chosen, probes)
        }
    }
}

/// Why a probe found nothing.
public struct ProbeMiss: Error {
    public let reason: String
    /// A miss with its reason in words.
    public init(_ reason: String) { self.reason = reason }
}
