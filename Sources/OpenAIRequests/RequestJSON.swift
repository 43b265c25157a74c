import Foundation

/// A request the decoder refuses: what is wrong, and the field at fault when there is one. The
/// server answers it as a 400 in OpenAI's error shape.
public struct RequestError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    /// The request field at fault (`messages[1].content`), when there is one.
    public let param: String?

    public init(_ message: String, param: String? = nil) {
        self.message = message
        self.param = param
    }

    public var description: String { message }
}

/// Decoding request bodies into the request types, with errors that name the field.
public enum RequestJSON {
    /// Decodes `T` from a request body, turning every decoding failure into a `RequestError`
    /// that names the field and what was expected.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        guard !bytes.isEmpty else { throw RequestError("the request body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as RequestError {
            throw error
        } catch let error as DecodingError {
            throw describe(error)
        } catch {
            throw RequestError("the request body is not valid JSON: \(error)")
        }
    }

    /// A field path the way a client wrote it: `messages[1].content`.
    public static func path(_ keys: [any CodingKey]) -> String {
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

    static func describe(_ error: DecodingError) -> RequestError {
        switch error {
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return RequestError("the request body must be a JSON object") }
            return RequestError("`\(field)` must be \(typeName(type))", param: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return RequestError("`\(field)` must be \(typeName(type)), not null", param: field)
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return RequestError("the required field `\(field)` is missing", param: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            if field.isEmpty { return RequestError("the request body is not valid JSON: \(detail)") }
            return RequestError("`\(field)` has an invalid value: \(context.debugDescription)", param: field)
        @unknown default:
            return RequestError("the request body could not be read: \(error)")
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
