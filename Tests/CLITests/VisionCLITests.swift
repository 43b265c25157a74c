import Foundation
import TestSupport
import XCTest

/// The vision options of `chat`, `generate` and `inspect` through the built binary, on the tiny
/// synthetic 4B-shaped pair.
final class VisionCLITests: XCTestCase {
    var dir: String!
    var pair: (text: String, mmproj: String)!
    let png = Fixtures.url("vision/images/rgb8.png").path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/cli-vision-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        pair = try TinyVision.variant("f32").write(directory: dir, name: "pair")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    struct Outcome { var status: Int32; var stdout: String; var stderr: String }

    func run(_ args: [String], stdin: String = "") throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BadInputTests.binary)
        p.arguments = args
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    func testChatTakesImagesWithTheImageCommand() throws {
        let o = try run(["chat", "-m", pair.text, "--mmproj", pair.mmproj, "--temperature", "0", "--max-tokens", "3",
                         "--threads", "2"],
                        stdin: "/image \(png)\nwhat is this\n/image \(dir!)/missing.png\n/image\nand now\n\n")
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stderr.contains("attached to the next message"), o.stderr)
        XCTAssertTrue(o.stderr.contains("missing.png"), o.stderr)
        XCTAssertTrue(o.stderr.contains("usage: /image PATH"), o.stderr)
        XCTAssertEqual(o.stdout.split(separator: "\n", omittingEmptySubsequences: false).count, 3, o.stdout)

        let without = try run(["chat", "-m", pair.text, "--max-tokens", "2", "--threads", "2"], stdin: "/image \(png)\nhi\n\n")
        XCTAssertEqual(without.status, 0, without.stderr)
        XCTAssertTrue(without.stderr.contains("/image needs --mmproj"), without.stderr)
    }

    func testGenerateWithAnImageReusesItsSnapshot() throws {
        let snapshot = dir + "/s.snap"
        let args = ["generate", "-m", pair.text, "--mmproj", pair.mmproj, "--image", png, "--prompt", "what is this",
                    "--temperature", "0", "--max-tokens", "3", "--threads", "2", "--session", snapshot, "--verbose", "--json"]
        let first = try run(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("(0 reused)"), first.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        let positions = json["prompt_tokens"] as! Int
        XCTAssertEqual(json["image_views"] as? Int, 1)
        let second = try run(args)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("0 views) encoded"), "the image came from the snapshot: \(second.stderr)")
        XCTAssertTrue(second.stderr.contains("(\(positions) reused)"), second.stderr)
        let again = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(again["tokens"] as? [Int], json["tokens"] as? [Int], "the restored state generates the same tokens")
        XCTAssertEqual(again["image_views"] as? Int, 0)
    }

    func testInspectMemoryCountsTheProjectorSeparately() throws {
        let plain = try run(["inspect", "-m", pair.text, "--memory", "--json"])
        let o = try run(["inspect", "-m", pair.text, "--memory", "--json", "--mmproj", pair.mmproj, "--threads", "2"])
        XCTAssertEqual(o.status, 0, o.stderr)
        // The byte counts; the report also holds strings and a table per KV type.
        func counts(_ s: String) throws -> [String: Int] {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
            return object.compactMapValues { $0 as? Int }
        }
        let a = try counts(plain.stdout)
        let b = try counts(o.stdout)
        XCTAssertNil(a["vision_mapped"])
        XCTAssertGreaterThan(b["vision_mapped"]!, 0)
        XCTAssertGreaterThan(b["vision_allocated"]!, 0)
        XCTAssertEqual(b["total"]!, b["total_without_images"]! + b["vision_mapped"]! + b["vision_allocated"]!)
        XCTAssertEqual(b["weights_mapped"], a["weights_mapped"])
        XCTAssertGreaterThan(b["local_kv"]!, a["local_kv"]!, "local rings grow to take an image's soft tokens")
        let text = try run(["inspect", "-m", pair.text, "--memory", "--mmproj", pair.mmproj])
        XCTAssertTrue(text.stdout.contains("read only at the first image"), text.stdout)
    }
}
