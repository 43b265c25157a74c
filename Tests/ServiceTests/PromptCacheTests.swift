import Base
import Foundation
import Hummingbird
import HummingbirdTesting
import Service
import Watchdog
import XCTest

/// The prompt cache: a fixed system prompt is evaluated once, alternating prompts stay warm with
/// several slots, and warm states survive a restart through `--cache-dir`.
final class PromptCacheTests: XCTestCase {
    /// About 300 tokens of system prompt in the tiny vocabulary.
    static let system = String(repeating: "the kiosk answers visitors about the museum. ", count: 9)

    static func chat(system: String, user: String, stream: Bool = false) -> String {
        #"{"messages":[{"role":"system","content":"\#(system)"},{"role":"user","content":"\#(user)"}],"max_tokens":4,"temperature":0"#
            + (stream ? #","stream":true,"stream_options":{"include_usage":true}}"# : "}")
    }

    /// (prompt tokens, cached tokens) of a response or of the usage chunk of a stream.
    static func usage(_ json: [String: Any]) -> (prompt: Int, cached: Int) {
        let usage = json["usage"] as? [String: Any] ?? [:]
        let details = usage["prompt_tokens_details"] as? [String: Any] ?? [:]
        return (usage["prompt_tokens"] as? Int ?? -1, details["cached_tokens"] as? Int ?? -1)
    }

    /// Sends a streamed chat and returns the seconds to its first content chunk and its usage.
    static func timedStream(_ endpoint: HTTPEndpoint, _ body: String) throws -> (ttft: Double, prompt: Int, cached: Int) {
        let c = try HTTPConnection(endpoint, timeout: 30)
        defer { c.close() }
        let t0 = monotonicSeconds()
        try c.sendRequest(method: "POST", path: "/v1/chat/completions", headers: ["Content-Type": "application/json"],
                          body: Array(body.utf8))
        XCTAssertEqual(try c.readHead().status, 200)
        var ttft = -1.0
        var text = ""
        while let part = try c.readBodyPart() {
            let piece = String(decoding: part, as: UTF8.self)
            if ttft < 0 && piece.contains(#""content":"#) && !piece.contains(#""content":"""#) { ttft = monotonicSeconds() - t0 }
            text += piece
        }
        if ttft < 0 { ttft = monotonicSeconds() - t0 }
        let events = sseEvents(text).filter { $0 != "[DONE]" }
        let u = usage(object(events.last ?? "{}"))
        return (ttft, u.prompt, u.cached)
    }

    func testTheSameSystemPromptIsEvaluatedOnce() async throws {
        let server = makeServer(model: Models.wideWindow)
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let endpoint = HTTPEndpoint.tcp(host: "127.0.0.1", port: client.port!)
            let first = try await offThread { try Self.timedStream(endpoint, Self.chat(system: Self.system, user: "where is the cafe", stream: true)) }
            let evaluatedAfterFirst = metric(server.metrics.render(), "gemma_edge_prompt_tokens_total") ?? -1
            let second = try await offThread { try Self.timedStream(endpoint, Self.chat(system: Self.system, user: "when do you close", stream: true)) }
            let evaluatedAfterSecond = metric(server.metrics.render(), "gemma_edge_prompt_tokens_total") ?? -1
            print("prompt cache (tiny model): first \(first.prompt) tokens, TTFT \(String(format: "%.1f", first.ttft * 1000)) ms; "
                  + "second \(second.prompt) tokens (\(second.cached) cached), TTFT \(String(format: "%.1f", second.ttft * 1000)) ms")
            XCTAssertGreaterThanOrEqual(first.prompt, 300)
            XCTAssertEqual(first.cached, 0)
            XCTAssertEqual(Int(evaluatedAfterFirst), first.prompt)
            // The second request shares everything up to the user's words.
            XCTAssertGreaterThanOrEqual(second.cached, 300)
            XCTAssertLessThan(second.cached, second.prompt)
            XCTAssertEqual(Int(evaluatedAfterSecond - evaluatedAfterFirst), second.prompt - second.cached,
                           "the second request evaluated more than its new tokens")
            let text = server.metrics.render()
            XCTAssertEqual(metric(text, "gemma_edge_prompt_cache_hits_total"), 1)
            XCTAssertEqual(metric(text, "gemma_edge_prompt_cache_misses_total"), 1)
        }
    }

    func testTwoSlotsKeepTwoSystemPromptsWarm() async throws {
        let server = makeServer(model: Models.wideWindow) { $0.cacheSlots = 2 }
        let other = String(repeating: "the library lends books and answers questions. ", count: 8)
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            var cached: [Int] = []
            for (i, system) in [Self.system, other, Self.system, other].enumerated() {
                let r = try await client.post("/v1/chat/completions", Self.chat(system: system, user: "question \(i)"))
                XCTAssertEqual(r.status, .ok, r.text)
                cached.append(Self.usage(r.json).cached)
            }
            XCTAssertEqual(cached[0], 0)
            XCTAssertLessThan(cached[1], 20, "only the template's first tokens are shared between the two prompts")
            XCTAssertGreaterThanOrEqual(cached[2], 300, "\(cached)")
            XCTAssertGreaterThanOrEqual(cached[3], 200, "\(cached)")
        }
    }

