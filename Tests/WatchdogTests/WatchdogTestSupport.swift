import Base
import Foundation
import Logging
import Watchdog
import XCTest

/// A fake GPIO chip: outputs record their levels, edge lines play queued edges.
final class FakeChip: GPIOChip, @unchecked Sendable {
    let name = "fakechip0"
    private let lock = NSLock()
    private(set) var outputs: [Int: FakeOutput] = [:]
    private(set) var inputs: [Int: FakeEdges] = [:]

    func output(line: Int, activeLow: Bool, consumer: String) throws -> any GPIOOutputLine {
        let o = FakeOutput()
        lock.withLock { outputs[line] = o }
        return o
    }

    func edges(line: Int, pullUp: Bool, consumer: String) throws -> any GPIOEdgeLine {
        let e = FakeEdges()
        lock.withLock { inputs[line] = e }
        return e
    }
}

final class FakeOutput: GPIOOutputLine, @unchecked Sendable {
    private let lock = NSLock()
    private var _levels: [Bool] = []
    private(set) var released = false
    var levels: [Bool] { lock.withLock { _levels } }

    func set(_ on: Bool) throws { lock.withLock { _levels.append(on) } }
    func release() { lock.withLock { released = true } }
}

final class FakeEdges: GPIOEdgeLine, @unchecked Sendable {
    private let lock = NSLock()
    private var queue: [GPIOEdge] = []
    private(set) var released = false

    func push(_ edges: [GPIOEdge]) { lock.withLock { queue += edges } }

    func waitEdge(timeout: Double) throws -> GPIOEdge? {
        if let e = lock.withLock({ queue.isEmpty ? nil : queue.removeFirst() }) { return e }
        usleep(useconds_t(min(timeout, 0.02) * 1e6))
        return nil
    }

    func release() { lock.withLock { released = true } }
}

/// A datagram socket that plays systemd's notify socket: a thread reads every datagram as it
/// comes (systemd does too; an unread socket fills after ten datagrams).
final class NotifyListener: @unchecked Sendable {
    let name: String
    private let fd: Int32
    private let lock = NSLock()
    private var messages: [String] = []
    private var taken = 0
    private var open = true

    /// `abstract`: bind `@name` in the abstract namespace instead of a file.
    init(abstract: Bool) throws {
        let base = "gemma-edge-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        name = abstract ? "@" + base : NSTemporaryDirectory() + base + ".sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = (i == 0 && abstract) ? 0 : b }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let length = socklen_t(offset + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard rc == 0 else { throw NSError(domain: "bind", code: Int(errno)) }
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while lock.withLock({ open }) {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 50) > 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 {
                    let m = String(decoding: buffer[0..<n], as: UTF8.self)
                    lock.withLock { messages.append(m) }
                }
            }
            close(fd)
        }.start()
    }

    /// Stops the reading thread and removes the socket file.
    func stop() {
        lock.withLock { open = false }
        if !name.hasPrefix("@") { unlink(name) }
    }

    /// The datagrams not taken yet, waiting up to `seconds` (less once `until` matches one).
    func receive(for seconds: Double, until: ((String) -> Bool)? = nil) -> [String] {
        let end = monotonicSeconds() + seconds
        while true {
            let (fresh, matched) = lock.withLock { () -> ([String], Bool) in
                let f = Array(messages[taken...])
                return (f, until.map { f.contains(where: $0) } ?? false)
            }
            if matched || monotonicSeconds() >= end {
                lock.withLock { taken += fresh.count }
                return fresh
            }
            usleep(10_000)
        }
    }
}

/// A small HTTP server in Python playing the supervised server: `/health` (503 for
/// `LOAD_SECONDS`, then 200, busy and stalled for `STALLED_SECONDS` when set) and
/// `POST /v1/completions` (hangs when `GEN_HANG=1`).
enum ChildServer {
    static let python = "/usr/bin/python3"
    static let script = """
    import http.server, json, os, socketserver, sys, time
    port = int(sys.argv[1]); start = time.time()
    loading = float(os.environ.get("LOAD_SECONDS", "0"))
    if os.environ.get("ARGV_FILE"):
        with open(os.environ["ARGV_FILE"], "a") as f: f.write(" ".join(sys.argv[2:]) + "\\n")
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def reply(self, code, obj):
            b = json.dumps(obj).encode()
            self.send_response(code); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
        def do_GET(self):
            if time.time() < float(os.environ.get("HEALTH_HANG_UNTIL", "0")): time.sleep(2)
            ready = time.time() - start >= loading
            stalled = float(os.environ.get("STALLED_SECONDS", "0"))
            self.reply(200 if ready else 503, {"status": "ok" if ready else "loading", "busy": stalled > 0,
                                               "stalled_seconds": stalled})
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if os.environ.get("GEN_HANG") == "1": time.sleep(3600)
            self.reply(200, {"choices": [{"text": "x"}]})
    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
    S(("127.0.0.1", port), H).serve_forever()
    """

    static func command(port: Int) -> [String] { [python, "-c", script, String(port)] }

    /// A TCP port nothing listens on right now.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(fd, $0, len)
                _ = getsockname(fd, $0, &len)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A config with short times, so supervision tests take about a second each.
func fastConfig(port: Int?) -> WatchdogConfig {
    var c = WatchdogConfig()
    c.probeURL = port.map { .tcp(host: "127.0.0.1", port: $0) }
    c.tick = 0.05
    c.probeInterval = 0.15
    c.probeTimeout = 0.3
    c.probeFailures = 2
    c.generationProbeInterval = 0
    c.startupTimeout = 10
    c.stopTimeout = 1
    c.backoffInitial = 0.1
    c.backoffMax = 1
    c.stableAfter = 60
    c.crashLoopRestarts = 20
    c.crashLoopWindow = 60
    return c
}

/// Runs a supervisor in the background for the duration of `body`, then stops it.
func withSupervisor(_ supervisor: Supervisor, _ body: () async throws -> Void) async throws {
    let task = Task { try await supervisor.supervise() }
    do {
        try await body()
    } catch {
        supervisor.requestStop()
        _ = try? await task.value
        throw error
    }
    supervisor.requestStop()
    try await task.value
}

/// Polls every 20 ms for up to `seconds`.
func eventually(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
    let end = monotonicSeconds() + seconds
    while monotonicSeconds() < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

let quietLogger: Logger = {
    var l = Logger(label: "test.watchdog")
    l.logLevel = .critical
    return l
}()

func temporaryPath(_ name: String) -> String {
    NSTemporaryDirectory() + "gemma-edge-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}
