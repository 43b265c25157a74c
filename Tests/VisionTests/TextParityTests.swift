import Foundation
import GemmaEdge
import Sampling
import TestSupport
import Vision
import XCTest

/// The whole multimodal prompt against llama.cpp: tokens around the images, soft tokens in the
/// text model (bidirectional, one position each), the logits after the prompt and greedy tokens.
final class TextParityTests: XCTestCase {
    /// Largest logit difference accepted, relative to the largest |logit|. Measured: at most 4e-4
    /// with images and about the same without (the "text" case): the text path's own distance
    /// to llama.cpp (its FFN GELU is an f16 lookup table too) dominates, not the image path.
    static let tolerance: [String: Float] = ["f32": 1e-3, "f16": 1e-3]

    func testPromptLogitsAndGreedyTokensMatchLlamaCpp() throws {
        for pair in TinyVision.variants {
            let engine = try TinyPairs.engine(pair)
            let vision = engine.vision!
            for c in GoldenCase.cases {
                let golden = try GoldenCase(pair: pair, name: c.name)
                let session = engine.makeSession()
                let prompt = try MultimodalPrompt(text: c.prompt, images: try golden.images.map { try TinyPairs.image($0.file) })

                // The ids around the images are llama.cpp's, chunk for chunk.
                let items = try session.engine.items(for: prompt, chatTemplate: c.chat)
                XCTAssertEqual(items.count, golden.chunks.count, golden.name)
                for (item, chunk) in zip(items, golden.chunks) {
                    switch item {
                    case .tokens(let ids): XCTAssertEqual(ids, chunk.tokens, "\(golden.name): text chunk")
                    case .view: XCTAssertNotNil(chunk.embeddings, "\(golden.name): an image where llama.cpp has text")
                    }
                }

                let positions = try session.append(prompt, chatTemplate: c.chat)
                XCTAssertEqual(positions, golden.positions, "\(golden.name): positions")
                XCTAssertEqual(session.cache.length, golden.positions)
                XCTAssertEqual(session.tokens.filter { $0 == Session.imagePlaceholder }.count,
                               golden.images.count * vision.tokensPerImage)
                let (diff, scale) = maxDifference(Array(session.logits), golden.logits)
                print("vision-parity logits \(golden.name): max |diff| \(diff) of max |logit| \(scale), "
                      + "first greedy margin \(golden.margins[0])")
                XCTAssertLessThanOrEqual(diff, Self.tolerance[pair]! * scale, "\(golden.name): logits")

                var greedy: [Int32] = []
                var params = SamplingParameters()
                params.temperature = 0
                let sampler = Sampler(parameters: params, vocabularySize: engine.config.vocabularySize)
                try session.generate(maxTokens: golden.greedy.count, sampler: sampler, stopTokens: []) {
                    greedy.append($0)
                    return true
                }
                XCTAssertEqual(greedy, golden.greedy, "\(golden.name): greedy tokens")
            }
        }
    }

    /// The same prompt evaluated with the image's soft tokens causal instead of bidirectional gives
    /// other logits: the test above would notice a lost bidirectional mask.
    func testBidirectionalMaskChangesTheResult() throws {
        let engine = try TinyPairs.engine("f32")
        let vision = engine.vision!
        let golden = try GoldenCase(pair: "f32", name: "wide")
        let session = engine.makeSession()
        let soft = golden.embeddingChunks[0]
        try session.append([2, engine.imageMarkers!.start])
        // Causal: the soft tokens one by one through the text path's own batches.
        let n = vision.tokensPerImage, d = vision.textWidth
        try soft.withUnsafeBufferPointer { p in
            for t in 0..<n {
                try engine.model.evaluate(embeddings: p.baseAddress! + t * d, count: 1, cache: session.cache, bidirectional: false, state: engine.state)
            }
        }
        try session.append(golden.chunks.last!.tokens!)
        let (diff, scale) = maxDifference(Array(session.logits), golden.logits)
        XCTAssertGreaterThan(diff, 20 * Self.tolerance["f32"]! * scale,
                             "causal soft tokens should not reproduce llama.cpp's non-causal logits")
    }
}
