import Base
import Foundation
import GGUF
import Gemma3
import GemmaEdge
import Kernels
import TestSupport
import Vision
import XCTest

/// The mmproj reader's checks (against itself and the paired text model), the text model's
/// vision hooks, and the multimodal session's prompt assembly, Pan & Scan and limits.
final class ProjectorAndSessionTests: XCTestCase {
    func mmproj(_ edit: (inout GGUFWriter) -> Void) throws -> String {
        var w = TinyVision().mmprojWriter()
        edit(&w)
        let path = NSTemporaryDirectory() + "/bad-mmproj-\(UUID().uuidString).gguf"
        try w.write(to: path)
        return path
    }

    func load(_ path: String) throws -> VisionModel {
        defer { try? FileManager.default.removeItem(atPath: path) }
        let engine = try TinyPairs.engine("f32", vision: false)
        return try engine.loadVision(path: path)
    }

    /// Loads the projector and reads its weights (checks of the data come only then).
    func expectError(_ contains: String, _ edit: (inout GGUFWriter) -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertThrowsError(try load(try mmproj(edit)).prepare(), file: file, line: line) {
            XCTAssertTrue("\($0)".contains(contains), "expected '\(contains)' in: \($0)", file: file, line: line)
        }
    }

    func testBadProjectorsAreClearErrors() throws {
        let d = TinyVision().visionWidth
        try expectError("architecture 'llama'") { $0.set("general.architecture", .string("llama")) }
        try expectError("projector type 'idefics3'") { $0.set("clip.projector_type", .string("idefics3")) }
        try expectError("no vision encoder") { $0.set("clip.has_vision_encoder", .bool(false)) }
        try expectError("not a multiple of patch_size") { $0.set("clip.vision.image_size", .uint32(100)) }
        try expectError("scale_factor 3") { $0.set("clip.vision.projector.scale_factor", .uint32(3)) }
        try expectError("head_count 5") { $0.set("clip.vision.attention.head_count", .uint32(5)) }
        try expectError("image_std") { $0.set("clip.vision.image_std", .array(.float32([0.5, 0, 0.5]))) }
        try expectError("clip.vision.patch_size") { $0.remove("clip.vision.patch_size") }
        try expectError("missing tensor 'mm.soft_emb_norm.weight'") { $0.removeTensor(named: "mm.soft_emb_norm.weight") }
        try expectError("missing tensor 'v.blk.2.attn_k.weight'") { $0.removeTensor(named: "v.blk.2.attn_k.weight") }
        try expectError("more blocks than block_count") { $0.set("clip.vision.block_count", .uint32(2)) }
        try expectError("v.blk.0.attn_q.weight") {
            $0.removeTensor(named: "v.blk.0.attn_q.weight")
            $0.addTensor(name: "v.blk.0.attn_q.weight", dimensions: [d, d + 32], type: .f32,
                         data: [UInt8](repeating: 0, count: d * (d + 32) * 4))
        }
        func nan(_ w: inout GGUFWriter) {
            w.removeTensor(named: "v.post_ln.bias")
            var v = [Float](repeating: 0, count: d)
            v[3] = .nan
            w.addTensor(name: "v.post_ln.bias", dimensions: [d], type: .f32, data: TinyGemma.encode(v, .f32))
        }
        try expectError("non-finite", nan)
        // Values are only read with the weights: loading checks the layout and reads no tensor.
        let unread = try load(try mmproj(nan))
        XCTAssertFalse(unread.isPrepared)
        XCTAssertThrowsError(try unread.encode(RGBImage(width: 4, height: 4, fill: (1, 2, 3)))) {
            XCTAssertTrue("\($0)".contains("non-finite"), "\($0)")
        }
    }

    func testProjectorWidthMustMatchTheTextModel() throws {
        var other = TinyVision()
        other.text.embedding = 96
        let path = NSTemporaryDirectory() + "/wide-mmproj-\(UUID().uuidString).gguf"
        try AtomicFile.write(other.mmprojBytes(), to: path)
        XCTAssertThrowsError(try load(path)) {
            XCTAssertTrue("\($0)".contains("writes 96-wide vectors but the text model is 64 wide"), "\($0)")
        }
    }

