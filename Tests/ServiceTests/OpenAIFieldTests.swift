import Foundation
import Hummingbird
import HummingbirdTesting
import Service
import XCTest

/// Logprobs in both OpenAI shapes, the llama-server utility endpoints, `/v1/models/{id}` and 405.
final class OpenAIFieldTests: XCTestCase {
    func testChatLogprobsWholeAndStreamed() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let body = #"{"messages":[{"role":"user","content":"hello"}],"max_tokens":6,"temperature":0,"logprobs":true,"top_logprobs":3,"ignore_eos":true}"#
            let r = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(r.status, .ok, r.text)
            let choice = (r.json["choices"] as? [[String: Any]])?.first ?? [:]
            let content = ((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]) ?? []
            XCTAssertEqual(content.count, 6, r.text)
            var text = ""
            for entry in content {
                let lp = entry["logprob"] as? Double ?? 1
                XCTAssertLessThanOrEqual(lp, 0)
                let top = entry["top_logprobs"] as? [[String: Any]] ?? []
                XCTAssertEqual(top.count, 3)
                let values = top.compactMap { $0["logprob"] as? Double }
                XCTAssertEqual(values, values.sorted(by: >))
                // Greedy: the chosen token is the most likely one.
                XCTAssertEqual(top.first?["token"] as? String, entry["token"] as? String)
                XCTAssertEqual(values.first ?? 1, lp, accuracy: 1e-5)
                XCTAssertLessThanOrEqual(values.reduce(0) { $0 + exp($1) }, 1.0001)
                let bytes = (entry["bytes"] as? [Int] ?? []).map(UInt8.init)
                XCTAssertEqual(String(decoding: bytes, as: UTF8.self), entry["token"] as? String)
                text += entry["token"] as? String ?? ""
            }
            XCTAssertEqual(text, (choice["message"] as? [String: Any])?["content"] as? String)

            let streamed = try await client.post("/v1/chat/completions", String(body.dropLast()) + #","stream":true}"#)
            let entries = sseEvents(streamed.text).filter { $0 != "[DONE]" }.flatMap { e -> [[String: Any]] in
                let c = (object(e)["choices"] as? [[String: Any]])?.first
                return ((c?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]) ?? []
            }
            XCTAssertEqual(entries.map { $0["token"] as? String }, content.map { $0["token"] as? String }, streamed.text)
            // Without logprobs the field is null.
            let plain = try await client.post("/v1/chat/completions", #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}"#)
            XCTAssertTrue(plain.text.contains(#""logprobs":null"#), plain.text)
        }
    }

    func testCompletionLogprobsAsAnInteger() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            for stream in [false, true] {
                let r = try await client.post("/v1/completions",
                                              #"{"prompt":"hello","max_tokens":5,"temperature":0,"logprobs":2,"ignore_eos":true,"stream":\#(stream)}"#)
                XCTAssertEqual(r.status, .ok, r.text)
                let choices: [[String: Any]] = stream
                    ? sseEvents(r.text).filter { $0 != "[DONE]" }.compactMap { (object($0)["choices"] as? [[String: Any]])?.first }
                    : (r.json["choices"] as? [[String: Any]]) ?? []
                var tokens: [String] = [], offsets: [Int] = [], text = ""
                for c in choices {
                    text += c["text"] as? String ?? ""
                    guard let lp = c["logprobs"] as? [String: Any] else { continue }
                    let t = lp["tokens"] as? [String] ?? []
                    XCTAssertEqual((lp["token_logprobs"] as? [Double])?.count, t.count)
                    let tops = lp["top_logprobs"] as? [[String: Double]] ?? []
                    XCTAssertEqual(tops.count, t.count)
                    XCTAssertTrue(tops.allSatisfy { $0.count <= 2 && !$0.isEmpty })
                    tokens += t
                    offsets += lp["text_offset"] as? [Int] ?? []
                }
                XCTAssertEqual(tokens.count, 5, r.text)
                XCTAssertEqual(tokens.joined(), text)
                XCTAssertEqual(offsets.first, 0)
                XCTAssertEqual(offsets, offsets.sorted())
            }
        }
    }

    func testTokenizeDetokenizePropsAndModelById() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let t = try await client.post("/tokenize", #"{"content":"hello world","add_special":true,"with_pieces":true}"#)
            XCTAssertEqual(t.status, .ok, t.text)
            let tokens = t.json["tokens"] as? [[String: Any]] ?? []
            XCTAssertEqual(tokens.first?["id"] as? Int, 2, "add_special puts <bos> first")
            let ids = tokens.compactMap { $0["id"] as? Int }
            let d = try await client.post("/detokenize", #"{"tokens":\#(Array(ids.dropFirst()))}"#)
            XCTAssertEqual(d.json["content"] as? String, "hello world", d.text)
            let bad = try await client.post("/detokenize", #"{"tokens":[1,99999999]}"#)
            XCTAssertEqual(bad.status, .badRequest)
            let noContent = try await client.post("/tokenize", #"{"text":"x"}"#)
            XCTAssertEqual(noContent.status, .badRequest)
            XCTAssertTrue(noContent.errorMessage.contains("`content`"))

            let props = try await client.execute(uri: "/props", method: .get)
            XCTAssertEqual(props.status, .ok)
            let settings = props.json["default_generation_settings"] as? [String: Any] ?? [:]
            XCTAssertEqual(settings["n_ctx"] as? Int, 256)
            XCTAssertEqual(props.json["total_slots"] as? Int, 1)

            let model = try await client.execute(uri: "/v1/models/tiny", method: .get)
            XCTAssertEqual(model.status, .ok)
            XCTAssertEqual(model.json["id"] as? String, "tiny")
            let other = try await client.execute(uri: "/v1/models/gpt-4", method: .get)
            XCTAssertEqual(other.status, .notFound)
            XCTAssertTrue(other.errorMessage.contains("gpt-4"))
        }
    }

    func testAWrongMethodIs405WithAllow() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let r = try await client.execute(uri: "/v1/chat/completions", method: .get)
            XCTAssertEqual(r.status, .methodNotAllowed)
            XCTAssertEqual(r.headers[.allow], "POST")
            XCTAssertTrue(r.errorMessage.contains("GET"), r.errorMessage)
            let h = try await client.post("/health", "{}")
            XCTAssertEqual(h.status, .methodNotAllowed)
            XCTAssertEqual(h.headers[.allow], "GET, HEAD")
            let unknown = try await client.execute(uri: "/nothing", method: .get)
            XCTAssertEqual(unknown.status, .notFound)
        }
    }

    func testAPromptTooLongToFitIsRefusedBeforeTokenising() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let huge = String(repeating: "a", count: 900_000)
            let t0 = Date()
            let r = try await client.post("/v1/completions", #"{"prompt":"\#(huge)","max_tokens":2}"#)
            XCTAssertEqual(r.status, .badRequest, r.text)
            XCTAssertTrue(r.errorMessage.contains("cannot fit the context"), r.errorMessage)
            XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
        }
    }
}
