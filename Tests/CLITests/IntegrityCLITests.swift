import Base
import Foundation
import GGUF
import TestSupport
import XCTest

/// What a user meets with files that are well-formed but wrong, or that change under a running
/// process: a clear message and exit status, never garbage, a hang or a signal.
final class IntegrityCLITests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "/integrity-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static func tiny() -> TinyGemma {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64; m.feedForward = 64; m.heads = 2; m.kvHeads = 1; m.headDim = 32; m.context = 64
        m.matrixType = .q8_0
        m.embeddingType = .q8_0
        return m
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = dir + "/" + name
        try AtomicFile.write(bytes, to: path)
        return path
    }

    func assertFails(_ args: [String], mentioning text: String, within seconds: TimeInterval = 60,
                     line: UInt = #line) throws {
        let t0 = Date()
        let o = try runGemmaEdge(args, timeout: max(seconds, 5))
        XCTAssertLessThan(Date().timeIntervalSince(t0), seconds, "\(args) took too long", line: line)
        XCTAssertFalse(o.signaled, "killed by a signal: \(o.stderr)", line: line)
        XCTAssertEqual(o.status, 1, o.stderr, line: line)
        XCTAssertTrue(o.stderr.contains(text), "stderr lacks '\(text)': \(o.stderr)", line: line)
    }

    func testWrongValuesAreRefusedAtLoadNamingTheKeyOrTensor() throws {
        let good = Self.tiny().serialize()
        var types = TinyGemma.tokenTypes
        types[40] = 12
        var pieces = TinyGemma.pieces
        pieces[2] = "<renamed>"
        let cases: [(String, [UInt8], String)] = [
            ("rope.gguf", try Corrupt.rewrite(good) { $0.set("gemma3.rope.freq_base", .float32(.infinity)) },
             "gemma3.rope.freq_base is inf"),
            ("norm.gguf", try Corrupt.float(good, "blk.1.attn_norm.weight", element: 9, .infinity),
             "tensor 'blk.1.attn_norm.weight' (F32) holds inf at element 9"),
            ("scale.gguf", try Corrupt.tensor(good, "blk.0.ffn_down.weight", at: 3 * 34, [0x01, 0x7C]),
             "tensor 'blk.0.ffn_down.weight' (Q8_0) has a non-finite block scale (d = nan) in block 3"),
            ("types.gguf", try Corrupt.rewrite(good) { $0.set("tokenizer.ggml.token_type", .array(.int32(types))) },
             "tokenizer.ggml.token_type[40] is 12"),
            ("bos.gguf", try Corrupt.rewrite(good) {
                $0.set("tokenizer.ggml.tokens", .array(.strings(pieces)))
                $0.set("tokenizer.ggml.bos_token_id", .uint32(1_000_000_000))
            }, "tokenizer.ggml.bos_token_id is 1000000000, outside the vocabulary"),
        ]
        for (name, bytes, text) in cases {
            try assertFails(["generate", "-m", try write(bytes, name), "--prompt", "hello", "--max-tokens", "3"],
                            mentioning: text)
        }
        let o = try runGemmaEdge(["generate", "-m", try write(good, "good.gguf"), "--prompt", "hello", "--max-tokens", "3"])
        XCTAssertEqual(o.status, 0, o.stderr)
    }

    func testWithoutLoadChecksANaNScaleStopsGenerationAtTheLayerItBreaks() throws {
        let bad = try Corrupt.tensor(Self.tiny().serialize(), "blk.1.ffn_down.weight", at: 0, [0x00, 0x7E])
        let model = try write(bad, "nan-scale.gguf")
        for _ in 0..<2 {   // the same message on every run
            try assertFails(["generate", "-m", model, "--no-verify", "--prompt", "hello", "--max-tokens", "3"],
                            mentioning: "the activations after layer 1 (blk.1) (token 0 of the batch, element 0 is nan) "
                                + "are not finite numbers")
        }
    }

    func testAFIFOAsModelOrSessionIsRefusedWithinASecond() throws {
        let fifo = dir + "/pipe"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let model = try write(Self.tiny().serialize(), "m.gguf")
        try assertFails(["generate", "-m", fifo, "--prompt", "x"], mentioning: "not a regular file (a FIFO)", within: 1)
        try assertFails(["inspect", "-m", fifo], mentioning: "not a regular file (a FIFO)", within: 1)
        try assertFails(["serve", "-m", fifo, "--port", "0"], mentioning: "not a regular file (a FIFO)", within: 1)
        try assertFails(["generate", "-m", model, "--prompt", "x", "--session", fifo],
                        mentioning: "not a regular file (a FIFO)", within: 1)
        try assertFails(["generate", "-m", dir!, "--prompt", "x"], mentioning: "not a regular file (a directory)", within: 1)
    }

    func testAFailedSaveIsAWarningAndTheTextIsStillDelivered() throws {
        let model = try write(Self.tiny().serialize(), "m.gguf")
        let o = try runGemmaEdge(["generate", "-m", model, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0",
                                  "--json", "--session", dir + "/no/such/dir/s.snap"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stderr.contains("warning: the session was not saved"), o.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((json["tokens"] as! [Int]).count, 4)
    }

    /// 30 `kill -9` of `generate --session` runs, each sent the moment the run's temp file appears
    /// (mid-save), then one run to the end: no temp file is left, and the snapshot restores.
    func testKilledSavesLeaveNoTempFileAfterTheNextSuccessfulSave() throws {
        var m = Self.tiny()
        m.blocks = 6                  // one global layer: a 16 MiB f32 KV snapshot to write
        m.heads = 2; m.kvHeads = 2; m.headDim = 64; m.context = 16384
        let model = try write(m.serialize(), "big-kv.gguf")
        let session = dir + "/kiosk.snap"
        func args(_ prompt: String) -> [String] {
            ["generate", "-m", model, "--ctx", "16384", "--kv-type", "f32", "--prompt", prompt, "--max-tokens", "1",
             "--session", session]
        }
        func launch(_ prompt: String) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: BadInputTests.binary)
            p.arguments = args(prompt)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        var killedMidSave = 0
        for i in 0..<30 {
            let p = try launch("prompt number \(i)")   // a new prompt each time: every run saves
            let tmp = session + ".tmp.\(p.processIdentifier)"
            while p.isRunning && !FileManager.default.fileExists(atPath: tmp) { usleep(200) }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if FileManager.default.fileExists(atPath: tmp) { killedMidSave += 1 }
        }
        print("kills of 30 that left a temp file behind: \(killedMidSave)")
        XCTAssertGreaterThan(killedMidSave, 0, "no kill landed during a save: the test did not test anything")
        let last = try launch("the last prompt")
        last.waitUntilExit()
        XCTAssertEqual(last.terminationStatus, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp.") }, [])
        let reuse = try runGemmaEdge(args("the last prompt") + ["--verbose"])
        XCTAssertEqual(reuse.status, 0, reuse.stderr)
        XCTAssertTrue(reuse.stderr.contains("reused"), reuse.stderr)
        XCTAssertFalse(reuse.stderr.contains("(0 reused)"), "the snapshot was restored: \(reuse.stderr)")
    }

    /// The model truncated in place while `generate` streams: one clear line and exit status 74,
    /// not SIGBUS.
    func testTruncatingTheModelUnderARunningGenerateGivesAClearMessage() throws {
        var m = Self.tiny()
        m.context = 32768
        m.matrixType = .f32
        m.embeddingType = .f32
        m.untiedOutput = true
        var bytes = m.serialize()
        // Zero output rows for <eos> (1) and <end_of_turn> (5): greedy decoding never stops early.
        for row in [1, 5] {
            bytes = try Corrupt.tensor(bytes, "output.weight", at: row * m.embedding * 4,
                                       [UInt8](repeating: 0, count: m.embedding * 4))
        }
        let model = try write(bytes, "shrinking.gguf")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BadInputTests.binary)
        p.arguments = ["generate", "-m", model, "--ctx", "32768", "--prompt", "hello", "--max-tokens", "30000",
                       "--temperature", "0"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let first = out.fileHandleForReading.availableData   // the first streamed piece
        XCTAssertFalse(first.isEmpty, "generate printed nothing")
        out.fileHandleForReading.readabilityHandler = { _ = $0.availableData }   // keep the pipe drained
        defer { out.fileHandleForReading.readabilityHandler = nil }
        XCTAssertEqual(truncate(model, 4096), 0)
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { p.terminate(); XCTFail("generate kept running on a truncated model") }
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationReason, .exit, "killed by signal \(p.terminationStatus): \(stderr)")
        XCTAssertEqual(p.terminationStatus, MappingGuard.changedFileExitStatus, stderr)
        XCTAssertTrue(stderr.contains("gemma-edge: \(model) changed while it was in use (truncated or rewritten in place)"),
                      stderr)
    }
}
