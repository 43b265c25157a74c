import Base
import Foundation
@testable import Watchdog
import XCTest

final class ChildProcessTests: XCTestCase {
    func testExitStatusSignalsAndEnvironment() throws {
        let exits = try ChildProcess(arguments: ["/bin/sh", "-c", "exit 3"])
        while exits.poll() == nil { usleep(5_000) }
        XCTAssertEqual(exits.termination, .exited(3))

        // The supervisor ignores SIGTERM itself (ServiceLifecycle does); the child must not inherit that.
        let old = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, old) }
        let sleeper = try ChildProcess(arguments: ["/bin/sleep", "30"])
        XCTAssertEqual(sleeper.terminate(grace: 5), .signalled(SIGTERM))

        let out = temporaryPath("env")
        defer { unlink(out) }
        let env = ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "KEEP": "yes", "PATH": "/usr/bin:/bin"]
        let printer = try ChildProcess(arguments: ["/bin/sh", "-c", "env > \(out)"], environment: env)
        while printer.poll() == nil { usleep(5_000) }
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(text.contains("KEEP=yes"))
        XCTAssertFalse(text.contains("NOTIFY_SOCKET"))
        XCTAssertFalse(text.contains("WATCHDOG_USEC"))
    }

    func testAStoppedChildIsKilledAfterTheGrace() throws {
        let c = try ChildProcess(arguments: ["/bin/sh", "-c", "trap '' TERM; kill -STOP $$; sleep 30"])
        let stopped = (0..<200).contains { _ in usleep(5_000); return c.isStopped }
        XCTAssertTrue(stopped)
        let t0 = monotonicSeconds()
        XCTAssertEqual(c.terminate(grace: 0.3), .signalled(SIGKILL))
        XCTAssertLessThan(monotonicSeconds() - t0, 2)
    }

    func testResidentMemoryIsRead() throws {
        let rss = try XCTUnwrap(ChildProcess.residentMegabytes(statusFile: "/proc/self/status"))
        XCTAssertGreaterThan(rss, 1)
        XCTAssertNil(ChildProcess.residentMegabytes(statusFile: "/nonexistent"))
        XCTAssertThrowsError(try ChildProcess(arguments: ["/nonexistent/program"]))
    }
}

final class SupervisorTests: XCTestCase {
    func testACrashingChildIsRestartedWithGrowingBackOffThenTheSafeState() async throws {
        var c = fastConfig(port: nil)
        c.backoffInitial = 0.1
        c.backoffMultiplier = 2
        c.backoffMax = 1
        c.crashLoopRestarts = 5
        c.crashLoopWindow = 60
        let state = temporaryPath("state.json")
        defer { unlink(state) }
        c.stateFile = state
        let listener = try NotifyListener(abstract: true)
        defer { listener.stop() }
        let s = try Supervisor(command: ["/bin/sh", "-c", "exit 7"], config: c,
                               notifier: try SystemdNotifier(socketName: listener.name), logger: quietLogger)
        try await withSupervisor(s) {
            let safe = await eventually(5) { s.snapshot.phase == .safe }
            XCTAssertTrue(safe, s.snapshot.status)
            let snap = s.snapshot
            XCTAssertEqual(snap.starts.count, 5)
            let gaps = zip(snap.starts.dropFirst(), snap.starts).map { $0 - $1 }
            for (gap, delay) in zip(gaps, [0.1, 0.2, 0.4, 0.8]) {
                XCTAssertGreaterThanOrEqual(gap, delay)
                XCTAssertLessThan(gap, delay + 0.3, "\(gaps)")
            }
            XCTAssertTrue(snap.status.contains("SAFE STATE: 5 failures within 60 s"), snap.status)
            XCTAssertTrue(snap.failures.allSatisfy { $0.contains("exited with status 7") }, "\(snap.failures)")
            XCTAssertEqual(snap.led, .fault)
            // No thrashing: nothing more starts.
            try await Task.sleep(for: .milliseconds(400))
            XCTAssertEqual(s.snapshot.starts.count, 5)
            let saved = try SupervisorState.read(from: state)
            XCTAssertEqual(saved.phase, "safe")
            XCTAssertTrue(saved.events.contains { $0.message.contains("SAFE STATE") })
            let messages = listener.receive(for: 1, until: { $0.contains("READY=1") })
            XCTAssertTrue(messages.contains { $0.hasPrefix("READY=1\nSTATUS=SAFE STATE") }, "\(messages)")
            // The button (a restart request) leaves the safe state.
            s.requestRestart(reason: "button pressed")
            let again = await eventually(2) { s.snapshot.starts.count > 5 }
            XCTAssertTrue(again)
        }
        XCTAssertEqual(s.snapshot.phase, .stopped)
    }

