import Foundation
import Gemma3
import GemmaEdge
import GGUF
import Kernels
import Sampling
import TestSupport
import XCTest

final class ForwardTests: XCTestCase {
    /// A tiny model whose window (8) is much shorter than the test sequences, with GQA and one
    /// global layer among six local ones.
    static func tiny(_ type: TensorType = .f32, embeddingType: TensorType? = nil) -> TinyGemma {
        var m = TinyGemma()
        m.blocks = 7
        m.embedding = type.blockElements == 256 ? 256 : 64
        m.feedForward = type.blockElements == 256 ? 256 : 128
        m.heads = 4
        m.kvHeads = 2
        m.headDim = type.blockElements == 256 ? 64 : 16
        m.window = 8
        m.context = 4096
        m.ropeBaseLocal = 10000
        m.matrixType = type
        m.embeddingType = embeddingType ?? ([.f32, .f16, .bf16].contains(type) ? type : .q8_0)
        return m
    }

    static func tokens(_ n: Int, vocab: Int, seed: UInt64 = 7) -> [Int32] {
        var r = SplitMix(seed: seed)
        return (0..<n).map { _ in Int32(r.next() % UInt64(vocab)) }
    }

    /// Logits of every position, evaluating `tokens` in batches of `batch`.
    static func runLogits(_ path: String, _ tokens: [Int32], batch: Int, threads: Int = 2,
                          localRing: Bool = true) throws -> [[Float]] {
        let file = try GGUFFile(path: path)
        let model = try Gemma3Model(file: file, compute: try Compute(threads: threads))
        let state = model.makeRunState(maxBatch: batch, maxContext: 4096)
        let cache = KVCache(config: model.config, context: 4096, localRing: localRing, kvType: .f32)  // exact rows
        let v = model.config.vocabularySize
        var out: [[Float]] = []
        var buf = [Float](repeating: 0, count: batch * v)
        var i = 0
        while i < tokens.count {
            let n = min(batch, tokens.count - i)
            try tokens.withUnsafeBufferPointer { try model.evaluate(UnsafeBufferPointer(rebasing: $0[i..<(i + n)]), cache: cache, state: state) }
            buf.withUnsafeMutableBufferPointer { model.logits(state, rows: 0..<n, into: $0.baseAddress!) }
            for r in 0..<n { out.append(Array(buf[(r * v)..<((r + 1) * v)])) }
            i += n
        }
        return out
    }

    func maxRelativeError(_ a: [[Float]], _ b: [[Double]]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let scale = max(1e-6, y.map(abs).max()!)
            for (p, q) in zip(x, y) { worst = max(worst, abs(Double(p) - q) / scale) }
        }
        return worst
    }

    func testF32MatchesNaiveReferenceAcrossTheWindow() throws {
        let path = try Self.tiny().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ref = try ReferenceForward(path: path)
        let toks = Self.tokens(30, vocab: ref.vocab)
        let expected = ref.logits(toks)
        for batch in [1, 5, 64] {
            let got = try Self.runLogits(path, toks, batch: batch)
            XCTAssertEqual(got.count, toks.count)
            XCTAssertLessThan(maxRelativeError(got, expected), 2e-4, "batch \(batch)")
        }
    }

    func testQuantizedTypesTrackTheReference() throws {
        for type in [TensorType.f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K] {
            let path = try Self.tiny(type).write()
            defer { try? FileManager.default.removeItem(atPath: path) }
            let ref = try ReferenceForward(path: path)
            let toks = Self.tokens(12, vocab: ref.vocab, seed: 3)
            let expected = ref.logits(toks)
            let got = try Self.runLogits(path, toks, batch: 4)
            // Activations are quantised to 8 bits for integer dot products, so allow a few percent.
            let err = maxRelativeError(got, expected)
            XCTAssertLessThan(err, type == .f16 || type == .bf16 ? 2e-3 : 6e-2, "\(type)")
            var agree = 0
            for (g, e) in zip(got, expected) where Sampler.argmaxIndex(g) == e.indices.max(by: { e[$0] < e[$1] }) { agree += 1 }
            XCTAssertGreaterThanOrEqual(agree, toks.count - 2, "\(type): top-1 agreement \(agree)/\(toks.count)")
        }
    }

    func testBatchSizeAndThreadsDoNotChangeResults() throws {
        let path = try Self.tiny(.q4_K).write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let toks = Self.tokens(40, vocab: TinyGemma.pieces.count, seed: 9)
        let a = try Self.runLogits(path, toks, batch: 40, threads: 1)
        for (batch, threads) in [(1, 2), (3, 2), (17, 1), (40, 2)] {
            let b = try Self.runLogits(path, toks, batch: batch, threads: threads)
            for (x, y) in zip(a, b) {
                for (p, q) in zip(x, y) { XCTAssertEqual(p, q, accuracy: 1e-3 * max(1, abs(p)), "batch \(batch)") }
            }
        }
    }

    func testLocalRingEqualsFullCacheOverLongGreedyGeneration() throws {
        // 2,000+ greedy tokens with a window of 8: the ring wraps hundreds of times and must give
        // exactly what a cache keeping every position gives.
        let path = try Self.tiny(.q8_0).write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        func generate(localRing: Bool, temperature: Float) throws -> [Int32] {
            var params = SamplingParameters()
            params.temperature = temperature
            params.topK = 0
            params.topP = 1
            params.minP = 0
            params.seed = 11
            let file = try GGUFFile(path: path)
            let model = try Gemma3Model(file: file, compute: try Compute(threads: 2))
            let state = model.makeRunState(maxBatch: 16, maxContext: 2100)
            let cache = KVCache(config: model.config, context: 2100, localRing: localRing)
            var logits = [Float](repeating: 0, count: model.config.vocabularySize)
            let sampler = Sampler(parameters: params, vocabularySize: model.config.vocabularySize)
            var toks: [Int32] = [2, 300, 301, 302]
            try toks.withUnsafeBufferPointer { try model.evaluate($0, cache: cache, state: state) }
            while toks.count < 2090 {
                let next = logits.withUnsafeMutableBufferPointer { l -> Int32 in
                    model.lastLogits(state, into: l.baseAddress!)
                    return toks.withUnsafeBufferPointer { sampler.sample(l, recent: $0) }
                }
                toks.append(next)
                var t = next
                try withUnsafePointer(to: &t) { try model.evaluate(UnsafeBufferPointer(start: $0, count: 1), cache: cache, state: state) }
            }
            return toks
        }
        let greedyRing = try generate(localRing: true, temperature: 0)
        XCTAssertEqual(greedyRing.count, 2090)
        XCTAssertEqual(greedyRing, try generate(localRing: false, temperature: 0))
        // A random model's greedy text soon loops; sampled text keeps varying, so it also checks
        // that every logit, not just the winner, is the same with and without the ring.
        let sampledRing = try generate(localRing: true, temperature: 1)
        XCTAssertEqual(sampledRing, try generate(localRing: false, temperature: 1))
        XCTAssertGreaterThan(Set(sampledRing.suffix(500)).count, 50, "degenerate generation proves little")
    }

    func testRingMemoryDoesNotGrowWithContext() throws {
        let path = try Self.tiny().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try Gemma3Config(file: GGUFFile(path: path))
        let small = KVCache(config: config, context: 512).bytes
        let large = KVCache(config: config, context: 4096).bytes
        XCTAssertEqual(small.local, large.local)
        XCTAssertEqual(large.global, 8 * small.global)
    }
}

extension Sampler {
    static func argmaxIndex(_ x: [Float]) -> Int { Int(x.withUnsafeBufferPointer { argmax($0) }) }
}
