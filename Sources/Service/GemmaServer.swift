import Base
import Foundation
import GemmaEdge
import Grammar
import Hummingbird
import Logging
import OpenAIRequests
import ServiceLifecycle
import Tokenizer

/// The OpenAI-compatible HTTP server: routes, request checks, and the hand-off of accepted
/// requests to the single generation worker.
///
/// Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (both streamed with SSE when
/// `"stream": true`), `GET /v1/models`, `GET /health` (503 while loading, 200 when ready) and
/// `GET /metrics` (Prometheus text). `/health` also says whether a request is generating (`busy`)
/// and for how long the engine has made no progress (`stalled_seconds`), so a supervisor can tell
/// a long generation from a hang.
public final class GemmaServer: Sendable {
    /// Address, limits and key.
    public let options: ServerOptions
    /// The engine, once loaded; `host.startLoading()` starts the load.
    public let host: ModelHost
    /// What `/metrics` serves.
    public let metrics: ServiceMetrics
    public let logger: Logger
    let scheduler: GenerationScheduler
    /// Open connections and the limit on them.
    let connections: ConnectionRegistry
    /// The vocabulary's longest piece, for refusing prompts too long to fit before tokenising.
    let longestPieces = LongestPiece()

    /// - Parameters:
    ///   - loader: builds the engine; run on a background thread once the server listens (or when
    ///     `host.startLoading()` is called).
    public init(options: ServerOptions, logger: Logger = Logger(label: "gemma-edge.serve"),
                loader: @escaping @Sendable () throws -> Engine) {
        self.options = options
        self.logger = logger
        let metrics = ServiceMetrics()
        let scheduler = GenerationScheduler(capacity: options.queueCapacity, metrics: metrics, cacheSlots: options.cacheSlots,
                                            cacheDirectory: options.cacheDirectory, logger: logger)
        connections = ConnectionRegistry(requested: options.maxConnections, metrics: metrics)
        self.metrics = metrics
        self.scheduler = scheduler
        host = ModelHost(loader: loader) { engine in
            scheduler.start(engine: engine)
            metrics.modelLoaded.set(1.0)
            logger.info("model loaded", metadata: ["seconds": "\(engine.loadSeconds)", "context": "\(engine.options.context)"])
        }
    }

    /// Connections accepted since start (and `connectionsOpen` now).
    public var connectionsAccepted: Int { connections.accepted }
    public var connectionsOpen: Int { connections.count }

    /// (waiting, running) requests right now.
    public var queueDepth: (waiting: Int, running: Int) { scheduler.depth }

    /// The Hummingbird application: starts loading the model once it listens and stops the
    /// generation worker on graceful shutdown.
    public func makeApplication() -> some ApplicationProtocol {
        let bind: BindAddress
        switch options.address {
        case .tcp(let host, let port): bind = .hostname(host, port: port)
        case .unix(let path): bind = .unixDomainSocket(path: path)
        }
        let timeouts = ConnectionGuard.Timeouts(header: options.headerTimeout, body: options.bodyTimeout,
                                                idle: options.idleTimeout, linger: options.lingerTimeout)
        return Application(
            router: makeRouter(),
            server: .guarded(registry: connections, timeouts: timeouts, maxHeaderBytes: options.maxHeaderBytes),
            configuration: .init(address: bind, serverName: "gemma-edge", backlog: 1024),
            services: [WorkerStopper(scheduler: scheduler)],
            onServerRunning: { [host, logger, options, connections] _ in
                logger.info("listening", metadata: ["address": "\(options.address)",
                                                    "max_connections": "\(connections.limit)"])
                host.startLoading()
            },
            logger: logger)
    }

