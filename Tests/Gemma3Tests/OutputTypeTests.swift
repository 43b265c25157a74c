import Foundation
import GemmaEdge
import GGUF
import Kernels
import TestSupport
import XCTest

/// `EngineOptions.outputType`: the tied embedding held in another type for the output product
/// only. A model whose embedding is tied, loaded with output type T, must compute exactly what
/// the same model written with an untied `output.weight` holding the embedding's values in T
/// computes (the lookup still reads the embedding's own rows), bit for bit, repacked or not,
/// cold (requantised at load) and warm (from the cache file).
final class OutputTypeTests: XCTestCase {
    func testTiedEmbeddingHeldInAnotherTypeEqualsAnUntiedOutputOfThatType() throws {
        let dir = NSTemporaryDirectory() + "output-type-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var tied = ForwardTests.tiny(.q4_0, embeddingType: .f32)
        tied.embeddingScale = 1.5   // peaked logits: a wrong output matrix changes them visibly
        let tiedPath = try tied.write(directory: dir)
        let tokens = ForwardTests.tokens(21, vocab: tied.vocabularySize)

        func logits(_ path: String, outputType: TensorType?, repack: Bool) throws -> [[Float]] {
            var o = EngineOptions()
            o.threads = 2
            o.batch = 8
            o.context = 64
            o.repack = repack
            o.outputType = outputType
            let engine = try Engine(modelPath: path, options: o)
            let session = engine.makeSession()
            var out: [[Float]] = []
            try session.append(Array(tokens[0..<13]))
            out.append(Array(session.logits))
            for t in tokens[13...] {
                try session.append(token: t)
                out.append(Array(session.logits))
            }
            return out
        }
        let asIs = try logits(tiedPath, outputType: nil, repack: true)
        for type in [TensorType.q5_0, .q4_0, .q8_0] {
            var untied = tied
            untied.outputType = type
            let untiedPath = try untied.write(directory: dir)
            for repack in [false, true] {
                let want = try logits(untiedPath, outputType: nil, repack: repack)
                for pass in ["cold", "warm"] {
                    let got = try logits(tiedPath, outputType: type, repack: repack)
                    XCTAssertEqual(got.count, want.count)
                    for (i, (a, b)) in zip(got, want).enumerated() {
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern),
                                       "\(type) repack \(repack) \(pass): logits differ at step \(i)")
                    }
                }
                XCTAssertNotEqual(want.last!.map(\.bitPattern), asIs.last!.map(\.bitPattern),
                                  "\(type): the narrower output must change the logits (else the test shows nothing)")
            }
        }
    }

    func testOutputTypeThatCannotHoldTheRowsIsAClearError() throws {
        var m = ForwardTests.tiny(.f32)
        m.embedding = 48   // not a multiple of 32
        m.headDim = 16
        let path = try m.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var o = EngineOptions()
        o.outputType = .q4_0
        XCTAssertThrowsError(try Engine(modelPath: path, options: o)) { e in
            XCTAssertTrue("\(e)".contains("--output-type q4_0"), "\(e)")
        }
    }
}
