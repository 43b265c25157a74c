import Base
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle

/// Keeps a command running and healthy: starts it, probes it, replaces it when it crashes, hangs,
/// grows too large or overheats, backs off between restarts, and stops trying (the safe state)
/// when it keeps failing. One loop does all of it, and the same loop sends the systemd and
/// hardware watchdog keep-alives, so they stop exactly when supervision stops.
///
/// Run it in a `ServiceGroup`: graceful shutdown (SIGTERM, SIGINT) stops the child with SIGTERM,
/// then SIGKILL after `stop_timeout`, and disarms the hardware watchdog.
public final class Supervisor: Service, @unchecked Sendable {
    /// Where the supervisor stands.
    public enum PhaseName: String, Sendable {
        case starting, ready, restarting, backoff, paused, safe, stopped
    }

    /// A consistent view for status displays and tests.
    public struct Snapshot: Sendable {
        public var phase: PhaseName
        public var pid: Int32?
        /// Children started after the first.
        public var restarts: Int
        public var threads: Int?
        public var status: String
        /// Reasons of the failures so far, oldest first.
        public var failures: [String]
        /// Monotonic times at which children were started.
        public var starts: [Double]
        public var led: LEDPattern
    }

    enum Phase {
        case starting(since: Double)
        case ready(since: Double)
        /// Waiting for the child to exit after SIGTERM; SIGKILL at `deadline`.
        case terminating(deadline: Double, killed: Bool, planned: Bool, reason: String)
        case backoff(until: Double)
        case paused(since: Double)
        case safe(reason: String)
        case stopped
    }

    public let command: [String]
    public let config: WatchdogConfig
    let logger: Logger
    let notifier: SystemdNotifier?
    let hardware: HardwareWatchdog?
    let led: StatusLED?
    let button: ButtonMonitor?

    // Loop state: touched only by the loop, read through `snapshot` under `lock`.
    private let lock = NSLock()
    private var phase: Phase = .stopped
    private var child: ChildProcess?
    private var policy: RestartPolicy
    private var threads: Int
    private var restarts = 0
    private var spawned = 0
    private var failures: [String] = []
    private var starts: [Double] = []
    private var status = "not started"
    private var busy = false
    private var everReady = false
    /// The health and generation probes run independently, so a slow generation probe never
    /// delays the health probe that notices a hang.
    private var healthProbe: BackgroundProbe?
    private var generationProbe: BackgroundProbe?
    /// READY=1 is due with the next status.
    private var readyPending = false
    private var failedProbes = 0
    private var failedGenerations = 0
    private var nextHealthProbe = 0.0
    private var nextGenerationProbe = 0.0
    private var nextResourceCheck = 0.0
    private var thermalCooldownUntil = 0.0
    private var temperature: Double?
    private var nextSystemdPet = 0.0
    private var nextHardwarePet = 0.0
    private var nextExtend = 0.0
    private var events: [SupervisorState.Event] = []
    private var publishedStatus = ""
    private var stopRequested = false
    private var restartRequest: String?
    private var lastManualRestart = -1e9
    /// Whether the failure being handled counts toward the crash loop: a child that stops
    /// answering but still runs (a hang, or a flood of clients at the door) is replaced with
    /// back-off, but only children that exit, cannot start or break limits lead to the safe state.
    private var failureCounts = true
    /// The last health probe found the child running but not answering.
    private var lastHealthUnresponsive = false

    /// - Parameters:
    ///   - command: the child's argv (`--threads N` is appended when `threads` is configured).
    ///   - gpio: the chip for the LED and the button; their lines are requested here, so a wrong
    ///     line is an error before anything starts.
    public init(command: [String], config: WatchdogConfig, notifier: SystemdNotifier? = nil,
                hardwareWatchdog: HardwareWatchdog? = nil, gpio: (any GPIOChip)? = nil,
                logger: Logger = Logger(label: "gemma-edge.watchdog")) throws {
        guard !command.isEmpty else { throw ChildError("no command to supervise (put it after --)") }
        if let problem = config.validate() { throw ConfigError(problem) }
        var config = config
        if !config.probeURLConfigured, let served = WatchdogConfig.servedEndpoint(of: command) {
            config.probeURL = served
        }
        self.command = command
        self.config = config
        self.notifier = notifier
        self.hardware = hardwareWatchdog
        self.logger = logger
        policy = RestartPolicy(config: config)
        threads = config.threads
        if let gpio, let line = config.ledLine {
            led = StatusLED(line: try gpio.output(line: line, activeLow: config.ledActiveLow, consumer: "gemma-edge-led"))
        } else {
            led = nil
        }
        if let gpio, let line = config.buttonLine {
            let edges = try gpio.edges(line: line, pullUp: config.buttonActiveLow, consumer: "gemma-edge-button")
            button = ButtonMonitor(line: edges, debouncer: Debouncer(windowMilliseconds: config.buttonDebounceMilliseconds,
                                                                     activeLow: config.buttonActiveLow))
        } else {
            button = nil
        }
    }

