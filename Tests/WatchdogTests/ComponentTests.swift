import Base
import CGPIOD
import Foundation
@testable import Watchdog
import XCTest

final class ConfigTests: XCTestCase {
    func testParsesEveryKindOfValue() throws {
        let text = """
        # comment
        probe_url = unix:/run/gemma-edge.sock   # trailing comment
        api_key = k
        probe_interval = 2.5
        probe_failures = 4
        thermal_zone = /sys/class/thermal/thermal_zone0/temp
        max_temp_c = 80
        resume_temp_c = 70
        thermal_action = pause
        threads = 4
        min_threads = 2
        gpio_chip = gpiochip0
        led_line = 17
        button_line = -1
        led_active_low = yes
        hardware_watchdog = /dev/watchdog
        state_file =
        """
        let c = try WatchdogConfig(parsing: text)
        XCTAssertEqual(c.probeURL, .unix(path: "/run/gemma-edge.sock"))
        XCTAssertEqual(c.apiKey, "k")
        XCTAssertEqual(c.probeInterval, 2.5)
        XCTAssertEqual(c.probeFailures, 4)
        XCTAssertEqual(c.thermalAction, .pause)
        XCTAssertEqual(c.threads, 4)
        XCTAssertEqual(c.ledLine, 17)
        XCTAssertNil(c.buttonLine)
        XCTAssertTrue(c.ledActiveLow)
        XCTAssertEqual(c.hardwareWatchdog, "/dev/watchdog")
        XCTAssertNil(c.stateFile)
        XCTAssertEqual(try WatchdogConfig(parsing: "probe_url = http://127.0.0.1:9000").probeURL, .tcp(host: "127.0.0.1", port: 9000))
        XCTAssertNil(try WatchdogConfig(parsing: "probe_url =").probeURL)
    }

    func testTheShippedExampleParses() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Platforms/systemd/watchdog.conf")
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertNoThrow(try WatchdogConfig(parsing: text, name: "watchdog.conf"))
    }

    func testErrorsNameTheLine() {
        let cases: [(String, String)] = [
            ("probe_intervall = 3", "config:1: unknown key `probe_intervall`"),
            ("\n\nprobe_interval = soon", "config:3: `probe_interval` must be a number of seconds"),
            ("probe_interval = -1", "must be a number of seconds"),
            ("probe_failures = 0", "`probe_failures` must be an integer between 1 and 100"),
            ("probe_url = ftp://x", "must start with http:// or unix:"),
            ("probe_url = http://127.0.0.1", "needs a host and a port"),
            ("thermal_action = melt", "reduce-threads or pause"),
            ("led_active_low = maybe", "true or false"),
            ("tick = 1\ntick = 2", "config:2: `tick` is set twice"),
            ("just words", "expected `key = value`"),
            ("led_line = 3", "need `gpio_chip`"),
            ("thermal_zone = /x\nmax_temp_c = 70\nresume_temp_c = 80", "`resume_temp_c` must be below"),
            ("backoff_initial = 10\nbackoff_max = 5", "`backoff_max` must be at least"),
            ("threads = 2\nmin_threads = 4", "`min_threads` must not exceed"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try WatchdogConfig(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(text): \(error)")
            }
        }
    }
}

final class RestartPolicyTests: XCTestCase {
    func policy(_ restarts: Int = 100) -> RestartPolicy {
        var c = WatchdogConfig()
        c.backoffInitial = 1
        c.backoffMultiplier = 2
        c.backoffMax = 10
        c.crashLoopRestarts = restarts
        c.crashLoopWindow = 60
        c.stableAfter = 30
        return RestartPolicy(config: c)
    }

    func testBackOffDoublesUpToTheMaximum() {
        var p = policy()
        let delays = (0..<6).map { i -> Double in
            guard case .restart(let d) = p.failed(at: Double(i) * 100) else { return -1 }
            return d
        }
        XCTAssertEqual(delays, [1, 2, 4, 8, 10, 10])
    }

