import Base
import Foundation
import GGUF
import GemmaEdge
import TestSupport
import Tokenizer
import Vision
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Images in `Session`: snapshots that hold image spans, prefix reuse across images, and a
/// projector whose pages stay unread until the first image.
final class SessionImageTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/session-image-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func items(_ engine: Engine, _ text: String, _ images: [RGBImage]) throws -> [Session.Item] {
        try engine.items(for: MultimodalPrompt(text: text, images: images))
    }

    /// The logits a fresh session gives for `items`.
    func fresh(_ engine: Engine, _ items: [Session.Item]) throws -> [Float] {
        let s = engine.makeSession()
        try s.append(items: items)
        return Array(s.logits)
    }

    func testSnapshotWithAnImageRestoresTheSameNextTokenLogits() throws {
        let engine = try TinyPairs.engine("f32")
        let image = try TinyPairs.image("wide-rgb.png")
        let prompt = try items(engine, "<__media__>hello world the cat", [image])
        let a = engine.makeSession()
        XCTAssertEqual(try a.prefill(prompt), 0)
        XCTAssertEqual(a.imageSpans.count, 1)
        XCTAssertEqual(a.imageSpans[0].start, 2, "<bos> <start_of_image> come first")
        let path = dir + "/image.snap"
        try a.save(to: path)
        try a.append(token: 42)
        let afterA = Array(a.logits)

        let b = engine.makeSession()
        try b.restore(from: path)
        XCTAssertEqual(b.tokens, Array(a.tokens.dropLast()))
        XCTAssertEqual(b.imageSpans, a.imageSpans)
        // The restored session holds the whole prompt, image included: nothing is encoded again.
        XCTAssertEqual(try b.prefill(prompt), engine.positions(of: prompt))
        XCTAssertEqual(b.encodedViews, 0)
        try b.append(token: 42)
        XCTAssertEqual(Array(b.logits), afterA)

        // A session that cannot take images has smaller local rings: the snapshot is restored into
        // them position by position (the same text model's state), and decoding goes on as after
        // the image.
        let text = try TinyPairs.engine("f32", vision: false)
        let c = text.makeSession()
        try c.restore(from: path)
        XCTAssertEqual(c.tokens, b.tokens.dropLast())
        try c.append(token: 42)
        let scale = afterA.map(abs).max()!
        for (x, y) in zip(Array(c.logits), afterA) { XCTAssertEqual(x, y, accuracy: 1e-5 * scale) }
    }

    func testPrefixReuseAcrossAnImage() throws {
        let engine = try TinyPairs.engine("f32")
        let image = try TinyPairs.image("wide-rgb.png")
        let first = try items(engine, "<__media__>hello world", [image])
        let longer = try items(engine, "<__media__>hello world the cat", [image])
        let s = engine.makeSession()
        try s.prefill(first)
        XCTAssertEqual(s.encodedViews, 1)
        // The image and the text after it are reused; only the new words are evaluated.
        let reused = try s.prefill(longer)
        XCTAssertEqual(reused, engine.positions(of: first))
        XCTAssertEqual(s.encodedViews, 1, "a reused image is not encoded again")
        XCTAssertEqual(Array(s.logits), try fresh(engine, longer))

        // Another image in the same place: the cache has wrapped its local rings (window 8), so
        // it cannot be cut back to before the image and starts over.
        var other = image
        other.pixels[0] &+= 1
        let changed = try items(engine, "<__media__>hello world the cat", [other])
        XCTAssertFalse(s.cache.canTruncate(to: 2))
        XCTAssertEqual(try s.prefill(changed), 0)
        XCTAssertEqual(s.encodedViews, 2)
        XCTAssertEqual(s.imageSpans.count, 1)
        XCTAssertEqual(Array(s.logits), try fresh(engine, changed))

        // Within the rings, only what comes before the changed image is kept.
        s.reset()
        try s.prefill(try items(engine, "<__media__>", [image]))
        let short = try items(engine, "<__media__>", [other])
        XCTAssertEqual(try s.prefill(short), 2, "<bos> <start_of_image> are kept, the image is not")
        XCTAssertEqual(s.encodedViews, 4)
        XCTAssertEqual(s.imageSpans.count, 1)
        XCTAssertEqual(Array(s.logits), try fresh(engine, short))
    }

    /// A snapshot restored under another projector holds soft tokens that projector would not
    /// give: the keys differ, so the image is encoded again rather than reused.
    func testAnotherProjectorDoesNotReuseTheImage() throws {
        let engine = try TinyPairs.engine("f32")
        let image = try TinyPairs.image("wide-rgb.png")
        // Short enough that the local rings have not wrapped, so the cache could be cut anywhere.
        let prompt = try items(engine, "<__media__>", [image])
        let a = engine.makeSession()
        try a.prefill(prompt)
        let path = dir + "/a.snap"
        try a.save(to: path)

        var v = TinyVision()
        v.seed = 99
        let otherProjector = dir + "/other-mmproj.gguf"
        try AtomicFile.write(v.mmprojBytes(), to: otherProjector)
        var o = EngineOptions()
        o.threads = 2
        o.context = 256
        o.mmproj = otherProjector
        let other = try Engine(modelPath: try TinyPairs.files("f32").text, options: o)
        let b = other.makeSession()
        try b.restore(from: path)
        let samePrompt = try items(other, "<__media__>", [image])
        XCTAssertEqual(try b.prefill(samePrompt), 2, "reuse stops where the image starts")
        XCTAssertEqual(b.encodedViews, 1)
        XCTAssertEqual(Array(b.logits), try fresh(other, samePrompt))
        XCTAssertNotEqual(Array(b.logits), Array(a.logits))
    }

    func testChatTurnsWithImagesMatchTheTemplate() throws {
        let engine = try TinyPairs.engine("f32")
        let template = try ChatTemplateIds(engine: engine)
        // Text-only conversations give exactly the template's ids.
        let text = try engine.items(for: [.system("be brief"), .user(MultimodalPrompt(" hello ")), .model("world"),
                                          .user(MultimodalPrompt("the cat"))])
        guard text.count == 1, case .tokens(let ids) = text[0] else { return XCTFail("expected one run of ids") }
        XCTAssertEqual(ids, try template.encode([("system", "be brief"), ("user", " hello "), ("model", "world"),
                                                 ("user", "the cat")]))
        // An image in the second user turn: the first turn's ids are unchanged, the image sits
        // between <start_of_image> and <end_of_image>.
        let image = RGBImage(width: 20, height: 10, fill: (9, 9, 9))
        let withImage = try engine.items(for: [.user(MultimodalPrompt("hello")), .model("world"),
                                               .user(MultimodalPrompt(segments: [" look: ", " "], images: [image]))])
        XCTAssertEqual(withImage.count, 3)
        guard case .tokens(let before) = withImage[0], case .view = withImage[1], case .tokens(let after) = withImage[2] else {
            return XCTFail("expected ids, a view, ids")
        }
        let markers = engine.imageMarkers!
        XCTAssertEqual(before.last, markers.start)
        XCTAssertEqual(after.first, markers.end)
        let expectedStart = try template.encode([("user", "hello"), ("model", "world")], generationPrompt: false)
        XCTAssertEqual(Array(before.prefix(expectedStart.count)), expectedStart)
        XCTAssertEqual(engine.tokenizer.decode(Array(before.dropFirst(expectedStart.count + 1).dropLast())), "user\nlook: ", "only the turn's outer whitespace is trimmed")
        XCTAssertThrowsError(try engine.items(for: [.init(.system, MultimodalPrompt(segments: ["", ""], images: [image]))]))
    }

    /// The projector is checked at load, but its tensor pages are read only for the first image.
    func testProjectorPagesAreReadOnlyForTheFirstImage() throws {
        let paths = try TinyVision.variant("f32").write(directory: dir, name: "lazy")
        // Drop the new file's pages from the page cache, so residency shows what is read.
        let fd = open(paths.mmproj, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = fsync(fd)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
        let probe = try MappedFile(path: paths.mmproj, readAhead: false)
        guard probe.residentBytes() == 0 else { throw XCTSkip("this file system keeps the file's pages in memory") }

        var o = EngineOptions()
        o.threads = 2
        o.context = 256
        o.mmproj = paths.mmproj
        let engine = try Engine(modelPath: paths.text, options: o)
        let vision = engine.vision!
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapped = vision.file.tensors.reduce(0) { $0 + $1.byteCount }
        XCTAssertFalse(vision.isPrepared)
        XCTAssertLessThanOrEqual(vision.residentBytes, page, "loading read tensor pages of the projector")
        // Text alone does not touch the projector either.
        let s = engine.makeSession()
        try s.prefill(engine.tokenizer.encode("hello world", addBOS: true))
        XCTAssertLessThanOrEqual(vision.residentBytes, page)
        XCTAssertEqual(vision.allocatedBytes, 0)

        try s.prefill(try items(engine, "<__media__>hello world", [try TinyPairs.image("wide-rgb.png")]))
        XCTAssertTrue(vision.isPrepared)
        XCTAssertGreaterThan(vision.residentBytes, mapped / 2)
        XCTAssertGreaterThan(vision.allocatedBytes, 0)
    }
}