    /// The current phase, child, counts and status, taken consistently.
    public var snapshot: Snapshot {
        lock.withLock {
            Snapshot(phase: Self.name(of: phase), pid: child?.pid, restarts: restarts, threads: threads > 0 ? threads : nil,
                     status: status, failures: failures, starts: starts, led: Self.pattern(for: phase, busy: busy))
        }
    }

    /// Asks for the child to be replaced now (the button does this); out of the safe state it
    /// starts over. Requests within 2 s of the last one are ignored.
    public func requestRestart(reason: String) { lock.withLock { restartRequest = reason } }

    /// Asks the loop to stop the child and return.
    public func requestStop() { lock.withLock { stopRequested = true } }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await supervise()
        } onGracefulShutdown: { [weak self] in
            self?.requestStop()
        }
    }

    /// The supervision loop; returns after a stop request or task cancellation, with the child
    /// stopped.
    public func supervise() async throws {
        if let hardware {
            log(.notice, "hardware watchdog \(hardware.name) armed with a \(hardware.timeout) s timeout")
            if hardware.lastRebootByWatchdog == true { log(.warning, "the last reboot was caused by the hardware watchdog") }
        }
        led?.start()
        button?.start(onPress: { [weak self] in self?.requestRestart(reason: "button pressed") },
                      onError: { [logger] in logger.error("button: \($0)") })
        spawn(now: monotonicSeconds())
        while !lock.withLock({ stopRequested }) && !Task.isCancelled {
            let now = monotonicSeconds()
            if let reason = lock.withLock({ () -> String? in defer { restartRequest = nil }; return restartRequest }) {
                manualRestart(reason, now: now)
            }
            step(now: now)
            keepAlive(now: now)
            publish()
            try? await Task.sleep(for: .seconds(config.tick))
        }
        shutdown()
    }

    // MARK: The steps of one tick

    private func step(now: Double) {
        switch phase {
        case .starting(let since), .ready(let since):
            guard let child else { return }
            if let end = child.poll() {
                fail("the child \(end)", now: now)
                return
            }
            for probe in [healthProbe, generationProbe].compactMap({ $0 }) {
                guard let outcome = probe.outcome else { continue }
                if probe.generation { generationProbe = nil } else { healthProbe = nil }
                handle(outcome, generation: probe.generation, now: now)
                guard isStartingOrReady else { break }
            }
            switch phase {
            case .starting where now - since > config.startupTimeout:
                fail("not healthy within the \(config.startupTimeout) s startup timeout", now: now,
                     counted: !lastHealthUnresponsive)
            case .starting where config.probeURL == nil && now - since >= config.probeInterval:
                // Without probes, running for one probe interval is what healthy means.
                becomeReady(now: now)
            case .starting:
                scheduleProbe(now: now)
                checkResources(now: now)
            case .ready(let readySince):
                policy.healthy(since: readySince, now: now)
                scheduleProbe(now: now)
                checkResources(now: now)
            default:
                break
            }
        case .terminating(let deadline, let killed, let planned, let reason):
            guard let child else { return afterStop(planned: planned, reason: reason, now: now) }
            if child.poll() != nil {
                set(child: nil)
                afterStop(planned: planned, reason: reason, now: now)
            } else if !killed && now >= deadline {
                log(.warning, "the child did not stop within \(config.stopTimeout) s of SIGTERM: sending SIGKILL")
                child.signal(SIGKILL)
                setPhase(.terminating(deadline: deadline, killed: true, planned: planned, reason: reason))
            }
        case .backoff(let until):
            if now >= until { spawn(now: now) }
        case .paused:
            if let end = child?.poll() {
                fail("the child \(end) while paused", now: now)
                return
            }
            checkResources(now: now)
        case .safe, .stopped:
            break
        }
    }

    private var isStartingOrReady: Bool {
        switch phase {
        case .starting, .ready: return true
        default: return false
        }
    }

    /// Health and generation failures are counted apart: a good `/health` does not excuse a
    /// generation that hangs.
    private func handle(_ outcome: ProbeOutcome, generation: Bool, now: Double) {
        switch outcome {
        case .healthy(let isBusy, let stalled):
            if generation {
                failedGenerations = 0
                return
            }
            lock.withLock { busy = isBusy }
            if isBusy && stalled > config.generationProbeTimeout {
                // Answering HTTP, but the engine is stuck inside a generation.
                probeFailed(String(format: "the engine made no progress for %.1f s while generating", stalled),
                            generation: false, now: now)
                return
            }
            failedProbes = 0
            lastHealthUnresponsive = false
            if case .starting = phase { becomeReady(now: now) }
        case .loading, .notListening:
            guard case .ready = phase, !generation else { return }
            probeFailed("the child stopped serving: \(outcome == .loading ? "/health says loading" : "nothing listens")",
                        generation: false, now: now)
        case .failed(let message):
            if !generation { lastHealthUnresponsive = false }
            probeFailed(message, generation: generation, now: now)
        case .unresponsive(let message):
            if !generation { lastHealthUnresponsive = true }
            probeFailed(message, generation: generation, now: now, counted: generation)
        }
    }

    /// The child is healthy: READY=1 the first time.
    private func becomeReady(now: Double) {
        setPhase(.ready(since: now))
        if let child { record("child \(child.pid) is healthy") }
        if !everReady {
            everReady = true
            readyPending = true
        }
    }

    private func probeFailed(_ message: String, generation: Bool, now: Double, counted: Bool = true) {
        if generation { failedGenerations += 1 } else { failedProbes += 1 }
        let count = generation ? failedGenerations : failedProbes
        log(.warning, "\(generation ? "generation" : "health") probe failed (\(count) of \(config.probeFailures)): \(message)")
        if count >= config.probeFailures {
            fail("\(count) \(generation ? "generation" : "health") probes in a row failed; last: \(message)", now: now,
                 counted: counted)
        }
    }

    private func scheduleProbe(now: Double) {
        guard let endpoint = config.probeURL else { return }
        let key = config.apiKey
        // A busy engine is proving itself (and `stalled_seconds` catches a hang), so the
        // generation probe waits rather than queue behind a long request.
        if generationProbe == nil, case .ready = phase, config.generationProbeInterval > 0, now >= nextGenerationProbe,
           !lock.withLock({ busy }) {
            nextGenerationProbe = now + config.generationProbeInterval
            let timeout = config.generationProbeTimeout
            generationProbe = BackgroundProbe(generation: true) { Probes.generation(endpoint, apiKey: key, timeout: timeout) }
        }
        if healthProbe == nil, now >= nextHealthProbe {
            // Faster while starting, so READY=1 follows a finished load quickly.
            let starting: Bool
            if case .starting = phase { starting = true } else { starting = false }
            nextHealthProbe = now + (starting ? min(config.probeInterval, 1) : config.probeInterval)
            let timeout = config.probeTimeout
            healthProbe = BackgroundProbe(generation: false) { Probes.health(endpoint, apiKey: key, timeout: timeout) }
        }
    }

    /// Memory and temperature, about once a second.
    private func checkResources(now: Double) {
        guard now >= nextResourceCheck, let child else { return }
        nextResourceCheck = now + 1
        if config.maxRSSMegabytes > 0, let rss = child.residentMegabytes, rss > config.maxRSSMegabytes {
            fail(String(format: "resident memory %.1f MiB is over the %.0f MiB ceiling", rss, config.maxRSSMegabytes), now: now)
            return
        }
        guard let zone = config.thermalZone else { return }
        guard let t = Probes.temperature(zone) else {
            log(.warning, "cannot read the temperature from \(zone)")
            return
        }
        lock.withLock { temperature = t }
        if case .paused = phase {
            if t <= config.resumeTemperature {
                child.signal(SIGCONT)
                record(String(format: "resumed: %.1f C is below %.0f C", t, config.resumeTemperature))
                failedProbes = 0
                nextHealthProbe = now + config.probeInterval
                setPhase(.ready(since: now))
            }
            return
        }
        guard t >= config.maxTemperature else { return }
        let hot = String(format: "%.1f C reached the %.0f C ceiling", t, config.maxTemperature)
        if config.thermalAction == .reduceThreads, threads > config.minThreads, now >= thermalCooldownUntil {
            threads = max(config.minThreads, threads / 2)
            thermalCooldownUntil = now + config.thermalCooldown
            fail("\(hot); restarting with \(threads) threads", now: now, planned: true)
        } else if now >= thermalCooldownUntil || config.thermalAction == .pause {
            child.signal(SIGSTOP)
            healthProbe = nil
            generationProbe = nil
            record("paused: \(hot); resuming below \(Int(config.resumeTemperature)) C")
            setPhase(.paused(since: now))
        }
    }

    // MARK: Starting and stopping children

    private func spawn(now: Double) {
        var args = command
        if threads > 0 { args += ["--threads", String(threads)] }
        do {
            let c = try ChildProcess(arguments: args)
            set(child: c)
            lock.withLock {
                if spawned > 0 { restarts += 1 }
                spawned += 1
                starts.append(now)
                busy = false
            }
            failedProbes = 0
            failedGenerations = 0
            healthProbe = nil
            generationProbe = nil
            nextHealthProbe = now + config.tick
            nextGenerationProbe = now + config.generationProbeInterval
            nextResourceCheck = now
            record("started child \(c.pid): \(WatchdogConfig.redacted(args).joined(separator: " "))")
            setPhase(.starting(since: now))
        } catch {
            set(child: nil)
            fail("cannot start the command: \(error)", now: now)
        }
    }

    /// Ends the current child (if any) and then restarts or enters the safe state.
    /// `planned` restarts (thermal, button) skip the back-off and the crash-loop count.
    /// `counted`: whether it counts toward the crash loop (see `failureCounts`).
    private func fail(_ reason: String, now: Double, planned: Bool = false, counted: Bool = true) {
        failureCounts = counted
        healthProbe = nil
        generationProbe = nil
        if !planned {
            lock.withLock { failures.append(reason) }
        }
        record(planned ? "restarting: \(reason)" : "failure: \(reason)")
        if let child, child.poll() == nil {
            child.signal(SIGTERM)
            child.signal(SIGCONT)
            setPhase(.terminating(deadline: now + config.stopTimeout, killed: false, planned: planned, reason: reason))
        } else {
            set(child: nil)
            afterStop(planned: planned, reason: reason, now: now)
        }
    }

    private func afterStop(planned: Bool, reason: String, now: Double) {
        if planned {
            setPhase(.backoff(until: now))
            return
        }
        if !failureCounts { record("the child ran but did not answer: backing off without counting a crash") }
        switch policy.failed(at: now, counted: failureCounts) {
        case .restart(let delay):
            record(String(format: "restarting in %.2f s", delay))
            setPhase(.backoff(until: now + delay))
        case .safeState(let count, let window):
            let why = "SAFE STATE: \(count) failures within \(Int(window)) s, not restarting; last: \(reason). "
                + "Fix the cause, then press the button or restart the service."
            record(why)
            setPhase(.safe(reason: why))
            if !everReady {
                // Tell systemd the start is over, so it does not time out and restart us in a loop.
                everReady = true
                readyPending = true
            }
        }
    }

    private func manualRestart(_ reason: String, now: Double) {
        guard now - lastManualRestart >= 2 else { return }
        lastManualRestart = now
        switch phase {
        case .safe:
            record("leaving the safe state: \(reason)")
            policy.reset()
            spawn(now: now)
        case .backoff:
            record("starting now: \(reason)")
            spawn(now: now)
        case .starting, .ready, .paused:
            fail(reason, now: now, planned: true)
        case .terminating, .stopped:
            break
        }
    }

    /// Stops the child (SIGTERM, then SIGKILL after `stop_timeout`), keeping the watchdogs fed
    /// meanwhile, and disarms the hardware watchdog: the clean exit.
    private func shutdown() {
        try? notifier?.stopping(status: "stopping")
        try? notifier?.extendTimeout(seconds: config.stopTimeout + 5)
        if let child, child.poll() == nil {
            let end = child.terminate(grace: config.stopTimeout) { [self] in keepAlive(now: monotonicSeconds()) }
            record("stopped child \(child.pid): it \(end)")
        }
        set(child: nil)
        setPhase(.stopped)
        publish()
        button?.stop()
        led?.stop()
        hardware?.close(disarm: true)
    }

    // MARK: Keep-alives, status, state

    /// Feeds systemd's and the hardware watchdog when due; asks for more start time while the
    /// child is loading.
    private func keepAlive(now: Double) {
        if let notifier {
            if let interval = notifier.watchdogInterval, now >= nextSystemdPet {
                nextSystemdPet = now + interval
                do { try notifier.watchdog() } catch { log(.error, "\(error)") }
            }
            if !everReady, now >= nextExtend {
                nextExtend = now + 2
                try? notifier.extendTimeout(seconds: 10)
            }
        }
        if let hardware, now >= nextHardwarePet {
            nextHardwarePet = now + max(0.5, Double(hardware.timeout) / 3)
            do { try hardware.keepAlive() } catch { log(.error, "\(error)") }
        }
    }

    private func publish() {
        let text = statusText()
        led?.show(Self.pattern(for: phase, busy: lock.withLock { busy }))
        guard text != publishedStatus || readyPending else { return }
        publishedStatus = text
        lock.withLock { status = text }
        if readyPending {
            readyPending = false
            try? notifier?.ready(status: text)
        } else {
            try? notifier?.status(text)
        }
        writeState()
    }

    private func statusText() -> String {
        let pid = child.map { " (pid \($0.pid))" } ?? ""
        switch phase {
        case .starting: return "starting\(pid)" + (config.probeURL == nil ? "" : ": waiting for /health")
        case .ready: return "ready\(pid)" + (restarts > 0 ? ", \(restarts) restart\(restarts == 1 ? "" : "s")" : "")
        case .terminating(_, _, _, let reason): return "stopping\(pid): \(reason)"
        case .backoff: return "waiting to restart after: \(failures.last ?? "a planned restart")"
        case .paused: return "paused\(pid): too hot" + (temperature.map { String(format: " (%.1f C)", $0) } ?? "")
        case .safe(let reason): return reason
        case .stopped: return "stopped"
        }
    }

    private func writeState() {
        guard let path = config.stateFile else { return }
        let state = lock.withLock {
            SupervisorState(phase: Self.name(of: phase).rawValue, status: status, pid: child?.pid, restarts: restarts,
                            threads: threads > 0 ? threads : nil, temperature: temperature, lastFailure: failures.last,
                            updated: Date().timeIntervalSince1970, events: events)
        }
        do { try AtomicFile.write(state.encoded(), to: path) } catch { log(.error, "state file: \(error)") }
    }

    private func record(_ message: String) {
        log(.notice, message)
        lock.withLock {
            events.append(.init(time: Date().timeIntervalSince1970, message: message))
            if events.count > SupervisorState.eventLimit { events.removeFirst(events.count - SupervisorState.eventLimit) }
        }
    }

    private func log(_ level: Logger.Level, _ message: String) {
        logger.log(level: level, "\(message)")
    }

    private func setPhase(_ p: Phase) { lock.withLock { phase = p } }
    private func set(child c: ChildProcess?) { lock.withLock { child = c } }

    static func name(of phase: Phase) -> PhaseName {
        switch phase {
        case .starting: return .starting
        case .ready: return .ready
        case .terminating: return .restarting
        case .backoff: return .backoff
        case .paused: return .paused
        case .safe: return .safe
        case .stopped: return .stopped
        }
    }

    static func pattern(for phase: Phase, busy: Bool) -> LEDPattern {
        switch phase {
        case .starting, .terminating, .backoff: return .loading
        case .ready: return busy ? .busy : .ready
        case .paused, .safe: return .fault
        case .stopped: return .off
        }
    }
}

extension Supervisor {
    /// Supervises until SIGTERM or SIGINT, then stops the child gracefully and returns.
    public func runService() async throws {
        let group = ServiceGroup(configuration: .init(services: [self], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }
}
