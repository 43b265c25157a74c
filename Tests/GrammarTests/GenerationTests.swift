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

    static func vocabulary(_ engine: Engine) -> TokenVocabulary {
        let v = engine.tokenizer.vocabulary
        return TokenVocabulary(tokens: (0..<v.count).map { v.decodedBytes(Int32($0)) }, stopTokens: engine.stopTokens)
    }

    /// Generates with `gbnf` and checks the output; returns the text and the constraint.
    @discardableResult
    static func generate(_ engine: Engine, _ vocabulary: TokenVocabulary, gbnf: String, json: Bool, prompt: String,
                         parameters: SamplingParameters, maxTokens: Int) throws -> (String, GrammarConstraint) {
        let g = try Grammar(gbnf: gbnf)
        let c = GrammarConstraint(cache: TokenMaskCache(grammar: g, vocabulary: vocabulary))
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

    func testRealModelFollowsSchemasAndGrammars() throws {
        let path = (ProcessInfo.processInfo.environment["HOME"] ?? "") + "/.cache/gemma-edge/models/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("the real 270M is not in the cache (\(path))") }
        var o = EngineOptions()
        o.threads = 2
        o.context = 512
        let engine = try Engine(modelPath: path, options: o)
        let t0 = Date()
        let v = Self.vocabulary(engine)
        print("vocabulary of \(v.size) tokens built in \(String(format: "%.0f", Date().timeIntervalSince(t0) * 1000)) ms, \(v.memoryBytes / 1024) KiB")
        let prompts = ["name": "Describe a person as JSON:", "arithmetic": "Some sums:\n", "list": "A shopping list:\n",
                       "chess": "A famous chess opening: "]
        // Bounded: a debug build computes masks slowly, so two grammars, greedy and sampled.
        let sampled = Self.parameterSets()[1]
        for (name, gbnf, json) in try Self.testSet() where name == "person" || name == "chess" {
            for p in [name == "person" ? SamplingParameters.greedy : sampled] {
                let prompt = prompts[name] ?? "Write the JSON for a \(name) record:"
                let (text, c) = try Self.generate(engine, v, gbnf: gbnf, json: json, prompt: prompt, parameters: p, maxTokens: 40)
                print("\(name) t=\(p.temperature): \(c.maskCount) masks, \(String(format: "%.1f", c.maskSeconds / Double(max(1, c.maskCount)) * 1e6)) us/mask, cache \(c.cache.entryCount) entries \(c.cache.memoryBytes / 1024) KiB, \(c.finished ? "complete" : "cut at 60 tokens"): \(text.debugDescription)")
            }
        }
    }
}