    /// Old exports swapped ffn_up and ffn_down; llama.cpp swaps them back by shape and so does the
    /// reader: the encoder output must not change.
    func testSwappedFeedForwardNamesAreRepaired() throws {
        let engine = try TinyPairs.engine("f32")
        let normal = engine.vision!
        let swapped = try mmproj { w in
            for i in 0..<TinyVision().visionBlocks {
                let b = "v.blk.\(i)."
                let tensors = w.tensors.filter { $0.name.hasPrefix(b + "ffn_") }
                for t in tensors { w.removeTensor(named: t.name) }
                for t in tensors {
                    let name = t.name.contains("ffn_up") ? t.name.replacingOccurrences(of: "ffn_up", with: "ffn_down")
                        : t.name.replacingOccurrences(of: "ffn_down", with: "ffn_up")
                    w.addTensor(name: name, dimensions: t.dimensions, type: t.type, data: t.data)
                }
            }
        }
        defer { try? FileManager.default.removeItem(atPath: swapped) }
        let repaired = try engine.loadVision(path: swapped)
        let image = try TinyPairs.image("wide-rgb.png")
        XCTAssertEqual(try normal.encode(image), try repaired.encode(image))
    }

    func testMemoryIsKnownFromTheHeaderAlone() throws {
        let path = try TinyPairs.files("f32").mmproj
        let m = try VisionModel.memory(path: path, threads: 2)
        let vision = try TinyPairs.engine("f32", vision: false).loadVision(path: path)
        XCTAssertEqual(vision.allocatedBytes, 0, "nothing is allocated before the first image")
        XCTAssertEqual(m.mapped, try vision.weights.mappedBytes)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64
        XCTAssertLessThan(m.mapped, Int(size))
        XCTAssertGreaterThan(m.mapped, Int(size) * 9 / 10, "nearly all of an mmproj is tensors")
        XCTAssertEqual(m.allocated, vision.allocatedBytes)
        // The scratch holds at least the residual stream and one head's attention scores.
        let c = vision.config
        XCTAssertGreaterThan(m.allocated, (c.patchCount * c.embeddingLength + c.patchCount * c.patchCount) * 4)
    }

    // MARK: Text model hooks

    /// Rows given as embeddings are used as they are: the token embeddings times sqrt(n_embd)
    /// given that way reproduce the token path exactly.
    func testEmbeddingInputEqualsTheTokenPath() throws {
        let engine = try TinyPairs.engine("f32", vision: false)
        let model = engine.model, c = engine.config
        let ids: [Int32] = [2, 290, 303, 271, 300, 9]
        let cacheA = KVCache(config: c, context: 64), cacheB = KVCache(config: c, context: 64)
        try ids.withUnsafeBufferPointer { try model.evaluate($0, cache: cacheA, state: engine.state) }
        var a = [Float](repeating: 0, count: c.vocabularySize)
        a.withUnsafeMutableBufferPointer { model.lastLogits(engine.state, into: $0.baseAddress!) }
        var rows = [Float](repeating: 0, count: ids.count * c.embeddingLength)
        rows.withUnsafeMutableBufferPointer { r in
            for (t, id) in ids.enumerated() {
                model.weights.tokenEmbedding.dequantizeRow(Int(id), into: r.baseAddress! + t * c.embeddingLength)
            }
        }
        let scale = Float(c.embeddingLength).squareRoot()
        rows = rows.map { $0 * scale }
        try rows.withUnsafeBufferPointer {
            try model.evaluate(embeddings: $0.baseAddress!, count: ids.count, cache: cacheB, bidirectional: false, state: engine.state)
        }
        var b = [Float](repeating: 0, count: c.vocabularySize)
        b.withUnsafeMutableBufferPointer { model.lastLogits(engine.state, into: $0.baseAddress!) }
        XCTAssertEqual(a, b)
    }

