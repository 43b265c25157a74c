import ArgumentParser
import Dispatch
import Foundation
import GemmaEdge
import Service
import Vision
import Watchdog

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an OpenAI-compatible HTTP API (loopback only unless --host says otherwise).",
        discussion: """
            Endpoints: POST /v1/chat/completions, POST /v1/completions (both stream with "stream": true), \
            GET /v1/models and /v1/models/{id}, POST /tokenize and /detokenize, GET /props (as llama-server), \
            GET /health (503 while the model loads, 200 when ready), GET /metrics (Prometheus). \
            Connections stay open between requests; prompts reuse the longest prefix a cache slot holds. \
            The model loads in the background after the server listens. One request generates at a time; \
            up to --queue more wait, and further ones get 503 with Retry-After. With --mmproj, chat messages may \
            hold images as OpenAI image_url parts with data:image/png;base64 URLs (nothing is fetched from the \
            network); the projector's weights are read at the first image.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var speculative: SpeculativeOptions
    @OptionGroup var vision: VisionOptions
    @Option(help: "Largest PNG one image_url part may hold, in bytes (413 above).") var maxImageBytes: Int = 4 << 20
    @Option(help: "Most images one chat request may hold.") var maxImages: Int = 4
    @Option(help: "Address to listen on. Anything but 127.0.0.1/::1/localhost exposes the server.")
    var host: String = "127.0.0.1"
    @Option(help: "TCP port (default 8080).") var port: Int?
    @Option(help: "Listen on this Unix socket path instead of TCP.") var unix: String?
    @Option(help: "Require `Authorization: Bearer KEY` on /v1/* and /metrics (default: $GEMMA_EDGE_API_KEY).")
    var apiKey: String?
    @Option(help: "Most tokens one request may generate; larger max_tokens are lowered to this.")
    var maxTokensCap: Int = 512
    @Option(help: "Requests allowed to wait while one generates.") var queue: Int = 8
    @Option(help: "Seconds a request may take from arrival to its last token.") var timeout: Double = 120
    @Option(help: "Model id reported by /v1/models (default: the file name without .gguf).") var modelName: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(help: "Conversation states kept warm between requests (prompt cache, least recently used replaced); each holds a KV cache, counted by the fit check.")
    var cacheSlots: Int = 1
    @Option(help: "Save warm states here as session snapshots and restore them at start-up.")
    var cacheDir: String?
    @Option(help: "Most connections open at once (kept 64 below the descriptor limit); at the limit the connection idle longest is closed.")
    var maxConnections: Int = 512
    @Option(help: "Seconds a new connection has to send a complete request head.") var headerTimeout: Double = 10
    @Option(help: "Seconds a request's body has to arrive whole after its head.") var bodyTimeout: Double = 30
    @Option(help: "Seconds a keep-alive connection may wait for its next request.") var idleTimeout: Double = 60

    func validate() throws {
        if unix != nil && port != nil { throw ValidationError("use either --port or --unix, not both") }
    }

    func options() throws -> ServerOptions {
        var o = ServerOptions()
        o.address = unix.map { .unix(path: $0) } ?? .tcp(host: host, port: port ?? 8080)
        o.apiKey = apiKey ?? ProcessInfo.processInfo.environment["GEMMA_EDGE_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        o.maxTokensCap = maxTokensCap
        o.queueCapacity = queue
        o.requestTimeout = timeout
        o.maxImageBytes = maxImageBytes
        o.maxImages = maxImages
        o.cacheSlots = cacheSlots
        o.cacheDirectory = cacheDir
        o.maxConnections = maxConnections
        o.headerTimeout = headerTimeout
        o.idleTimeout = idleTimeout
        o.bodyTimeout = bodyTimeout
        if vision.mmproj != nil {
            // The body must hold the images base64-encoded (4 characters per 3 bytes) plus the text.
            o.maxBodyBytes = min(256 << 20, o.maxBodyBytes + maxImages * ((maxImageBytes + 2) / 3 * 4))
        }
        let file = (model.modelPath as NSString).lastPathComponent
        o.modelName = modelName ?? (file.hasSuffix(".gguf") ? String(file.dropLast(5)) : file)
        if let problem = o.validate() { throw ValidationError(problem) }
        return o
    }

    func run() throws {
        let serverOptions = try options()
        // Checks the file, picks threads and cores for this board and runs the fit check, so a
        // model that cannot load fails here, before the server listens.
        let prepared = try model.prepare(sessions: serverOptions.cacheSlots) { o in
            o = try vision.apply(to: o)
            speculative.apply(to: &o)
            o.imageLimits.maxFileBytes = serverOptions.maxImageBytes
        }
        try bootstrapLogging(level: logLevel)
        SupervisorLink.exitWithSupervisor {
            FileHandle.standardError.write(Data("gemma-edge serve: the supervising watchdog is gone; exiting\n".utf8))
        }
        let server = GemmaServer(options: serverOptions) { [prepared] in try prepared.load() }
        try blockOn { try await server.run() }
    }
}

/// Runs async work from a synchronous command and waits for it (the root command is not async).
func blockOn(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: (any Error)? }
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { try await body() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}
