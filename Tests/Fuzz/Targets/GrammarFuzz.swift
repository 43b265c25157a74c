import Grammar

/// The GBNF parser and compiler and the JSON Schema converter on untrusted text, then a matcher
/// and the token masks of whatever compiled. Every refusal must be a `GrammarError` with a
/// message; a compiled grammar must answer masks that the matcher agrees with.
enum GrammarFuzz {
    /// Small limits so a single input stays fast.
    static let limits: GrammarLimits = {
        var l = GrammarLimits()
        l.maxTextBytes = 1 << 14
        l.maxElements = 20_000
        l.maxRules = 2_000
        l.maxStackDepth = 64
        return l
    }()

    static let vocabulary: TokenVocabulary = {
        var tokens: [[UInt8]] = [[]]
        tokens += (0..<256).map { [UInt8($0)] }
        tokens += ["{\"", "\":", "\",", "ab", "12", " ", "true", "é", "\"}"].map { Array($0.utf8) }
        return TokenVocabulary(tokens: tokens, stopTokens: [0])
    }()

    static func run(_ data: [UInt8]) throws -> Bool {
        let text = String(decoding: data, as: UTF8.self)
        var compiled = false
        for build in [{ try Grammar(gbnf: text, limits: limits) }, { try JSONSchemaGrammar.grammar(schema: text, limits: limits) }] {
            do {
                try exercise(try build(), input: data)
                compiled = true
            } catch let e as GrammarError {
                guard !e.message.isEmpty else { throw FuzzTarget.grammar.finding("a refusal without a message") }
            } catch let f as FuzzFinding {
                throw f
            } catch {
                throw FuzzTarget.grammar.finding("refused with \(type(of: error)), not a GrammarError: \(error)")
            }
        }
        return compiled
    }

    /// Feeds the input's bytes to a matcher, computing a mask before each, and checks that every
    /// byte the matcher takes was allowed by the mask when it is a token.
    private static func exercise(_ g: Grammar, input: [UInt8]) throws {
        let c = GrammarConstraint(cache: TokenMaskCache(grammar: g, vocabulary: vocabulary))
        for b in input.prefix(24) {
            _ = c.allowedTokens()
            let token = Int32(b) + 1
            let allowed = c.isAllowed(token)
            let took = c.matcher.accept([b])
            if took != allowed { throw FuzzTarget.grammar.finding("the mask says \(allowed) for byte \(b), the matcher \(took)") }
            if !took { break }
        }
    }
}
