import Foundation
import TestSupport
import XCTest

/// `--kv-type` through the binary: inspect --memory reports the bytes of the chosen type, a bad
/// type or one the model cannot hold is refused with a clear message.
final class KVTypeCLITests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "/cli-kv-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func run(_ args: [String]) throws -> BadInputTests.Outcome { try runGemmaEdge(args) }

    func tiny(headDim: Int) throws -> String {
        var m = TinyGemma()
        m.headDim = headDim
        return try m.write(directory: dir)
    }

    func memory(_ model: String, _ type: String) throws -> [String: Any] {
        let o = try run(["inspect", "-m", model, "--memory", "--ctx", "512", "--json", "--kv-type", type])
        XCTAssertEqual(o.status, 0, o.stderr)
        return try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as! [String: Any]
    }

    func testInspectMemoryReportsTheBytesOfEachType() throws {
        let m = try tiny(headDim: 64)
        let f32 = try memory(m, "f32"), f16 = try memory(m, "f16"), q8 = try memory(m, "q8")
        XCTAssertEqual(f16["kv_type"] as? String, "f16")
        XCTAssertEqual(q8["kv_local_type"] as? String, "f16")
        XCTAssertEqual((f16["global_kv"] as! Int) * 2, f32["global_kv"] as! Int)
        XCTAssertEqual((q8["global_kv"] as! Int) * 32 * 4, (f32["global_kv"] as! Int) * 34)
        XCTAssertEqual(q8["local_kv"] as! Int, f16["local_kv"] as! Int)
        let byType = f16["kv_by_type"] as! [String: [String: Int]]
        XCTAssertEqual(byType["q8"]?["global_kv"], q8["global_kv"] as? Int)
    }

    func testBadKVTypesAreRefused() throws {
        let m = try tiny(headDim: 16)
        let bad = try run(["inspect", "-m", m, "--memory", "--kv-type", "q4"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("kv-type"), bad.stderr)
        let q8 = try run(["inspect", "-m", m, "--memory", "--kv-type", "q8"])
        XCTAssertEqual(q8.status, 1, q8.stderr)
        XCTAssertTrue(q8.stderr.contains("multiple of 32"), q8.stderr)
        let gen = try run(["generate", "-m", m, "--prompt", "x", "--kv-type", "q8", "--max-tokens", "1"])
        XCTAssertEqual(gen.status, 1, gen.stderr)
        XCTAssertTrue(gen.stderr.contains("multiple of 32"), gen.stderr)
    }
}
