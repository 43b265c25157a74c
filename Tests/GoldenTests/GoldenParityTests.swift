import Foundation
import GemmaEdge
import Sampling
import TestSupport
import XCTest

/// GemmaEdge against the peer, llama.cpp, on the real Gemma 3 270M: the fixtures in
/// Tests/Fixtures/golden were recorded by Benchmarks/peer/record-golden.sh.
///
/// The peer is not bit-reproducible across its own kernels: with flash attention off instead of
/// on, its teacher-forced top-1 agreement with itself is about 95 % and its greedy text diverges
/// at near-tied steps. The recording keeps both runs, and these tests hold GemmaEdge to the
/// agreement the peer has with itself, measured from the fixtures, never to a number picked here.
final class GoldenParityTests: XCTestCase {
    static let engine: Result<Engine, Error> = Result {
        var o = EngineOptions()
        o.context = 4096
        o.batch = 128
        o.threads = 2
        return try Engine(modelPath: try RealModel.require(), options: o)
    }

    func engine() throws -> Engine { try Self.engine.get() }

    struct Scored { var tokens: [Int32]; var top1: [Int32]; var logprob: [Double] }

    /// The per-token records of a ppl fixture and how many chunks they cover.
    func loadPerplexity(_ name: String) throws -> (Scored, chunks: Int, ctx: Int) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("golden/\(name)"))) as! [String: Any]
        var s = Scored(tokens: [], top1: [], logprob: [])
        var chunks = 0
        for c in json["chunks"] as! [[String: Any]] {
            guard let t = c["tokens"] as? [Int] else { continue }
            s.tokens += t.map(Int32.init)
            s.top1 += (c["top1"] as! [Int]).map(Int32.init)
            s.logprob += (c["logprob"] as! [Double])
            chunks += 1
        }
        return (s, chunks, json["ctx"] as! Int)
    }

    static func ppl(_ lp: ArraySlice<Double>) -> Double { exp(-lp.reduce(0, +) / Double(lp.count)) }

    static func agreement(_ a: [Int32], _ b: [Int32]) -> Double {
        Double(zip(a, b).filter { $0 == $1 }.count) / Double(min(a.count, b.count))
    }

    func checkPerplexity(_ name: String) throws {
        let e = try engine()
        let (gold, chunks, ctx) = try loadPerplexity(name)
        let text = try String(contentsOf: Fixtures.url("texts/ppl-text.txt"), encoding: .utf8)
        let tokens = try e.tokenizer.encode(text, addBOS: false)
        let ours = try e.perplexity(tokens: tokens, ctx: ctx, maxChunks: chunks)
        XCTAssertEqual(ours.positions.map(\.token), gold.tokens, "\(name): scored token ids differ")
        let ourPPL = ours.perplexity, goldPPL = Self.ppl(gold.logprob[...])
        let rel = abs(ourPPL / goldPPL - 1)
        XCTAssertLessThan(rel, 0.01, "\(name): perplexity \(ourPPL) vs peer \(goldPPL)")
        let top1 = Self.agreement(ours.positions.map(\.top1), gold.top1)
        let floor = try peerSelfAgreement()
        print("golden \(name): ppl \(ourPPL) vs \(goldPPL) (\(String(format: "%.3f", rel * 100)) %), "
              + "top-1 agreement \(String(format: "%.4f", top1)), peer with itself \(String(format: "%.4f", floor))")
        XCTAssertGreaterThanOrEqual(top1, floor - 0.015, "\(name): top-1 agreement below the peer's own")
    }

    /// Teacher-forced top-1 agreement of the peer with itself (flash attention on vs off).
    func peerSelfAgreement() throws -> Double {
        let (on, _, _) = try loadPerplexity("ppl-512.json")
        let (off, _, _) = try loadPerplexity("ppl-512-noflash.json")
        XCTAssertEqual(on.tokens, off.tokens)
        return Self.agreement(on.top1, off.top1)
    }

    func testPerplexityAt512() throws { try checkPerplexity("ppl-512.json") }

    /// Chunks of 2,047 tokens run far past the 512-token window: this only holds if the
    /// sliding-window masks and the local rings are right after they wrap.
    func testPerplexityAt2048() throws { try checkPerplexity("ppl-2048.json") }

    /// One chunk of 4,095 tokens: eight times the window, and past the 2048 that the other cases
    /// reach, so the global layers attend over more positions than anything else here checks. The
    /// peer ran with swa_full (full-size caches for every layer), so its local layers cannot be
    /// wrong by a ring; ours run on rings of exactly 512 slots.
    func testPerplexityAt4096() throws { try checkPerplexity("ppl-4096.json") }

    struct GreedyCase { var name: String; var prompt: String; var promptIDs: [Int32]; var generated: [Int32]; var margins: [Double] }

    func loadGreedy(_ name: String) throws -> [GreedyCase] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("golden/\(name)"))) as! [String: Any]
        return (json["cases"] as! [[String: Any]]).map {
            GreedyCase(name: $0["name"] as! String, prompt: $0["prompt"] as! String,
                       promptIDs: ($0["prompt_ids"] as! [Int]).map(Int32.init),
                       generated: ($0["generated_ids"] as! [Int]).map(Int32.init),
                       margins: $0["margins"] as! [Double])
        }
    }

    /// Along the peer's own greedy text, GemmaEdge picks the same token at every step the peer
    /// did not find close (top-1 ahead of top-2 by at least 0.5 in logits).
    func testGreedyStepsAgreeWhereThePeerIsDecisive() throws {
        let e = try engine()
        var decisive = 0
        for c in try loadGreedy("greedy.json") {
            XCTAssertEqual(try e.tokenizer.encode(c.prompt, addBOS: true), c.promptIDs, "\(c.name): prompt ids")
            let s = e.makeSession(context: 256)
            try s.append(c.promptIDs)
            for (i, expected) in c.generated.enumerated() {
                let ours = Sampler.argmax(UnsafeBufferPointer(s.logits))
                if c.margins[i] >= 0.5 {
                    decisive += 1
                    XCTAssertEqual(ours, expected, "\(c.name) step \(i): peer margin \(c.margins[i])")
                }
                try s.append(token: expected)
            }
        }
        XCTAssertGreaterThan(decisive, 150, "too few decisive steps to mean anything")
    }

    /// Free-running greedy generation stays on the peer's tokens about as long as the peer stays
    /// on its own when only its attention kernel changes: the mean identical prefix over the
    /// prompts is at least 80 % of the peer's. (Counting prompts with 16+ identical tokens was
    /// tried first and is too coarse: with 11 prompts, one prompt moving from 16 to 15 tokens
    /// changes the verdict; the peer's own runs give 17, 17 and 16 on three of them.) Wherever
    /// the text diverges, the peer itself had a near tie.
    func testGreedyGenerationPrefixes() throws {
        let e = try engine()
        let gold = try loadGreedy("greedy.json")
        let peerOther = try loadGreedy("greedy-noflash.json")
        func prefix(_ a: [Int32], _ b: [Int32]) -> Int { zip(a, b).prefix { $0 == $1 }.count }
        let peerPrefixes = zip(gold, peerOther).map { prefix($0.generated, $1.generated) }
        var ours: [Int] = []
        var report: [String] = []
        for c in gold {
            let s = e.makeSession(context: 256)
            try s.append(c.promptIDs)
            var out: [Int32] = []
            try s.generate(maxTokens: c.generated.count, sampler: Sampler(parameters: .greedy, vocabularySize: e.config.vocabularySize),
                           stopTokens: []) { out.append($0); return true }
            let p = prefix(out, c.generated)
            ours.append(p)
            report.append("\(c.name) \(p)")
            if p < c.generated.count {
                XCTAssertLessThan(c.margins[p], 0.5, "\(c.name): diverged at step \(p) where the peer's margin is \(c.margins[p])")
            }
        }
        let mean = Double(ours.reduce(0, +)) / Double(ours.count)
        let peerMean = Double(peerPrefixes.reduce(0, +)) / Double(peerPrefixes.count)
        print("greedy identical prefixes: \(report.joined(separator: ", ")); mean \(mean), peer with itself \(peerPrefixes) mean \(peerMean)")
        XCTAssertGreaterThanOrEqual(mean, 0.8 * peerMean, "mean identical greedy prefix")
    }
}
