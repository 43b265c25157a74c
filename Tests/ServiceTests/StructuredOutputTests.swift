import Foundation
import GemmaEdge
import Grammar
import HummingbirdTesting
import Service
import TestSupport
import XCTest

/// Constrained output through the HTTP API on a tiny model: `response_format`, llama-server's
/// `json_schema` and `grammar`, and tool calls; every answer that ends (finish reason `stop` or
/// `tool_calls`) must parse and validate against its schema, greedy and sampled, whole and streamed.
final class StructuredOutputTests: XCTestCase {
    static let schemas: [(name: String, schema: String)] = [
        ("nested", #"{"type":"object","properties":{"id":{"type":"integer","minimum":1,"maximum":999},"owner":{"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":8},"ok":{"type":"boolean"}},"required":["name","ok"],"additionalProperties":false}},"required":["id","owner"],"additionalProperties":false}"#),
        ("enum-array", #"{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"sizes":{"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"minItems":1,"maxItems":3}},"required":["color","sizes"],"additionalProperties":false}"#),
        ("formats", #"{"type":"object","properties":{"when":{"type":"string","format":"date"},"id":{"type":"string","format":"uuid"},"score":{"type":"number"},"code":{"type":"string","pattern":"^[A-Z]{2}[0-9]{2}$"}},"required":["when","id","score","code"],"additionalProperties":false}"#),
    ]

    static let chat = #""messages":[{"role":"user","content":"Give the record as JSON."}]"#

    /// (body fields, which samples) for greedy and a seeded temperature-1 draw.
    static let samplings = [#""temperature":0"#, #""temperature":1,"seed":7"#]

    /// The content of a whole answer or of a stream, and its finish reason.
    static func answer(_ r: TestResponse, streamed: Bool, chat: Bool) -> (text: String, finish: String?) {
        if streamed {
            let events = sseEvents(r.text).filter { $0 != "[DONE]" }
            let finish = events.compactMap { ((object($0)["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String }.last
            return (joinedContent(events), finish)
        }
        let choice = (r.json["choices"] as? [[String: Any]])?.first ?? [:]
        let text = chat ? ((choice["message"] as? [String: Any])?["content"] as? String ?? "") : (choice["text"] as? String ?? "")
        return (text, choice["finish_reason"] as? String)
    }

    func testEverySchemaValidatesOnBothEndpointsGreedyAndSampledWholeAndStreamed() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            var finished = 0, total = 0
            for (name, schema) in Self.schemas {
                for sampling in Self.samplings {
                    for streamed in [false, true] {
                        // Chat through OpenAI's response_format; completions through llama-server's json_schema.
                        let requests = [
                            ("/v1/chat/completions", #"{\#(Self.chat),"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":\#(schema)}},"#),
                            ("/v1/completions", #"{"prompt":"Record:","json_schema":\#(schema),"#),
                        ]
                        for (path, head) in requests {
                            let body = head + #"\#(sampling),"max_tokens":180,"stream":\#(streamed)}"#
                            let r = try await client.post(path, body)
                            XCTAssertEqual(r.status, .ok, "\(name) \(path): \(r.text)")
                            let (text, finish) = Self.answer(r, streamed: streamed, chat: path.contains("chat"))
                            total += 1
                            XCTAssertNotNil(finish, "\(name) \(path) streamed \(streamed): no finish reason")
                            guard finish == "stop" else { continue }
                            finished += 1
                            XCTAssertEqual(SchemaValidator.problems(text, schema: schema), [], "\(name) \(sampling) \(path): \(text)")
                        }
                    }
                }
            }
            // A random model wanders, but bounded schemas end well within the budget most times.
            XCTAssertGreaterThanOrEqual(finished, total / 2, "\(finished) of \(total) answers ended")
            print("structured output: \(finished) of \(total) answers ended within 180 tokens, all valid")
        }
    }

    func testJSONObjectAndGrammarFields() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            for sampling in Self.samplings {
                let r = try await client.post("/v1/chat/completions",
                                              #"{\#(Self.chat),"response_format":{"type":"json_object"},\#(sampling),"max_tokens":150}"#)
                XCTAssertEqual(r.status, .ok, r.text)
                let (text, finish) = Self.answer(r, streamed: false, chat: true)
                if finish == "stop" {
                    let v = try? JSONSerialization.jsonObject(with: Data(text.utf8))
                    XCTAssertTrue(v is [String: Any], "json_object gave \(text)")
                }
                // A GBNF grammar, as llama-server takes it, on both endpoints and streamed.
                let grammar = #"root ::= ( \"yes\" | \"no\" ) \" \" [0-9]{1,3}"#
                for (path, head) in [("/v1/completions", #"{"prompt":"Answer:","#), ("/v1/chat/completions", #"{\#(Self.chat),"#)] {
                    for streamed in [false, true] {
                        let g = try await client.post(path, head + #""grammar":"\#(grammar)",\#(sampling),"max_tokens":20,"stream":\#(streamed)}"#)
                        XCTAssertEqual(g.status, .ok, g.text)
                        let (t, f) = Self.answer(g, streamed: streamed, chat: path.contains("chat"))
                        XCTAssertEqual(f, "stop", "the grammar's longest sentence is 7 tokens at most: \(t)")
                        XCTAssertNotNil(t.range(of: "^(yes|no) [0-9]{1,3}$", options: .regularExpression), "\(path): \(t)")
                    }
                }
            }
        }
    }

    func testTheSecondRequestWithASchemaReusesTheFirstOnesMasks() async throws {
        let server = makeServer()
        try await server.makeApplication().test(.router) { client in
            let engine = try await loaded(server)
            let body = #"{\#(Self.chat),"json_schema":\#(Self.schemas[1].schema),"temperature":0,"max_tokens":60}"#
            let first = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(first.status, .ok, first.text)
            let afterFirst = engine.grammars.statistics
            XCTAssertEqual(afterFirst.misses, 1)
            XCTAssertEqual(afterFirst.grammars, 1)
            XCTAssertGreaterThan(afterFirst.cacheBytes, 0)
            XCTAssertGreaterThan(afterFirst.vocabularyBytes, 0)
            let second = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(second.status, .ok, second.text)
            let afterSecond = engine.grammars.statistics
            XCTAssertEqual(afterSecond.misses, 1)
            XCTAssertEqual(afterSecond.hits, 1)
            // The same greedy answer, from masks the first request computed.
            XCTAssertEqual(Self.answer(first, streamed: false, chat: true).text, Self.answer(second, streamed: false, chat: true).text)
            XCTAssertEqual(afterSecond.cacheBytes, afterFirst.cacheBytes, "the second request computed new token classes")
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            XCTAssertEqual(metric(metrics, "gemma_edge_grammar_cache_grammars"), 1)
            XCTAssertEqual(metric(metrics, "gemma_edge_grammar_cache_hits"), 1)
            XCTAssertGreaterThan(metric(metrics, "gemma_edge_grammar_masks_total") ?? 0, 0)
            XCTAssertEqual(metric(metrics, "gemma_edge_grammar_uncached_classes_total"), 0)
            XCTAssertEqual(metric(metrics, "gemma_edge_grammar_cache_capped"), 0)
        }
    }

    // MARK: Tools

    static let weather = #"{"type":"function","function":{"name":"get_weather","description":"The weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":10},"unit":{"enum":["C","F"]}},"required":["city","unit"],"additionalProperties":false}}}"#
    static let time = #"{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string","maxLength":6}},"required":["zone"],"additionalProperties":false}}}"#
    static let weatherParameters = #"{"type":"object","properties":{"city":{"type":"string","maxLength":10},"unit":{"enum":["C","F"]}},"required":["city","unit"],"additionalProperties":false}"#

    /// The tool calls of a whole chat answer.
    static func toolCalls(_ r: TestResponse) -> [[String: Any]] {
        let choice = (r.json["choices"] as? [[String: Any]])?.first ?? [:]
        return (choice["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]] ?? []
    }

    func testRequiredAndNamedToolChoicesAnswerWithValidCalls() async throws {
        let server = makeServer(model: Models.wideWindow)  // the tools' description takes ~500 byte tokens
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let tools = "[\(Self.weather),\(Self.time)]"
            let named = #"{"type":"function","function":{"name":"get_weather"}}"#
            var calls = 0
            for sampling in Self.samplings {
                for choice in [#""required""#, named] {
                    let r = try await client.post("/v1/chat/completions",
                                                  #"{\#(Self.chat),"tools":\#(tools),"tool_choice":\#(choice),\#(sampling),"max_tokens":120}"#)
                    XCTAssertEqual(r.status, .ok, r.text)
                    let choice0 = (r.json["choices"] as? [[String: Any]])?.first ?? [:]
                    guard choice0["finish_reason"] as? String != "length" else { continue }
                    XCTAssertEqual(choice0["finish_reason"] as? String, "tool_calls", r.text)
                    let message = choice0["message"] as? [String: Any] ?? [:]
                    XCTAssertTrue(message["content"] is NSNull, r.text)
                    let call = Self.toolCalls(r).first ?? [:]
                    XCTAssertEqual(call["type"] as? String, "function")
                    XCTAssertTrue((call["id"] as? String)?.hasPrefix("call_") ?? false)
                    let function = call["function"] as? [String: Any] ?? [:]
                    let name = function["name"] as? String ?? ""
                    let arguments = function["arguments"] as? String ?? ""
                    if choice == named { XCTAssertEqual(name, "get_weather") }
                    if name == "get_weather" {
                        XCTAssertEqual(SchemaValidator.problems(arguments, schema: Self.weatherParameters), [], arguments)
                    } else {
                        XCTAssertEqual(name, "get_time", r.text)
                    }
                    calls += 1
                }
            }
            XCTAssertGreaterThan(calls, 0, "no call ended within the budget")
        }
    }

    func testStreamedToolCallArrivesInFragmentsThatJoinToTheWholeAnswer() async throws {
        let server = makeServer(model: Models.wideWindow)
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            var ended = 0
            for sampling in Self.samplings + [#""temperature":1,"seed":8"#, #""temperature":1,"seed":9"#] {
                let body = #"{\#(Self.chat),"tools":[\#(Self.weather)],"tool_choice":"required",\#(sampling),"max_tokens":400"#
                let r = try await client.post("/v1/chat/completions", body + #","stream":true}"#)
                XCTAssertEqual(r.status, .ok, r.text)
                let events = sseEvents(r.text)
                XCTAssertEqual(events.last, "[DONE]")
                let choices = events.dropLast().compactMap { (object($0)["choices"] as? [[String: Any]])?.first }
                let finish = choices.compactMap { $0["finish_reason"] as? String }.last
                guard finish != "length" else { continue }
                ended += 1
                XCTAssertEqual(finish, "tool_calls")
                let deltas = choices.compactMap { ($0["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]] }
                    .compactMap(\.first)
                XCTAssertGreaterThan(deltas.count, 2, "the arguments came in one piece: \(r.text)")
                // The first delta: index, id, type, the whole name and empty arguments.
                let first = deltas.first ?? [:]
                XCTAssertEqual(first["index"] as? Int, 0)
                XCTAssertTrue((first["id"] as? String)?.hasPrefix("call_") ?? false)
                XCTAssertEqual(first["type"] as? String, "function")
                XCTAssertEqual((first["function"] as? [String: Any])?["name"] as? String, "get_weather")
                XCTAssertEqual((first["function"] as? [String: Any])?["arguments"] as? String, "")
                // Then fragments of the arguments only.
                var arguments = ""
                for d in deltas.dropFirst() {
                    XCTAssertEqual(d["index"] as? Int, 0)
                    XCTAssertNil(d["id"])
                    let function = d["function"] as? [String: Any] ?? [:]
                    XCTAssertNil(function["name"])
                    arguments += function["arguments"] as? String ?? ""
                }
                XCTAssertEqual(SchemaValidator.problems(arguments, schema: Self.weatherParameters), [], arguments)
                // No text content went out.
                XCTAssertEqual(joinedContent(Array(events)), "")
                // The same request whole: the same call, the same arguments text.
                let whole = try await client.post("/v1/chat/completions", body + "}")
                let call = Self.toolCalls(whole).first ?? [:]
                XCTAssertEqual((call["function"] as? [String: Any])?["arguments"] as? String, arguments, whole.text)
            }
            XCTAssertGreaterThan(ended, 0, "no streamed call ended within 400 tokens")
        }
    }

    func testParallelToolCallsTrueIsRefused() async throws {
        let server = makeServer(model: Models.wideWindow)
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            let refused = try await client.post("/v1/chat/completions",
                                                #"{\#(Self.chat),"tools":[\#(Self.weather)],"parallel_tool_calls":true,"max_tokens":4}"#)
            XCTAssertEqual(refused.status, .badRequest, refused.text)
            XCTAssertTrue(refused.errorMessage.contains("parallel_tool_calls"), refused.errorMessage)
            let accepted = try await client.post("/v1/chat/completions",
                                                 #"{\#(Self.chat),"tools":[\#(Self.weather)],"parallel_tool_calls":false,"tool_choice":"none","max_tokens":4}"#)
            XCTAssertEqual(accepted.status, .ok, accepted.text)
        }
    }

    func testAutoAndNoneAndToolResultsInTheConversation() async throws {
        let server = makeServer(model: Models.wideWindow)  // the tools' description takes ~500 byte tokens
        try await server.makeApplication().test(.router) { client in
            _ = try await loaded(server)
            for sampling in Self.samplings {
                let auto = try await client.post("/v1/chat/completions",
                                                 #"{\#(Self.chat),"tools":[\#(Self.weather)],\#(sampling),"max_tokens":60}"#)
                XCTAssertEqual(auto.status, .ok, auto.text)
                let choice = (auto.json["choices"] as? [[String: Any]])?.first ?? [:]
                if let call = Self.toolCalls(auto).first {
                    let args = (call["function"] as? [String: Any])?["arguments"] as? String ?? ""
                    XCTAssertEqual(SchemaValidator.problems(args, schema: Self.weatherParameters), [])
                } else {
                    // Text that is not a call never starts with "{" under `auto`.
                    let text = (choice["message"] as? [String: Any])?["content"] as? String ?? ""
                    XCTAssertFalse(text.hasPrefix("{") && choice["finish_reason"] as? String == "stop", text)
                }
                let none = try await client.post("/v1/chat/completions",
                                                 #"{\#(Self.chat),"tools":[\#(Self.weather)],"tool_choice":"none",\#(sampling),"max_tokens":8}"#)
                XCTAssertEqual(none.status, .ok, none.text)
                XCTAssertTrue(Self.toolCalls(none).isEmpty)
            }
            // A call and its result given back: the conversation goes on.
            let history = #"""
            {"messages":[{"role":"user","content":"Weather in Oslo?"},
             {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\",\"unit\":\"C\"}"}}]},
             {"role":"tool","tool_call_id":"call_1","content":"{\"temp\": 4}"}],
             "tools":[\#(Self.weather)],"tool_choice":"none","max_tokens":4}
            """#
            let r = try await client.post("/v1/chat/completions", history)
            XCTAssertEqual(r.status, .ok, r.text)
            let bad = history.replacingOccurrences(of: #"\"unit\":\"C\"}"#, with: #"\"unit\":"#)
            let refused = try await client.post("/v1/chat/completions", bad)
            XCTAssertEqual(refused.status, .badRequest, refused.text)
            XCTAssertTrue(refused.errorMessage.contains("messages[1].tool_calls[0].function.arguments"), refused.errorMessage)
        }
    }
}
