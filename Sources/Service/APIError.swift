import Foundation
import Hummingbird

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

/// Shared JSON settings: compact output, `/` left unescaped.
enum JSONCoding {
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// Decodes `T` from a request body, turning every decoding failure into a 400 that names the
    /// field and what was expected.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        guard !bytes.isEmpty else { throw APIError.badRequest("the request body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as APIError {
            throw error
        } catch let error as DecodingError {
            throw describe(error)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    /// A field path the way a client wrote it: `messages[1].content`.
    static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue, key.stringValue == "Index \(i)" || key.stringValue == String(i) {
                out += "[\(i)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }

    static func describe(_ error: DecodingError) -> APIError {
        switch error {
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .badRequest("the request body must be a JSON object") }
            return .badRequest("`\(field)` must be \(typeName(type))", param: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .badRequest("`\(field)` must be \(typeName(type)), not null", param: field)
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .badRequest("the required field `\(field)` is missing", param: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            if field.isEmpty { return .badRequest("the request body is not valid JSON: \(detail)") }
            return .badRequest("`\(field)` has an invalid value: \(context.debugDescription)", param: field)
        @unknown default:
            return .badRequest("the request body could not be read: \(error)")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") || name.hasPrefix("[") { return "an array" }
            if name.hasPrefix("Dictionary") || name.contains(":") { return "an object" }
            return "an object"
        }
    }
}