    /// The routes, behind the auth and metrics middleware.
    public func makeRouter() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: GuardMiddleware(apiKey: options.apiKey, metrics: metrics))
        router.add(middleware: MethodMiddleware())
        router.get("/health") { [self] _, _ in health() }
        router.get("/metrics") { [metrics] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/v1/models") { [options] _, _ in
            Self.json(.ok, JSONValue.object(["object": .string("list"), "data": .array([Self.modelObject(options.modelName)])]).bytes())
        }
        router.post("/v1/chat/completions") { [self] request, context in try await generate(request, context, kind: .chat) }
        router.post("/v1/completions") { [self] request, context in try await generate(request, context, kind: .text) }
        addUtilityRoutes(router)
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func health() -> Response {
        switch host.state {
        case .idle, .loading:
            return Self.json(.serviceUnavailable, JSONValue.object(["status": .string("loading")]).bytes(),
                             headers: [.retryAfter: "2"])
        case .failed(let message):
            return Self.json(.serviceUnavailable,
                             JSONValue.object(["status": .string("error"), "error": .string(message)]).bytes())
        case .ready(let engine):
            let (waiting, running) = scheduler.depth
            return Self.json(.ok, JSONValue.object([
                "status": .string("ok"), "model": .string(options.modelName), "busy": .bool(running > 0),
                "queued": .int(waiting), "context": .int(engine.options.context),
                "stalled_seconds": .double((scheduler.stalledSeconds * 1000).rounded() / 1000),
            ]).bytes())
        }
    }

    // MARK: Generation

    /// Reads, checks and queues a request, then answers it whole or as a stream.
    ///
    /// The connection stays open for the next request (HTTP/1.1 keep-alive): the body is read
    /// with `collect`, never by taking over the connection's inbound stream. A client that hangs
    /// up is noticed through the connection registry, which cancels the job when the connection
    /// closes; a streamed answer also learns it from a failed write, and SSE comments sent while
    /// the job waits make that happen even before the first token.
    private func generate(_ request: Request, _ context: ServerContext, kind: ResponseFormatter.Kind) async throws -> Response {
        let arrival = monotonicSeconds()
        let engine = try readyEngine()
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: options.maxBodyBytes)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "the request body is larger than the \(options.maxBodyBytes)-byte limit")
        }
        let bytes = Array(buffer.readableBytesView)
        let (prompt, fields, output) = try await Self.offPool { [self] in try parse(bytes, kind: kind, engine: engine) }
        let settings = try APIError.checkingRequest {
            try fields.validated(cap: options.maxTokensCap, vocabularySize: engine.config.vocabularySize,
                                 randomSeed: UInt64.random(in: 0...UInt64.max))
        }
        if output.grammar != nil, !settings.stop.isEmpty {
            throw APIError.badRequest("`stop` cannot be combined with `\(output.field)`: a stop sequence could cut the "
                                      + "constrained output in half; the grammar ends it", param: "stop")
        }
        let positions = engine.positions(of: prompt)
        guard positions <= engine.options.context else {
            throw APIError.badRequest("the prompt is \(positions) tokens but the context holds \(engine.options.context) tokens",
                                      param: kind == .chat ? "messages" : "prompt")
        }
        // A grammar allows the stop tokens exactly when its output is complete, so they always end it.
        let job = GenerationJob(prompt: prompt, maxTokens: settings.maxTokens, parameters: settings.parameters,
                                stopTokens: settings.ignoreEOS && output.grammar == nil ? [] : engine.stopTokens,
                                logprobs: settings.logprobs, grammar: output.grammar, arrival: arrival)
        switch scheduler.submit(job) {
        case .accepted: break
        case .full(let seconds): throw APIError.queueFull(retryAfter: seconds)
        case .stopping: throw APIError(.serviceUnavailable, "the server is shutting down", type: "server_error")
        }
        let channel = context.channel
        connections.watch(channel) { job.cancel(.cancelled) }
        let timeout = options.requestTimeout
        let timer = Task {
            try? await Task.sleep(for: .seconds(timeout))
            if !Task.isCancelled { job.cancel(.timeout) }
        }
        let vocabulary = engine.tokenizer.vocabulary
        let formatter = ResponseFormatter(kind: kind, model: options.modelName,
                                          logprobs: settings.logprobs == nil ? nil : vocabulary)

        if settings.stream {
            let heartbeat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    job.heartbeat()
                }
            }
            let responseBody = ResponseBody { [self] writer in
                defer {
                    timer.cancel()
                    heartbeat.cancel()
                    connections.unwatch(channel)
                }
                try await stream(job, settings: settings, formatter: formatter, vocabulary: vocabulary, tools: output.tools,
                                 into: &writer)
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: responseBody)
        }

        defer {
            timer.cancel()
            connections.unwatch(channel)
        }
        let (text, usage, summary, logprobs) = await collect(job, stops: settings.stop, vocabulary: vocabulary)
        switch summary.reason {
        case .stop, .length:
            let call = summary.reason == .stop ? PreparedOutput.toolCall(in: text, tools: output.tools) : nil
            return Self.json(.ok, formatter.complete(text: text, finishReason: summary.reason.rawValue, usage: usage,
                                                     logprobs: logprobs, toolCall: call))
        default:
            throw failure(summary, timeout: timeout)
        }
    }

    /// CPU-heavy request work (JSON decoding, tokenising, image decoding) runs here, one request
    /// at a time, off the cooperative thread pool, so `/health` and the other light routes are
    /// answered while a large prompt is being tokenised.
    static let requestWork = DispatchQueue(label: "gemma-edge.request-work")

    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in requestWork.async { c.resume(with: Result { try body() }) } }
    }

    /// Decodes a body into the prompt (ids, and image views for a chat with images), the
    /// generation fields and the constrained output (its grammar compiled, or found in the
    /// engine's grammar store).
    private func parse(_ bytes: [UInt8], kind: ResponseFormatter.Kind, engine: Engine)
        throws -> ([Session.Item], GenerationFields, PreparedOutput) {
        switch kind {
        case .chat:
            let body = try APIError.checkingRequest { try RequestJSON.decode(ChatCompletionBody.self, from: bytes) }
            let output = try PreparedOutput(body: bytes, chat: true, engine: engine)
            if body.messages.contains(where: { !($0.content?.imageURLs.isEmpty ?? true) }) {
                guard output.tools.isEmpty else {
                    throw APIError.badRequest("`tools` cannot be combined with images yet", param: "tools")
                }
                let items = try ChatImages.items(body, engine: engine, maxImages: options.maxImages,
                                                 maxImageBytes: options.maxImageBytes)
                return (items, body.fields, output)
            }
            let messages = try APIError.checkingRequest { try body.chatMessages(toolPrompt: output.toolPrompt) }
            try checkFits(bytes: messages.reduce(0) { $0 + $1.text.utf8.count }, engine: engine, param: "messages")
            do {
                return ([.tokens(try ChatTemplate(tokenizer: engine.tokenizer).encode(messages))], body.fields, output)
            } catch let error as TokenizerError {
                throw APIError.badRequest(error.message, param: "messages")
            }
        case .text:
            let body = try APIError.checkingRequest { try RequestJSON.decode(CompletionBody.self, from: bytes) }
            try APIError.checkingRequest { try body.checkSupported() }
            let output = try PreparedOutput(body: bytes, chat: false, engine: engine)
            switch body.prompt {
            case .text(let text):
                try checkFits(bytes: text.utf8.count, engine: engine, param: "prompt")
                do {
                    return ([.tokens(try engine.tokenizer.encode(text, addBOS: true))], body.fields, output)
                } catch let error as TokenizerError {
                    throw APIError.badRequest(error.message, param: "prompt")
                }
            case .tokens(let ids):
                let vocabulary = engine.config.vocabularySize
                if let bad = ids.first(where: { !(0..<vocabulary).contains($0) }) {
                    throw APIError.badRequest("`prompt` holds token id \(bad), outside 0..<\(vocabulary)", param: "prompt")
                }
                return ([.tokens(ids.map { Int32($0) })], body.fields, output)
            }
        }
    }

    /// The error a generation that did not complete is answered with.
    private func failure(_ summary: GenerationSummary, timeout: Double) -> APIError {
        switch summary.reason {
        case .timeout:
            return APIError(.gatewayTimeout, "the request did not finish within the \(timeout) s timeout "
                            + "(\(summary.generatedTokens) tokens generated)", type: "server_error")
        case .shutdown:
            return APIError(.serviceUnavailable, "the server is shutting down", type: "server_error")
        case .cancelled:
            return APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "the client closed the connection")
        default:
            return APIError(.internalServerError, "generation failed: \(summary.error ?? "unknown error")", type: "server_error")
        }
    }

    /// Waits for a job and gathers its text (non-streamed responses).
    private func collect(_ job: GenerationJob, stops: [String], vocabulary: Vocabulary) async
        -> (String, Usage, GenerationSummary, [TokenLogprobs]) {
        var assembler = TextAssembler(vocabulary: vocabulary, stops: stops)
        var text = ""
        var delivered = 0
        var logprobs: [TokenLogprobs] = []
        for await event in job.events {
            switch event {
            case .started, .heartbeat:
                continue
            case .token(let id, let lp):
                guard !assembler.stopped else { continue }
                delivered += 1
                if let lp { logprobs.append(lp) }
                text += assembler.append(id)
                if assembler.stopped { job.cancel(.stop) }
            case .finished(var summary):
                text += assembler.finish()
                // A stop sequence ends the answer however the worker ended (it may have reached
                // max_tokens before it saw the cancel).
                if assembler.stopped { summary.reason = .stop }
                return (text, Usage(promptTokens: summary.promptTokens, completionTokens: delivered,
                                     cachedTokens: summary.cachedTokens), summary, logprobs)
            }
        }
        job.cancel(.cancelled)
        return (text, Usage(promptTokens: 0, completionTokens: delivered),
                GenerationSummary(reason: .cancelled, promptTokens: 0, generatedTokens: delivered), logprobs)
    }

    /// Writes a job's tokens as SSE chunks, then the finish chunk (or an error event) and
    /// `[DONE]`. A failed write means the client left: the job is cancelled. With `tools`, an
    /// answer whose text starts with `{` is a call: its text is held back until the function's
    /// name is whole, then sent as OpenAI streams calls (a first `tool_calls` delta with the id,
    /// type, name and empty arguments, then the arguments text in fragments as it is decoded).
    /// Any other answer streams as text.
    private func stream(_ job: GenerationJob, settings: GenerationSettings, formatter: ResponseFormatter,
                        vocabulary: Vocabulary, tools: [ToolFunction], into writer: inout any ResponseBodyWriter) async throws {
        var assembler = TextAssembler(vocabulary: vocabulary, stops: settings.stop)
        var delivered = 0
        var pending: [TokenLogprobs] = []  // log-probabilities of tokens whose text is not sent yet
        var offset = 0  // text offset of the next chunk (completions logprobs)
        var deciding = !tools.isEmpty  // a tool call is possible and no text has been seen yet
        var call: ToolCallStream?  // a call being read
        var callText = ""  // its text so far
        func chunk(_ text: String?, toolCall: ResponseFormatter.ToolCallDelta? = nil) -> [UInt8] {
            defer {
                offset += text?.utf16.count ?? 0
                pending.removeAll()
            }
            return ResponseFormatter.event(formatter.chunk(text: text, logprobs: pending, offset: offset, toolCall: toolCall))
        }
        /// The chunks `piece` makes now: text, or the pieces of a call.
        func release(_ piece: String) -> [UInt8] {
            if deciding {
                let seen = piece.drop { $0.isWhitespace }
                if let first = seen.first {
                    deciding = false
                    if first == "{" { call = ToolCallStream() }
                } else if !piece.isEmpty {
                    callText += piece  // leading whitespace: undecided yet
                    return []
                }
            }
            guard var c = call else {
                let text = callText + piece
                callText = ""
                return text.isEmpty ? [] : chunk(text)
            }
            callText += piece
            let (name, fragment) = c.append(piece)
            call = c
            var out: [UInt8] = []
            if let name { out += chunk(nil, toolCall: .init(name: name, arguments: "")) }
            if !fragment.isEmpty { out += chunk(nil, toolCall: .init(name: nil, arguments: fragment)) }
            return out
        }
        do {
            if formatter.kind == .chat {
                try await writer.write(ByteBuffer(bytes: ResponseFormatter.event(formatter.chunk(text: "", role: true))))
            }
            for await event in job.events {
                switch event {
                case .started:
                    continue
                case .heartbeat:
                    try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                case .token(let id, let lp):
                    guard !assembler.stopped else { continue }
                    delivered += 1
                    if let lp { pending.append(lp) }
                    let out = release(assembler.append(id))
                    if assembler.stopped { job.cancel(.stop) }
                    if !out.isEmpty {
                        try await writer.write(ByteBuffer(bytes: out))
                    }
                case .finished(var summary):
                    var out = release(assembler.finish())
                    if assembler.stopped { summary.reason = .stop }
                    var finishReason = summary.reason.rawValue
                    if let c = call, c.name != nil {
                        // The call went out in pieces; a whole one ends with `tool_calls` (one cut
                        // by max_tokens ends with `length`, as OpenAI's do).
                        if summary.reason == .stop, PreparedOutput.toolCall(in: callText, tools: tools) != nil {
                            finishReason = "tool_calls"
                        }
                        if !pending.isEmpty { out += chunk(nil) }
                    } else {
                        // Held back and never a call (cut before the name was whole, or only
                        // whitespace): send it as text.
                        if !callText.isEmpty || !pending.isEmpty { out += chunk(callText) }
                    }
                    switch summary.reason {
                    case .stop, .length:
                        out += ResponseFormatter.event(formatter.chunk(text: nil, finishReason: finishReason))
                        if settings.includeUsage {
                            let usage = Usage(promptTokens: summary.promptTokens, completionTokens: delivered,
                                              cachedTokens: summary.cachedTokens)
                            out += ResponseFormatter.event(formatter.usageChunk(usage))
                        }
                    case .cancelled:
                        return
                    default:
                        out += ResponseFormatter.event(failure(summary, timeout: options.requestTimeout).jsonBytes())
                    }
                    out += ResponseFormatter.done
                    try await writer.write(ByteBuffer(bytes: out))
                    return
                }
            }
            job.cancel(.cancelled)
        } catch {
            job.cancel(.cancelled)
            throw error
        }
    }
}