    func testAStoppedChildIsDetectedAndReplaced() async throws {
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        // A slow generation probe in flight must not delay the health probes.
        c.generationProbeInterval = 0.2
        c.generationProbeTimeout = 20
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, logger: quietLogger)
        try await withSupervisor(s) {
            let ready = await eventually(10) { s.snapshot.phase == .ready }
            XCTAssertTrue(ready, s.snapshot.status)
            try await Task.sleep(for: .milliseconds(300))  // a generation probe has started
            let first = try XCTUnwrap(s.snapshot.pid)
            kill(first, SIGSTOP)
            let t0 = monotonicSeconds()
            // Bound: two probe intervals and timeouts (0.9 s), SIGTERM to a stopped child (SIGCONT
            // goes with it), the back-off (0.1 s) and the new child's start: well under 4 s.
            let replaced = await eventually(4) { s.snapshot.phase == .ready && s.snapshot.pid != first }
            XCTAssertTrue(replaced, s.snapshot.status)
            XCTAssertLessThan(monotonicSeconds() - t0, 4)
            XCTAssertTrue(s.snapshot.failures.last?.contains("2 health probes in a row failed") ?? false, "\(s.snapshot.failures)")
            XCTAssertTrue(s.snapshot.failures.last?.contains("timed out") ?? false, "\(s.snapshot.failures)")
            XCTAssertNotEqual(kill(first, 0), 0, "the hung child is gone")
        }
    }

    func testAKilledChildIsDetectedAndReplaced() async throws {
        let port = ChildServer.freePort()
        let s = try Supervisor(command: ChildServer.command(port: port), config: fastConfig(port: port), logger: quietLogger)
        try await withSupervisor(s) {
            let ready = await eventually(10) { s.snapshot.phase == .ready }
            XCTAssertTrue(ready)
            let first = try XCTUnwrap(s.snapshot.pid)
            kill(first, SIGKILL)
            let replaced = await eventually(5) { s.snapshot.phase == .ready && s.snapshot.pid != first }
            XCTAssertTrue(replaced, s.snapshot.status)
            XCTAssertTrue(s.snapshot.failures.last?.contains("killed by signal 9") ?? false, "\(s.snapshot.failures)")
            XCTAssertEqual(s.snapshot.restarts, 1)
        }
    }

    func testReadyOnlyWhenHealthyWithKeepAlivesAndExtensionsMeanwhile() async throws {
        let port = ChildServer.freePort()
        let listener = try NotifyListener(abstract: false)
        defer { listener.stop() }
        let notifier = try SystemdNotifier(socketName: listener.name, watchdogInterval: 0.1)
        setenv("LOAD_SECONDS", "0.8", 1)
        defer { unsetenv("LOAD_SECONDS") }
        let s = try Supervisor(command: ChildServer.command(port: port), config: fastConfig(port: port), notifier: notifier,
                               logger: quietLogger)
        let t0 = monotonicSeconds()
        try await withSupervisor(s) {
            let messages = listener.receive(for: 8, until: { $0.hasPrefix("READY=1") })
            XCTAssertEqual(messages.filter { $0.hasPrefix("READY=1") }.count, 1)
            let readyAt = monotonicSeconds() - t0
            let ready = try XCTUnwrap(messages.firstIndex { $0.hasPrefix("READY=1") }, "\(messages)")
            XCTAssertTrue(messages[ready].hasPrefix("READY=1\nSTATUS=ready (pid"), "\(messages)")
            XCTAssertGreaterThanOrEqual(readyAt, 0.8, "READY=1 came before /health said 200")
            let before = messages[..<ready]
            XCTAssertTrue(before.contains("EXTEND_TIMEOUT_USEC=10000000"), "\(messages)")
            XCTAssertGreaterThanOrEqual(before.filter { $0 == "WATCHDOG=1" }.count, 5, "\(messages)")
            XCTAssertTrue(before.contains { $0.hasPrefix("STATUS=starting") }, "\(messages)")
            // Keep-alives go on while ready, at the asked-for rate.
            let later = listener.receive(for: 0.5)
            XCTAssertGreaterThanOrEqual(later.filter { $0 == "WATCHDOG=1" }.count, 3)
            XCTAssertLessThanOrEqual(later.filter { $0 == "WATCHDOG=1" }.count, 7)
        }
        let last = listener.receive(for: 1, until: { $0.hasPrefix("STOPPING=1") })
        XCTAssertTrue(last.contains { $0.hasPrefix("STOPPING=1") }, "\(last)")
    }

    func testAHungGenerationIsDetectedWhileHealthStillAnswers() async throws {
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        c.generationProbeInterval = 0.2
        c.generationProbeTimeout = 0.3
        setenv("GEN_HANG", "1", 1)
        defer { unsetenv("GEN_HANG") }
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, logger: quietLogger)
        try await withSupervisor(s) {
            let failed = await eventually(8) { !s.snapshot.failures.isEmpty }
            XCTAssertTrue(failed)
            // Health probes kept succeeding in between; the generation failures still add up.
            XCTAssertTrue(s.snapshot.failures[0].contains("2 generation probes in a row failed"), "\(s.snapshot.failures)")
            XCTAssertTrue(s.snapshot.failures[0].contains("one-token generation did not finish"), "\(s.snapshot.failures)")
        }
    }

    func testABusyEngineThatMakesNoProgressIsAHang() async throws {
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        c.generationProbeInterval = 0.1
        c.generationProbeTimeout = 5
        setenv("STALLED_SECONDS", "7.5", 1)
        defer { unsetenv("STALLED_SECONDS") }
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, logger: quietLogger)
        try await withSupervisor(s) {
            let failed = await eventually(8) { !s.snapshot.failures.isEmpty }
            XCTAssertTrue(failed)
            XCTAssertTrue(s.snapshot.failures[0].contains("no progress for 7.5 s"), "\(s.snapshot.failures)")
        }
    }

    func testMemoryCeiling() async throws {
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        c.maxRSSMegabytes = 1
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, logger: quietLogger)
        try await withSupervisor(s) {
            let failed = await eventually(8) { !s.snapshot.failures.isEmpty }
            XCTAssertTrue(failed)
            XCTAssertTrue(s.snapshot.failures[0].contains("over the 1 MiB ceiling"), "\(s.snapshot.failures)")
        }
    }

    func testHeatReducesThreadsThenPausesAndResumes() async throws {
        let port = ChildServer.freePort()
        let zone = temporaryPath("temp")
        let argv = temporaryPath("argv")
        defer { unlink(zone); unlink(argv) }
        try "50000\n".write(toFile: zone, atomically: true, encoding: .utf8)
        var c = fastConfig(port: port)
        c.thermalZone = zone
        c.maxTemperature = 80
        c.resumeTemperature = 70
        c.threads = 4
        c.minThreads = 2
        c.thermalCooldown = 0.5
        setenv("ARGV_FILE", argv, 1)
        defer { unsetenv("ARGV_FILE") }
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, logger: quietLogger)
        try await withSupervisor(s) {
            let ready = await eventually(10) { s.snapshot.phase == .ready }
            XCTAssertTrue(ready)
            try "85000\n".write(toFile: zone, atomically: true, encoding: .utf8)
            let reduced = await eventually(5) { s.snapshot.threads == 2 && s.snapshot.phase == .ready }
            XCTAssertTrue(reduced, s.snapshot.status)
            XCTAssertEqual(try String(contentsOfFile: argv, encoding: .utf8), "--threads 4\n--threads 2\n")
            XCTAssertTrue(s.snapshot.failures.isEmpty, "a thermal restart is not a failure")
            // Still hot at the minimum: pause (SIGSTOP) until it cools.
            let paused = await eventually(5) { s.snapshot.phase == .paused }
            XCTAssertTrue(paused, s.snapshot.status)
            let pid = try XCTUnwrap(s.snapshot.pid)
            let stopped = await eventually(2) { (try? ChildProcess.state(of: pid)) == "T" }
            XCTAssertTrue(stopped)
            XCTAssertEqual(s.snapshot.led, .fault)
            try "60000\n".write(toFile: zone, atomically: true, encoding: .utf8)
            let resumed = await eventually(5) { s.snapshot.phase == .ready }
            XCTAssertTrue(resumed, s.snapshot.status)
            XCTAssertEqual(s.snapshot.pid, pid, "the same child continues")
        }
    }

    func testWatchdogKeepAlivesLEDAndButtonOnFakeDevices() async throws {
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        c.gpioChip = "fake"
        c.ledLine = 17
        c.buttonLine = 27
        c.buttonDebounceMilliseconds = 20
        let io = FakeWatchdogIO()
        let hardware = try HardwareWatchdog(io: io, name: "fake", timeout: 2)
        setenv("LOAD_SECONDS", "1.2", 1)  // long enough to see the loading blink go off once
        defer { unsetenv("LOAD_SECONDS") }
        let chip = FakeChip()
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, hardwareWatchdog: hardware, gpio: chip,
                               logger: quietLogger)
        let led = try XCTUnwrap(chip.outputs[17])
        let button = try XCTUnwrap(chip.inputs[27])
        try await withSupervisor(s) {
            let ready = await eventually(10) { s.snapshot.phase == .ready }
            XCTAssertTrue(ready)
            let steady = await eventually(2) { led.levels.last == true }
            XCTAssertTrue(steady)
            XCTAssertEqual(s.snapshot.led, .ready)
            XCTAssertTrue(led.levels.contains(false), "the loading blink came first: \(led.levels)")
            let first = try XCTUnwrap(s.snapshot.pid)
            // A bouncy press restarts the child once.
            button.push([GPIOEdge(timestampNanoseconds: 1_000_000_000, rising: false),
                         GPIOEdge(timestampNanoseconds: 1_000_200_000, rising: true),
                         GPIOEdge(timestampNanoseconds: 1_000_400_000, rising: false)])
            let restarted = await eventually(5) { s.snapshot.phase == .ready && s.snapshot.pid != first }
            XCTAssertTrue(restarted, s.snapshot.status)
            XCTAssertEqual(s.snapshot.starts.count, 2)
            XCTAssertTrue(s.snapshot.failures.isEmpty)
            // The 2 s device timeout is fed every third of it from the loop.
            let t0 = monotonicSeconds(), before = io.keepAlives
            let fed = await eventually(3) { io.keepAlives >= before + 2 }
            XCTAssertTrue(fed)
            XCTAssertGreaterThan(monotonicSeconds() - t0, 0.6, "not faster than a third of the timeout")
            XCTAssertNil(io.closedAfterWriting, "still armed while running")
        }
        XCTAssertEqual(io.closedAfterWriting, [UInt8(ascii: "V")], "magic close on a clean stop")
        XCTAssertEqual(led.levels.last, false)
        XCTAssertTrue(led.released)
        let released = await eventually(1) { button.released }
        XCTAssertTrue(released)
    }

    func testShutdownForwardsSIGTERMToTheChild() async throws {
        let marker = temporaryPath("term")
        defer { unlink(marker) }
        let script = "trap 'echo term > \(marker); exit 0' TERM; while true; do sleep 0.05; done"
        let s = try Supervisor(command: ["/bin/sh", "-c", script], config: fastConfig(port: nil), logger: quietLogger)
        try await withSupervisor(s) {
            let ready = await eventually(5) { s.snapshot.phase == .ready }
            XCTAssertTrue(ready)
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(try String(contentsOfFile: marker, encoding: .utf8), "term\n")
        XCTAssertEqual(s.snapshot.phase, .stopped)
        XCTAssertNil(s.snapshot.pid)
    }
}
