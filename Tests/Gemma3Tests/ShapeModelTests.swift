import Base
import Foundation
import Gemma3
import GemmaEdge
import GGUF
import TestSupport
import XCTest

/// Random-weight models of real shapes with a real vocabulary, written by the project's own GGUF
/// writer, for measuring speed where no weights exist (`Benchmarks/speculative.sh`'s 1B shape).
final class ShapeModelTests: XCTestCase {
    /// The Gemma 3 1B's shape: 26 blocks 1152 wide, feed-forward 6912, 4 query heads and 1 KV head
    /// of 256, window 512, Q4_0 projections and a Q8_0 tied embedding (about 710 MB, as a 1B Q4_0).
    static func gemma1BShape(vocabularyFrom file: GGUFFile) -> TinyGemma {
        var m = TinyGemma()
        m.blocks = 26
        m.embedding = 1152
        m.feedForward = 6912
        m.heads = 4
        m.kvHeads = 1
        m.headDim = 256
        m.window = 512
        m.context = 32768
        m.ropeBaseLocal = 1e4
        m.matrixType = .q4_0
        m.embeddingType = .q8_0
        m.embeddingScale = 0.05
        m.copyTokenizer(from: file)
        return m
    }

    /// A small model with the real 270M's tokenizer reads text as the 270M does.
    func testCopiedTokenizerTokenisesAsTheRealModel() throws {
        let real = try GGUFFile(path: try RealModel.require())
        var m = TinyGemma()
        m.blocks = 1
        m.embedding = 32; m.feedForward = 64; m.heads = 2; m.kvHeads = 1; m.headDim = 16
        m.embeddingType = .q8_0
        m.copyTokenizer(from: real)
        let dir = NSTemporaryDirectory() + "/shape-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(m.vocabularySize, 262_144)
        var o = EngineOptions()
        o.threads = 1
        o.context = 128
        let small = try Engine(modelPath: try m.write(directory: dir), options: o)
        let big = try Engine(modelPath: real.path, options: o)
        let text = "Rewrite this paragraph, then list the fields: name, date (2026-12-07), amount €12.50."
        XCTAssertEqual(try small.tokenizer.encode(text, addBOS: true), try big.tokenizer.encode(text, addBOS: true))
        let draft = try DraftModel(engine: small, target: big)  // the vocabulary check of a draft model
        XCTAssertEqual(draft.session.context, 128)
    }

    /// With GEMMA_EDGE_SHAPE_EXPORT=FILE, writes the 1B shape with the real 270M's vocabulary there
    /// (`Benchmarks/speculative.sh`); skipped otherwise.
    func testExportThe1BShape() throws {
        guard let out = ProcessInfo.processInfo.environment["GEMMA_EDGE_SHAPE_EXPORT"] else {
            throw XCTSkip("set GEMMA_EDGE_SHAPE_EXPORT=FILE to write the 1B-shaped model")
        }
        let m = Self.gemma1BShape(vocabularyFrom: try GGUFFile(path: try RealModel.require()))
        try AtomicFile.write(m.serialize(), to: out)
        let config = try Gemma3Config(file: try GGUFFile(path: out))
        XCTAssertEqual([config.blockCount, config.embeddingLength, config.vocabularySize], [26, 1152, 262_144])
    }
}
