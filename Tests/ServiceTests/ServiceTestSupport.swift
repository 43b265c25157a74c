import Foundation
import GemmaEdge
import Hummingbird
import HummingbirdTesting
import Logging
import Service
import TestSupport
import Watchdog
import XCTest

/// Tiny synthetic models shared by the service tests (written once per process, into a
/// directory removed when the process exits).
enum Models {
    static let directory: String = {
        let d = NSTemporaryDirectory() + "gemma-edge-service-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Models.directory) }
        return d
    }()

    /// The small model's shape with a context of `context`.
    static func smallShape(context: Int) -> TinyGemma {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64
        m.feedForward = 64
        m.heads = 2
        m.kvHeads = 1
        m.headDim = 32
        m.context = context
        return m
    }

    /// The small model the brief describes: fast, context 256.
    static let small: String = try! smallShape(context: 256).write(directory: directory)

    /// A larger context, so a generation that ignores `<eos>` runs long enough for a client to
    /// leave or a timeout to pass while it runs.
    static let long: String = {
        var m = TinyGemma()
        m.blocks = 4
        m.embedding = 128
        m.feedForward = 256
        m.heads = 2
        m.kvHeads = 1
        m.headDim = 64
        m.context = 4096
        return try! m.write(directory: directory)
    }()
}

extension Models {
    /// A window as long as the context, so a session can always be cut back to a shared prefix
    /// (the prompt-cache tests control checkpoints separately).
    static let wideWindow: String = {
        var m = smallShape(context: 1024)
        m.window = 1024
        return try! m.write(directory: directory)
    }()
}

/// A server over a tiny model; `gate` (when given) holds loading back until it is signalled.
func makeServer(model: String = Models.small, configure: (inout ServerOptions) -> Void = { _ in },
                gate: DispatchSemaphore? = nil) -> GemmaServer {
    var options = ServerOptions()
    options.address = .tcp(host: "127.0.0.1", port: 0)
    options.modelName = "tiny"
    configure(&options)
    var logger = Logger(label: "test.serve")
    logger.logLevel = .warning
    return GemmaServer(options: options, logger: logger) {
        gate?.wait()
        var o = EngineOptions()
        o.threads = 1
        return try Engine(modelPath: model, options: o)
    }
}

/// Loads the model and waits for it (router tests do not run `onServerRunning`).
func loaded(_ server: GemmaServer, file: StaticString = #filePath, line: UInt = #line) async throws -> Engine {
    server.host.startLoading()
    guard case .ready(let engine) = await server.host.waitUntilSettled() else {
        XCTFail("the model did not load", file: file, line: line)
        throw CancellationError()
    }
    return engine
}

extension TestClientProtocol {
    /// POSTs a JSON body given as text.
    func post(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var h = headers
        h[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: h, body: ByteBuffer(string: json))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }
    /// `error.message` of an OpenAI-shaped error.
    var errorMessage: String { ((json["error"] as? [String: Any])?["message"] as? String) ?? "<no error message in \(text)>" }
}

/// The `data:` payloads of an SSE body, `[DONE]` included.
func sseEvents(_ body: String) -> [String] {
    body.components(separatedBy: "\n\n").compactMap { block in
        block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
    }
}

func object(_ json: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
}

/// The generated text of a list of chat or text chunks.
func joinedContent(_ events: [String]) -> String {
    events.filter { $0 != "[DONE]" }.map { e -> String in
        let choices = object(e)["choices"] as? [[String: Any]] ?? []
        guard let c = choices.first else { return "" }
        if let delta = c["delta"] as? [String: Any] { return delta["content"] as? String ?? "" }
        return c["text"] as? String ?? ""
    }.joined()
}

/// Runs blocking socket work off the async executors.
func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread { c.resume(with: Result { try body() }) }.start()
    }
}

/// Polls `condition` every 20 ms for up to `seconds`.
func eventually(_ seconds: Double, _ condition: @escaping () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// A value of a metric line (`name{labels} value`) in Prometheus text, or nil.
func metric(_ text: String, _ prefix: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(prefix + " ") {
        return Double(line.split(separator: " ").last!)
    }
    return nil
}

/// The integer fields of a JSON object (`usage` also holds the `prompt_tokens_details` object).
func ints(_ value: Any?) -> [String: Int]? {
    (value as? [String: Any])?.compactMapValues { $0 as? Int }
}
