import Sampling
import XCTest

/// OpenAI's presence and frequency penalties: over the tokens the sampler drew, not the prompt.
final class OccurrencePenaltyTests: XCTestCase {
    /// Greedy draws from the same logits each step.
    func draws(_ logits: [Float], presence: Float, frequency: Float, steps: Int, prompt: [Int32] = []) -> [Int32] {
        var p = SamplingParameters.greedy
        p.presencePenalty = presence
        p.frequencyPenalty = frequency
        let s = Sampler(parameters: p, vocabularySize: logits.count)
        return (0..<steps).map { _ in
            var l = logits
            return l.withUnsafeMutableBufferPointer { buf in prompt.withUnsafeBufferPointer { s.sample(buf, recent: $0) } }
        }
    }

    func testPresenceLowersATokenOnceItWasDrawn() {
        // 2.0 - 1.0 < 1.5: after one draw of token 0, token 1 wins, then 0 and 1 tie at 1.0 / 0.5.
        XCTAssertEqual(draws([2, 1.5, 0], presence: 1, frequency: 0, steps: 3), [0, 1, 0])
        // Without penalties greedy repeats itself.
        XCTAssertEqual(draws([2, 1.5, 0], presence: 0, frequency: 0, steps: 3), [0, 0, 0])
    }

    func testFrequencyGrowsWithEachDraw() {
        // Token 0: 3.0, 2.5, 2.0, ... after each draw; token 1 stays at 2.2.
        XCTAssertEqual(draws([3, 2.2, 0], presence: 0, frequency: 0.5, steps: 4), [0, 0, 1, 0])
    }

    func testThePromptIsNotPenalised() {
        // Token 0 appears in the prompt (recent) but was never drawn: no penalty on the first draw.
        XCTAssertEqual(draws([2, 1.5, 0], presence: 2, frequency: 2, steps: 1, prompt: [0, 0, 0]), [0])
    }

    func testNegativeValuesEncourageRepetition() {
        XCTAssertEqual(draws([2, 1.9, 0], presence: -1, frequency: 0, steps: 3), [0, 0, 0])
    }
}