    /// A bidirectional batch longer than the window, after a prefix longer than the window: local
    /// rings of exactly the window give what a cache keeping every position gives (the batch's
    /// keys are written to the rings only after all its queries attended).
    func testBidirectionalBatchLongerThanTheWindowFitsPlainRings() throws {
        let engine = try TinyPairs.engine("f32")
        let model = engine.model, c = engine.config
        let n = 16
        var rows = [Float](repeating: 0, count: n * c.embeddingLength)
        var rng = SplitMix(seed: 5)
        for i in rows.indices { rows[i] = rng.nextSigned() }
        let prefix: [Int32] = [2, 290, 303, 271, 300, 9, 11, 12, 13, 14]  // longer than the window
        func run(_ cache: KVCache) throws -> [Float] {
            try prefix.withUnsafeBufferPointer { try model.evaluate($0, cache: cache, state: engine.state) }
            try rows.withUnsafeBufferPointer {
                try model.evaluate(embeddings: $0.baseAddress!, count: n, cache: cache, bidirectional: true, state: engine.state)
            }
            var t: Int32 = 7
            try withUnsafePointer(to: &t) { try model.evaluate(UnsafeBufferPointer(start: $0, count: 1), cache: cache, state: engine.state) }
            var out = [Float](repeating: 0, count: c.vocabularySize)
            out.withUnsafeMutableBufferPointer { model.lastLogits(engine.state, into: $0.baseAddress!) }
            return out
        }
        XCTAssertGreaterThan(n, c.slidingWindow)
        let ring = try run(KVCache(config: c, context: 128))
        let full = try run(KVCache(config: c, context: 128, localRing: false))
        XCTAssertEqual(ring, full)
    }

    // MARK: Sessions

    func testPromptMarkersMustMatchTheImages() throws {
        let img = RGBImage(width: 4, height: 4, fill: (1, 2, 3))
        XCTAssertThrowsError(try MultimodalPrompt(text: "a <__media__> b <__media__>", images: [img]))
        let noMarker = try MultimodalPrompt(text: "describe", images: [img, img])
        XCTAssertEqual(noMarker.segments, ["", "", "describe"])
    }

    /// An image's soft tokens are one batch: a projector raises the prompt batch to hold them, and
    /// an engine without one refuses images with a clear error.
    func testAProjectorRaisesTheBatchAndImagesNeedOne() throws {
        let engine = try TinyPairs.engine("f32", batch: 8)
        XCTAssertEqual(engine.options.batch, 16)
        XCTAssertEqual(engine.state.maxBatch, 16)
        XCTAssertEqual(try TinyPairs.engine("f32", batch: 64).options.batch, 64)
        let text = try TinyPairs.engine("f32", batch: 8, vision: false)
        XCTAssertEqual(text.options.batch, 8)
        XCTAssertThrowsError(try text.makeSession().append(try MultimodalPrompt(text: "hi", images: [RGBImage(width: 4, height: 4, fill: (1, 2, 3))]))) {
            XCTAssertTrue("\($0)".contains("without a vision projector"), "\($0)")
        }
    }

    func testPanAndScanAddsCropsWithTheReferenceWording() throws {
        let engine = try TinyPairs.engine("f32")
        let vision = engine.vision!
        vision.panAndScan = PanAndScan()
        let session = engine.makeSession()
        var pixels = [UInt8](repeating: 0, count: 600 * 260 * 3)
        for i in pixels.indices { pixels[i] = UInt8((i * 7) % 256) }
        let prompt = try MultimodalPrompt(text: "<__media__>hi", images: [RGBImage(width: 600, height: 260, pixels: pixels)])
        let items = try session.engine.items(for: prompt)
        let views = items.filter { if case .view = $0 { return true } else { return false } }
        XCTAssertEqual(views.count, 3)
        let text = items.compactMap { item -> [Int32]? in if case .tokens(let t) = item { return t } else { return nil } }
            .flatMap { $0 }.filter { $0 != engine.imageMarkers!.start && $0 != engine.imageMarkers!.end }
        XCTAssertEqual(engine.tokenizer.decode(text), "Here is the original image  and here are some crops to help you see better  hi")
        let positions = try session.append(prompt)
        XCTAssertEqual(positions, text.count + 3 * (2 + vision.tokensPerImage))
        XCTAssertEqual(session.encodedViews, 3)
        // Off by default.
        vision.panAndScan = nil
        XCTAssertEqual(try session.engine.items(for: prompt).count, 3)
    }

    func testPromptsThatDoNotFitAreRefusedBeforeEncoding() throws {
        let engine = try TinyPairs.engine("f32")
        let session = engine.makeSession(context: 30)
        let img = try TinyPairs.image("wide-rgb.png")
        XCTAssertThrowsError(try session.append(try MultimodalPrompt(text: "<__media__><__media__>x", images: [img, img]))) {
            XCTAssertTrue("\($0)".contains("context holds 30"), "\($0)")
        }
        XCTAssertEqual(session.encodedViews, 0)
        XCTAssertEqual(session.cache.length, 0)
    }
}
