import Foundation
import GGUF
import TestSupport
import XCTest

/// Bad input to the `gemma-edge` binary: a clear message on stderr and exit status 1, never a
/// signal, a hang or a stack trace.
final class BadInputTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "/cli-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The binary built beside this test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gemma-edge").path
    }

    struct Outcome { var status: Int32; var signaled: Bool; var stdout: String; var stderr: String }

    func run(_ args: [String], timeout: TimeInterval = 60) throws -> Outcome { try runGemmaEdge(args, timeout: timeout) }

    func assertFails(_ args: [String], mentioning text: String, line: UInt = #line) throws {
        let o = try run(args)
        XCTAssertFalse(o.signaled, "killed by a signal: \(o.stderr)", line: line)
        // 1 for errors, 64 (EX_USAGE) for arguments out of range.
        XCTAssertTrue([1, 64].contains(o.status), "exit status \(o.status); stderr: \(o.stderr)", line: line)
        XCTAssertTrue(o.stderr.contains(text), "stderr lacks '\(text)': \(o.stderr)", line: line)
        XCTAssertFalse(o.stderr.contains("Fatal error") || o.stderr.contains("Stack dump"), o.stderr, line: line)
    }

    func tiny(_ edit: (inout TinyGemma) -> Void = { _ in }) throws -> String {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64; m.feedForward = 64; m.heads = 2; m.kvHeads = 1; m.headDim = 32; m.context = 64
        edit(&m)
        return try m.write(directory: dir)
    }

    func write(_ bytes: [UInt8], _ name: String) -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    func testTinyModelGenerates() throws {
        let o = try run(["generate", "-m", try tiny(), "--prompt", "hello", "--max-tokens", "5", "--temperature", "0", "--json"])
        XCTAssertEqual(o.status, 0, o.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((json["tokens"] as! [Int]).count, 5)
    }

    /// `--speculative lookup` and `--speculative draft` (the model drafting for itself) give plain
    /// greedy decoding's tokens; bad speculative options are clear errors.
    func testSpeculativeDecodingKeepsGreedyTokensAndRefusesBadOptions() throws {
        let model = try tiny { $0.context = 256 }
        func tokens(_ extra: [String]) throws -> [Int] {
            let o = try run(["generate", "-m", model, "--prompt", "hello hello hello", "--max-tokens", "24", "--temperature", "0",
                             "--json"] + extra)
            XCTAssertEqual(o.status, 0, o.stderr)
            return (try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any])?["tokens"] as? [Int] ?? []
        }
        let plain = try tokens([])
        XCTAssertEqual(plain.count, 24)
        XCTAssertEqual(try tokens(["--speculative", "lookup", "--draft-max", "4"]), plain)
        XCTAssertEqual(try tokens(["--speculative", "draft", "--draft-model", model]), plain)
        let base = ["generate", "-m", model, "--prompt", "x"]
        try assertFails(base + ["--speculative", "draft"], mentioning: "--draft-model")
        try assertFails(base + ["--draft-model", model], mentioning: "--speculative draft")
        try assertFails(base + ["--speculative", "sometimes"], mentioning: "speculative")
        try assertFails(base + ["--speculative", "lookup", "--draft-max", "99"], mentioning: "--draft-max")
        try assertFails(base + ["--speculative", "draft", "--draft-model", dir + "/nope.gguf"], mentioning: "not found")
        let otherDir = dir + "/other"
        try FileManager.default.createDirectory(atPath: otherDir, withIntermediateDirectories: true)
        var other = TinyGemma()
        other.blocks = 2
        other.embedding = 64; other.feedForward = 64; other.heads = 2; other.kvHeads = 1; other.headDim = 32; other.context = 256
        other.pieceOverrides = [300: "zz"]
        try assertFails(base + ["--speculative", "draft", "--draft-model", try other.write(directory: otherDir)],
                        mentioning: "vocabulary")
    }

    func testMissingModel() throws {
        try assertFails(["generate", "-m", dir + "/nope.gguf", "--prompt", "x"], mentioning: "not found")
    }

    func testTruncatedFile() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: try tiny()))
        let cut = write(Array(full.prefix(full.count - 100)), "cut.gguf")
        try assertFails(["generate", "-m", cut, "--prompt", "x"], mentioning: "past the end of the file")
    }

    func testBadMagic() throws {
        try assertFails(["generate", "-m", write(Array("NOPE0000000000000000000000".utf8), "bad.gguf"), "--prompt", "x"],
                        mentioning: "not a GGUF file")
        try assertFails(["inspect", "-m", write(Array("NOPE0000000000000000000000".utf8), "bad2.gguf")],
                        mentioning: "not a GGUF file")
    }

    func testOverflowingCounts() throws {
        var b = Array("GGUF".utf8) + [3, 0, 0, 0]
        b += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + [UInt8](repeating: 0, count: 8)
        try assertFails(["generate", "-m", write(b, "count.gguf"), "--prompt", "x"], mentioning: "cannot fit")
    }

    func testWrongArchitecture() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.addTensor(name: "x", dimensions: [32], type: .f32, data: [UInt8](repeating: 0, count: 128))
        try assertFails(["generate", "-m", write(w.serialize(), "llama.gguf"), "--prompt", "x"],
                        mentioning: "architecture 'llama' is not supported")
    }

    func testUnsupportedTensorType() throws {
        // Rewrite one tensor's type to Q2_K (10) in an otherwise valid file.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try tiny())))
        let name = Array("blk.0.attn_q.weight".utf8)
        let at = (0..<(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name }!
        let typeOffset = at + name.count + 4 + 2 * 8
        bytes[typeOffset] = 10
        try assertFails(["generate", "-m", write(bytes, "q2k.gguf"), "--prompt", "x"], mentioning: "Q2_K")
    }

    func testMissingTensor() throws {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64; m.feedForward = 64; m.heads = 2; m.kvHeads = 1; m.headDim = 32
        let file = try GGUFFile(path: try tiny())
        var w = GGUFWriter()
        for k in file.keys { w.set(k, file.metadata[k]!) }
        for t in file.tensors where t.name != "blk.1.ffn_up.weight" {
            w.addTensor(name: t.name, dimensions: t.dimensions, type: t.type, data: Array(file.data(of: t)))
        }
        try assertFails(["generate", "-m", write(w.serialize(), "missing.gguf"), "--prompt", "x"],
                        mentioning: "missing tensor 'blk.1.ffn_up.weight'")
    }

    func testEmptyPrompt() throws {
        try assertFails(["generate", "-m", try tiny(), "--prompt", ""], mentioning: "empty")
    }

    func testPromptLongerThanContext() throws {
        let long = String(repeating: "hello world ", count: 80)
        try assertFails(["generate", "-m", try tiny(), "--ctx", "32", "--prompt", long], mentioning: "context holds 32")
        try assertFails(["generate", "-m", try tiny(), "--ctx", "100000", "--prompt", "x"], mentioning: "exceeds the model's context")
    }

    func testBadNumbers() throws {
        let m = try tiny()
        try assertFails(["generate", "-m", m, "--prompt", "x", "--temperature=-1"], mentioning: "temperature")
        try assertFails(["generate", "-m", m, "--prompt", "x", "--top-p", "0"], mentioning: "top-p")
        try assertFails(["generate", "-m", m, "--prompt", "x", "--threads=-3"], mentioning: "threads")
        try assertFails(["generate", "-m", m, "--prompt", "x", "--kernels", "sparc"], mentioning: "not available")
    }

    func testTokenizeAndInspect() throws {
        let m = try tiny()
        let text = write(Array("hello  world\n".utf8), "t.txt")
        let o = try run(["tokenize", "-m", m, "--json", text])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stdout.hasPrefix("{\"tokens\":["), o.stdout)
        let i = try run(["inspect", "-m", m])
        XCTAssertEqual(i.status, 0, i.stderr)
        XCTAssertTrue(i.stdout.contains("blk.1.ffn_down.weight"))
    }
}

/// Runs the `gemma-edge` binary built beside this test bundle with `args`; a run that outlives
/// `timeout` seconds is terminated and fails the test. Shared by the CLI test classes.
func runGemmaEdge(_ args: [String], timeout: TimeInterval = 60) throws -> BadInputTests.Outcome {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: BadInputTests.binary)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { p.terminate(); XCTFail("gemma-edge \(args) hung") }
    p.waitUntilExit()
    return BadInputTests.Outcome(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal,
                                 stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                                 stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}
