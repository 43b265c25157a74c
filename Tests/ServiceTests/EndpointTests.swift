import Foundation
import GemmaEdge
import Hummingbird
import HummingbirdTesting
import Sampling
import Service
import Tokenizer
import XCTest

/// The endpoints through Hummingbird's in-process router client, with a tiny real model.
final class EndpointTests: XCTestCase {
    /// What greedy decoding of `prompt` gives when run on the engine directly.
    func expectedGreedy(_ engine: Engine, _ prompt: [Int32], maxTokens: Int) throws -> (text: String, tokens: Int) {
        let session = engine.makeSession()
        try session.append(prompt)
        let sampler = Sampler(parameters: .greedy, vocabularySize: engine.config.vocabularySize)
        var decoder = StreamingDecoder(vocabulary: engine.tokenizer.vocabulary)
        var text = "", count = 0
        let stops = engine.stopTokens
        try session.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: stops) { id in
            if !stops.contains(id) {
                count += 1
                text += decoder.append(id)
            }
            return true
        }
        return (text + decoder.flush(), count)
    }

    func testHealthIs503WhileLoadingThen200() async throws {
        let gate = DispatchSemaphore(value: 0)
        let server = makeServer(gate: gate)
        try await server.makeApplication().test(.router) { client in
            server.host.startLoading()
            let loading = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(loading.status, .serviceUnavailable)
            XCTAssertEqual(loading.json["status"] as? String, "loading")
            XCTAssertNotNil(loading.headers[.retryAfter])
            let early = try await client.post("/v1/chat/completions", #"{"messages":[{"role":"user","content":"hi"}]}"#)
            XCTAssertEqual(early.status, .serviceUnavailable)
            XCTAssertTrue(early.errorMessage.contains("loading"), early.errorMessage)

            gate.signal()
            _ = await server.host.waitUntilSettled()
            let ready = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(ready.status, .ok)
            XCTAssertEqual(ready.json["status"] as? String, "ok")
            XCTAssertEqual(ready.json["context"] as? Int, 256)
            XCTAssertEqual(ready.json["busy"] as? Bool, false)
            XCTAssertEqual(ready.json["stalled_seconds"] as? Double, 0)
        }
    }

    func testAModelThatFailsToLoadIsReportedNotServed() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "tensor blk.3.attn_q.weight is cut short" } }
        let server = GemmaServer(options: ServerOptions()) { throw Broken() }
        server.host.startLoading()
        guard case .failed(let message) = await server.host.waitUntilSettled() else { return XCTFail("loaded") }
        XCTAssertEqual(message, "tensor blk.3.attn_q.weight is cut short")
        try await server.makeApplication().test(.router) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .serviceUnavailable)
            XCTAssertEqual(health.json["status"] as? String, "error")
            XCTAssertEqual(health.json["error"] as? String, message)
            let r = try await client.post("/v1/completions", #"{"prompt":"hi"}"#)
            XCTAssertEqual(r.status, .serviceUnavailable)
            XCTAssertTrue(r.errorMessage.contains("failed to load: tensor blk.3"), r.errorMessage)
        }
    }

    func testModelsListsTheServedModel() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            let r = try await client.execute(uri: "/v1/models", method: .get)
            XCTAssertEqual(r.status, .ok)
            let data = r.json["data"] as? [[String: Any]]
            XCTAssertEqual(data?.first?["id"] as? String, "tiny")
            XCTAssertEqual(r.json["object"] as? String, "list")
        }
    }

    func testChatCompletionMatchesTheEngineAndStreamingMatchesWhole() async throws {
        let server = makeServer()
        let engine = try await loaded(server)
        let prompt = try ChatTemplate(tokenizer: engine.tokenizer).encode([.system("be brief"), .user("hello world")])
        let expected = try expectedGreedy(engine, prompt, maxTokens: 12)
        let body = #"{"model":"tiny","messages":[{"role":"system","content":"be brief"},"#
            + #"{"role":"user","content":[{"type":"text","text":"hello world"}]}],"max_tokens":12,"temperature":0"#
        try await server.makeApplication().test(.router) { client in
            let whole = try await client.post("/v1/chat/completions", body + "}")
            XCTAssertEqual(whole.status, .ok, whole.text)
            XCTAssertEqual(whole.headers[.contentType], "application/json")
            let json = whole.json
            XCTAssertEqual(json["object"] as? String, "chat.completion")
            XCTAssertEqual(json["model"] as? String, "tiny")
            XCTAssertTrue((json["id"] as? String)?.hasPrefix("chatcmpl-") ?? false)
            let choice = (json["choices"] as? [[String: Any]])?.first
            let message = choice?["message"] as? [String: Any]
            XCTAssertEqual(message?["role"] as? String, "assistant")
            XCTAssertEqual(message?["content"] as? String, expected.text)
            XCTAssertEqual(choice?["finish_reason"] as? String, expected.tokens == 12 ? "length" : "stop")
            let usage = ints(json["usage"])
            XCTAssertEqual(usage?["prompt_tokens"], prompt.count)
            XCTAssertEqual(usage?["completion_tokens"], expected.tokens)
            XCTAssertEqual(usage?["total_tokens"], prompt.count + expected.tokens)

            let streamed = try await client.post("/v1/chat/completions",
                                                 body + #","stream":true,"stream_options":{"include_usage":true}}"#)
            XCTAssertEqual(streamed.status, .ok)
            XCTAssertEqual(streamed.headers[.contentType], "text/event-stream")
            let events = sseEvents(streamed.text)
            XCTAssertEqual(events.last, "[DONE]")
            let first = object(events[0])
            XCTAssertEqual(first["object"] as? String, "chat.completion.chunk")
            let firstDelta = ((first["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any]
            XCTAssertEqual(firstDelta?["role"] as? String, "assistant")
            XCTAssertEqual(joinedContent(events), expected.text)
            let finish = object(events[events.count - 3])
            let finishChoice = (finish["choices"] as? [[String: Any]])?.first
            XCTAssertEqual(finishChoice?["finish_reason"] as? String, expected.tokens == 12 ? "length" : "stop")
            let usageChunk = object(events[events.count - 2])
            XCTAssertEqual((ints(usageChunk["usage"]))?["completion_tokens"], expected.tokens)
            // Every chunk but the usage one carries an explicit null finish reason until the end.
            let middle = object(events[1])
            XCTAssertTrue(((middle["choices"] as? [[String: Any]])?.first?.keys.contains("finish_reason")) ?? false)
        }
    }

    func testCompletionsWithTextAndTokenPrompts() async throws {
        let server = makeServer()
        let engine = try await loaded(server)
        let prompt = try engine.tokenizer.encode("the hello", addBOS: true)
        let expected = try expectedGreedy(engine, prompt, maxTokens: 6)
        try await server.makeApplication().test(.router) { client in
            let r = try await client.post("/v1/completions", #"{"prompt":"the hello","max_tokens":6,"temperature":0}"#)
            XCTAssertEqual(r.status, .ok, r.text)
            XCTAssertEqual(r.json["object"] as? String, "text_completion")
            let choice = (r.json["choices"] as? [[String: Any]])?.first
            XCTAssertEqual(choice?["text"] as? String, expected.text)
            XCTAssertEqual(ints(r.json["usage"])?["prompt_tokens"], prompt.count)

            let ids = prompt.map(String.init).joined(separator: ",")
            let byIds = try await client.post("/v1/completions", #"{"prompt":[\#(ids)],"max_tokens":6,"temperature":0,"stream":true}"#)
            XCTAssertEqual(byIds.status, .ok)
            let events = sseEvents(byIds.text)
            XCTAssertEqual(events.last, "[DONE]")
            XCTAssertEqual(joinedContent(events), expected.text)
        }
    }

    func testMaxTokensIsCappedAndSeedsReproduce() async throws {
        let server = makeServer { $0.maxTokensCap = 5 }
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let body = #"{"prompt":"hello","max_tokens":100,"ignore_eos":true,"temperature":1.2,"seed":7}"#
            let a = try await client.post("/v1/completions", body)
            XCTAssertEqual(a.status, .ok, a.text)
            XCTAssertEqual(ints(a.json["usage"])?["completion_tokens"], 5)
            XCTAssertEqual((a.json["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "length")
            let b = try await client.post("/v1/completions", body)
            XCTAssertEqual((a.json["choices"] as? [[String: Any]])?.first?["text"] as? String,
                           (b.json["choices"] as? [[String: Any]])?.first?["text"] as? String)
        }
    }

    func testStopSequenceCutsTheText() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let base = #"{"prompt":"hello","max_tokens":40,"ignore_eos":true,"temperature":0"#
            let full = try await client.post("/v1/completions", base + "}")
            let text = ((full.json["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            let scalars = Array(text.unicodeScalars)
            guard scalars.count >= 8 else { return XCTFail("greedy text too short to cut: \(text.debugDescription)") }
            let stop = String(String.UnicodeScalarView(scalars[4..<7]))
            let before = String(text[..<text.range(of: stop)!.lowerBound])
            let stopJSON = String(decoding: try JSONSerialization.data(withJSONObject: [stop]), as: UTF8.self)
            for stream in [false, true] {
                let r = try await client.post("/v1/completions", base + #","stop":\#(stopJSON),"stream":\#(stream)}"#)
                XCTAssertEqual(r.status, .ok)
                if stream {
                    XCTAssertEqual(joinedContent(sseEvents(r.text)), before)
                } else {
                    let choice = (r.json["choices"] as? [[String: Any]])?.first
                    XCTAssertEqual(choice?["text"] as? String, before)
                    XCTAssertEqual(choice?["finish_reason"] as? String, "stop")
                }
            }
        }
    }

    func testPromptLongerThanTheContextIs400WithBothLengths() async throws {
        let server = makeServer()
        let engine = try await loaded(server)
        let long = String(repeating: "hello world ", count: 200)
        let tokens = try ChatTemplate(tokenizer: engine.tokenizer).encode([.user(long)]).count
        XCTAssertGreaterThan(tokens, 256)
        try await server.makeApplication().test(.router) { client in
            let r = try await client.post("/v1/chat/completions", #"{"messages":[{"role":"user","content":"\#(long)"}]}"#)
            XCTAssertEqual(r.status, .badRequest)
            XCTAssertTrue(r.errorMessage.contains("\(tokens) tokens"), r.errorMessage)
            XCTAssertTrue(r.errorMessage.contains("256"), r.errorMessage)
        }
    }

    func testMalformedBodiesAndOutOfRangeNumbersGet400WithAMessage() async throws {
        let server = makeServer()
        let chat = #""messages":[{"role":"user","content":"hi"}]"#
        // (endpoint, body, words the message must contain)
        let cases: [(String, String, String)] = [
            ("chat", "", "empty"),
            ("chat", "not json", "not valid JSON"),
            ("chat", "{", "not valid JSON"),
            ("chat", "[1,2]", "JSON object"),
            ("chat", #"{"messages":"hi"}"#, "`messages` must be an array"),
            ("chat", "{}", "`messages` is missing"),
            ("chat", #"{"messages":[]}"#, "at least one message"),
            ("chat", #"{"messages":[{"role":"user","content":5}]}"#, "messages[0].content"),
            ("chat", #"{"messages":[{"role":"robot","content":"x"}]}"#, "messages[0].role"),
            ("chat", #"{"messages":[{"content":"x"}]}"#, "messages[0].role"),
            ("chat", #"{"messages":[{"role":"assistant","content":"x"}]}"#, "alternate"),
            ("chat", #"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, "image_url.url` is missing"),
            ("chat", #"{"messages":[{"role":"user","content":[{"type":"audio"}]}]}"#, "only text and image_url"),
            ("chat", #"{\#(chat),"max_tokens":"10"}"#, "`max_tokens` must be an integer"),
            ("chat", #"{\#(chat),"max_tokens":1.5}"#, "`max_tokens` must be a whole number"),
            ("chat", #"{\#(chat),"max_tokens":0}"#, "`max_tokens` must be at least 1"),
            ("chat", #"{\#(chat),"max_tokens":-3}"#, "`max_tokens` must be at least 1"),
            ("chat", #"{\#(chat),"max_tokens":1e300}"#, "`max_tokens` must be a whole number"),
            ("chat", #"{\#(chat),"seed":18446744073709551616}"#, "`seed` must be a whole number"),
            ("chat", #"{\#(chat),"temperature":3}"#, "`temperature` must be between 0 and 2"),
            ("chat", #"{\#(chat),"temperature":-0.1}"#, "`temperature` must be between 0 and 2"),
            ("chat", #"{\#(chat),"temperature":"hot"}"#, "`temperature` must be a number"),
            ("chat", #"{\#(chat),"temperature":null}"#, ""),  // null means absent: accepted (checked below)
            ("chat", #"{\#(chat),"top_p":0}"#, "`top_p`"),
            ("chat", #"{\#(chat),"top_p":1.5}"#, "`top_p`"),
            ("chat", #"{\#(chat),"top_k":-1}"#, "`top_k`"),
            ("chat", #"{\#(chat),"top_k":100000000}"#, "`top_k`"),
            ("chat", #"{\#(chat),"min_p":2}"#, "`min_p`"),
            ("chat", #"{\#(chat),"repetition_penalty":0}"#, "`repetition_penalty`"),
            ("chat", #"{\#(chat),"frequency_penalty":0.5,"presence_penalty":-1}"#, ""),
            ("chat", #"{\#(chat),"presence_penalty":3}"#, "between -2 and 2"),
            ("chat", #"{\#(chat),"seed":"x"}"#, "`seed` must be an integer"),
            ("chat", #"{\#(chat),"n":2}"#, "`n` must be 1"),
            ("chat", #"{\#(chat),"stream":"yes"}"#, "`stream` must be true or false"),
            ("chat", #"{\#(chat),"stop":5}"#, "`stop` must be a string or an array"),
            ("chat", #"{\#(chat),"stop":["a","b","c","d","e"]}"#, "at most 4"),
            ("chat", #"{\#(chat),"stop":[""]}"#, "1 to 256 bytes"),
            ("chat", #"{\#(chat),"logprobs":true,"top_logprobs":21}"#, "`top_logprobs` must be between 0 and 20"),
            ("chat", #"{\#(chat),"top_logprobs":2}"#, "needs `logprobs: true`"),
            ("chat", #"{\#(chat),"logprobs":3}"#, "true or false on chat"),
            ("chat", #"{\#(chat),"grammar":"root ::= ( \"x\""}"#, "`grammar`"),
            ("chat", #"{\#(chat),"grammar":5}"#, "`grammar` must be a string"),
            ("chat", #"{\#(chat),"json_schema":{"type":"string","not":{}}}"#, "unsupported JSON Schema keyword 'not'"),
            ("chat", #"{\#(chat),"json_schema":{},"grammar":"root ::= \"x\""}"#, "give only one of"),
            ("chat", #"{\#(chat),"n_probs":3}"#, "`n_probs`"),
            ("chat", #"{\#(chat),"logit_bias":{"5":-100}}"#, "`logit_bias`"),
            ("chat", #"{\#(chat),"mirostat":2}"#, "`mirostat`"),
            ("chat", #"{\#(chat),"cache_prompt":true,"user":"u"}"#, ""),
            ("text", #"{"prompt":"x","logprobs":true}"#, "must be an integer on completions"),
            ("text", #"{"prompt":"x","logprobs":21}"#, "`logprobs` must be between 0 and 20"),
            ("chat", #"{\#(chat),"tools":[{"type":"function"}]}"#, "`tools[0].function.name` must be a string"),
            ("chat", #"{\#(chat),"tools":[{"type":"function","function":{"name":"a b"}}]}"#, "letters, digits"),
            ("chat", #"{\#(chat),"tool_choice":"required"}"#, "`tools` is empty or missing"),
            ("chat", #"{\#(chat),"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}"#, "'g', which is not in tools"),
            ("chat", #"{\#(chat),"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}}"#, "cannot be combined"),
            ("chat", #"{\#(chat),"response_format":{"type":"xml"}}"#, "response_format"),
            ("chat", #"{\#(chat),"response_format":{"type":"json_schema"}}"#, "json_schema.schema"),
            ("chat", #"{\#(chat),"response_format":{"type":"json_object"},"stop":"x"}"#, "`stop` cannot be combined"),
            ("text", #"{"prompt":"x","tools":[]}"#, "`tools` is a chat field"),
            ("chat", #"{\#(chat),"functions":[]}"#, "`functions`"),
            ("text", "{}", "`prompt` is missing"),
            ("text", #"{"prompt":5}"#, "`prompt` must be"),
            ("text", #"{"prompt":["a","b"]}"#, "exactly one string"),
            ("text", #"{"prompt":[]}"#, "must not be an empty array"),
            ("text", #"{"prompt":[1,999999]}"#, "token id 999999"),
            ("text", #"{"prompt":"x","echo":true}"#, "`echo`"),
            ("text", #"{"prompt":"x","best_of":3}"#, "`best_of`"),
        ]
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            for (endpoint, body, words) in cases {
                let path = endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions"
                let r = try await client.post(path, body)
                if words.isEmpty {
                    XCTAssertEqual(r.status, .ok, "\(body): \(r.text)")
                    continue
                }
                XCTAssertEqual(r.status, .badRequest, "\(body) gave \(r.status): \(r.text)")
                XCTAssertEqual(r.headers[.contentType], "application/json")
                XCTAssertTrue(r.errorMessage.contains(words), "\(body): expected \"\(words)\" in \"\(r.errorMessage)\"")
                XCTAssertEqual((r.json["error"] as? [String: Any])?["type"] as? String, "invalid_request_error")
            }
            // The server still answers after all that.
            let ok = try await client.post("/v1/chat/completions", #"{\#(chat),"max_tokens":2}"#)
            XCTAssertEqual(ok.status, .ok)
        }
    }

    func testAPIKeyIsRequiredExceptForHealth() async throws {
        let server = makeServer { $0.apiKey = "s3cret" }
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let body = #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}"#
            let none = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(none.status, .unauthorized)
            XCTAssertEqual(none.headers[.wwwAuthenticate], "Bearer")
            XCTAssertTrue(none.errorMessage.contains("API key"))
            let wrong = try await client.post("/v1/chat/completions", body, headers: [.authorization: "Bearer s3cre"])
            XCTAssertEqual(wrong.status, .unauthorized)
            let right = try await client.post("/v1/chat/completions", body, headers: [.authorization: "Bearer s3cret"])
            XCTAssertEqual(right.status, .ok)
            let models = try await client.execute(uri: "/v1/models", method: .get)
            XCTAssertEqual(models.status, .unauthorized)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertEqual(metrics.status, .unauthorized)
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok)
        }
    }

    func testMetricsCountRequestsTokensAndLatency() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let ok = try await client.post("/v1/completions", #"{"prompt":"hello","max_tokens":3,"ignore_eos":true}"#)
            XCTAssertEqual(ok.status, .ok)
            _ = try await client.post("/v1/completions", "nope")
            let r = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertEqual(r.status, .ok)
            XCTAssertTrue(r.headers[.contentType]?.hasPrefix("text/plain") ?? false)
            let text = r.text
            XCTAssertEqual(metric(text, #"gemma_edge_requests_total{path="/v1/completions",status="200"}"#), 1)
            XCTAssertEqual(metric(text, #"gemma_edge_requests_total{path="/v1/completions",status="400"}"#), 1)
            XCTAssertEqual(metric(text, "gemma_edge_completion_tokens_total"), 3)
            let promptTokens = try server.host.engine!.tokenizer.encode("hello", addBOS: true).count
            XCTAssertEqual(metric(text, "gemma_edge_prompt_tokens_total"), Double(promptTokens))
            XCTAssertEqual(metric(text, "gemma_edge_queue_depth"), 0)
            XCTAssertEqual(metric(text, "gemma_edge_model_loaded"), 1)
            XCTAssertEqual(metric(text, #"gemma_edge_generations_total{reason="length"}"#), 1)
            XCTAssertEqual(metric(text, "gemma_edge_time_to_first_token_seconds_count"), 1)
            XCTAssertNotNil(metric(text, "gemma_edge_request_duration_seconds_count"))
            XCTAssertTrue(text.contains("# TYPE gemma_edge_generation_duration_seconds histogram"))
        }
    }

    func testUnknownPathIs404AndBodyOverTheLimitIs413() async throws {
        let server = makeServer { $0.maxBodyBytes = 2048 }
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let missing = try await client.execute(uri: "/v2/nothing", method: .get)
            XCTAssertEqual(missing.status, .notFound)
            let big = #"{"prompt":"\#(String(repeating: "a", count: 4096))"}"#
            let r = try await client.post("/v1/completions", big)
            XCTAssertEqual(r.status, .contentTooLarge)
            XCTAssertTrue(r.errorMessage.contains("2048-byte limit"), r.errorMessage)
        }
    }
}