/// The chat template's ids for (role, text) turns, for comparing.
struct ChatTemplateIds {
    let engine: Engine

    init(engine: Engine) throws { self.engine = engine }

    func encode(_ turns: [(String, String)], generationPrompt: Bool = true) throws -> [Int32] {
        let template = try ChatTemplate(tokenizer: engine.tokenizer)
        let messages = turns.map { role, text -> ChatMessage in
            switch role {
            case "system": return .system(text)
            case "model": return .model(text)
            default: return .user(text)
            }
        }
        return try template.encode(messages, addGenerationPrompt: generationPrompt)
    }
}

extension SessionImageTests {
    /// The memory plan counts the projector apart from the text model, and what the first image
    /// allocates is what it predicts.
    func testMemoryPlanCountsTheProjectorSeparately() throws {
        let (text, mmproj) = try TinyPairs.files("f32")
        let file = try GGUFFile(path: text), projector = try GGUFFile(path: mmproj, readAhead: false)
        let plain = try MemoryPlan(file: file, context: 256, batch: 8)
        let plan = try MemoryPlan(file: file, context: 256, batch: 8, mmproj: projector, threads: 2)
        XCTAssertEqual(plain.visionMapped, 0)
        XCTAssertEqual(plan.visionMapped, projector.tensors.reduce(0) { $0 + $1.byteCount })
        XCTAssertEqual(plan.weightsMapped, plain.weightsMapped)
        XCTAssertEqual(plan.totalWithoutImages + plan.visionMapped + plan.visionAllocated, plan.total)
        XCTAssertGreaterThan(plan.localKV, plain.localKV)
        XCTAssertGreaterThan(plan.scratch, plain.scratch, "the batch is raised to one image")

        let engine = try TinyPairs.engine("f32", batch: 8)
        let kv = engine.makeSession().cache.bytes
        XCTAssertEqual(kv.local, plan.localKV)
        XCTAssertEqual(kv.global, plan.globalKV)
        let vision = engine.vision!
        try vision.prepare()
        XCTAssertEqual(vision.allocatedBytes + vision.tokensPerImage * vision.textWidth * 4, plan.visionAllocated)
    }
}
