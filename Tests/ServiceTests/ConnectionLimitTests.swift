import Base
import Foundation
import Hummingbird
import HummingbirdTesting
import Service
import Watchdog
import XCTest

/// Bounded connections: a flood of idle sockets and of oversized requests whose clients hang up
/// neither locks out `/health` nor leaves descriptors behind.
final class ConnectionLimitTests: XCTestCase {
    /// Descriptors this process has open.
    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// A connected TCP socket to 127.0.0.1:`port` (blocking connect), or -1.
    static func connectSocket(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// Sends a request head with a 1 MB header (as much as the socket takes without blocking),
    /// then hangs up.
    static func oversizedThenGone(_ port: Int) {
        let fd = connectSocket(port)
        guard fd >= 0 else { return }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let head = Array("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".utf8) + [UInt8](repeating: 0x61, count: 1 << 20)
        var sent = 0
        let end = Date().addingTimeInterval(0.2)
        while sent < head.count && Date() < end {
            let n = head[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n } else if errno == EAGAIN { usleep(1_000) } else { break }
        }
        close(fd)
    }

    func testAFloodOfIdleAndOversizedConnectionsLeavesHealthAndDescriptorsIntact() async throws {
        var rl = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        if rl.rlim_cur < 4096 {
            guard rl.rlim_max >= 4096 else { throw XCTSkip("the hard descriptor limit \(rl.rlim_max) is below 4096") }
            rl.rlim_cur = 4096
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        }
        let server = makeServer {
            $0.maxConnections = 200
            $0.lingerTimeout = 0.5
        }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let port = client.port!
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: port)
            let warm = try await offThread { try HTTPConnection.request(endpoint, path: "/health", timeout: 5) }
            XCTAssertEqual(warm.status, 200)
            _ = await eventually(2) { server.connectionsOpen == 0 }
            let baseline = Self.openDescriptors()

            let accepted = server.connectionsAccepted
            let idle = try await offThread { (0..<1_100).map { _ in Self.connectSocket(port) } }
            XCTAssertEqual(idle.filter { $0 < 0 }.count, 0, "some idle connections could not connect")
            // The kernel completes the handshakes; wait until the server has taken them all in.
            let taken = await eventually(20) { server.connectionsAccepted - accepted >= 1_100 }
            XCTAssertTrue(taken, "\(server.connectionsAccepted - accepted) of 1100 accepted")
            let (health, seconds) = try await offThread { () -> (HTTPReply, Double) in
                let t0 = monotonicSeconds()
                let r = try HTTPConnection.request(endpoint, path: "/health", timeout: 1)
                return (r, monotonicSeconds() - t0)
            }
            XCTAssertEqual(health.status, 200)
            XCTAssertLessThan(seconds, 1)
            XCTAssertLessThanOrEqual(server.connectionsOpen, 200)

            try await offThread { for _ in 0..<200 { Self.oversizedThenGone(port) } }
            _ = await eventually(20) { server.connectionsAccepted - accepted >= 1_301 }
            let (again, seconds2) = try await offThread { () -> (HTTPReply, Double) in
                let t0 = monotonicSeconds()
                let r = try HTTPConnection.request(endpoint, path: "/health", timeout: 1)
                return (r, monotonicSeconds() - t0)
            }
            XCTAssertEqual(again.status, 200)
            XCTAssertLessThan(seconds2, 1)

            for fd in idle where fd >= 0 { close(fd) }
            let back = await eventually(10) { server.connectionsOpen == 0 && Self.openDescriptors() <= baseline }
            XCTAssertTrue(back, "descriptors: \(Self.openDescriptors()) now, \(baseline) before; \(server.connectionsOpen) connections open")
            let text = server.metrics.render()
            XCTAssertGreaterThan(metric(text, #"gemma_edge_connections_closed_total{reason="limit_idle_dropped"}"#) ?? 0, 800)
        }
    }

    func testASilentConnectionIsClosedAtTheHeaderTimeout() async throws {
        let server = makeServer { $0.headerTimeout = 0.3 }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let fd = Self.connectSocket(client.port!)
            XCTAssertGreaterThanOrEqual(fd, 0)
            defer { close(fd) }
            // The server hangs up: a read returns end of stream.
            let closed = try await offThread { () -> Bool in
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 3_000) == 1 else { return false }
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, 0) == 0
            }
            XCTAssertTrue(closed)
            // (The test client's own idle connection may be closed the same way.)
            XCTAssertGreaterThanOrEqual(metric(server.metrics.render(), #"gemma_edge_connections_closed_total{reason="header_timeout"}"#) ?? 0, 1)
        }
    }
}