    func testAStableRunResetsTheBackOff() {
        var p = policy()
        _ = p.failed(at: 0)
        _ = p.failed(at: 1)
        p.healthy(since: 10, now: 20)
        XCTAssertEqual(p.consecutive, 2)
        p.healthy(since: 10, now: 40)
        XCTAssertEqual(p.consecutive, 0)
        XCTAssertEqual(p.failed(at: 50), .restart(after: 1))
    }

    func testTooManyFailuresInTheWindowIsTheSafeState() {
        var p = policy(3)
        XCTAssertEqual(p.failed(at: 0), .restart(after: 1))
        XCTAssertEqual(p.failed(at: 100), .restart(after: 2))  // the first fell out of the window
        XCTAssertEqual(p.failed(at: 110), .restart(after: 4))
        XCTAssertEqual(p.failed(at: 120), .safeState(failures: 3, window: 60))
        p.reset()
        XCTAssertEqual(p.failed(at: 130), .restart(after: 1))
    }
}

final class NotifyTests: XCTestCase {
    func check(abstract: Bool) throws {
        let listener = try NotifyListener(abstract: abstract)
        defer { listener.stop() }
        let env = ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": String(getpid())]
        let notifier = try XCTUnwrap(try SystemdNotifier(environment: env))
        XCTAssertEqual(notifier.watchdogInterval, 1.5)
        try notifier.ready(status: "ready\nnow")
        try notifier.watchdog()
        try notifier.extendTimeout(seconds: 2.5)
        try notifier.status("serving")
        try notifier.stopping(status: "bye")
        let got = listener.receive(for: 2, until: { $0.hasPrefix("STOPPING") })
        XCTAssertEqual(got, ["READY=1\nSTATUS=ready now", "WATCHDOG=1", "EXTEND_TIMEOUT_USEC=2500000", "STATUS=serving",
                             "STOPPING=1\nSTATUS=bye"])
    }

    func testMessagesReachAPathSocket() throws { try check(abstract: false) }
    func testMessagesReachAnAbstractSocket() throws { try check(abstract: true) }

    func testEnvironmentHandling() throws {
        XCTAssertNil(try SystemdNotifier(environment: [:]))
        let other = try XCTUnwrap(try SystemdNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000",
                                                                     "WATCHDOG_PID": "1"]))
        XCTAssertNil(other.watchdogInterval, "WATCHDOG_PID names another process")
        XCTAssertThrowsError(try SystemdNotifier(socketName: "relative/path"))
        let nobody = try SystemdNotifier(socketName: temporaryPath("nobody.sock"))
        XCTAssertThrowsError(try nobody.watchdog()) { XCTAssertTrue("\($0)".contains("cannot send")) }
    }
}

/// A device that records what the driver does with it (from any thread).
final class FakeWatchdogIO: WatchdogDeviceIO, @unchecked Sendable {
    private let lock = NSLock()
    private var _requests: [UInt] = []
    private var _written: [UInt8] = []
    private var _closedAfterWriting: [UInt8]?
    var failSetTimeout = false

    var requests: [UInt] { lock.withLock { _requests } }
    var keepAlives: Int { requests.filter { $0 == HardwareWatchdog.keepAliveRequest }.count }
    /// What had been written when the device was closed (nil while open).
    var closedAfterWriting: [UInt8]? { lock.withLock { _closedAfterWriting } }

    func control(_ request: UInt, _ value: inout Int32) -> Int32 {
        lock.withLock { _requests.append(request) }
        switch request {
        case 0xC004_5706:
            if failSetTimeout { return ENOTTY }
            value -= value % 2  // a driver that only does even seconds
        case 0x8004_5702: value = 0x20
        default: break
        }
        return 0
    }

    func write(_ bytes: [UInt8]) throws { lock.withLock { _written += bytes } }
    func close() { lock.withLock { _closedAfterWriting = _written } }
}

