import Boards
import Foundation
import TestSupport
import XCTest

/// Paths into the repository and helpers shared by the board tests.
enum Repo {
    /// The repository root (two levels above this file's folder).
    static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()
    static var boards: String { root + "/Platforms/boards" }
    /// The synthetic /proc and /sys tree for a board profile.
    static func tree(_ name: String) -> String { boards + "/trees/" + name }
    static let boardNames = ["generic-aarch64", "generic-x86_64", "jetson-orin-nano", "raspberry-pi-4", "raspberry-pi-5", "rk3588"]

    static func catalog() throws -> BoardCatalog { try BoardCatalog(directory: boards) }
    static func root(_ board: String) throws -> SystemRoot { try SystemRoot(path: tree(board)) }
}

/// A scratch directory per test, removed afterwards.
class BoardsTestCase: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("boards-tests-\(UUID().uuidString)").standardizedFileURL.path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A small random Gemma 3 model (a few hundred KB).
    func tinyModel(context: Int = 2048) throws -> String {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64; m.feedForward = 128; m.heads = 2; m.kvHeads = 1; m.headDim = 32; m.window = 16
        m.context = context
        return try m.write(directory: dir)
    }

    /// Writes `text` to `relative` under `base`, creating folders.
    func write(_ text: String, to relative: String, under base: String) throws {
        let url = URL(fileURLWithPath: base + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// A copy of a board's tree whose /proc/meminfo says `availableKB` of `totalKB` are available.
    func tree(copying board: String, totalKB: Int, availableKB: Int) throws -> String {
        let copy = dir + "/tree-\(board)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.copyItem(atPath: Repo.tree(board), toPath: copy)
        try write("MemTotal:       \(totalKB) kB\nMemFree:        \(availableKB / 2) kB\nMemAvailable:   \(availableKB) kB\n"
                  + "SwapTotal:      1048576 kB\nSwapFree:       1048576 kB\n", to: "proc/meminfo", under: copy)
        return copy
    }

    // MARK: the gemma-edge binary

    /// The binary built beside this test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gemma-edge").path
    }

    struct Outcome { var status: Int32; var signaled: Bool; var stdout: String; var stderr: String }

    /// Runs gemma-edge with `args` and extra environment variables; fails the test on a hang.
    func run(_ args: [String], env: [String: String] = [:], timeout: TimeInterval = 60) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Drain both pipes while the process runs (a full pipe would block it).
        final class Sink: @unchecked Sendable { var data = Data() }
        let stdout = Sink(), stderr = Sink()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { stdout.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { stderr.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { p.terminate(); XCTFail("gemma-edge \(args) hung") }
        p.waitUntilExit()
        group.wait()
        return Outcome(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal,
                       stdout: String(decoding: stdout.data, as: UTF8.self), stderr: String(decoding: stderr.data, as: UTF8.self))
    }

    /// Runs `doctor --json` and returns the parsed object.
    func doctorJSON(_ args: [String], env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let o = try run(["doctor", "--json"] + args, env: env)
        XCTAssertEqual(o.status, 0, o.stderr, file: file, line: line)
        guard let obj = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any] else {
            XCTFail("doctor --json printed no object: \(o.stdout)", file: file, line: line)
            return [:]
        }
        return obj
    }
}

/// Digs into parsed JSON: `json.at("cpu", "kernel", "path")`.
extension Dictionary where Key == String, Value == Any {
    func at(_ path: String...) -> Any? {
        var cur: Any? = self
        for k in path { cur = (cur as? [String: Any])?[k] }
        return cur
    }
}
