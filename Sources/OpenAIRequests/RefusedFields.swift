/// Request fields this server does not implement but that would change the output: each is
/// refused with a 400 naming it, never ignored (a client ported from llama-server or OpenAI must
/// not get unconstrained text without knowing). Fields that change nothing (`user`, `metadata`,
/// `store`, `cache_prompt`: the server always reuses cached prefixes) are accepted.
enum RefusedFields {
    enum Endpoint { case chat, completions }

    /// Field -> why it is refused (what to use instead, when there is something).
    static let refused: [String: String] = [
        "functions": "use `tools` (the legacy `functions` field is not supported)",
        "function_call": "use `tool_choice` (the legacy `function_call` field is not supported)",
        "logit_bias": "logit bias is not supported",
        "n_probs": "use `logprobs` (completions) or `top_logprobs` (chat)",
        "repeat_penalty": "use `repetition_penalty`",
        "repeat_last_n": "the repetition window is fixed at 64 tokens",
        "penalty_last_n": "the repetition window is fixed at 64 tokens",
        "mirostat": "Mirostat sampling is not supported",
        "mirostat_tau": "Mirostat sampling is not supported",
        "mirostat_eta": "Mirostat sampling is not supported",
        "typical_p": "typical sampling is not supported",
        "tfs_z": "tail-free sampling is not supported",
        "top_n_sigma": "top-n-sigma sampling is not supported",
        "xtc_probability": "XTC sampling is not supported",
        "xtc_threshold": "XTC sampling is not supported",
        "dry_multiplier": "DRY sampling is not supported",
        "dry_base": "DRY sampling is not supported",
        "dry_allowed_length": "DRY sampling is not supported",
        "dynatemp_range": "dynamic temperature is not supported",
        "samplers": "the sampler order is fixed",
        "n_keep": "context shifting is not supported",
        "n_predict": "use `max_tokens`",
        "id_slot": "slots are chosen by the prompt cache",
        "prediction": "predicted outputs are not supported",
        "audio": "audio output is not supported",
        "modalities": "only text output is supported",
        "reasoning_effort": "this model has no reasoning mode",
        "web_search_options": "web search is not supported",
        "post_sampling_probs": "logprobs are reported before sampling",
    ]

    /// Throws for the first refused field the body holds (the constrained-output fields are
    /// read by `OutputConstraint`).
    static func check(_ decoder: any Decoder, endpoint: Endpoint) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
            let name = key.stringValue
            if try c.decodeNil(forKey: key) { continue }
            if let why = refused[name] {
                throw RequestError("`\(name)` is not supported by this server: \(why)", param: name)
            }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