/// Checks the API key (all paths but `/health`) and counts every answer by path and status.
struct GuardMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let apiKey: String?
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let t0 = monotonicSeconds()
        let path = request.uri.path
        func record(_ status: HTTPResponse.Status) {
            metrics.countRequest(path: path, status: status.code)
            metrics.requestDuration.record(.seconds(monotonicSeconds() - t0))
        }
        do {
            if let apiKey, path != "/health", !Self.authorized(request.headers[.authorization], key: apiKey) {
                throw APIError.unauthorized
            }
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch let error as APIError {
            record(error.status)
            throw error
        } catch let error as MethodNotAllowed {
            record(error.status)
            throw error
        } catch let error as HTTPError {
            record(error.status)
            throw APIError(error.status, error.body ?? error.status.reasonPhrase,
                           type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
        } catch let error as HTTPResponseError {
            record(error.status)
            throw APIError(error.status, error.status.reasonPhrase,
                           type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
        } catch {
            record(.internalServerError)
            throw APIError(.internalServerError, "internal error: \(error)", type: "server_error")
        }
    }

    /// Compares `Bearer <key>` in time that does not depend on where the first difference is.
    static func authorized(_ header: String?, key: String) -> Bool {
        let given = Array((header ?? "").utf8), wanted = Array(("Bearer " + key).utf8)
        var diff = given.count == wanted.count ? 0 : 1
        for i in 0..<max(given.count, wanted.count) {
            let a = i < given.count ? given[i] : 0, b = i < wanted.count ? wanted[i] : 1
            diff |= Int(a ^ b)
        }
        return diff == 0
    }
}

/// Stops the generation worker when the application shuts down gracefully.
struct WorkerStopper: Service {
    let scheduler: GenerationScheduler

    func run() async throws {
        try? await gracefulShutdown()
        scheduler.shutdown()
    }
}
