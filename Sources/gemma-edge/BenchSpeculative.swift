import Base
import Foundation
import GemmaEdge
import Gemma3
import Sampling

/// `bench`'s speculative-decoding measurements: what verifying k drafts in one batch costs against
/// a decode step (`--verify-max`), and greedy decoding of a real prompt plainly and speculatively,
/// alternating, with the acceptance rate (`--speculative` with `--prompt-file`).
extension Bench {
    /// Median of `x` (0 when empty).
    static func median(_ x: [Double]) -> Double {
        guard !x.isEmpty else { return 0 }
        let s = x.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Times a batch of the last token and k drafts (k = 0 is a decode step) behind `depth` cached
    /// positions: the forward pass, the logits of every position, the rollback of the cache.
    func benchVerification(engine: Engine, depth: Int, maxK: Int) throws {
        let session = engine.makeSession()
        let vocab = engine.config.vocabularySize
        var rng = Xoshiro256(seed: 99)
        try session.append((0..<depth).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) })
        let batch = (0...maxK).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: (maxK + 1) * vocab)
        defer { logits.deallocate() }
        let model = engine.model
        let perRound = 8
        var times = Array(repeating: [Double](), count: maxK + 1)
        for rep in 0...repetitions {
            for k in 0...maxK {
                let t0 = monotonicSeconds()
                for _ in 0..<perRound {
                    try batch.withUnsafeBufferPointer {
                        try model.evaluate(UnsafeBufferPointer(rebasing: $0[0...k]), cache: session.cache, state: engine.state)
                    }
                    model.logits(engine.state, rows: 0..<(k + 1), into: logits)
                    session.cache.truncate(to: depth)
                }
                if rep > 0 { times[k].append((monotonicSeconds() - t0) / Double(perRound)) }
            }
        }
        let step = Self.median(times[0])
        var rows: [[String: Any]] = []
        for k in 0...maxK {
            let t = Self.median(times[k])
            rows.append(["k": k, "ms": t * 1000, "vs_decode_step": t / step, "ceiling_tok_s": Double(k + 1) / t])
            if !json {
                emit(String(format: "verify k=%d: %.2f ms (%.2f x a decode step; %.1f tok/s if every draft is kept)\n",
                            k, t * 1000, t / step, Double(k + 1) / t))
            }
        }
        if json {
            try printJSON(["verify": rows, "depth": depth, "threads": engine.options.threads, "r": repetitions,
                           "kernels": engine.model.compute.kernels.name])
        }
    }

    /// Greedy decoding of `text` (chat template) plainly and with `drafter`, alternating, `-n`
    /// tokens at most (stopping at the end of the turn); medians of the decode speed after a
    /// warm-up round, the acceptance rate, and whether the outputs are the same.
    func benchSpeculative<D: Drafter>(engine: Engine, text: String, drafter: D) throws {
        let items = try engine.items(for: MultimodalPrompt(text), chatTemplate: true)
        let session = engine.makeSession()
        var plain: [Double] = [], fast: [Double] = []
        var outputs: [[Int32]] = [[], []]
        var stats = SpeculationStats()
        let stops = engine.stopTokens
        for rep in 0...repetitions {
            for speculative in [false, true] {
                try session.prefill(items)  // untimed: the prompt is the same every round
                let sampler = Sampler(parameters: .greedy, vocabularySize: engine.config.vocabularySize)
                var out: [Int32] = []
                out.reserveCapacity(generate)
                var round = SpeculationStats()
                var length = DraftLength(limit: engine.options.maxDraft)
                let t0 = monotonicSeconds()
                if speculative {
                    try session.generate(maxTokens: generate, sampler: sampler, stopTokens: stops, drafter: drafter,
                                         length: &length, stats: &round) { out.append($0); return true }
                } else {
                    try session.generate(maxTokens: generate, sampler: sampler, stopTokens: stops) { out.append($0); return true }
                }
                let s = monotonicSeconds() - t0
                outputs[speculative ? 1 : 0] = out
                guard rep > 0 else { continue }
                if speculative {
                    fast.append(Double(out.count) / s)
                    stats.verifications += round.verifications
                    stats.plainSteps += round.plainSteps
                    stats.drafted += round.drafted
                    stats.accepted += round.accepted
                } else {
                    plain.append(Double(out.count) / s)
                }
            }
        }
        let same = outputs[0] == outputs[1]
        let (p, f) = (Self.median(plain), Self.median(fast))
        if json {
            try printJSON(["plain_tok_s": p, "speculative_tok_s": f, "speedup": f / p, "acceptance": stats.acceptanceRate,
                           "drafted": stats.drafted, "accepted": stats.accepted, "verifications": stats.verifications,
                           "plain_steps": stats.plainSteps, "tokens": outputs[1].count, "identical": same,
                           "prompt_tokens": engine.positions(of: items), "threads": engine.options.threads,
                           "mode": speculation.speculative.rawValue, "draft_max": engine.options.maxDraft, "r": repetitions,
                           "plain_runs": plain, "speculative_runs": fast])
        } else {
            emit(String(format: "%d prompt tokens, %d generated; plain %.2f tok/s, speculative (%@) %.2f tok/s (x%.2f); "
                        + "%d of %d drafts accepted (%.1f %%), %d verifications, %d plain steps; outputs %@\n",
                        engine.positions(of: items), outputs[1].count, p, speculation.speculative.rawValue, f, f / p,
                        stats.accepted, stats.drafted, stats.acceptanceRate * 100, stats.verifications, stats.plainSteps,
                        same ? "identical" : "DIFFERENT"))
        }
    }
}
