import Base
import Foundation
import GGUF
import Gemma3
import TestSupport
import Vision
import XCTest

/// The tiny synthetic text + mmproj pairs the golden fixtures were recorded on. The recording
/// script (Benchmarks/peer/vision/record-vision.sh) obtains the files by running this test with
/// GEMMA_EDGE_VISION_EXPORT=DIR, so llama.cpp and these tests read the same bytes; the manifest
/// keeps their hashes, and a generator change without a re-recording fails here.
final class TinyPairTests: XCTestCase {
    func testTinyPairsAreTheRecordedOnes() throws {
        let export = ProcessInfo.processInfo.environment["GEMMA_EDGE_VISION_EXPORT"]
        var hashes: [String: (text: String, mmproj: String)] = [:]
        for name in TinyVision.variants {
            let v = TinyVision.variant(name)
            let text = try v.textBytes(), mmproj = v.mmprojBytes()
            XCTAssertEqual(try v.textBytes(), text, "\(name): the generator is not deterministic")
            if let export {
                try AtomicFile.write(text, to: "\(export)/tiny-\(name)-text.gguf")
                try AtomicFile.write(mmproj, to: "\(export)/tiny-\(name)-mmproj.gguf")
            }
            hashes[name] = (TinyVision.fnv1a64(text), TinyVision.fnv1a64(mmproj))
        }
        if let export, let bench = ProcessInfo.processInfo.environment["GEMMA_EDGE_VISION_EXPORT_BENCH"] {
            // "full": the projector at the real 4B shapes, all 27 blocks (about 0.9 GB); else 2 blocks.
            if bench == "full" {
                _ = try TinyVision.benchmark4BWidth(blocks: 27).write(directory: export, name: "full4b")
            } else {
                _ = try TinyVision.benchmark4BWidth().write(directory: export, name: "bench4b")
            }
        }
        // Checked after the export, so the recording script gets the files before any fixture exists.
        let pairs = try GoldenVision.manifest()["pairs"] as? [String: [String: String]] ?? [:]
        for name in TinyVision.variants {
            let h = hashes[name]!
            XCTAssertEqual(pairs[name]?["text_fnv1a64"], h.text,
                           "\(name): the text model is not the recorded one: rerun record-vision.sh")
            XCTAssertEqual(pairs[name]?["mmproj_fnv1a64"], h.mmproj,
                           "\(name): the mmproj is not the recorded one: rerun record-vision.sh")
        }
    }

    func testTinyPairLoadsWithItsShape() throws {
        let dir = NSTemporaryDirectory()
        let v = TinyVision()
        let paths = try v.write(directory: dir)
        defer { for p in [paths.text, paths.mmproj] { try? FileManager.default.removeItem(atPath: p) } }
        let text = try Gemma3Config(file: GGUFFile(path: paths.text))
        XCTAssertEqual(text.ropeScaleGlobal, 8)
        XCTAssertEqual(text.headCount / text.kvHeadCount, 2)
        let config = try VisionConfig(file: GGUFFile(path: paths.mmproj))
        XCTAssertEqual(config.tokensPerImage, v.tokensPerImage)
        XCTAssertEqual(config.poolingKernel, 2)
        XCTAssertEqual(config.activation, .geluTanh)
        XCTAssertGreaterThan(config.tokensPerImage, text.slidingWindow, "the image span must cross the local window")
    }
}

/// Reading the recorded fixtures in Tests/Fixtures/vision/golden.
enum GoldenVision {
    static func json(_ name: String) throws -> [String: Any] {
        let url = Fixtures.url("vision/golden/\(name)")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Missing(path: url.path)
        }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func manifest() throws -> [String: Any] { try json("manifest.json") }

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: run Benchmarks/peer/vision/record-vision.sh" }
    }
}
