import GemmaEdge
import TestSupport
import Vision
import XCTest

/// The encoder's per-stage timings (`generate --verbose` prints them as `vision-stages`).
final class EncoderStagesTests: XCTestCase {
    /// On the tiny pair (3 blocks), every stage that runs takes time and the stages add up to the
    /// encoder's own time, for every encode, and the projector reports what its encoder measured.
    func testStagesAddUpToTheEncodeTime() throws {
        let engine = try TinyPairs.engine("f16")
        let vision = try engine.loadVision(path: try TinyPairs.files("f16").mmproj)
        XCTAssertEqual(vision.lastEncodeStages.total, 0, "no stage before the first image")
        XCTAssertGreaterThanOrEqual(vision.config.blockCount, 2)
        let image = try TinyPairs.image("wide-rgb.png")
        for _ in 0..<2 {
            _ = try vision.encode(image)
            let s = vision.lastEncodeStages, seconds = vision.lastEncodeSeconds
            XCTAssertGreaterThan(seconds, 0)
            XCTAssertEqual(s.total, seconds, accuracy: seconds * 1e-9 + 1e-12, "stages: \(s)")
            let parts = [("patch embedding", s.patchEmbedding), ("attention projections", s.attentionProjections),
                         ("attention", s.attentionCore), ("mlp", s.mlp), ("pooling", s.pooling),
                         ("projection", s.projection)]
            for (name, t) in parts { XCTAssertGreaterThan(t, 0, "\(name) took no time: \(s)") }
            XCTAssertEqual(try vision.encoder.lastStages.total, s.total)
            XCTAssertEqual(try vision.encoder.lastSeconds, seconds)
        }
    }
}