final class HardwareWatchdogTests: XCTestCase {
    func testSetsTheTimeoutKeepsAliveAndClosesWithTheMagicV() throws {
        let io = FakeWatchdogIO()
        let w = try HardwareWatchdog(io: io, name: "fake", timeout: 15)
        XCTAssertEqual(w.timeout, 14, "the applied timeout is the driver's answer")
        XCTAssertEqual(w.lastRebootByWatchdog, true)
        try w.keepAlive()
        try w.keepAlive()
        XCTAssertEqual(io.keepAlives, 2)
        w.close(disarm: true)
        XCTAssertEqual(io.closedAfterWriting, [UInt8(ascii: "V")])
        try w.keepAlive()  // closed: nothing more reaches the device
        XCTAssertEqual(io.keepAlives, 2)
    }

    func testAnUncleanCloseLeavesItArmed() throws {
        let io = FakeWatchdogIO()
        try HardwareWatchdog(io: io, name: "fake", timeout: 10).close(disarm: false)
        XCTAssertEqual(io.closedAfterWriting, [])
    }

    func testRequestNumbersMatchLinuxWatchdogH() {
        // _IOR('W', 5, int), _IOWR('W', 6, int), _IOR('W', 2, int) from <linux/watchdog.h>.
        func ioc(_ dir: UInt, _ nr: UInt) -> UInt { dir << 30 | 4 << 16 | UInt(UInt8(ascii: "W")) << 8 | nr }
        XCTAssertEqual(HardwareWatchdog.keepAliveRequest, ioc(2, 5))
        XCTAssertEqual(HardwareWatchdog.setTimeoutRequest, ioc(3, 6))
        XCTAssertEqual(HardwareWatchdog.getBootStatus, ioc(2, 2))
    }

    func testDevicesThatCannotBeUsedAreClearErrors() throws {
        XCTAssertThrowsError(try HardwareWatchdog.open(path: "/nonexistent/watchdog", timeout: 10)) {
            XCTAssertTrue("\($0)".contains("cannot open /nonexistent/watchdog: No such file"), "\($0)")
        }
        let file = temporaryPath("not-a-watchdog")
        FileManager.default.createFile(atPath: file, contents: Data())
        defer { unlink(file) }
        XCTAssertThrowsError(try HardwareWatchdog.open(path: file, timeout: 10)) {
            XCTAssertTrue("\($0)".contains("is not a usable watchdog: WDIOC_SETTIMEOUT failed"), "\($0)")
        }
        let io = FakeWatchdogIO()
        io.failSetTimeout = true
        XCTAssertThrowsError(try HardwareWatchdog(io: io, name: "fake", timeout: 10))
        XCTAssertNotNil(io.closedAfterWriting)
    }
}

final class DurableFileTests: XCTestCase {
    func testWritesReplacesAndLeavesNoTemporaryFile() throws {
        let dir = temporaryPath("dir")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/state.json"
        try AtomicFile.write(Array("one".utf8), to: path)
        try AtomicFile.write(Array("two".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "two")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["state.json"])
    }

