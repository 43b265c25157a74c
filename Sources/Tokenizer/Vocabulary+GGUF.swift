import GGUF

extension Vocabulary {
    /// Reads the vocabulary stored in a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// Requires `tokenizer.ggml.model = "llama"` (SentencePiece) and `tokenizer.ggml.tokens`;
    /// `scores` and `token_type` must have one entry per piece when present. Missing flags take
    /// llama.cpp's SentencePiece defaults (`add_bos_token` true, `add_space_prefix` true).
    /// `llamaCppOverrides` is passed on to `init(tokens:...)`.
    public convenience init(gguf file: GGUFFile, llamaCppOverrides: Bool = true) throws {
        let model: String
        do {
            model = try file.string("tokenizer.ggml.model")
        } catch {
            throw TokenizerError("\(file.path): no tokenizer in this GGUF file (\(error))")
        }
        guard model == "llama" else {
            throw TokenizerError("\(file.path): tokenizer model '\(model)' is not supported; this runtime reads "
                                 + "SentencePiece vocabularies (tokenizer.ggml.model = \"llama\"), as Gemma uses")
        }
        let tokens: [String]
        do {
            tokens = try file.stringArray("tokenizer.ggml.tokens")
        } catch {
            throw TokenizerError("\(file.path): cannot read the vocabulary: \(error)")
        }
        var scores: [Float]?
        if let v = file.metadata["tokenizer.ggml.scores"] {
            guard case .array(.float32(let a)) = v else {
                throw TokenizerError("\(file.path): tokenizer.ggml.scores is not an array of float32")
            }
            scores = a
        }
        var types: [TokenType]?
        if let v = file.metadata["tokenizer.ggml.token_type"] {
            let stored: [Int64]
            switch v {
            case .array(.int32(let a)): stored = a.map(Int64.init)
            case .array(.uint32(let a)): stored = a.map(Int64.init)
            default:
                throw TokenizerError("\(file.path): tokenizer.ggml.token_type is not an array of int32")
            }
            // Every stored type must be one GGUF defines (0 undefined ... 6 byte).
            if let i = stored.firstIndex(where: { TokenType(rawValue: Int32(exactly: $0) ?? -1) == nil }) {
                throw TokenizerError("\(file.path): tokenizer.ggml.token_type[\(i)] is \(stored[i]), which is not a token type "
                                     + "(0 to \(TokenType.allCases.count - 1))")
            }
            types = stored.map { TokenType(storedValue: Int32($0)) }
        }
        if let s = scores, s.count != tokens.count {
            throw TokenizerError("\(file.path): the vocabulary has \(tokens.count) pieces but "
                                 + "tokenizer.ggml.scores has \(s.count) entries")
        }
        if let t = types, t.count != tokens.count {
            throw TokenizerError("\(file.path): the vocabulary has \(tokens.count) pieces but "
                                 + "tokenizer.ggml.token_type has \(t.count) entries")
        }
        let addBOS: Bool
        let addSpacePrefix: Bool
        var overrides = SpecialTokens()
        do {
            addBOS = try file.optionalBool("tokenizer.ggml.add_bos_token") ?? true
            addSpacePrefix = try file.optionalBool("tokenizer.ggml.add_space_prefix") ?? true
            overrides.bos = try file.optionalUInt32("tokenizer.ggml.bos_token_id").map { Int32(truncatingIfNeeded: $0) }
            overrides.eos = try file.optionalUInt32("tokenizer.ggml.eos_token_id").map { Int32(truncatingIfNeeded: $0) }
            overrides.unk = try file.optionalUInt32("tokenizer.ggml.unknown_token_id").map { Int32(truncatingIfNeeded: $0) }
            overrides.pad = try file.optionalUInt32("tokenizer.ggml.padding_token_id").map { Int32(truncatingIfNeeded: $0) }
        } catch {
            throw TokenizerError("\(file.path): bad tokenizer metadata: \(error)")
        }
        // Special-token ids must name pieces of this vocabulary.
        for (key, id) in [("bos", overrides.bos), ("eos", overrides.eos), ("unknown", overrides.unk),
                          ("padding", overrides.pad)] {
            if let id, !(0..<Int32(clamping: tokens.count)).contains(id) {
                throw TokenizerError("\(file.path): tokenizer.ggml.\(key)_token_id is \(UInt32(bitPattern: id)), outside the "
                                     + "vocabulary of \(tokens.count) pieces")
            }
        }
        do {
            try self.init(tokens: tokens, scores: scores, types: types, model: model, addBOS: addBOS,
                          addSpacePrefix: addSpacePrefix, specialOverrides: overrides,
                          llamaCppOverrides: llamaCppOverrides)
        } catch let e as TokenizerError {
            throw TokenizerError("\(file.path): \(e.message)")
        }
        // A model that asks for BOS must have one: dropping it silently changes every output.
        guard !addBOS || specialTokens.bos != nil else {
            throw TokenizerError("\(file.path): the model asks for a BOS token (tokenizer.ggml.add_bos_token) but the "
                                 + "vocabulary has no <bos> piece and no tokenizer.ggml.bos_token_id")
        }
    }
}
