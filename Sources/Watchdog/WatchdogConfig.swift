import Foundation

/// What the supervisor watches and how it reacts, read from a `key = value` file.
///
/// Lines are `key = value`; `#` starts a comment; unknown keys and bad values are errors that
/// name the line, so a typo never silently turns a safety check off. Durations are seconds.
public struct WatchdogConfig: Sendable, Equatable {
    /// Where the child serves HTTP (`http://HOST:PORT` or `unix:/path`); nil supervises any
    /// command by its exit alone. When the file does not say (`probeURLConfigured` false), the
    /// supervisor takes it from the child's `serve --host/--port/--unix` arguments.
    public var probeURL: HTTPEndpoint? = .tcp(host: "127.0.0.1", port: 8080)
    /// Whether `probe_url` was set in the file (even to empty, which turns probes off).
    public var probeURLConfigured = false
    /// Sent as `Authorization: Bearer` with every probe.
    public var apiKey: String? = nil
    public var probeInterval = 10.0
    /// A probe without an answer within this long counts as a failure (a hang).
    public var probeTimeout = 5.0
    /// Consecutive failed probes before the child is replaced.
    public var probeFailures = 3
    /// Seconds between one-token generation probes once ready (skipped while the server is
    /// busy); 0 turns them off.
    public var generationProbeInterval = 300.0
    /// A generation probe must finish within this; a busy server whose `/health` reports no
    /// progress (`stalled_seconds`) for longer counts as hung too.
    public var generationProbeTimeout = 60.0
    /// Time a new child has to answer `/health` with 200.
    public var startupTimeout = 300.0
    /// Grace between SIGTERM and SIGKILL.
    public var stopTimeout = 10.0
    public var backoffInitial = 1.0
    public var backoffMax = 60.0
    public var backoffMultiplier = 2.0
    /// Seconds of health after which the back-off starts again from `backoffInitial`.
    public var stableAfter = 120.0
    /// This many restarts within `crashLoopWindow` seconds end in the safe state.
    public var crashLoopRestarts = 5
    public var crashLoopWindow = 600.0
    /// Resident memory ceiling of the child in MiB; 0 turns it off.
    public var maxRSSMegabytes = 0.0
    /// A sysfs temperature file in millidegrees Celsius; nil turns thermal checks off.
    public var thermalZone: String? = nil
    public var maxTemperature = 85.0
    /// A paused child resumes below this.
    public var resumeTemperature = 75.0
    public var thermalAction: ThermalAction = .reduceThreads
    /// Seconds before another thread reduction may follow one.
    public var thermalCooldown = 60.0
    /// `--threads N` appended to the command; 0 passes nothing (and thread reduction then pauses).
    public var threads = 0
    public var minThreads = 1
    /// JSON state and recent events, written atomically on every change; nil for none.
    public var stateFile: String? = nil
    /// A hardware watchdog device (`/dev/watchdog`); nil for none.
    public var hardwareWatchdog: String? = nil
    public var hardwareWatchdogTimeout = 15
    /// A GPIO chip (`gpiochip0`, `/dev/gpiochip0`, a number or a label); nil for no LED or button.
    public var gpioChip: String? = nil
    public var ledLine: Int? = nil
    public var ledActiveLow = false
    public var buttonLine: Int? = nil
    public var buttonActiveLow = true
    public var buttonDebounceMilliseconds = 50
    /// Period of the supervision loop.
    public var tick = 0.25

    /// What to do when the temperature ceiling is passed.
    public enum ThermalAction: String, Sendable {
        /// Restart with half the threads (down to `min_threads`), then pause.
        case reduceThreads = "reduce-threads"
        /// Stop the child (SIGSTOP) until it cools down, then continue it (SIGCONT).
        case pause
    }

    public init() {}

