import Foundation
import Gemma3
import GemmaEdge
import GGUF
import TestSupport
import XCTest

final class SessionTests: XCTestCase {
    var dir: String!
    var model: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/session-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var m = ForwardTests.tiny(.q8_0)
        m.context = 1024
        m.window = 64
        model = try m.write(directory: dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func engine(context: Int = 256) throws -> Engine {
        var o = EngineOptions()
        o.threads = 2
        o.context = context
        o.batch = 16
        return try Engine(modelPath: model, options: o)
    }

    func testSnapshotRestoreGivesTheSameNextTokenLogits() throws {
        let e = try engine()
        let prompt = ForwardTests.tokens(150, vocab: e.config.vocabularySize, seed: 5)  // wraps the 64-slot rings
        let a = e.makeSession()
        try a.append(prompt)
        let path = dir + "/s.snap"
        try a.save(to: path)
        try a.append(token: 42)
        let afterA = Array(a.logits)

        let b = e.makeSession()
        try b.restore(from: path)
        XCTAssertEqual(b.tokens, prompt)
        XCTAssertEqual(b.cache.length, prompt.count)
        try b.append(token: 42)
        XCTAssertEqual(Array(b.logits), afterA)
    }

    func testSnapshotsFromAnotherLayoutOrModelOrDamagedAreRefused() throws {
        let e = try engine()
        let s = e.makeSession()
        try s.append([2, 300, 301])
        let path = dir + "/s.snap"
        try s.save(to: path)
        // Another context.
        XCTAssertThrowsError(try engine(context: 128).makeSession().restore(from: path)) {
            XCTAssertTrue("\($0)".contains("--ctx"), "\($0)")
        }
        // Another model.
        var other = ForwardTests.tiny(.q8_0)
        other.seed = 99
        var o = EngineOptions(); o.context = 256
        let otherEngine = try Engine(modelPath: try other.write(directory: dir), options: o)
        XCTAssertThrowsError(try otherEngine.makeSession().restore(from: path)) {
            XCTAssertTrue("\($0)".contains("another model"), "\($0)")
        }
        // Truncated and not a snapshot at all.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: dir + "/cut.snap"))
        XCTAssertThrowsError(try e.makeSession().restore(from: dir + "/cut.snap")) {
            XCTAssertTrue("\($0)".contains("fails its checksum"), "\($0)")
        }
        XCTAssertThrowsError(try e.makeSession().restore(from: model)) {
            XCTAssertTrue("\($0)".contains("not a GemmaEdge session snapshot"), "\($0)")
        }
    }

    func testPrefillReusesTheCommonPrefix() throws {
        let e = try engine()
        let system = ForwardTests.tokens(6, vocab: e.config.vocabularySize, seed: 1)
        let question = ForwardTests.tokens(5, vocab: e.config.vocabularySize, seed: 2)
        let s = e.makeSession()
        XCTAssertEqual(try s.prefill(system), 0)
        XCTAssertEqual(try s.prefill(system + question), system.count)
        let fresh = e.makeSession()
        try fresh.append(system + question)
        XCTAssertEqual(Array(s.logits), Array(fresh.logits))
        // The same prompt again evaluates nothing.
        XCTAssertEqual(try s.prefill(system + question), system.count + question.count)
        // A different continuation drops back to the shared prefix.
        let other = ForwardTests.tokens(4, vocab: e.config.vocabularySize, seed: 3)
        XCTAssertEqual(try s.prefill(system + other), system.count)
        let fresh2 = e.makeSession()
        try fresh2.append(system + other)
        XCTAssertEqual(Array(s.logits), Array(fresh2.logits))
    }

    func testPrefixReuseAfterTheRingWrappedStartsOver() throws {
        let e = try engine()
        let long = ForwardTests.tokens(100, vocab: e.config.vocabularySize, seed: 4)  // window 64: wrapped
        let s = e.makeSession()
        try s.prefill(long)
        XCTAssertFalse(s.cache.canTruncate(to: 90))
        XCTAssertTrue(s.cache.canTruncate(to: 99))
        XCTAssertTrue(s.cache.canTruncate(to: 0))
        let changed = Array(long[..<90]) + [7, 8]
        XCTAssertEqual(try s.prefill(changed), 0, "a wrapped ring cannot be cut back 10 positions")
        let fresh = e.makeSession()
        try fresh.append(changed)
        XCTAssertEqual(Array(s.logits), Array(fresh.logits))
    }
}
