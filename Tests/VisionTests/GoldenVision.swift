import Foundation
import GGUF
import GemmaEdge
import TestSupport
import Vision
import XCTest

/// One recorded llama.cpp run (Tests/Fixtures/vision/golden/<pair>-<case>.json).
struct GoldenCase {
    struct Chunk {
        var tokens: [Int32]?          // a text chunk
        var embeddings: [Float]?      // an image chunk: tokens x text width
    }

    let name: String
    let prompt: String
    let images: [(file: String, stbHash: String)]
    let chunks: [Chunk]
    let positions: Int
    let logits: [Float]
    let greedy: [Int32]
    let margins: [Float]

    init(pair: String, name: String) throws {
        let j = try GoldenVision.json("\(pair)-\(name).json")
        self.name = "\(pair)-\(name)"
        prompt = j["prompt"] as! String
        images = (j["images"] as! [[String: Any]]).map { ($0["file"] as! String, $0["stb_rgb_fnv1a64"] as! String) }
        chunks = (j["chunks"] as! [[String: Any]]).map { c in
            if c["type"] as! String == "text" { return Chunk(tokens: (c["tokens"] as! [Int]).map(Int32.init)) }
            return Chunk(embeddings: (c["embd"] as! [NSNumber]).map(\.floatValue))
        }
        positions = j["n_past"] as! Int
        logits = (j["logits"] as! [NSNumber]).map(\.floatValue)
        greedy = (j["greedy"] as! [Int]).map(Int32.init)
        margins = (j["margins"] as! [NSNumber]).map(\.floatValue)
    }

    /// The recorded cases: the prompt as GemmaEdge is given it (the chat case through its
    /// template, which llama.cpp was given already rendered).
    static let cases: [(name: String, prompt: String, chat: Bool)] = [
        ("text", "hello world the cat", false),   // no image: the text path's own distance (the floor)
        ("wide", "<__media__>hello world", false),
        ("two", "the cat <__media__> and <__media__> in", false),
        ("chat", "<__media__>describe the world", true),
    ]

    var embeddingChunks: [[Float]] { chunks.compactMap(\.embeddings) }
}

/// The tiny pairs written once per test run, and engines over them.
enum TinyPairs {
    private static let paths: [String: Result<(text: String, mmproj: String), Error>] = {
        var out: [String: Result<(text: String, mmproj: String), Error>] = [:]
        let dir = NSTemporaryDirectory() + "/gemma-edge-vision-tests-\(getpid())"
        for name in TinyVision.variants {
            out[name] = Result {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                return try TinyVision.variant(name).write(directory: dir, name: name)
            }
        }
        return out
    }()

    static func files(_ pair: String) throws -> (text: String, mmproj: String) { try paths[pair]!.get() }

    /// An engine over the pair's text model; `vision` also pairs it with the mmproj (`engine.vision`).
    static func engine(_ pair: String, threads: Int = 2, batch: Int = 64, vision: Bool = true) throws -> Engine {
        var o = EngineOptions()
        o.threads = threads
        o.context = 256
        o.batch = batch
        o.mmproj = vision ? try files(pair).mmproj : nil
        return try Engine(modelPath: files(pair).text, options: o)
    }

    static func image(_ file: String) throws -> RGBImage {
        try ImageDecoder.load(path: Fixtures.url("vision/images/\(file)").path)
    }
}

/// Largest |a - b| and the largest |b| (to read the difference against).
func maxDifference(_ a: [Float], _ b: [Float]) -> (diff: Float, scale: Float) {
    precondition(a.count == b.count)
    var d: Float = 0, s: Float = 0
    for i in a.indices {
        d = max(d, abs(a[i] - b[i]))
        s = max(s, abs(b[i]))
    }
    return (d, s)
}

/// Index of the largest value (ties: the lowest index), as the recording's greedy steps.
func argmax(_ x: UnsafeBufferPointer<Float>) -> Int32 {
    var best = 0
    for i in 1..<x.count where x[i] > x[best] { best = i }
    return Int32(best)
}
