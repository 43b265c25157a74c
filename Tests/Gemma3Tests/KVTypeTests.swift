import Foundation
import Gemma3
import GemmaEdge
import GGUF
import Kernels
import TestSupport
import XCTest

/// KV cache types: f16 and q8 rows change the logits only by their rounding, the rings behave
/// as with f32, the memory halves as it should, and snapshots carry their type.
final class KVTypeTests: XCTestCase {
    var dir: String!
    var model: String!

    /// A tiny f32 model (no activation quantisation to blur the comparison) with heads of 32
    /// elements (so q8 rows fit), a window of 8 and one global layer.
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/kv-type-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var m = ForwardTests.tiny(.f32)
        m.headDim = 32
        model = try m.write(directory: dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Logits of every position of `tokens`, in batches of 16, with the given KV type.
    func logits(_ tokens: [Int32], kvType: KVType, localRing: Bool = true) throws -> [[Float]] {
        let file = try GGUFFile(path: model)
        let m = try Gemma3Model(file: file, compute: try Compute(threads: 2))
        let state = m.makeRunState(maxBatch: 16, maxContext: 512)
        let cache = KVCache(config: m.config, context: 512, localRing: localRing, kvType: kvType)
        XCTAssertEqual(cache.kvType, kvType)
        let v = m.config.vocabularySize
        var out: [[Float]] = []
        var buf = [Float](repeating: 0, count: 16 * v)
        var i = 0
        while i < tokens.count {
            let n = min(16, tokens.count - i)
            try tokens.withUnsafeBufferPointer { try m.evaluate(UnsafeBufferPointer(rebasing: $0[i..<(i + n)]), cache: cache, state: state) }
            buf.withUnsafeMutableBufferPointer { m.logits(state, rows: 0..<n, into: $0.baseAddress!) }
            for r in 0..<n { out.append(Array(buf[(r * v)..<((r + 1) * v)])) }
            i += n
        }
        return out
    }

    func testNarrowRowsStayCloseToF32AndRingsStillMatchFullCaches() throws {
        let vocab = try Gemma3Config(file: GGUFFile(path: model)).vocabularySize
        let tokens = ForwardTests.tokens(200, vocab: vocab, seed: 11)  // 25 times the window
        let exact = try logits(tokens, kvType: .f32)
        var errors: [KVType: Double] = [:]
        for t in [KVType.f16, .q8] {
            let got = try logits(tokens, kvType: t)
            var worst = 0.0
            for (x, y) in zip(got, exact) {
                let scale = Double(y.map(abs).max()!)
                for (p, q) in zip(x, y) { worst = max(worst, abs(Double(p - q)) / scale) }
            }
            errors[t] = worst
            print("KV \(t): largest logit error \(worst) of the largest logit")
            // Ring or full cache, the narrow rows hold the same values: the logits are identical.
            XCTAssertEqual(got, try logits(tokens, kvType: t, localRing: false), "\(t): ring and full cache differ")
        }
        // f16 rows round to 2^-11 relative, q8 to 1/254 of each block's largest element.
        XCTAssertGreaterThan(errors[.f16]!, 0, "f16 rows should not be exact")
        XCTAssertLessThan(errors[.f16]!, 2e-3)
        XCTAssertLessThan(errors[.q8]!, 1e-2)
        XCTAssertGreaterThan(errors[.q8]!, errors[.f16]!, "q8 should lose more than f16")
    }

    func testBytesPerType() throws {
        let config = try Gemma3Config(file: GGUFFile(path: model))
        let f32 = KVCache.bytes(config: config, context: 4096, kvType: .f32)
        let f16 = KVCache.bytes(config: config, context: 4096, kvType: .f16)
        let q8 = KVCache.bytes(config: config, context: 4096, kvType: .q8)
        XCTAssertEqual(f16.global * 2, f32.global)
        XCTAssertEqual(f16.local * 2, f32.local)
        XCTAssertEqual(q8.global * 32 * 4, f32.global * 34)  // 34 bytes per 32 elements
        XCTAssertEqual(q8.local, f16.local, "q8 keeps the local rings in f16")
        XCTAssertEqual(KVCache(config: config, context: 4096, kvType: .q8).bytes.global, q8.global)
        // The memory plan reports what the cache allocates for the type.
        let file = try GGUFFile(path: model)
        XCTAssertEqual(try MemoryPlan(file: file, context: 4096, kvType: .q8).globalKV, q8.global)
        XCTAssertEqual(try MemoryPlan(file: file, context: 4096).globalKV, f16.global)
    }

    func engine(_ kvType: KVType, path: String? = nil) throws -> Engine {
        var o = EngineOptions()
        o.threads = 2
        o.context = 256
        o.batch = 16
        o.kvType = kvType
        return try Engine(modelPath: path ?? model, options: o)
    }

    func testSnapshotsCarryTheirTypeAndAnotherTypeIsRefused() throws {
        let vocab = try Gemma3Config(file: GGUFFile(path: model)).vocabularySize
        let prompt = ForwardTests.tokens(100, vocab: vocab, seed: 3)
        for t in KVType.allCases {
            let e = try engine(t)
            let a = e.makeSession()
            try a.append(prompt)
            let path = dir + "/\(t).snap"
            try a.save(to: path)
            try a.append(token: 7)
            let b = e.makeSession()
            try b.restore(from: path)
            try b.append(token: 7)
            XCTAssertEqual(Array(b.logits), Array(a.logits), "\(t): restored session differs")
            // The file holds the type's rows: its size follows the type.
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            let kv = KVCache.bytes(config: e.config, context: 256, kvType: t)
            XCTAssertGreaterThan(size, kv.local + kv.global)
            XCTAssertLessThan(size, kv.local + kv.global + 4 * vocab + 4 * prompt.count + 4096)
        }
        XCTAssertThrowsError(try engine(.q8).makeSession().restore(from: dir + "/f16.snap")) {
            XCTAssertTrue("\($0)".contains("holds f16 KV rows") && "\($0)".contains("--kv-type f16"), "\($0)")
        }
        XCTAssertThrowsError(try engine(.f16).makeSession().restore(from: dir + "/q8.snap")) {
            XCTAssertTrue("\($0)".contains("--kv-type q8"), "\($0)")
        }
    }

    func testQ8NeedsHeadsOfWholeBlocks() throws {
        let path = try ForwardTests.tiny(.q8_0).write(directory: dir)  // heads of 16 elements
        XCTAssertThrowsError(try engine(.q8, path: path)) { XCTAssertTrue("\($0)".contains("multiple of 32"), "\($0)") }
        XCTAssertNoThrow(try engine(.f16, path: path))
    }
}
