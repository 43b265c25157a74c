import Foundation
import GemmaEdge
@testable import Grammar
import Sampling
import TestSupport
import Tokenizer
import XCTest

/// Constrained generation end to end: every output of the test set parses with its grammar (and,
/// for schemas, as JSON), greedy and sampled, on a tiny synthetic model and on the real 270M.
final class GenerationTests: XCTestCase {
    static let schemas: [(name: String, schema: String)] = [
        ("person", #"{"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 120}, "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 1, "maxItems": 3}}, "required": ["name", "age", "tags"], "additionalProperties": false}"#),
        ("nested", #"{"type": "object", "properties": {"when": {"type": "string", "format": "date"}, "id": {"type": "string", "format": "uuid"}, "pos": {"type": "object", "properties": {"x": {"type": "number"}, "ok": {"type": "boolean"}}, "required": ["x", "ok"], "additionalProperties": false}}, "required": ["when", "id", "pos"], "additionalProperties": false}"#),
    ]

    /// Grammars by name: the schemas', any JSON object, and the GBNF fixtures.
    static func testSet() throws -> [(name: String, gbnf: String, json: Bool)] {
        var set = try schemas.map { ($0.name, try JSONSchemaGrammar.gbnf(schema: $0.schema), true) }
        set.append(("json", JSONSchemaGrammar.anyJSON(objectOnly: true), true))
        for name in ["arithmetic", "list", "chess"] { set.append((name, try Fixtures.gbnf(name), false)) }
        return set
    }

    static func vocabulary(_ engine: Engine) -> TokenVocabulary { engine.grammars.vocabulary }

    /// Generates with `gbnf` and checks the output; returns the text and the constraint.
    @discardableResult
    static func generate(_ engine: Engine, _ vocabulary: TokenVocabulary, gbnf: String, json: Bool, prompt: String,
                         parameters: SamplingParameters, maxTokens: Int) throws -> (String, GrammarConstraint) {
        let c = GrammarConstraint(cache: TokenMaskCache(grammar: try Grammar(gbnf: gbnf), vocabulary: vocabulary))
        return try generate(engine, c, json: json, prompt: prompt, parameters: parameters, maxTokens: maxTokens)
    }

    /// Generates under `c` and checks the output.
    @discardableResult
    static func generate(_ engine: Engine, _ c: GrammarConstraint, json: Bool, prompt: String,
                         parameters: SamplingParameters, maxTokens: Int) throws -> (String, GrammarConstraint) {
        let g = c.cache.grammar
        let vocabulary = c.cache.vocabulary
        let sampler = Sampler(parameters: parameters, vocabularySize: engine.config.vocabularySize)
        sampler.constraint = c
        let session = engine.makeSession()
        try session.prefill(try engine.tokenizer.encode(prompt, addBOS: true))
        var bytes: [UInt8] = []
        try session.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: engine.stopTokens) { id in
            bytes += vocabulary.bytes(of: id)
            return true
        }
        XCTAssertEqual(c.refusedTokens, 0)
        let m = GrammarMatcher(grammar: g)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(m.accept(bytes), "output does not follow the grammar: \(text)")
        if c.finished {
            XCTAssertTrue(m.isComplete)
            if json { XCTAssertNoThrow(try JSONValue.parse(text), text) }
        }
        return (text, c)
    }

    static func parameterSets() -> [SamplingParameters] {
        var sampled = SamplingParameters()
        sampled.temperature = 1.0
        sampled.seed = 11
        return [.greedy, sampled]
    }

    func testTinyModelFollowsEveryGrammar() throws {
        let dir = NSTemporaryDirectory() + "/grammar-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var tiny = TinyGemma()
        tiny.blocks = 2
        tiny.embedding = 64
        tiny.feedForward = 128
        tiny.headDim = 32
        var o = EngineOptions()
        o.threads = 1
        o.context = 512
        let engine = try Engine(modelPath: try tiny.write(directory: dir), options: o)
        let v = Self.vocabulary(engine)
        var finished = 0
        for (name, gbnf, json) in try Self.testSet() {
            for p in Self.parameterSets() {
                let (text, c) = try Self.generate(engine, v, gbnf: gbnf, json: json, prompt: "hello", parameters: p, maxTokens: 400)
                if c.finished { finished += 1 }
                XCTAssertFalse(text.isEmpty, name)
            }
        }
        // A random model wanders, but the short grammars must finish within the budget.
        XCTAssertGreaterThan(finished, 0)
    }

    /// A grammar's cache held to a small byte cap: the outputs are the same as with an uncapped
    /// cache (the classes past the cap are computed at each step instead), and the cache stays
    /// under its cap.
    func testCappedMaskCacheGivesTheSameOutputsWithinItsCap() throws {
        let dir = NSTemporaryDirectory() + "/grammar-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var tiny = TinyGemma()
        tiny.blocks = 2
        tiny.embedding = 64
        tiny.feedForward = 128
        tiny.headDim = 32
        var o = EngineOptions()
        o.threads = 1
        o.context = 512
        let engine = try Engine(modelPath: try tiny.write(directory: dir), options: o)
        let v = Self.vocabulary(engine)
        for (name, gbnf, json) in try Self.testSet() where ["person", "json", "arithmetic"].contains(name) {
            let grammar = try Grammar(gbnf: gbnf)
            for p in Self.parameterSets() {
                let free = GrammarConstraint(cache: TokenMaskCache(grammar: grammar, vocabulary: v))
                let (expected, _) = try Self.generate(engine, free, json: json, prompt: "hello", parameters: p, maxTokens: 200)
                let full = free.cache.memoryBytes
                XCTAssertEqual(free.uncachedClasses, 0)
                let cap = full / 3
                let capped = GrammarConstraint(cache: TokenMaskCache(grammar: grammar, vocabulary: v, byteCap: cap))
                let (text, _) = try Self.generate(engine, capped, json: json, prompt: "hello", parameters: p, maxTokens: 200)
                XCTAssertEqual(text, expected, "\(name): a capped cache changed the output")
                XCTAssertLessThanOrEqual(capped.cache.memoryBytes, cap, name)
                XCTAssertGreaterThan(capped.uncachedClasses, 0, "\(name): the cap of \(cap) bytes (of \(full)) was never hit")
                XCTAssertEqual(capped.cache.uncachedClasses, capped.uncachedClasses)
            }
        }
        // Through the store: the cap applies to each grammar, and the statistics report it.
        let store = GrammarStore(cacheBytesPerGrammar: 1) { v }
        let c = try store.constraint(gbnf: JSONSchemaGrammar.anyJSON(objectOnly: true))
        try Self.generate(engine, c, json: true, prompt: "hello", parameters: .greedy, maxTokens: 20)
        let s = store.statistics
        XCTAssertEqual(s.cacheBytes, 0)
        XCTAssertEqual(s.cappedGrammars, 1)
        XCTAssertGreaterThan(s.uncachedClasses, 0)
    }

    /// The must-show set on the real 270M, bounded (48 tokens each): llama.cpp's json, arithmetic,
    /// list and chess grammars and three schemas, greedy and sampled. Every output follows its
    /// grammar; every output that ended is checked whole (JSON parses, schemas validate).
    func testRealModelFollowsSchemasAndGrammars() throws {
        let path = (ProcessInfo.processInfo.environment["HOME"] ?? "") + "/.cache/gemma-edge/models/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("the real 270M is not in the cache (\(path))") }
        var o = EngineOptions()
        o.threads = 2
        o.context = 512
        let engine = try Engine(modelPath: path, options: o)
        let t0 = Date()
        let v = engine.grammars.vocabulary
        print("vocabulary of \(v.size) tokens built in \(String(format: "%.0f", Date().timeIntervalSince(t0) * 1000)) ms, \(v.memoryBytes / 1024) KiB")
        var set: [(name: String, gbnf: String, schema: String?, prompt: String)] = []
        let llama = Fixtures.llamaGrammars
        for (name, prompt) in [("json", "A JSON object describing a cat:\n"), ("arithmetic", "Some sums:\n"),
                               ("list", "A shopping list:\n"), ("chess", "A famous chess game:\n")] {
            guard let text = try? String(contentsOfFile: llama + "/\(name).gbnf", encoding: .utf8) else {
                throw XCTSkip("llama.cpp's grammars are not in the cache (\(llama))")
            }
            set.append((name, text, nil, prompt))
        }
        let extra = [("enum-array", #"{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"sizes":{"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"minItems":1,"maxItems":3}},"required":["color","sizes"],"additionalProperties":false}"#)]
        for (name, schema) in Self.schemas + extra {
            set.append((name, try JSONSchemaGrammar.gbnf(schema: schema), schema, "Write the JSON for a \(name) record:"))
        }
        var ended = 0, total = 0
        for (name, gbnf, schema, prompt) in set {
            for p in Self.parameterSets() {
                let c = try engine.grammars.constraint(gbnf: gbnf)
                let (text, _) = try Self.generate(engine, c, json: name == "json" || schema != nil, prompt: prompt,
                                                  parameters: p, maxTokens: 48)
                total += 1
                if c.finished {
                    ended += 1
                    if let schema { XCTAssertEqual(SchemaValidator.problems(text, schema: schema), [], "\(name): \(text)") }
                }
                print("\(name) t=\(p.temperature): \(c.maskCount) masks, \(String(format: "%.1f", c.maskSeconds / Double(max(1, c.maskCount)) * 1e6)) us/mask, cache \(c.cache.entryCount) entries \(c.cache.memoryBytes / 1024) KiB, \(c.finished ? "complete" : "cut at 48 tokens"): \(text.debugDescription)")
            }
        }
        print("real 270M: \(ended) of \(total) outputs ended within 48 tokens and were checked whole; all \(total) follow their grammar")
        let s = engine.grammars.statistics
        print("grammar store: \(s.grammars) grammars, vocabulary \(s.vocabularyBytes / 1024) KiB, masks \(s.cacheBytes / 1024) KiB")
    }
}
