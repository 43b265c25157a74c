import Foundation
import Sampling
import Tokenizer

/// The log-probability of one generated token and of the most likely alternatives at its step,
/// from the logits it was drawn from (after the repetition, presence and frequency penalties,
/// before top-k/top-p and temperature, as llama-server reports them).
///
/// Under a grammar the distribution is the one the sampler draws from: the logits of the allowed
/// tokens only, renormalised over them, and `top` lists allowed tokens only. llama-server reports
/// something else: by default the model's raw distribution before any sampler (its top list can
/// hold tokens the grammar forbids, and the chosen token's probability ignores the grammar), or
/// with `post_sampling_probs` the probabilities after its whole chain (grammar, top-k, top-p,
/// temperature). We take the grammar into account because it is part of the model of the answer
/// (a client reading confidences of a constrained field wants them among the values the field can
/// take), and stop before top-k and temperature as the unconstrained logprobs do. It also does not
/// depend on the form the allowed set took: the short-list path (only the allowed logits read) and
/// the bitmask path (the others set to -infinity) give the same numbers.
struct TokenLogprobs: Sendable, Equatable {
    var id: Int32
    var logprob: Float
    /// The `k` most likely tokens at this step, most likely first.
    var top: [(id: Int32, logprob: Float)]

    static func == (a: TokenLogprobs, b: TokenLogprobs) -> Bool {
        a.id == b.id && a.logprob == b.logprob && a.top.map(\.id) == b.top.map(\.id) && a.top.map(\.logprob) == b.top.map(\.logprob)
    }

    /// Log-softmax of `logits` at `chosen`, and the `k` largest (at most 20); over the `allowed`
    /// tokens only when a constraint gave the set (a list in id order, or a bitmask).
    init(logits: UnsafeBufferPointer<Float>, chosen: Int32, k: Int, allowed: AllowedTokens? = nil) {
        // The allowed ids in increasing order, whichever form: both forms visit the same logits
        // in the same order, so the sums round alike.
        func each(_ body: (Int) -> Void) {
            switch allowed {
            case nil:
                for i in 0..<logits.count { body(i) }
            case .list(let ids):
                for j in 0..<ids.count { body(Int(ids[j])) }
            case .mask(let bits):
                for w in 0..<bits.count {
                    var word = bits[w]
                    while word != 0 {
                        let i = w << 6 | word.trailingZeroBitCount
                        if i < logits.count { body(i) }
                        word &= word - 1
                    }
                }
            }
        }
        var maxLogit = -Float.infinity
        each { i in if logits[i] > maxLogit { maxLogit = logits[i] } }
        var sum: Double = 0
        each { i in if logits[i].isFinite { sum += Double(expf(logits[i] - maxLogit)) } }
        let logZ = maxLogit + Float(log(sum))
        var chosenAllowed = allowed == nil
        each { i in if i == Int(chosen) { chosenAllowed = true } }
        id = chosen
        let c = Int(chosen)
        logprob = chosenAllowed && c >= 0 && c < logits.count && logits[c].isFinite ? logits[c] - logZ : -.infinity
        // The k largest by one pass with a small sorted list (k <= 20).
        var best: [(id: Int32, logit: Float)] = []
        best.reserveCapacity(k + 1)
        if k > 0 {
            each { i in
                let v = logits[i]
                guard v.isFinite, best.count < k || v > best[best.count - 1].logit else { return }
                var j = best.count
                while j > 0 && best[j - 1].logit < v { j -= 1 }
                best.insert((Int32(i), v), at: j)
                if best.count > k { best.removeLast() }
            }
        }
        top = best.map { ($0.id, $0.logit - logZ) }
    }
}

/// Writes logprobs in OpenAI's two shapes: chat (`logprobs.content[]` with token, logprob, bytes
/// and `top_logprobs`) and legacy completions (`tokens`, `token_logprobs`, `top_logprobs` maps,
/// `text_offset`).
struct LogprobsFormatter {
    let vocabulary: Vocabulary

    /// The bytes a token stands for (a byte-fallback token is one raw byte, which may be part of
    /// a character) and its text (U+FFFD for such partial bytes).
    func token(_ id: Int32) -> (text: String, bytes: [UInt8]) {
        var bytes: [UInt8] = []
        if id >= 0 && Int(id) < vocabulary.count { vocabulary.appendDecodedBytes(id, includeControl: true, to: &bytes) }
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    private func value(_ x: Float) -> JSONValue {
        // JSON has no -infinity: a token the penalties ruled out gets the smallest float.
        .double(x.isFinite ? Double(x) : -9999)
    }

    /// `{"content": [...], "refusal": null}` for chat.
    func chat(_ entries: [TokenLogprobs]) -> JSONValue {
        .object(["content": .array(entries.map { e in
            let t = token(e.id)
            return .object([
                "token": .string(t.text), "logprob": value(e.logprob), "bytes": .array(t.bytes.map { .int(Int($0)) }),
                "top_logprobs": .array(e.top.map { alt in
                    let a = token(alt.id)
                    return .object(["token": .string(a.text), "logprob": value(alt.logprob),
                                    "bytes": .array(a.bytes.map { .int(Int($0)) })])
                }),
            ])
        }), "refusal": .null])
    }

    /// The completions shape; `offset` is the text offset of the first token.
    func completion(_ entries: [TokenLogprobs], offset: Int) -> JSONValue {
        var offsets: [JSONValue] = []
        var at = offset
        var tokens: [JSONValue] = []
        for e in entries {
            let t = token(e.id)
            tokens.append(.string(t.text))
            offsets.append(.int(at))
            at += t.text.utf16.count
        }
        return .object([
            "tokens": .array(tokens),
            "token_logprobs": .array(entries.map { value($0.logprob) }),
            "top_logprobs": .array(entries.map { e in
                var m: [String: JSONValue] = [:]
                for alt in e.top {
                    let key = token(alt.id).text
                    if m[key] == nil { m[key] = value(alt.logprob) }
                }
                return .object(m)
            }),
            "text_offset": .array(offsets),
        ])
    }
}
