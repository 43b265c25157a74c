import Foundation
import Hummingbird
import HummingbirdTesting
import Service
import Watchdog
import XCTest

/// HTTP/1.1 keep-alive over a real loopback socket: one connection carries plain, streamed and
/// refused requests alike, and the server closes it only when it says so.
final class KeepAliveTests: XCTestCase {
    static let json = ["Content-Type": "application/json"]

    /// One exchange on an open connection: the status, the headers and the whole body.
    static func exchange(_ c: HTTPConnection, method: String = "POST", path: String, body: String? = nil) throws
        -> (status: Int, headers: [String: String], text: String) {
        try c.sendRequest(method: method, path: path, headers: body == nil ? [:] : json, body: body.map { Array($0.utf8) })
        let (status, headers) = try c.readHead()
        var data: [UInt8] = []
        while let part = try c.readBodyPart() { data += part }
        return (status, headers, String(decoding: data, as: UTF8.self))
    }

    func testSixtyMixedRequestsShareOneConnection() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            // The test framework's own client connects as the test starts (asynchronously): wait
            // until the server has counted it, so only this test's connection is counted below.
            for _ in 0..<100 where server.connectionsAccepted < 1 { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .milliseconds(100))
            let acceptedBefore = server.connectionsAccepted
            let statuses = try await offThread { () -> [Int] in
                let c = try HTTPConnection(endpoint, timeout: 60)
                defer { c.close() }
                var seen: [Int] = []
                for i in 0..<60 {
                    let r: (status: Int, headers: [String: String], text: String)
                    switch i % 6 {
                    case 0:
                        r = try Self.exchange(c, path: "/v1/chat/completions",
                                              body: #"{"messages":[{"role":"user","content":"hi \#(i)"}],"max_tokens":3}"#)
                        XCTAssertEqual(r.status, 200, r.text)
                        XCTAssertTrue(r.text.contains("chat.completion"), r.text)
                    case 1:
                        r = try Self.exchange(c, path: "/v1/completions",
                                              body: #"{"prompt":"hello \#(i)","max_tokens":3,"stream":true}"#)
                        XCTAssertEqual(r.status, 200, r.text)
                        XCTAssertEqual(sseEvents(r.text).last, "[DONE]")
                    case 2:
                        r = try Self.exchange(c, path: "/v1/chat/completions", body: #"{"messages":[{"role":"user""#)
                        XCTAssertEqual(r.status, 400, r.text)
                    case 3:
                        r = try Self.exchange(c, path: "/v1/completions", body: #"{"prompt":"x","temperature":9}"#)
                        XCTAssertEqual(r.status, 400, r.text)
                    case 4:
                        r = try Self.exchange(c, path: "/v1/chat/completions",
                                              body: #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true}"#)
                        XCTAssertEqual(r.status, 200, r.text)
                    default:
                        r = try Self.exchange(c, method: "GET", path: i % 12 == 5 ? "/v1/models" : "/no-such-path")
                        XCTAssertTrue(r.status == 200 || r.status == 404, "\(r.status)")
                    }
                    XCTAssertNotEqual(r.headers["connection"]?.lowercased(), "close", "request \(i) closed the connection")
                    seen.append(r.status)
                }
                return seen
            }
            XCTAssertEqual(statuses.count, 60)
            // The server saw one connection: every request came on the same socket.
            XCTAssertEqual(server.connectionsAccepted - acceptedBefore, 1)
        }
    }

    func testConnectionCloseIsHonouredAndSaid() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            let r = try await offThread {
                try HTTPConnection.request(endpoint, method: "POST", path: "/v1/completions", headers: Self.json,
                                           body: Array(#"{"prompt":"hi","max_tokens":2}"#.utf8), timeout: 10)
            }
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["connection"]?.lowercased(), "close")
        }
    }
}
