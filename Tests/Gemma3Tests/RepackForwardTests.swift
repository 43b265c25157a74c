import Foundation
import Gemma3
import GemmaEdge
import GGUF
import Kernels
import TestSupport
import XCTest

/// The forward pass over repacked weights (RepackedArena) against the same pass over the GGUF's
/// own blocks: the repacked kernels keep the native float order, so every logit is equal bit for
/// bit, for a prefill in several batches and for decode steps, cold (built) and warm (cached).
final class RepackForwardTests: XCTestCase {
    /// The tied Q4_0 output projection is repacked too: its 311 rows end in a partial group.
    func testRepackedForwardEqualsNativeBitForBit() throws {
        try check(ForwardTests.tiny(.q4_0, embeddingType: .q4_0))
    }

    /// Q4_K projections (q4_Kx8), Q8_0 embedding (not repacked).
    func testRepackedQ4KForwardEqualsNativeBitForBit() throws {
        try check(ForwardTests.tiny(.q4_K, embeddingType: .q8_0))
    }

    func check(_ m: TinyGemma) throws {
        guard KernelSet.best().name != "scalar" else { throw XCTSkip("the scalar set has no repacked kernels") }
        let dir = NSTemporaryDirectory() + "repack-forward-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try m.write(directory: dir)
        let tokens = ForwardTests.tokens(23, vocab: m.vocabularySize)

        func run(repack: Bool) throws -> (logits: [[Float]], source: RepackedArena.Source?) {
            var o = EngineOptions()
            o.threads = 2
            o.batch = 8
            o.context = 64
            o.repack = repack
            o.repackAll = true   // q4_Kx8 is opt-in where it does not pay
            let engine = try Engine(modelPath: path, options: o)
            let session = engine.makeSession()
            var out: [[Float]] = []
            try session.append(Array(tokens[0..<17]))   // prefill: batches of 8, 8, 1
            out.append(Array(session.logits))
            for t in tokens[17...] {                     // decode
                try session.append(token: t)
                out.append(Array(session.logits))
            }
            return (out, engine.repacked?.source)
        }
        let native = try run(repack: false)
        XCTAssertNil(native.source)
        let cold = try run(repack: true), warm = try run(repack: true)
        XCTAssertEqual(cold.source, .built)
        XCTAssertEqual(warm.source, .cache)
        for (name, r) in [("cold", cold), ("warm", warm)] {
            XCTAssertEqual(r.logits.count, native.logits.count)
            for (i, (a, b)) in zip(r.logits, native.logits).enumerated() {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) repacked logits differ at step \(i)")
            }
        }
    }
}
