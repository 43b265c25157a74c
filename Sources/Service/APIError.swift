import Foundation
import Hummingbird
import OpenAIRequests

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
///
/// Every refusal the server makes (bad JSON, out-of-range numbers, a prompt too long, a full
/// queue, a missing key) is one of these, so clients always get a status and a readable message.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    /// OpenAI's error type: `invalid_request_error`, `authentication_error`, `server_error`, ...
    public let type: String
    /// The request field at fault, when there is one.
    public let param: String?
    /// Seconds for the `Retry-After` header (503 responses).
    public let retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error",
                param: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    /// 400 with a message naming the field.
    public static func badRequest(_ message: String, param: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param)
    }

    static let loading = APIError(.serviceUnavailable, "the model is still loading; retry shortly",
                                  type: "server_error", retryAfter: 2)
    static let unauthorized = APIError(.unauthorized, "missing or wrong API key: send `Authorization: Bearer <key>`",
                                       type: "authentication_error")

    /// The 400 for a request the decoder refused.
    init(_ error: RequestError) {
        self.init(.badRequest, error.message, param: error.param)
    }

    /// Runs `body`, answering a request the decoder refuses with a 400.
    static func checkingRequest<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as RequestError {
            throw APIError(error)
        }
    }

    static func queueFull(retryAfter: Int) -> APIError {
        APIError(.serviceUnavailable, "the server is busy: the request queue is full", type: "server_error",
                 retryAfter: retryAfter)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jsonBytes())))
    }

    /// The error object as JSON bytes (also sent as an SSE event when a stream fails midway).
    func jsonBytes() -> [UInt8] {
        struct Body: Encodable {
            struct Inner: Encodable {
                let message: String, type: String, param: String?, code: Int
                func encode(to encoder: any Encoder) throws {
                    var c = encoder.container(keyedBy: CodingKeys.self)
                    try c.encode(message, forKey: .message)
                    try c.encode(type, forKey: .type)
                    try c.encode(param, forKey: .param)
                    try c.encode(code, forKey: .code)
                }
                enum CodingKeys: String, CodingKey { case message, type, param, code }
            }
            let error: Inner
        }
        let body = Body(error: .init(message: message, type: type, param: param, code: status.code))
        return Array((try? JSONCoding.encoder.encode(body)) ?? Data("{\"error\":{}}".utf8))
    }
}

/// Shared JSON settings for responses: compact output, `/` left unescaped. Request bodies are
/// decoded by `RequestJSON` (module OpenAIRequests).
enum JSONCoding {
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
