import Foundation
import GemmaEdge
import OpenAIRequests
import Tokenizer
import Vision

/// Images in `/v1/chat/completions` (vision): OpenAI-style `image_url` content parts whose URL is
/// a `data:image/png;base64,...` URL. The server never fetches anything: any other URL is refused.
/// Each image is checked (count, size, format) before it is decoded, and decoded with the
/// projector's pixel limits.
enum ChatImages {
    /// The bytes of a PNG data URL, checked against `maxBytes` before and after decoding the base64.
    static func pngBytes(dataURL url: String, field: String, maxBytes: Int) throws -> [UInt8] {
        guard url.hasPrefix("data:") else {
            throw APIError.badRequest("`\(field)` must be a data: URL (data:image/png;base64,...): this server never "
                                      + "fetches images from the network", param: field)
        }
        guard let comma = url.firstIndex(of: ",") else {
            throw APIError.badRequest("`\(field)` is not a valid data: URL (no comma before the data)", param: field)
        }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma].lowercased()
        let parts = header.split(separator: ";").map(String.init)
        guard parts.first == "image/png" else {
            throw APIError.badRequest("`\(field)` is \(parts.first.map { "\"\($0)\"" } ?? "untyped"): only image/png is "
                                      + "accepted", param: field)
        }
        guard parts.contains("base64") else {
            throw APIError.badRequest("`\(field)` must be base64-encoded (data:image/png;base64,...)", param: field)
        }
        let payload = url[url.index(after: comma)...]
        // Four base64 characters carry three bytes: refuse before decoding anything too large.
        let estimate = payload.utf8.count / 4 * 3
        guard estimate <= maxBytes + 3 else { throw tooLarge(field, bytes: estimate, maxBytes: maxBytes) }
        guard let data = Data(base64Encoded: String(payload)) else {
            throw APIError.badRequest("`\(field)` does not hold valid base64", param: field)
        }
        guard data.count <= maxBytes else { throw tooLarge(field, bytes: data.count, maxBytes: maxBytes) }
        let bytes = [UInt8](data)
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.starts(with: signature) else {
            throw APIError.badRequest("`\(field)` is not a PNG image (only PNG is accepted)", param: field)
        }
        return bytes
    }

    static func tooLarge(_ field: String, bytes: Int, maxBytes: Int) -> APIError {
        APIError(.contentTooLarge, "`\(field)` is an image of about \(bytes) bytes, more than the \(maxBytes)-byte limit "
                 + "per image", param: field)
    }

    /// The prompt steps of a chat request that holds images: checks there is a projector and at
    /// most `maxImages` images, decodes them, and lays the conversation out in the chat format.
    static func items(_ body: ChatCompletionBody, engine: Engine, maxImages: Int, maxImageBytes: Int) throws -> [Session.Item] {
        let count = body.messages.reduce(0) { $0 + ($1.content?.imageURLs.count ?? 0) }
        guard let vision = engine.vision else {
            throw APIError.badRequest("this server was started without a vision projector (--mmproj), so messages cannot "
                                      + "hold images", param: "messages")
        }
        guard count <= maxImages else {
            throw APIError.badRequest("the request holds \(count) images; at most \(maxImages) are accepted", param: "messages")
        }
        let roles = try body.chatMessages().map(\.role)
        var messages: [MultimodalMessage] = []
        for (i, (message, role)) in zip(body.messages, roles).enumerated() {
            guard let content = message.content else {
                messages.append(MultimodalMessage(role, MultimodalPrompt("")))
                continue
            }
            var images: [RGBImage] = []
            for (j, url) in content.imageURLs.enumerated() {
                let field = "messages[\(i)].content.image_url[\(j)]"
                let bytes = try pngBytes(dataURL: url, field: field, maxBytes: maxImageBytes)
                do {
                    images.append(try ImageDecoder.decode(bytes, name: field, limits: vision.limits))
                } catch let error as VisionError {
                    throw APIError.badRequest("\(error)", param: field)
                }
            }
            messages.append(MultimodalMessage(role, MultimodalPrompt(segments: content.segments, images: images)))
        }
        do {
            return try engine.items(for: messages)
        } catch let error as TokenizerError {
            throw APIError.badRequest(error.message, param: "messages")
        } catch let error as EngineError {
            throw APIError.badRequest("\(error)", param: "messages")
        }
    }
}
