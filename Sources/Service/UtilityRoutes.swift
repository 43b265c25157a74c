import Foundation
import GemmaEdge
import Hummingbird
import OpenAIRequests
import Sampling
import Tokenizer

/// The endpoints besides generation, shaped as clients expect them: `GET /v1/models/{id}`
/// (OpenAI), and `POST /tokenize`, `POST /detokenize`, `GET /props` (llama-server).
extension GemmaServer {
    /// Which methods each path takes: a known path asked with another method gets 405 with
    /// `Allow` (see `MethodMiddleware`).
    static let allowedMethods: [String: [HTTPRequest.Method]] = [
        "/health": [.get, .head], "/metrics": [.get, .head], "/v1/models": [.get, .head], "/props": [.get, .head],
        "/v1/chat/completions": [.post], "/v1/completions": [.post], "/tokenize": [.post], "/detokenize": [.post],
    ]

    func addUtilityRoutes(_ router: Router<ServerContext>) {
        router.get("/v1/models/{id}") { [options] _, context in
            let id = context.parameters.get("id") ?? ""
            guard id == options.modelName else {
                throw APIError(.notFound, "the model `\(id)` does not exist; this server has `\(options.modelName)`",
                               param: "model")
            }
            return Self.json(.ok, Self.modelObject(options.modelName).bytes())
        }
        router.post("/tokenize") { [self] request, _ in
            let engine = try readyEngine()
            let body = try await RequestJSON.bodyObject(request, limit: options.maxBodyBytes)
            guard let content = body["content"] as? String else {
                throw APIError.badRequest("`content` must be a string", param: "content")
            }
            try checkFits(bytes: content.utf8.count, engine: engine, param: "content")
            let addSpecial = body["add_special"] as? Bool ?? false
            let withPieces = body["with_pieces"] as? Bool ?? false
            let ids = try await Self.offPool { () throws -> [Int32] in
                do {
                    return try engine.tokenizer.encode(content, addBOS: addSpecial)
                } catch let error as TokenizerError {
                    throw APIError.badRequest(error.message, param: "content")
                }
            }
            let formatter = LogprobsFormatter(vocabulary: engine.tokenizer.vocabulary)
            let tokens: [JSONValue] = ids.map { id in
                withPieces ? .object(["id": .int(Int(id)), "piece": .string(formatter.token(id).text)]) : .int(Int(id))
            }
            return Self.json(.ok, JSONValue.object(["tokens": .array(tokens)]).bytes())
        }
        router.post("/detokenize") { [self] request, _ in
            let engine = try readyEngine()
            let body = try await RequestJSON.bodyObject(request, limit: options.maxBodyBytes)
            guard let raw = body["tokens"] as? [Any] else {
                throw APIError.badRequest("`tokens` must be an array of token ids", param: "tokens")
            }
            let vocabulary = engine.config.vocabularySize
            let ids = try raw.map { value -> Int32 in
                guard !(value is Bool), let n = value as? Int, (0..<vocabulary).contains(n) else {
                    throw APIError.badRequest("`tokens` holds \(value), not a token id in 0..<\(vocabulary)", param: "tokens")
                }
                return Int32(n)
            }
            return Self.json(.ok, JSONValue.object(["content": .string(engine.tokenizer.decode(ids))]).bytes())
        }
        router.get("/props") { [self] _, _ in
            let engine = try readyEngine()
            let defaults = SamplingDefaults()
            return Self.json(.ok, JSONValue.object([
                "default_generation_settings": .object([
                    "n_ctx": .int(engine.options.context),
                    "params": .object([
                        "temperature": .double(defaults.temperature), "top_k": .int(defaults.topK),
                        "top_p": .double(defaults.topP), "min_p": .double(defaults.minP),
                        "repeat_penalty": .double(defaults.repetitionPenalty), "repeat_last_n": .int(64),
                        "presence_penalty": .double(0), "frequency_penalty": .double(0),
                        "n_predict": .int(options.maxTokensCap),
                    ]),
                ]),
                "total_slots": .int(options.cacheSlots),
                "model_alias": .string(options.modelName),
                "modalities": .object(["vision": .bool(engine.vision != nil), "audio": .bool(false)]),
                "build_info": .string("gemma-edge"),
            ]).bytes())
        }
    }

    static func modelObject(_ name: String) -> JSONValue {
        .object(["id": .string(name), "object": .string("model"), "created": .int(0), "owned_by": .string("gemma-edge")])
    }

    /// The engine, or the 503 a request gets while the model loads (or failed to).
    func readyEngine() throws -> Engine {
        if let engine = host.engine { return engine }
        if case .failed(let message) = host.state {
            throw APIError(.serviceUnavailable, "the model failed to load: \(message)", type: "server_error")
        }
        throw APIError.loading
    }

    /// Refuses text that cannot fit the context whatever it tokenises to, before tokenising it:
    /// no token stands for more bytes than the vocabulary's longest piece.
    func checkFits(bytes: Int, engine: Engine, param: String) throws {
        let longest = longestPieces.value(for: engine)
        let limit = engine.options.context * longest
        guard bytes <= limit else {
            throw APIError.badRequest("`\(param)` is \(bytes) bytes: it cannot fit the context of \(engine.options.context) "
                                      + "tokens (at most \(longest) bytes per token)", param: param)
        }
    }
}

/// The sampling defaults a request gets when it sets nothing (reported by `/props`).
struct SamplingDefaults {
    let temperature: Double, topK: Int, topP: Double, minP: Double, repetitionPenalty: Double

    init() {
        let p = SamplingParameters()
        temperature = Double(p.temperature)
        topK = p.topK
        topP = Double(p.topP)
        minP = Double(p.minP)
        repetitionPenalty = Double(p.repetitionPenalty)
    }
}

/// The byte length of the vocabulary's longest piece, computed once per engine.
final class LongestPiece: @unchecked Sendable {
    private let lock = NSLock()
    private var cached: (ObjectIdentifier, Int)?

    func value(for engine: Engine) -> Int {
        let id = ObjectIdentifier(engine)
        if let c = lock.withLock({ cached }), c.0 == id { return c.1 }
        let vocabulary = engine.tokenizer.vocabulary
        var longest = 1
        for i in 0..<vocabulary.count {
            longest = max(longest, vocabulary.decodedBytes(Int32(i), includeControl: true).count)
        }
        lock.withLock { cached = (id, longest) }
        return longest
    }
}

/// Answers 405 with `Allow` when a known path is asked with a method it does not take.
struct MethodMiddleware: RouterMiddleware {
    typealias Context = ServerContext

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = GemmaServer.allowedMethods[request.uri.path], !allowed.contains(request.method) {
            throw MethodNotAllowed(allowed: allowed, method: request.method)
        }
        return try await next(request, context)
    }
}

/// A 405 in OpenAI's error shape, with the `Allow` header.
struct MethodNotAllowed: Error, HTTPResponseError {
    let allowed: [HTTPRequest.Method]
    let method: HTTPRequest.Method
    var status: HTTPResponse.Status { .methodNotAllowed }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        var response = try APIError(.methodNotAllowed, "\(request.uri.path) does not take \(method.rawValue); use \(allow)")
            .response(from: request, context: context)
        response.headers[.allow] = allow
        return response
    }
}

extension RequestJSON {
    /// A small JSON object body (the utility endpoints), read up to `limit` bytes.
    static func bodyObject(_ request: Request, limit: Int) async throws -> [String: Any] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "the request body is larger than the \(limit)-byte limit")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw APIError.badRequest("the request body must be a JSON object")
        }
        return object
    }
}
