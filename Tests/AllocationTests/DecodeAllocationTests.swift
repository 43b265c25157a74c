import CAllocCounter
import Foundation
import GemmaEdge
import GGUF
import Grammar
import Sampling
import TestSupport
import XCTest

/// The decode loop allocates nothing once warm: malloc is counted (process-wide, all threads)
/// while a session generates 32 and then 160 tokens.
final class DecodeAllocationTests: XCTestCase {
    func decodeAllocations(engine: Engine, tokens: Int, sampling: SamplingParameters) throws -> Int {
        let session = engine.makeSession()
        let sampler = Sampler(parameters: sampling, vocabularySize: engine.config.vocabularySize)
        try session.append([2, 300, 301, 302])
        func step() throws {
            let next = session.tokens.withUnsafeBufferPointer { sampler.sample(session.logits, recent: $0) }
            try session.append(token: next)
        }
        // Warm up with the exact step measured: first calls may set up runtime metadata once.
        for _ in 0..<3 { try step() }
        alloc_counter_start()
        for _ in 0..<tokens { try step() }
        return alloc_counter_stop()
    }

    /// Q4_K and Q4_0 projections are repacked (RepackedArena) and read through the repacked
    /// kernels, Q8_0 ones read the GGUF's blocks: no path may allocate per token.
    func testNoAllocationPerDecodedToken() throws {
        for type in [TensorType.q4_K, .q4_0, .q8_0] {
            let (path, dir) = try Self.model(type, blocks: 7)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var o = Self.options()
            o.repackAll = true   // q4_Kx8 is opt-in where it does not pay
            let engine = try Engine(modelPath: path, options: o)
            if type != .q8_0 && engine.model.compute.kernels.name != "scalar" {
                XCTAssertNotNil(engine.repacked, "the \(type) projections should be repacked")
            }
            var sampled = SamplingParameters()
            sampled.repetitionPenalty = 1.1
            for params in [SamplingParameters.greedy, sampled] {
                let short = try decodeAllocations(engine: engine, tokens: 32, sampling: params)
                let long = try decodeAllocations(engine: engine, tokens: 160, sampling: params)
                XCTAssertEqual(short, 0, "\(type): allocations while decoding 32 tokens (temperature \(params.temperature))")
                XCTAssertEqual(long, 0, "\(type): allocations while decoding 160 tokens (temperature \(params.temperature))")
            }
        }
    }

    /// Speculative decoding allocates nothing per token once warm either: the verification batch,
    /// the rollback, the acceptance rule and both drafters (prompt lookup, a draft model catching
    /// up and drafting), greedy and sampled.
    func testNoAllocationPerSpeculativelyDecodedToken() throws {
        let (path, dir) = try Self.model(.q4_0, blocks: 4)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = Self.options()
        o.maxDraft = 6
        let engine = try Engine(modelPath: path, options: o)
        let draftEngine = try Engine(modelPath: path, options: o)
        let drafters: [AnyDrafter] = [.lookup(PromptLookup(ngram: 1...3)), .model(try DraftModel(engine: draftEngine, target: engine))]
        var sampled = SamplingParameters()
        sampled.repetitionPenalty = 1.1
        for drafter in drafters {
            for params in [SamplingParameters.greedy, sampled] {
                let session = engine.makeSession()
                let sampler = Sampler(parameters: params, vocabularySize: engine.config.vocabularySize)
                try session.append([2, 300, 301, 302, 300, 301, 302, 300, 301])
                var length = DraftLength(limit: 6)
                var stats = SpeculationStats()
                func run(_ n: Int) throws {
                    try session.generate(maxTokens: n, sampler: sampler, stopTokens: [], drafter: drafter, length: &length,
                                         stats: &stats) { _ in true }
                }
                try run(8)  // warm: the verification buffers, runtime metadata
                alloc_counter_start()
                try run(120)
                let n = alloc_counter_stop()
                XCTAssertEqual(n, 0, "\(drafter) temperature \(params.temperature): allocations while decoding 120 tokens")
                XCTAssertGreaterThan(stats.verifications, 0, "\(drafter): drafts were verified")
            }
        }
    }

    /// A tiny model with `type` projections in a new folder: its path and the folder.
    static func model(_ type: TensorType, blocks: Int) throws -> (path: String, dir: String) {
        var m = TinyGemma()
        m.blocks = blocks
        m.embedding = 256; m.feedForward = 512; m.heads = 4; m.kvHeads = 2; m.headDim = 64; m.window = 16
        m.matrixType = type
        m.embeddingType = .q8_0
        let dir = NSTemporaryDirectory() + "alloc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try m.write(directory: dir), dir)
    }

    static func options() -> EngineOptions {
        var o = EngineOptions()
        o.threads = 2
        o.context = 512
        return o
    }

    func testTheCounterCounts() {
        alloc_counter_start()
        let a = [Int](repeating: 1, count: 1000)
        let n = alloc_counter_stop()
        XCTAssertEqual(a.count, 1000)
        XCTAssertGreaterThanOrEqual(n, 1)
    }
}

/// The constrained decode path (a JSON schema's grammar) once warm: the grammar's token classes
/// are cached in the engine's grammar store by the first generation, and a second generation
/// that takes the same path (greedy) is measured.
final class ConstrainedDecodeAllocationTests: XCTestCase {
    func testConstrainedDecodeOnceWarm() throws {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64; m.feedForward = 128; m.heads = 2; m.kvHeads = 1; m.headDim = 32
        let dir = NSTemporaryDirectory() + "alloc-grammar-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = EngineOptions()
        o.threads = 2
        o.context = 512
        let engine = try Engine(modelPath: try m.write(directory: dir), options: o)
        let schema = #"{"type":"object","properties":{"name":{"type":"string","maxLength":200},"tags":{"type":"array","items":{"type":"string"},"maxItems":50}},"required":["name","tags"],"additionalProperties":false}"#
        let constraint = try engine.grammars.constraint(gbnf: JSONSchemaGrammar.gbnf(schema: schema))
        let sampler = Sampler(parameters: .greedy, vocabularySize: engine.config.vocabularySize)
        sampler.constraint = constraint
        let session = engine.makeSession()
        let tokens = 120
        func run() throws -> Int {
            session.reset()
            constraint.reset()
            try session.append([2, 300, 301, 302])
            alloc_counter_start()
            for _ in 0..<tokens {
                let next = session.tokens.withUnsafeBufferPointer { sampler.sample(session.logits, recent: $0) }
                try session.append(token: next)
            }
            return alloc_counter_stop()
        }
        let cold = try run()
        let warm = try run()
        let again = try run()
        XCTAssertEqual(constraint.refusedTokens, 0)
        print("constrained decode: \(cold) allocations in \(tokens) tokens cold, \(warm) warm, \(again) on the third run; "
              + "cache \(constraint.cache.entryCount) signatures, \(constraint.cache.memoryBytes / 1024) KiB")
        XCTAssertGreaterThan(cold, 0, "the first run computes the token classes")
        XCTAssertEqual(warm, 0, "allocations per token on the warm constrained path: \(Double(warm) / Double(tokens))")
        XCTAssertEqual(again, 0)
    }
}
