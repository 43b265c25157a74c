import Base
import Foundation
import Gemma3
import GemmaEdge
import GGUF
import Kernels
import Sampling
import TestSupport
import XCTest

/// Well-formed but wrong: models whose values are not finite, states whose logits are NaN,
/// snapshots with a flipped bit or spans that overflow, a model file replaced while in use.
final class CorruptStateTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/corrupt-state-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ bytes: [UInt8], _ name: String = "m.gguf") throws -> String {
        let path = dir + "/" + name
        try AtomicFile.write(bytes, to: path)
        return path
    }

    func engine(_ path: String, context: Int = 64) throws -> Engine {
        var o = EngineOptions()
        o.threads = 2
        o.context = context
        o.batch = 16
        return try Engine(modelPath: path, options: o)
    }

    func assertLoadFails(_ bytes: [UInt8], naming text: String, line: UInt = #line) throws {
        let path = try write(bytes, "bad-\(UUID().uuidString).gguf")
        XCTAssertThrowsError(try engine(path), line: line) {
            XCTAssertTrue("\($0)".contains(text), "'\(text)' not in: \($0)", line: line)
        }
    }

    // MARK: Load-time value checks

    func testNonFiniteOrOutOfRangeMetadataFloatsAreRefusedNamingTheKey() throws {
        let good = ForwardTests.tiny(.q8_0).serialize()
        XCTAssertNoThrow(try engine(try write(good)))
        let cases: [(String, Float)] = [
            ("gemma3.rope.freq_base", .infinity), ("gemma3.rope.freq_base", .nan), ("gemma3.rope.freq_base", 1),
            ("gemma3.rope.freq_base_swa", -.infinity), ("gemma3.rope.freq_base_swa", 0.5),
            ("gemma3.attention.layer_norm_rms_epsilon", .nan), ("gemma3.attention.layer_norm_rms_epsilon", 0),
            ("gemma3.attention.layer_norm_rms_epsilon", 3),
        ]
        for (key, value) in cases {
            try assertLoadFails(try Corrupt.rewrite(good) { $0.set(key, .float32(value)) }, naming: "\(key) is \(value)")
        }
        let scaled = try Corrupt.rewrite(good) {
            $0.set("gemma3.rope.scaling.type", .string("linear"))
            $0.set("gemma3.rope.scaling.factor", .float32(.infinity))
        }
        try assertLoadFails(scaled, naming: "gemma3.rope.scaling.factor is inf")
    }

    func testANonFiniteNormOrBlockScaleIsRefusedAtLoadNamingTheTensor() throws {
        let good = ForwardTests.tiny(.q8_0).serialize()
        try assertLoadFails(try Corrupt.float(good, "blk.1.ffn_norm.weight", element: 3, .infinity),
                            naming: "tensor 'blk.1.ffn_norm.weight' (F32) holds inf at element 3")
        try assertLoadFails(try Corrupt.float(good, "output_norm.weight", element: 0, .nan),
                            naming: "tensor 'output_norm.weight' (F32) holds nan at element 0")
        // Q8_0 block 2 of blk.0.attn_q.weight: its f16 d is the first 2 of its 34 bytes.
        try assertLoadFails(try Corrupt.tensor(good, "blk.0.attn_q.weight", at: 2 * 34, [0x00, 0x7E]),
                            naming: "tensor 'blk.0.attn_q.weight' (Q8_0) has a non-finite block scale (d = nan) in block 2")
        try assertLoadFails(try Corrupt.tensor(good, "token_embd.weight", at: 100 * 34, [0xFF, 0xFF]),
                            naming: "tensor 'token_embd.weight' (Q8_0) has a non-finite block scale (d = nan) in block 100")
    }

    // MARK: Run time

    func testNonFiniteActivationsStopTheForwardPassNamingTheLayer() throws {
        // An f32 matrix holds a NaN weight: the model (built without the engine's value checks)
        // runs, and the residual stream after layer 2 is the first to hold NaN.
        let bad = try Corrupt.float(ForwardTests.tiny(.f32).serialize(), "blk.2.ffn_up.weight", element: 5, .nan)
        let file = try GGUFFile(path: try write(bad))
        XCTAssertThrowsError(try file.verifyValues())   // what the engine would have refused
        let model = try Gemma3Model(file: file, compute: try Compute(threads: 1))
        let state = model.makeRunState(maxBatch: 4, maxContext: 16)
        let cache = KVCache(config: model.config, context: 16)
        let tokens: [Int32] = [2, 300, 301]
        XCTAssertThrowsError(try tokens.withUnsafeBufferPointer { try model.evaluate($0, cache: cache, state: state) }) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("the activations after layer 2 (blk.2) (token 0 of the batch"), m)
            XCTAssertTrue(m.contains("are not finite numbers"), m)
        }
        XCTAssertEqual(cache.length, 0, "a refused batch does not count as evaluated")
    }

    func testAllNaNLogitsEndGenerationWithTheSameErrorOnEveryRun() throws {
        let e = try engine(try write(ForwardTests.tiny(.q8_0).serialize()))
        var params = SamplingParameters()
        params.temperature = 0.8
        params.seed = 42
        var outcomes: [String] = []
        for run in 0..<6 {
            let s = e.makeSession()
            try s.append([2, 300, 301])
            s.logits.update(repeating: .nan)
            var emitted: [Int32] = []
            let sampler = Sampler(parameters: run % 2 == 0 ? params : .greedy, vocabularySize: e.config.vocabularySize)
            XCTAssertThrowsError(try s.generate(maxTokens: 4, sampler: sampler, stopTokens: e.stopTokens) {
                emitted.append($0)
                return true
            }) { outcomes.append("\($0)") }
            XCTAssertEqual(emitted, [], "nothing is sampled from NaN")
            XCTAssertEqual(s.tokens, [], "the broken session starts over")
        }
        XCTAssertEqual(Set(outcomes).count, 1, "\(outcomes)")
        XCTAssertTrue(outcomes[0].contains("the logits after position 3 (token 0 is nan) are not finite numbers"), outcomes[0])
    }

    func testTheSamplerNeverReadsWhatItDidNotWrite() {
        // All NaN: every mode answers noToken, the same on every call (no stale heap entries).
        for temperature: Float in [0, 0.7] {
            var p = SamplingParameters()
            p.temperature = temperature
            p.topK = 3
            let s = Sampler(parameters: p, vocabularySize: 50)
            var finite = (0..<50).map { Float($0 % 7) }
            _ = finite.withUnsafeMutableBufferPointer { s.sample($0, recent: UnsafeBufferPointer(start: nil, count: 0)) }
            for _ in 0..<5 {
                var nan = [Float](repeating: .nan, count: 50)
                let t = nan.withUnsafeMutableBufferPointer { s.sample($0, recent: UnsafeBufferPointer(start: nil, count: 0)) }
                XCTAssertEqual(t, Sampler.noToken)
            }
        }
        var mixed: [Float] = [.nan, -.infinity, 2, .nan, 2]
        XCTAssertEqual(mixed.withUnsafeBufferPointer { Sampler.argmax($0) }, 2)
        mixed = [-.infinity, -.infinity]
        XCTAssertEqual(mixed.withUnsafeBufferPointer { Sampler.argmax($0) }, 0)
    }

    // MARK: Snapshots

    /// A saved snapshot of a tiny session, its bytes, and a cache to restore into.
    func snapshot(spans: [SnapshotSpan] = []) throws -> (bytes: [UInt8], cache: KVCache, logits: Int) {
        let file = try GGUFFile(path: try write(ForwardTests.tiny(.q8_0).serialize(), "snap-\(UUID().uuidString).gguf"))
        let model = try Gemma3Model(file: file, compute: try Compute(threads: 1))
        let state = model.makeRunState(maxBatch: 8, maxContext: 16)
        let cache = KVCache(config: model.config, context: 16)
        let tokens: [Int32] = [2, 300, 301, 302]
        try tokens.withUnsafeBufferPointer { try model.evaluate($0, cache: cache, state: state) }
        let logits = [Float](repeating: 0.5, count: model.config.vocabularySize)
        let path = dir + "/s-\(UUID().uuidString).snap"
        try logits.withUnsafeBufferPointer { try cache.saveSnapshot(to: path, tokens: tokens, logits: $0, model: "m", spans: spans) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return (bytes, KVCache(config: model.config, context: 16), logits.count)
    }

    func restore(_ bytes: [UInt8], into cache: KVCache, logits n: Int) throws -> [Int32] {
        var logits = [Float](repeating: 0, count: n)
        return try bytes.withUnsafeBytes { b in
            try logits.withUnsafeMutableBufferPointer { try cache.restoreSnapshot(bytes: b, name: "s.snap", logits: $0, model: "m") }
        }
    }

    func testASnapshotWithOneFlippedBitAnywhereIsRefused() throws {
        let (bytes, cache, n) = try snapshot()
        XCTAssertEqual(try restore(bytes, into: cache, logits: n), [2, 300, 301, 302])
        cache.reset()
        for i in 0..<bytes.count {
            for bit in (i % 97 == 0 ? Array(0..<8) : [i % 8]) {
                var flipped = bytes
                flipped[i] ^= UInt8(1 << bit)
                XCTAssertThrowsError(try restore(flipped, into: cache, logits: n), "byte \(i) bit \(bit)") {
                    let m = "\($0)"
                    XCTAssertTrue(m.contains("fails its checksum") || m.contains("not a GemmaEdge session snapshot")
                                  || m.contains("format 1"), m)
                }
                XCTAssertEqual(cache.length, 0)
            }
        }
    }

    func testSpansThatOverflowOrLeaveTheTokensAreRefused() throws {
        for (start, count) in [(1, Int.max), (Int.max, 1), (-1, 2), (2, 3), (1, 0)] {
            let span = SnapshotSpan(start: start, count: count, key: "image")
            let (bytes, cache, n) = try snapshot(spans: [span])
            XCTAssertThrowsError(try restore(bytes, into: cache, logits: n), "\(span)") {
                XCTAssertTrue("\($0)".contains("inconsistent embedding spans"), "\($0)")
            }
            XCTAssertEqual(cache.length, 0)
        }
        let (bytes, cache, n) = try snapshot(spans: [SnapshotSpan(start: 1, count: 3, key: "image")])
        XCTAssertEqual(try restore(bytes, into: cache, logits: n).count, 4, "a span that ends at the last token is fine")
    }

    func testFormat1SnapshotsAreRefusedSayingSo() throws {
        var (bytes, cache, n) = try snapshot()
        bytes.replaceSubrange(0..<8, with: Array("GESNAP01".utf8))
        bytes.removeLast(4)
        XCTAssertThrowsError(try restore(bytes, into: cache, logits: n)) {
            XCTAssertTrue("\($0)".contains("is a snapshot of format 1 (an older GemmaEdge, without a checksum)"), "\($0)")
        }
    }

    func testNonFiniteLogitsInASnapshotAreRefused() throws {
        var (bytes, cache, n) = try snapshot()
        // The last logit, then a checksum that matches: only the value check can refuse it.
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange((bytes.count - 8)..<(bytes.count - 4), with: $0) }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<($0.count - 4)])) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        XCTAssertThrowsError(try restore(bytes, into: cache, logits: n)) {
            XCTAssertTrue("\($0)".contains("logits that are not finite"), "\($0)")
        }
    }

    func testSavingRemovesTheTempFilesOfKilledSavers() throws {
        let e = try engine(try write(ForwardTests.tiny(.q8_0).serialize()))
        let s = e.makeSession()
        try s.append([2, 300])
        let path = dir + "/kiosk.snap"
        let p = Process()   // a saver that is gone: its pid names no process any more
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = path + ".tmp.\(p.processIdentifier)", live = path + ".tmp.1"
        for f in [dead, live] { XCTAssertTrue(FileManager.default.createFile(atPath: f, contents: Data(count: 1 << 16))) }
        try s.save(to: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live), "a live process's temp file is not ours to remove")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("kiosk.snap") }.sorted(),
                       ["kiosk.snap", "kiosk.snap.tmp.1"])
        try e.makeSession().restore(from: path)
    }

    // MARK: The model file changing under a running process

    func testAModelReplacedByRenameKeepsWorkingOnTheOldMapping() throws {
        let path = try write(ForwardTests.tiny(.q8_0).serialize(), "live.gguf")
        func greedy(_ e: Engine) throws -> [Int32] {
            let s = e.makeSession()
            try s.append([2, 300, 301])
            var out: [Int32] = []
            try s.generate(maxTokens: 12, sampler: Sampler(parameters: .greedy, vocabularySize: e.config.vocabularySize),
                           stopTokens: []) { out.append($0); return true }
            return out
        }
        let reference = try greedy(try engine(path))
        let identity = try engine(path).modelIdentity
        let running = try engine(path)
        var other = ForwardTests.tiny(.q8_0)
        other.seed = 1234
        try AtomicFile.write(other.serialize(), to: path)   // a new file renamed over the old one
        XCTAssertEqual(try greedy(running), reference)
        XCTAssertEqual(running.modelIdentity, identity, "computed after the rename, from the old mapping")
        XCTAssertNotEqual(try engine(path).modelIdentity, identity, "a new load reads the new file")
    }
}
