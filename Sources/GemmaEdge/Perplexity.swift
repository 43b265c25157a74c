import Gemma3

/// One scored position of a perplexity run.
public struct ScoredToken: Sendable, Equatable {
    public var token: Int32
    /// The most likely token at this position (from the tokens before it).
    public var top1: Int32
    /// Natural-log probability of `token`.
    public var logprob: Double
}

public struct PerplexityResult: Sendable {
    public var positions: [ScoredToken]
    public var perplexity: Double {
        guard !positions.isEmpty else { return .nan }
        return exp(-positions.reduce(0) { $0 + $1.logprob } / Double(positions.count))
    }
}

extension Engine {
    /// Perplexity of `tokens` (tokenised without BOS): consecutive chunks of ctx - 1 tokens (the
    /// last may be shorter), each evaluated from a fresh state as BOS + chunk; every chunk token is
    /// scored from the tokens before it. `maxChunks` limits the run.
    public func perplexity(tokens: [Int32], ctx: Int, maxChunks: Int = .max,
                           progress: ((Int, Int) -> Void)? = nil) throws -> PerplexityResult {
        guard ctx >= 2, ctx <= options.context else {
            throw EngineError.invalidOption("--ctx must be between 2 and the engine context \(options.context)")
        }
        guard let bos = tokenizer.specialTokens.bos else { throw EngineError.invalidOption("the vocabulary has no <bos>") }
        guard !tokens.isEmpty else { throw EngineError.emptyPrompt }
        let session = makeSession(context: ctx)
        let vocab = config.vocabularySize
        let batch = state.maxBatch
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: batch * vocab)
        defer { logits.deallocate() }
        var result = PerplexityResult(positions: [])
        result.positions.reserveCapacity(tokens.count)
        let chunkCount = min(maxChunks, (tokens.count + ctx - 2) / (ctx - 1))
        for chunk in 0..<chunkCount {
            let lo = chunk * (ctx - 1)
            let hi = min(tokens.count, lo + ctx - 1)
            let input = [bos] + tokens[lo..<hi]
            session.reset()
            // Evaluate in batches; position i predicts input[i + 1].
            var i = 0
            while i < input.count {
                let n = min(batch, input.count - i)
                try input.withUnsafeBufferPointer {
                    try model.evaluate(UnsafeBufferPointer(rebasing: $0[i..<(i + n)]), cache: session.cache, state: state)
                }
                let scored = min(n, input.count - 1 - i)  // the last input position predicts nothing
                if scored > 0 {
                    model.logits(state, rows: 0..<scored, into: logits)
                    for r in 0..<scored {
                        result.positions.append(Self.score(logits + r * vocab, vocab, actual: input[i + r + 1]))
                    }
                }
                i += n
            }
            progress?(chunk + 1, chunkCount)
        }
        return result
    }

    static func score(_ l: UnsafeMutablePointer<Float>, _ n: Int, actual: Int32) -> ScoredToken {
        var best = 0
        var m = -Float.infinity
        for j in 0..<n where l[j] > m { m = l[j]; best = j }
        var sum = 0.0
        for j in 0..<n { sum += exp(Double(l[j] - m)) }
        let lp = Double(l[Int(actual)] - m) - log(sum)
        return ScoredToken(token: actual, top1: Int32(best), logprob: lp)
    }
}

#if canImport(Glibc)
import Glibc
#endif
