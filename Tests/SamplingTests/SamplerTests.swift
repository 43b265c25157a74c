import Sampling
import XCTest

final class SamplerTests: XCTestCase {
    func sample(_ logits: [Float], _ p: SamplingParameters, recent: [Int32] = []) -> Int32 {
        let s = Sampler(parameters: p, vocabularySize: logits.count)
        var l = logits
        return l.withUnsafeMutableBufferPointer { buf in recent.withUnsafeBufferPointer { s.sample(buf, recent: $0) } }
    }

    func testGreedyPicksTheLargestAndTheLowestIdOnTies() {
        XCTAssertEqual(sample([0.1, 3, -1, 2.9], .greedy), 1)
        XCTAssertEqual(sample([5, 1, 5], .greedy), 0)
        XCTAssertEqual(sample([.nan, 1, 2], .greedy), 2)
    }

    func testSameSeedSameTokensDifferentSeedDifferentTokens() {
        var p = SamplingParameters()
        p.temperature = 1.5
        p.topK = 0
        p.topP = 1
        p.minP = 0
        let logits = (0..<200).map { Float($0 % 17) * 0.1 }
        func run(_ seed: UInt64) -> [Int32] {
            p.seed = seed
            let s = Sampler(parameters: p, vocabularySize: logits.count)
            return (0..<64).map { _ in
                var l = logits
                return l.withUnsafeMutableBufferPointer { s.sample($0, recent: UnsafeBufferPointer(start: nil, count: 0)) }
            }
        }
        XCTAssertEqual(run(1), run(1))
        XCTAssertNotEqual(run(1), run(2))
    }

    func testTopKKeepsOnlyTheKBest() {
        var p = SamplingParameters()
        p.temperature = 100  // nearly uniform among what is kept
        p.topK = 3
        p.topP = 1
        p.minP = 0
        let logits: [Float] = [1, 9, 2, 8, 3, 7, 0]
        let s = Sampler(parameters: p, vocabularySize: logits.count)
        var seen = Set<Int32>()
        for _ in 0..<300 {
            var l = logits
            seen.insert(l.withUnsafeMutableBufferPointer { s.sample($0, recent: UnsafeBufferPointer(start: nil, count: 0)) })
        }
        XCTAssertEqual(seen, [1, 3, 5])
    }

    func testTopPAndMinPCutTheTail() {
        var p = SamplingParameters()
        p.temperature = 1
        p.topK = 0
        p.minP = 0
        p.topP = 0.5
        // Probabilities ~ [0.6, 0.3, 0.1]: top-p 0.5 keeps only the first.
        let logits: [Float] = [log(0.6), log(0.3), log(0.1)]
        for seed in 0..<50 as Range<UInt64> {
            p.seed = seed
            XCTAssertEqual(sample(logits, p), 0)
        }
        p.topP = 1
        p.minP = 0.4  // keeps tokens at least 0.4 x 0.6 = 0.24 likely: ids 0 and 1
        var seen = Set<Int32>()
        for seed in 0..<200 as Range<UInt64> {
            p.seed = seed
            seen.insert(sample(logits, p))
        }
        XCTAssertEqual(seen, [0, 1])
    }

    func testDrawFrequenciesFollowTheDistribution() {
        var p = SamplingParameters()
        p.temperature = 1
        p.topK = 0
        p.topP = 1
        p.minP = 0
        let probs: [Float] = [0.5, 0.25, 0.125, 0.125]
        let s = Sampler(parameters: p, vocabularySize: 4)
        var counts = [0, 0, 0, 0]
        let n = 20000
        for _ in 0..<n {
            var l = probs.map { log($0) }
            counts[Int(l.withUnsafeMutableBufferPointer { s.sample($0, recent: UnsafeBufferPointer(start: nil, count: 0)) })] += 1
        }
        for (c, q) in zip(counts, probs) { XCTAssertEqual(Double(c) / Double(n), Double(q), accuracy: 0.015) }
    }

    func testTemperatureSharpens() {
        var p = SamplingParameters()
        p.topK = 0
        p.topP = 1
        p.minP = 0
        // At T = 0.02 token 1 is exp(-0.2 / 0.02) = 4.5e-5 as likely as token 0.
        p.temperature = 0.02
        let logits: [Float] = [1.0, 0.8, 0.2]
        for seed in 0..<100 as Range<UInt64> {
            p.seed = seed
            XCTAssertEqual(sample(logits, p), 0)
        }
    }

    func testRepetitionPenaltyAppliesOncePerDistinctToken() {
        var p = SamplingParameters.greedy
        p.repetitionPenalty = 2
        // Token 0 was seen (twice): 4 -> 2, below token 1's 3.
        XCTAssertEqual(sample([4, 3, 1], p, recent: [0, 0]), 1)
        // Negative logits get more negative: -1 -> -2 loses to -1.5.
        XCTAssertEqual(sample([-1, -1.5], p, recent: [0]), 1)
        // Only the window counts.
        p.repetitionWindow = 1
        XCTAssertEqual(sample([4, 3, 1], p, recent: [0, 2]), 0)
    }

    func testValidation() {
        var p = SamplingParameters()
        XCTAssertNil(p.validate())
        p.temperature = -1
        XCTAssertNotNil(p.validate())
        p = SamplingParameters(); p.topP = 0
        XCTAssertNotNil(p.validate())
        p = SamplingParameters(); p.minP = 2
        XCTAssertNotNil(p.validate())
        p = SamplingParameters(); p.repetitionPenalty = 0
        XCTAssertNotNil(p.validate())
        p = SamplingParameters(); p.temperature = .infinity
        XCTAssertNotNil(p.validate())
    }
}
