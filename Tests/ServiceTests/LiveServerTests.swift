import Foundation
import Hummingbird
import HummingbirdTesting
import Service
import Watchdog
import XCTest

/// The server on a real loopback socket: many clients at once, clients that leave, a full queue,
/// timeouts, and a Unix socket.
final class LiveServerTests: XCTestCase {
    static let json = ["Content-Type": "application/json"]
    /// A generation that would run for thousands of tokens unless something stops it.
    static let endless = #"{"prompt":"hello","max_tokens":4000,"ignore_eos":true,"temperature":0,"stream":true}"#
    static let endlessChat = #"{"messages":[{"role":"user","content":"hello"}],"max_tokens":4000,"ignore_eos":true,"stream":true}"#

    func testTwentyConcurrentStreamingClientsAllComplete() async throws {
        let server = makeServer { $0.queueCapacity = 20 }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            let results = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await offThread {
                            let body = #"{"messages":[{"role":"user","content":"hello \#(i)"}],"max_tokens":8,"seed":\#(i),"stream":true}"#
                            let r = try HTTPConnection.request(endpoint, method: "POST", path: "/v1/chat/completions",
                                                               headers: Self.json, body: Array(body.utf8), timeout: 30)
                            return (r.status, sseEvents(r.text))
                        }
                    }
                }
                var all: [(Int, [String])] = []
                for try await r in group { all.append(r) }
                return all
            }
            XCTAssertEqual(results.count, 20)
            for (status, events) in results {
                XCTAssertEqual(status, 200)
                XCTAssertEqual(events.last, "[DONE]")
                let finish = object(events[events.count - 2])
                let reason = (finish["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String
                XCTAssertTrue(reason == "stop" || reason == "length", "\(events)")
            }
            let idle = await eventually(2) { server.queueDepth == (0, 0) }
            XCTAssertTrue(idle)
            let metrics = server.metrics.render()
            XCTAssertEqual(metric(metrics, #"gemma_edge_requests_total{path="/v1/chat/completions",status="200"}"#), 20)
        }
    }

    func testAClientThatLeavesMidStreamFreesItsSlot() async throws {
        let server = makeServer(model: Models.long) { $0.maxTokensCap = 4000 }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            // Streamed: read the first chunk, then hang up.
            try await offThread {
                let c = try HTTPConnection(endpoint, timeout: 10)
                try c.sendRequest(method: "POST", path: "/v1/completions", headers: Self.json, body: Array(Self.endless.utf8))
                XCTAssertEqual(try c.readHead().status, 200)
                XCTAssertNotNil(try c.readBodyPart())
                c.close()
            }
            var freed = await eventually(3) { server.queueDepth == (0, 0) }
            XCTAssertTrue(freed, "the generation kept running after the client left")
            // Not streamed: hang up while it generates.
            try await offThread {
                let c = try HTTPConnection(endpoint, timeout: 10)
                let body = Self.endless.replacingOccurrences(of: #""stream":true"#, with: #""stream":false"#)
                try c.sendRequest(method: "POST", path: "/v1/completions", headers: Self.json, body: Array(body.utf8))
                let end = Date().addingTimeInterval(5)
                while server.queueDepth.running == 0 && Date() < end { usleep(5_000) }
                c.close()
            }
            freed = await eventually(3) { server.queueDepth == (0, 0) }
            XCTAssertTrue(freed)
            let text = server.metrics.render()
            XCTAssertEqual(metric(text, #"gemma_edge_generations_total{reason="cancelled"}"#), 2)
            XCTAssertLessThan(metric(text, "gemma_edge_completion_tokens_total") ?? 1e9, 2 * 4000)
            // The freed slot serves the next request.
            let r = try await offThread {
                try HTTPConnection.request(endpoint, method: "POST", path: "/v1/completions", headers: Self.json,
                                           body: Array(#"{"prompt":"hi","max_tokens":2}"#.utf8), timeout: 10)
            }
            XCTAssertEqual(r.status, 200)
        }
    }

    func testAFullQueueAnswers503WithRetryAfter() async throws {
        let server = makeServer(model: Models.long) { $0.maxTokensCap = 4000; $0.queueCapacity = 1 }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            let (running, waiting) = try await offThread { () -> (HTTPConnection, HTTPConnection) in
                let a = try HTTPConnection(endpoint, timeout: 10)
                try a.sendRequest(method: "POST", path: "/v1/chat/completions", headers: Self.json, body: Array(Self.endlessChat.utf8))
                XCTAssertEqual(try a.readHead().status, 200)
                _ = try a.readBodyPart()
                // The role chunk comes before the worker takes the job: wait until A runs.
                let end = Date().addingTimeInterval(5)
                while server.queueDepth != (0, 1) && Date() < end { usleep(2_000) }
                let b = try HTTPConnection(endpoint, timeout: 10)
                try b.sendRequest(method: "POST", path: "/v1/chat/completions", headers: Self.json, body: Array(Self.endlessChat.utf8))
                XCTAssertEqual(try b.readHead().status, 200)
                return (a, b)
            }
            let queued = await eventually(3) { server.queueDepth == (1, 1) }
            XCTAssertTrue(queued, "\(server.queueDepth)")
            // /health tells a supervisor that it is busy and still making progress.
            let health = try await offThread { try HTTPConnection.request(endpoint, path: "/health", timeout: 5) }
            let json = object(health.text)
            XCTAssertEqual(json["busy"] as? Bool, true)
            XCTAssertEqual(json["queued"] as? Int, 1)
            XCTAssertLessThan((json["stalled_seconds"] as? Double) ?? 99, 1, health.text)
            let full = try await offThread {
                try HTTPConnection.request(endpoint, method: "POST", path: "/v1/completions", headers: Self.json,
                                           body: Array(#"{"prompt":"hi","max_tokens":2}"#.utf8), timeout: 10)
            }
            XCTAssertEqual(full.status, 503)
            XCTAssertGreaterThanOrEqual(Int(full.headers["retry-after"] ?? "") ?? 0, 1)
            XCTAssertTrue(full.text.contains("queue is full"), full.text)
            running.close()
            waiting.close()
            let idle = await eventually(3) { server.queueDepth == (0, 0) }
            XCTAssertTrue(idle)
        }
    }

    func testTheRequestTimeoutStopsAGeneration() async throws {
        let server = makeServer(model: Models.long) { $0.maxTokensCap = 4000; $0.requestTimeout = 0.4 }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            let whole = try await offThread {
                try HTTPConnection.request(endpoint, method: "POST", path: "/v1/completions", headers: Self.json,
                                           body: Array(Self.endless.replacingOccurrences(of: #","stream":true"#, with: "").utf8),
                                           timeout: 10)
            }
            XCTAssertEqual(whole.status, 504, whole.text)
            XCTAssertTrue(whole.text.contains("timeout"), whole.text)
            let streamed = try await offThread {
                try HTTPConnection.request(endpoint, method: "POST", path: "/v1/completions", headers: Self.json,
                                           body: Array(Self.endless.utf8), timeout: 10)
            }
            XCTAssertEqual(streamed.status, 200)
            let events = sseEvents(streamed.text)
            XCTAssertEqual(events.last, "[DONE]")
            XCTAssertTrue(events[events.count - 2].contains("timeout"), events[events.count - 2])
            XCTAssertEqual(metric(server.metrics.render(), #"gemma_edge_generations_total{reason="timeout"}"#), 2)
        }
    }

    func testServesOnAUnixSocket() async throws {
        let path = NSTemporaryDirectory() + "gemma-edge-test-\(getpid()).sock"
        let server = makeServer { $0.address = .unix(path: path) }
        let app = server.makeApplication()
        let task = Task { try await app.run() }
        defer { task.cancel() }
        _ = await server.host.waitUntilSettled()
        let listening = await eventually(5) { FileManager.default.fileExists(atPath: path) }
        XCTAssertTrue(listening)
        let r = try await offThread {
            try HTTPConnection.request(.unix(path: path), method: "POST", path: "/v1/completions", headers: Self.json,
                                       body: Array(#"{"prompt":"hello","max_tokens":3}"#.utf8), timeout: 10)
        }
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(r.text.contains("text_completion"))
        let health = try await offThread { try HTTPConnection.request(.unix(path: path), path: "/health", timeout: 5) }
        XCTAssertEqual(health.status, 200)
    }
}
