import Foundation
import Watchdog
import XCTest

/// A child that runs but cannot answer (a flood of clients at its door) is replaced with
/// back-off and never drives the supervisor into the safe state; children that really crash
/// still do. The probe address comes from the child's own arguments, and secrets stay out of logs.
final class FloodTests: XCTestCase {
    func testUnansweredProbesBackOffButNeverReachTheSafeState() async throws {
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        c.crashLoopRestarts = 2  // two crashes would be the safe state
        // Every child started in the next 2.5 s hangs its /health (as under a flood), then they answer.
        setenv("HEALTH_HANG_UNTIL", String(Date().timeIntervalSince1970 + 2.5), 1)
        defer { unsetenv("HEALTH_HANG_UNTIL") }
        let s = try Supervisor(command: ChildServer.command(port: port), config: c, logger: quietLogger)
        try await withSupervisor(s) {
            var sawSafe = false
            let recovered = await eventually(12) {
                if s.snapshot.phase == .safe { sawSafe = true }
                return s.snapshot.phase == .ready
            }
            XCTAssertFalse(sawSafe, s.snapshot.status)
            XCTAssertTrue(recovered, s.snapshot.status)
            XCTAssertGreaterThanOrEqual(s.snapshot.restarts, 2, "\(s.snapshot.failures)")
            XCTAssertTrue(s.snapshot.failures.allSatisfy { $0.contains("timed out") }, "\(s.snapshot.failures)")
        }
    }

    func testUncountedFailuresGrowTheBackOffOnly() {
        var c = WatchdogConfig()
        c.crashLoopRestarts = 2
        c.backoffInitial = 1
        c.backoffMax = 8
        var p = RestartPolicy(config: c)
        var delays: [Double] = []
        for i in 0..<6 {
            guard case .restart(let d) = p.failed(at: Double(i), counted: false) else { return XCTFail("safe state at \(i)") }
            delays.append(d)
        }
        XCTAssertEqual(delays, [1, 2, 4, 8, 8, 8])
        XCTAssertEqual(p.failed(at: 10), .restart(after: 8))
        XCTAssertEqual(p.failed(at: 11), .safeState(failures: 2, window: c.crashLoopWindow))
    }

    func testTheProbeAddressComesFromTheServeArguments() {
        let bin = "/usr/local/bin/gemma-edge"
        XCTAssertEqual(WatchdogConfig.servedEndpoint(of: [bin, "serve", "-m", "x.gguf", "--port", "9000"]),
                       .tcp(host: "127.0.0.1", port: 9000))
        XCTAssertEqual(WatchdogConfig.servedEndpoint(of: [bin, "serve", "--host=0.0.0.0", "--port=81"]),
                       .tcp(host: "127.0.0.1", port: 81))
        XCTAssertEqual(WatchdogConfig.servedEndpoint(of: [bin, "serve", "--host", "::"]), .tcp(host: "::1", port: 8080))
        XCTAssertEqual(WatchdogConfig.servedEndpoint(of: [bin, "serve", "--unix", "/run/g.sock"]), .unix(path: "/run/g.sock"))
        XCTAssertNil(WatchdogConfig.servedEndpoint(of: ["/usr/bin/python3", "-m", "http.server"]))
        // A configured probe_url wins over the arguments.
        var c = try! WatchdogConfig(parsing: "probe_url = http://127.0.0.1:7000\n", name: "test")
        XCTAssertTrue(c.probeURLConfigured)
        c = try! WatchdogConfig(parsing: "probe_interval = 5\n", name: "test")
        XCTAssertFalse(c.probeURLConfigured)
    }

    func testTheAPIKeyNeverReachesTheLogOrTheStateFile() async throws {
        XCTAssertEqual(WatchdogConfig.redacted(["serve", "--api-key", "s3cret", "--api-key=abc", "--port", "1"]),
                       ["serve", "--api-key", "***", "--api-key=***", "--port", "1"])
        let port = ChildServer.freePort()
        var c = fastConfig(port: port)
        c.apiKey = "s3cret-key"
        let state = NSTemporaryDirectory() + "gemma-edge-flood-state-\(getpid()).json"
        defer { unlink(state) }
        c.stateFile = state
        let s = try Supervisor(command: ChildServer.command(port: port) + ["--api-key", "s3cret-key"], config: c,
                               logger: quietLogger)
        try await withSupervisor(s) {
            let ready = await eventually(10) { s.snapshot.phase == .ready }
            XCTAssertTrue(ready, s.snapshot.status)
        }
        let text = (try? String(contentsOfFile: state, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("started child"), text)
        XCTAssertFalse(text.contains("s3cret-key"), text)
    }

    func testTheChildIsToldWhoSupervisesIt() throws {
        let out = NSTemporaryDirectory() + "gemma-edge-link-\(getpid())"
        defer { unlink(out) }
        let child = try ChildProcess(arguments: ["/bin/sh", "-c", "echo $\(SupervisorLink.variable) > \(out)"])
        let deadline = Date().addingTimeInterval(5)
        while child.poll() == nil && Date() < deadline { usleep(10_000) }
        XCTAssertEqual((try? String(contentsOfFile: out, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines),
                       String(getpid()))
    }
}