    /// Parses a config file's text; `name` appears in messages.
    public init(parsing text: String, name: String = "config") throws {
        self.init()
        var seen: Set<String> = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            func fail(_ message: String) -> ConfigError { ConfigError("\(name):\(number + 1): \(message)") }
            guard let eq = trimmed.firstIndex(of: "=") else { throw fail("expected `key = value`, got `\(trimmed)`") }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard seen.insert(key).inserted else { throw fail("`\(key)` is set twice") }
            do {
                try set(key, value)
            } catch let e as ConfigError {
                throw fail(e.message)
            }
        }
        if let problem = validate() { throw ConfigError("\(name): \(problem)") }
    }

    private mutating func set(_ key: String, _ v: String) throws {
        func seconds() throws -> Double {
            guard let d = Double(v), d.isFinite, d >= 0, d <= 86_400 * 7 else {
                throw ConfigError("`\(key)` must be a number of seconds between 0 and 604800, not `\(v)`")
            }
            return d
        }
        func count(_ range: ClosedRange<Int>) throws -> Int {
            guard let i = Int(v), range.contains(i) else {
                throw ConfigError("`\(key)` must be an integer between \(range.lowerBound) and \(range.upperBound), not `\(v)`")
            }
            return i
        }
        func number(_ range: ClosedRange<Double>) throws -> Double {
            guard let d = Double(v), d.isFinite, range.contains(d) else {
                throw ConfigError("`\(key)` must be a number between \(range.lowerBound) and \(range.upperBound), not `\(v)`")
            }
            return d
        }
        func flag() throws -> Bool {
            switch v.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw ConfigError("`\(key)` must be true or false, not `\(v)`")
            }
        }
        func optionalText() -> String? { v.isEmpty ? nil : v }
        func line() throws -> Int? { v.isEmpty || v == "-1" ? nil : try count(0...4095) }

        switch key {
        case "probe_url":
            probeURLConfigured = true
            do { probeURL = v.isEmpty ? nil : try HTTPEndpoint(parsing: v) } catch { throw ConfigError("\(error)") }
        case "api_key": apiKey = optionalText()
        case "probe_interval": probeInterval = try seconds()
        case "probe_timeout": probeTimeout = try seconds()
        case "probe_failures": probeFailures = try count(1...100)
        case "generation_probe_interval": generationProbeInterval = try seconds()
        case "generation_probe_timeout": generationProbeTimeout = try seconds()
        case "startup_timeout": startupTimeout = try seconds()
        case "stop_timeout": stopTimeout = try seconds()
        case "backoff_initial": backoffInitial = try seconds()
        case "backoff_max": backoffMax = try seconds()
        case "backoff_multiplier": backoffMultiplier = try number(1...10)
        case "stable_after": stableAfter = try seconds()
        case "crash_loop_restarts": crashLoopRestarts = try count(1...1000)
        case "crash_loop_window": crashLoopWindow = try seconds()
        case "max_rss_mb": maxRSSMegabytes = try number(0...1_048_576)
        case "thermal_zone": thermalZone = optionalText()
        case "max_temp_c": maxTemperature = try number(20...150)
        case "resume_temp_c": resumeTemperature = try number(0...150)
        case "thermal_action":
            guard let a = ThermalAction(rawValue: v) else {
                throw ConfigError("`thermal_action` must be reduce-threads or pause, not `\(v)`")
            }
            thermalAction = a
        case "thermal_cooldown": thermalCooldown = try seconds()
        case "threads": threads = try count(0...256)
        case "min_threads": minThreads = try count(1...256)
        case "state_file": stateFile = optionalText()
        case "hardware_watchdog": hardwareWatchdog = optionalText()
        case "hardware_watchdog_timeout": hardwareWatchdogTimeout = try count(1...3600)
        case "gpio_chip": gpioChip = optionalText()
        case "led_line": ledLine = try line()
        case "led_active_low": ledActiveLow = try flag()
        case "button_line": buttonLine = try line()
        case "button_active_low": buttonActiveLow = try flag()
        case "button_debounce_ms": buttonDebounceMilliseconds = try count(1...2000)
        case "tick": tick = try seconds()
        default: throw ConfigError("unknown key `\(key)`")
        }
    }

    /// Checks how the values fit together; returns a message or nil.
    public func validate() -> String? {
        if tick < 0.01 || tick > 5 { return "`tick` must be between 0.01 and 5 seconds" }
        if probeURL != nil {
            if probeInterval < tick { return "`probe_interval` must be at least `tick`" }
            if probeTimeout <= 0 { return "`probe_timeout` must be above 0" }
            if generationProbeInterval > 0 && generationProbeTimeout <= 0 { return "`generation_probe_timeout` must be above 0" }
        }
        if startupTimeout <= 0 { return "`startup_timeout` must be above 0" }
        if backoffMax < backoffInitial { return "`backoff_max` must be at least `backoff_initial`" }
        if crashLoopWindow <= 0 { return "`crash_loop_window` must be above 0" }
        if thermalZone != nil && resumeTemperature >= maxTemperature { return "`resume_temp_c` must be below `max_temp_c`" }
        if threads > 0 && minThreads > threads { return "`min_threads` must not exceed `threads`" }
        if (ledLine != nil || buttonLine != nil) && gpioChip == nil { return "`led_line` and `button_line` need `gpio_chip`" }
        if let led = ledLine, led == buttonLine { return "`led_line` and `button_line` must differ" }
        return nil
    }
}

extension WatchdogConfig {
    /// Where a `gemma-edge serve` command listens, from its `--host`, `--port` and `--unix`
    /// arguments (defaults 127.0.0.1 and 8080; a wildcard host is probed on loopback); nil when
    /// the command is not `serve`.
    public static func servedEndpoint(of command: [String]) -> HTTPEndpoint? {
        guard let serve = command.firstIndex(of: "serve") else { return nil }
        var host = "127.0.0.1", port = 8080
        var i = serve + 1
        func value(_ arg: String, _ name: String) -> String? {
            if arg == name, i + 1 < command.count { i += 1; return command[i] }
            if arg.hasPrefix(name + "=") { return String(arg.dropFirst(name.count + 1)) }
            return nil
        }
        while i < command.count {
            let arg = command[i]
            if let v = value(arg, "--unix") { return .unix(path: v) }
            if let v = value(arg, "--host") { host = v }
            if let v = value(arg, "--port"), let p = Int(v) { port = p }
            i += 1
        }
        switch host {
        case "0.0.0.0", "": host = "127.0.0.1"
        case "::", "[::]": host = "::1"
        default: break
        }
        return .tcp(host: host, port: port)
    }

    /// Command arguments fit for logs and the state file: secrets (`--api-key`) are hidden.
    public static func redacted(_ command: [String]) -> [String] {
        var out: [String] = []
        var hideNext = false
        for arg in command {
            if hideNext {
                out.append("***")
                hideNext = false
            } else if arg == "--api-key" {
                out.append(arg)
                hideNext = true
            } else if arg.hasPrefix("--api-key=") {
                out.append("--api-key=***")
            } else {
                out.append(arg)
            }
        }
        return out
    }
}

/// A config file that cannot be used; the message names the file and line.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