    /// The sliding window drops what a long answer pushed out, so the live session cannot be cut
    /// back to the system prompt: the checkpoint taken after the prompt serves instead.
    func testACheckpointServesAfterTheWindowMovedOn() async throws {
        let server = makeServer(model: Models.long) { $0.maxTokensCap = 64 }  // window 16
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let body = { (user: String) in
                Self.chat(system: Self.system, user: user).replacingOccurrences(of: #""max_tokens":4"#, with: #""max_tokens":40,"ignore_eos":true"#)
            }
            // The first prompt is checkpointed whole; the second finds the live session and the
            // checkpoint both past the window, evaluates the shared prefix alone and checkpoints
            // it; from the third on that checkpoint serves.
            var cached: [Int] = []
            for user in ["first", "second", "third", "fourth"] {
                let r = try await client.post("/v1/chat/completions", body(user))
                XCTAssertEqual(r.status, .ok, r.text)
                cached.append(Self.usage(r.json).cached)
            }
            XCTAssertEqual(cached[0], 0)
            XCTAssertGreaterThanOrEqual(cached[2], 300, "\(cached)")
            XCTAssertGreaterThanOrEqual(cached[3], 300, "\(cached)")
        }
    }

    func testWarmStatesSurviveARestartThroughTheCacheDirectory() async throws {
        let dir = NSTemporaryDirectory() + "gemma-edge-cache-dir-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for round in 0..<2 {
            let server = makeServer(model: Models.wideWindow) { $0.cacheDirectory = dir }
            try await server.makeApplication().test(.live) { client in
                _ = await server.host.waitUntilSettled()
                let r = try await client.post("/v1/chat/completions", Self.chat(system: Self.system, user: "hello \(round)"))
                XCTAssertEqual(r.status, .ok, r.text)
                let cached = Self.usage(r.json).cached
                if round == 0 {
                    XCTAssertEqual(cached, 0)
                    XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/slot-0.session"))
                } else {
                    XCTAssertGreaterThanOrEqual(cached, 300, "the restarted server did not restore its warm state")
                }
            }
        }
        // A damaged snapshot is not used, and the server still answers.
        let path = dir + "/slot-0.session"
        var bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        XCTAssertGreaterThan(bytes.count, 64)
        bytes.removeLast(bytes.count / 2)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let server = makeServer(model: Models.wideWindow) { $0.cacheDirectory = dir }
        try await server.makeApplication().test(.live) { client in
            _ = await server.host.waitUntilSettled()
            let r = try await client.post("/v1/chat/completions", Self.chat(system: Self.system, user: "again"))
            XCTAssertEqual(r.status, .ok, r.text)
            XCTAssertEqual(Self.usage(r.json).cached, 0)
        }
    }
}
