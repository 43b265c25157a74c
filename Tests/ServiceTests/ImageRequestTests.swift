import Foundation
import GemmaEdge
import Hummingbird
import HummingbirdTesting
import Logging
import Sampling
import Service
import TestSupport
import Tokenizer
import Vision
import XCTest

/// Chat requests with images (OpenAI `image_url` parts holding PNG data URLs) on the tiny
/// synthetic 4B-shaped pair, and every way such a request is refused.
final class ImageRequestTests: XCTestCase {
    static let pair: (text: String, mmproj: String) = {
        try! TinyVision.variant("f32").write(directory: Models.directory, name: "vision-pair")
    }()

    static let png: [UInt8] = [UInt8](FileManager.default.contents(atPath: Fixtures.url("vision/images/rgb8.png").path)!)
    static let otherPNG: [UInt8] = [UInt8](FileManager.default.contents(atPath: Fixtures.url("vision/images/tall-grey.png").path)!)

    func server(vision: Bool = true, configure: (inout ServerOptions) -> Void = { _ in }) -> GemmaServer {
        var options = ServerOptions()
        options.address = .tcp(host: "127.0.0.1", port: 0)
        options.modelName = "tiny"
        options.maxBodyBytes = 4 << 20
        configure(&options)
        var logger = Logger(label: "test.serve")
        logger.logLevel = .warning
        let pair = Self.pair
        return GemmaServer(options: options, logger: logger) {
            var o = EngineOptions()
            o.threads = 1
            o.context = 256
            o.mmproj = vision ? pair.mmproj : nil
            return try Engine(modelPath: pair.text, options: o)
        }
    }

    static func dataURL(_ bytes: [UInt8], type: String = "image/png") -> String {
        "data:\(type);base64," + Data(bytes).base64EncodedString()
    }

    static func body(_ parts: String, maxTokens: Int = 6) -> String {
        #"{"messages":[{"role":"user","content":["# + parts + #"]}],"max_tokens":\#(maxTokens),"temperature":0}"#
    }

    static func image(_ url: String) -> String { #"{"type":"image_url","image_url":{"url":""# + url + #""}}"# }

    func testAChatWithAnImageAnswersAsTheSessionDoes() async throws {
        let server = server()
        let engine = try await loaded(server)
        // What the engine gives for the same conversation, run directly.
        let picture = try ImageDecoder.decode(Self.png)
        let items = try engine.items(for: [.user(MultimodalPrompt(segments: ["what is", "here"], images: [picture]))])
        let session = engine.makeSession()
        try session.append(items: items)
        let sampler = Sampler(parameters: .greedy, vocabularySize: engine.config.vocabularySize)
        var decoder = StreamingDecoder(vocabulary: engine.tokenizer.vocabulary)
        var expected = "", count = 0
        let stops = engine.stopTokens
        try session.generate(maxTokens: 6, sampler: sampler, stopTokens: stops) { id in
            if !stops.contains(id) {
                count += 1
                expected += decoder.append(id)
            }
            return true
        }
        let expectedText = expected + decoder.flush(), expectedCount = count

        let body = Self.body(#"{"type":"text","text":"what is"},"# + Self.image(Self.dataURL(Self.png))
                             + #",{"type":"text","text":"here"}"#)
        try await server.makeApplication().test(.router) { client in
            let r = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(r.status, .ok, r.text)
            let message = ((r.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
            XCTAssertEqual(message?["content"] as? String, expectedText)
            let usage = ints(r.json["usage"])
            XCTAssertEqual(usage?["prompt_tokens"], engine.positions(of: items))
            XCTAssertEqual(usage?["completion_tokens"], expectedCount)
            XCTAssertGreaterThan(expectedCount, 0)
            XCTAssertTrue(engine.vision!.isPrepared)

            // Text-only requests are unchanged on a server with a projector.
            let text = try await client.post("/v1/chat/completions", Self.body(#"{"type":"text","text":"hello"}"#))
            XCTAssertEqual(text.status, .ok, text.text)
        }
    }

    func testAnImageWithoutAProjectorIsA400() async throws {
        let server = server(vision: false)
        _ = try await loaded(server)
        try await server.makeApplication().test(.router) { client in
            let r = try await client.post("/v1/chat/completions", Self.body(Self.image(Self.dataURL(Self.png))))
            XCTAssertEqual(r.status, .badRequest)
            XCTAssertTrue(r.errorMessage.contains("--mmproj"), r.errorMessage)
        }
    }

    func testBadImagesAreRefusedClearly() async throws {
        let server = server { $0.maxImageBytes = 2048; $0.maxImages = 1 }
        let engine = try await loaded(server)
        let big = [UInt8](FileManager.default.contents(atPath: Fixtures.url("vision/images/wide-rgb.png").path)!)
        let cases: [(String, HTTPResponse.Status, String)] = [
            (Self.image("https://example.com/cat.png"), .badRequest, "never fetches images"),
            (Self.image("data:image/png;base64,!!!not base64!!!"), .badRequest, "valid base64"),
            (Self.image(Self.dataURL(Array("GIF89a not a png at all".utf8))), .badRequest, "not a PNG"),
            (Self.image(Self.dataURL(Self.png, type: "image/jpeg")), .badRequest, "only image/png"),
            (Self.image("data:image/png," + "abc"), .badRequest, "base64-encoded"),
            (Self.image(Self.dataURL(Array(Self.png.prefix(40)))), .badRequest, "PNG"),
            (Self.image(Self.dataURL(big)), .contentTooLarge, "2048-byte limit"),
            (Self.image(Self.dataURL(Self.png)) + "," + Self.image(Self.dataURL(Self.otherPNG)), .badRequest,
             "at most 1 are accepted"),
            (#"{"type":"image_url"}"#, .badRequest, "image_url.url"),
            (#"{"type":"input_audio","input_audio":{}}"#, .badRequest, "only text and image_url"),
        ]
        try await server.makeApplication().test(.router) { client in
            for (parts, status, message) in cases {
                let r = try await client.post("/v1/chat/completions", Self.body(parts))
                XCTAssertEqual(r.status, status, "\(parts.prefix(80)): \(r.text)")
                XCTAssertTrue(r.errorMessage.contains(message), "\(parts.prefix(80)): \(r.errorMessage)")
            }
            // An image in a system message is refused too.
            let system = #"{"messages":[{"role":"system","content":["# + Self.image(Self.dataURL(Self.png))
                + #"]},{"role":"user","content":"hi"}]}"#
            let r = try await client.post("/v1/chat/completions", system)
            XCTAssertEqual(r.status, .badRequest, r.text)
            XCTAssertTrue(r.errorMessage.contains("system message"), r.errorMessage)
        }
        XCTAssertFalse(engine.vision!.isPrepared, "refused requests never reach the encoder")
    }

    func testABodyOverTheLimitIsA413() async throws {
        let server = server { $0.maxBodyBytes = 4096 }
        _ = try await loaded(server)
        let big = [UInt8](FileManager.default.contents(atPath: Fixtures.url("vision/images/wide-rgb.png").path)!)
        try await server.makeApplication().test(.router) { client in
            let r = try await client.post("/v1/chat/completions", Self.body(Self.image(Self.dataURL(big))))
            XCTAssertEqual(r.status, .contentTooLarge)
        }
    }
}
