/// A constraint on which tokens may be sampled (a grammar, a JSON schema), applied by `Sampler`
/// before it chooses: only allowed tokens can win, and the constraint hears every token chosen.
public protocol TokenConstraint: AnyObject {
    /// The tokens allowed next. The buffers stay valid until the next call.
    func allowedTokens() -> AllowedTokens
    /// Called with the token the sampler chose.
    func accept(_ token: Int32)
}

/// The allowed set, in whichever form is cheaper: a short list of ids (the sampler then looks at
/// those logits only), or a bitmask over the vocabulary (bit `id & 63` of word `id >> 6`).
public enum AllowedTokens {
    case list(UnsafeBufferPointer<Int32>)
    case mask(UnsafeBufferPointer<UInt64>)
}

extension Sampler {
    /// Samples among the allowed tokens only, then tells the constraint; `noToken` (and nothing
    /// told) when every allowed logit is NaN.
    func sampleConstrained(_ logits: UnsafeMutableBufferPointer<Float>, _ constraint: any TokenConstraint) -> Int32 {
        let chosen: Int32
        switch constraint.allowedTokens() {
        case .list(let allowed):
            precondition(!allowed.isEmpty, "a constraint allowed no token")
            // Gather the allowed logits and run the usual chain on them alone.
            let n = allowed.count
            if candidateLogits.count < n {
                candidateLogits.deallocate()
                candidateLogits = .allocate(capacity: max(n, 1024))
            }
            let compact = UnsafeMutableBufferPointer(rebasing: candidateLogits[0..<n])
            for k in 0..<n { compact[k] = logits[Int(allowed[k])] }
            let i = choose(compact)
            guard i >= 0 else { return Self.noToken }
            chosen = allowed[Int(i)]
        case .mask(let bits):
            // Disallowed logits become -infinity; a pass over the words, skipping full ones.
            var first = -1
            for w in 0..<bits.count {
                let word = bits[w]
                if first < 0, word != 0 { first = w << 6 | word.trailingZeroBitCount }
                if word == ~0 { continue }
                let base = w << 6
                for b in 0..<min(64, logits.count - base) where (word >> UInt64(b)) & 1 == 0 {
                    logits[base + b] = -.infinity
                }
            }
            precondition(first >= 0, "a constraint allowed no token")
            let t = choose(logits)
            guard t >= 0 else { return Self.noToken }
            // When every allowed logit is -infinity or NaN the choice may be anything: keep it allowed.
            chosen = (bits[Int(t) >> 6] >> UInt64(t & 63)) & 1 != 0 ? t : Int32(first)
        }
        constraint.accept(chosen)
        return chosen
    }
}
