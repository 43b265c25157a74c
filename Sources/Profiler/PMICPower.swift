import Foundation

/// Runs a command and returns its standard output. Injectable so tests feed captured text.
public protocol CommandRunner: Sendable {
    /// Runs `arguments[0]` (looked up in PATH) with the rest as arguments.
    func run(_ arguments: [String]) throws -> String
}

/// Runs commands with Foundation's `Process`.
public struct ProcessRunner: CommandRunner {
    public init() {}

    public func run(_ arguments: [String]) throws -> String {
        guard let name = arguments.first else { throw ProfilerError.badArgument("no command") }
        guard let exe = Self.which(name) else { throw ProfilerError.io("\(name) is not installed (not found in PATH)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = Array(arguments.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ProfilerError.io("\(name) exited with status \(p.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Raspberry Pi 5 PMIC rails from `vcgencmd pmic_read_adc`, which prints lines such as
/// `VDD_CORE_A current(7)=1.08053000A` and `VDD_CORE_V volt(15)=0.72178200V`. Rails are paired by
/// name (the numbers in brackets are ADC channels and differ between a rail's V and A). There is
/// no total input current, so the sum of V x A over paired rails is an estimate: it leaves out the
/// 5 V peripherals (USB, fan) and the PMIC's own conversion losses.
public final class PMICPower: PowerSource {
    public let kind = PowerSourceKind.pi5PMIC
    public let device = "Raspberry Pi 5 PMIC (vcgencmd pmic_read_adc)"
    public let scope = "sum of PMIC rails (V x A); excludes 5 V peripherals and conversion losses"
    public let quality = PowerQuality.estimated
    public let notes: [String]
    public let health = SensorHealth(label: "pi5-pmic")
    let runner: any CommandRunner

    init(runner: any CommandRunner, notes: [String]) {
        self.runner = runner
        self.notes = notes
    }

    /// One parsed dump.
    public struct Dump: Equatable, Sendable {
        /// Rails with both a voltage and a current, by name, in volts and amperes.
        public var rails: [String: (volts: Double, amps: Double)]
        /// Voltages without a current (e.g. EXT5V, the USB-C input).
        public var voltagesOnly: [String: Double]
        /// Lines that looked like readings but did not parse.
        public var badLines: Int

        public var watts: Double { rails.values.reduce(0) { $0 + $1.volts * $1.amps } }

        public static func == (a: Dump, b: Dump) -> Bool {
            a.voltagesOnly == b.voltagesOnly && a.badLines == b.badLines && a.rails.count == b.rails.count
                && a.rails.allSatisfy { k, v in b.rails[k].map { $0.volts == v.volts && $0.amps == v.amps } ?? false }
        }
    }

    /// Parses `vcgencmd pmic_read_adc` output. Lines that are not `NAME_A current(n)=xA` or
    /// `NAME_V volt(n)=xV` with a finite number are counted as bad and skipped.
    public static func parse(_ text: String) -> Dump {
        var volts: [String: Double] = [:], amps: [String: Double] = [:]
        var bad = 0
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, let eq = parts[1].firstIndex(of: "=") else { bad += 1; continue }
            let label = String(parts[0])
            let what = parts[1][..<eq]
            var number = parts[1][parts[1].index(after: eq)...]
            guard let unit = number.popLast(), let value = Double(number), value.isFinite, value >= 0 else { bad += 1; continue }
            if label.hasSuffix("_A"), what.hasPrefix("current("), unit == "A" {
                amps[String(label.dropLast(2))] = value
            } else if label.hasSuffix("_V"), what.hasPrefix("volt("), unit == "V" {
                volts[String(label.dropLast(2))] = value
            } else {
                bad += 1
            }
        }
        var rails: [String: (Double, Double)] = [:]
        var only: [String: Double] = [:]
        for (name, v) in volts {
            if let a = amps[name] { rails[name] = (v, a) } else { only[name] = v }
        }
        return Dump(rails: rails, voltagesOnly: only, badLines: bad)
    }

    public func read(at time: Double) -> PowerReading {
        guard let text = try? runner.run(["vcgencmd", "pmic_read_adc"]) else {
            health.note(.unreadable, at: time)
            return .unavailable
        }
        let d = Self.parse(text)
        guard !d.rails.isEmpty else {
            health.note(.garbage, at: time)
            return .unavailable
        }
        health.note(nil, at: time)
        return PowerReading(watts: d.watts)
    }

    static func find(runner: any CommandRunner) -> Result<PowerSource, ProbeMiss> {
        let text: String
        do {
            text = try runner.run(["vcgencmd", "pmic_read_adc"])
        } catch {
            return .failure(ProbeMiss("vcgencmd pmic_read_adc failed: \(error)"))
        }
        let d = parse(text)
        guard !d.rails.isEmpty else {
            let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "no output"
            return .failure(ProbeMiss("vcgencmd pmic_read_adc gave no rail pairs (\(first.prefix(80)))"))
        }
        var notes = ["\(d.rails.count) rails summed: " + d.rails.keys.sorted().joined(separator: ", ")]
        if let ext = d.voltagesOnly["EXT5V"] { notes.append(String(format: "input EXT5V %.3f V (no current reading)", ext)) }
        notes.append("each sample runs vcgencmd once; its cost is in the sampler figures")
        return .success(PMICPower(runner: runner, notes: notes))
    }
}
