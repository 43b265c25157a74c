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
            switch v {
            case .array(.int32(let a)): types = a.map(TokenType.init(storedValue:))
            case .array(.uint32(let a)): types = a.map { TokenType(storedValue: Int32(truncatingIfNeeded: $0)) }
            default:
                throw TokenizerError("\(file.path): tokenizer.ggml.token_type is not an array of int32")
            }
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
        do {
            try self.init(tokens: tokens, scores: scores, types: types, model: model, addBOS: addBOS,
                          addSpacePrefix: addSpacePrefix, specialOverrides: overrides,
                          llamaCppOverrides: llamaCppOverrides)
        } catch let e as TokenizerError {
            throw TokenizerError("\(file.path): \(e.message)")
        }
    }
}