    func testFailuresAreErrorsAndKeepTheOldFile() throws {
        XCTAssertThrowsError(try AtomicFile.write([1], to: "/nonexistent-dir/state.json")) {
            XCTAssertTrue("\($0)".contains("cannot create"), "\($0)")
        }
        let dir = temporaryPath("dir2")
        try FileManager.default.createDirectory(atPath: dir + "/state.json", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try AtomicFile.write([1], to: dir + "/state.json")) {
            XCTAssertTrue("\($0)".contains("cannot rename"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["state.json"], "no temporary file left")
    }

    func testStateRoundTrips() throws {
        let path = temporaryPath("state.json")
        defer { unlink(path) }
        let s = SupervisorState(phase: "ready", status: "ready (pid 7)", pid: 7, restarts: 2, threads: 4, temperature: 51.5,
                                lastFailure: "crash", updated: 1, events: [.init(time: 1, message: "started")])
        try AtomicFile.write(s.encoded(), to: path)
        XCTAssertEqual(try SupervisorState.read(from: path), s)
    }
}

final class GPIOTests: XCTestCase {
    func testPatternsOverTime() {
        XCTAssertEqual((0..<10).map { LEDPattern.loading.isOn(atMilliseconds: $0 * 250) },
                       [true, true, false, false, true, true, false, false, true, true])
        XCTAssertTrue((0..<50).allSatisfy { LEDPattern.ready.isOn(atMilliseconds: $0 * 37) })
        XCTAssertTrue((0..<50).allSatisfy { !LEDPattern.off.isOn(atMilliseconds: $0 * 37) })
        XCTAssertEqual((0..<4).map { LEDPattern.busy.isOn(atMilliseconds: $0 * 100 + 50) }, [true, false, true, false])
        XCTAssertEqual([0, 200, 350, 600, 1000, 1500].map { LEDPattern.fault.isOn(atMilliseconds: $0) },
                       [true, false, true, false, false, true])
    }

    func testTheLEDWritesOnlyChangesAndRestartsAPatternFromItsStart() throws {
        let line = FakeOutput()
        let led = StatusLED(line: line)
        led.show(.loading, now: 100)
        for t in stride(from: 100.0, to: 102.0, by: 0.05) { try led.update(now: t) }
        XCTAssertEqual(line.levels, [true, false, true, false])
        led.show(.ready, now: 102)
        try led.update(now: 102.01)
        try led.update(now: 103)
        XCTAssertEqual(line.levels.last, true)
        XCTAssertEqual(line.levels.count, 5)
        led.show(.fault, now: 103)
        try led.update(now: 103.2)  // second step of fault: off
        XCTAssertEqual(line.levels.last, false)
    }

    func testDebounceCountsOnePressPerBouncyContact() {
        var d = Debouncer(windowMilliseconds: 20, activeLow: true)
        func edge(_ ms: Double, _ rising: Bool) -> GPIOEdge { GPIOEdge(timestampNanoseconds: Int64(ms * 1e6), rising: rising) }
        // Press (falling) with bounces, hold, release (rising) with bounces, twice.
        let burst: [GPIOEdge] = [edge(0, false), edge(0.3, true), edge(0.7, false), edge(1.2, true), edge(1.5, false),
                                 edge(300, true), edge(300.4, false), edge(301, true),
                                 edge(900, false), edge(900.2, true), edge(900.9, false),
                                 edge(1300, true)]
        XCTAssertEqual(burst.filter { d.accept($0) }.count, 2)
        var high = Debouncer(windowMilliseconds: 20, activeLow: false)
        XCTAssertTrue(high.accept(edge(0, true)))
        XCTAssertFalse(high.accept(edge(5, true)), "inside the window")
        XCTAssertFalse(high.accept(edge(100, false)), "a release is not a press")
    }

    func testTheButtonMonitorReportsDebouncedPresses() async throws {
        let line = FakeEdges()
        let monitor = ButtonMonitor(line: line, debouncer: Debouncer(windowMilliseconds: 20, activeLow: true))
        let presses = Counter()
        monitor.start(onPress: { presses.add() })
        line.push([GPIOEdge(timestampNanoseconds: 0, rising: false), GPIOEdge(timestampNanoseconds: 100_000, rising: true),
                   GPIOEdge(timestampNanoseconds: 500_000_000, rising: true),
                   GPIOEdge(timestampNanoseconds: 900_000_000, rising: false)])
        let two = await eventually(2) { presses.value == 2 }
        XCTAssertTrue(two)
        monitor.stop()
        let released = await eventually(1) { line.released }
        XCTAssertTrue(released)
    }

    func testAMissingChipIsAClearErrorThroughTheRealShim() {
        _ = cgpiod_load_with(nil, nil)  // the system's libgpiod, not a fake another test loaded
        XCTAssertThrowsError(try LibgpiodChip("gpiochip-that-does-not-exist")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("cannot open GPIO chip `gpiochip-that-does-not-exist`"), text)
            XCTAssertTrue(text.contains("gpiodetect"), text)
        }
        XCTAssertThrowsError(try LibgpiodChip("/dev/gpiochip99"))
        XCTAssertNil(cgpiod_chip_open(""))
        let version = LibgpiodChip.libraryVersion
        XCTAssertTrue(version.hasPrefix("1.") || version.hasPrefix("2."), version)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
