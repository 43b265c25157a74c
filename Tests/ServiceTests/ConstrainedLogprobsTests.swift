import Foundation
import GemmaEdge
import Grammar
import Sampling
@testable import Service
import TestSupport
import XCTest

/// A grammar's allowed set reaches the sampler as a short list or as a bitmask; the choice of
/// form must change nothing a client sees: the same tokens, the same logprobs and top_logprobs.
final class ConstrainedLogprobsTests: XCTestCase {
    struct Step {
        var logprobs: TokenLogprobs
        var viaList: Bool
    }

    /// Generates under `gbnf` with the allowed set always handed over as a list (`listCapacity`
    /// the whole vocabulary) or always as a bitmask (0), recording each step's logprobs.
    static func run(_ engine: Engine, gbnf: String, parameters: SamplingParameters, listCapacity: Int) throws -> [Step] {
        let cache = try engine.grammars.maskCache(gbnf: gbnf)
        let c = GrammarConstraint(cache: cache, listCapacity: listCapacity)
        let sampler = Sampler(parameters: parameters, vocabularySize: engine.config.vocabularySize)
        sampler.constraint = c
        let session = engine.makeSession()
        try session.prefill(try engine.tokenizer.encode("hello", addBOS: true))
        var steps: [Step] = []
        try session.generate(maxTokens: 40, sampler: sampler, stopTokens: engine.stopTokens) { id in
            let allowed = c.lastAllowed
            var viaList = false
            if case .list = allowed { viaList = true }
            let lp = TokenLogprobs(logits: UnsafeBufferPointer(session.logits), chosen: id, k: 5, allowed: allowed)
            for alt in lp.top { XCTAssertTrue(c.isAllowed(alt.id), "top_logprobs lists a token the grammar forbids") }
            steps.append(Step(logprobs: lp, viaList: viaList))
            return true
        }
        XCTAssertEqual(c.refusedTokens, 0)
        return steps
    }

    func testListAndBitmaskPathsGiveTheSameTokensAndLogprobs() throws {
        var o = EngineOptions()
        o.threads = 1
        let engine = try Engine(modelPath: Models.small, options: o)
        var sampled = SamplingParameters()
        sampled.temperature = 1.0
        sampled.seed = 7
        sampled.presencePenalty = 0.5
        sampled.repetitionPenalty = 1.1
        let gbnfs = [JSONSchemaGrammar.anyJSON(objectOnly: true),
                     try JSONSchemaGrammar.gbnf(schema: StructuredOutputTests.schemas[1].schema)]
        for gbnf in gbnfs {
            for p in [SamplingParameters.greedy, sampled] {
                let list = try Self.run(engine, gbnf: gbnf, parameters: p, listCapacity: engine.config.vocabularySize)
                let mask = try Self.run(engine, gbnf: gbnf, parameters: p, listCapacity: 0)
                XCTAssertGreaterThan(list.count, 1)
                XCTAssertTrue(list.allSatisfy(\.viaList) && !mask.contains(where: \.viaList), "a path was not forced")
                XCTAssertEqual(list.map(\.logprobs.id), mask.map(\.logprobs.id), "the paths chose different tokens (t=\(p.temperature))")
                for (a, b) in zip(list, mask) {
                    XCTAssertEqual(a.logprobs.logprob, b.logprobs.logprob, accuracy: 1e-5)
                    XCTAssertEqual(a.logprobs.top.map(\.id), b.logprobs.top.map(\.id))
                    for (x, y) in zip(a.logprobs.top, b.logprobs.top) { XCTAssertEqual(x.logprob, y.logprob, accuracy: 1e-5) }
                    // Renormalised over the allowed tokens: the chosen token is one of them.
                    XCTAssertTrue(a.logprobs.logprob.isFinite && a.logprobs.logprob <= 0)
                    XCTAssertLessThanOrEqual(a.logprobs.top.reduce(Float(0)) { $0 + expf($1.logprob) }, 1.0001)
                }
            }
        }
    }
}
