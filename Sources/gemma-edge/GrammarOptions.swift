import ArgumentParser
import Foundation
import GemmaEdge
import Grammar
import Tokenizer

/// Constrained output for `generate`: a GBNF grammar, a JSON Schema, or any JSON object.
/// (`--json-output`, because `generate --json` already means "print the result as JSON".)
struct GrammarOptions: ParsableArguments {
    @Option(help: "Constrain the output to a GBNF grammar file (llama.cpp's format; the start rule is root).")
    var grammar: String?

    @Option(help: "Constrain the output to the JSON documents a JSON Schema file accepts.")
    var jsonSchema: String?

    @Flag(help: "Constrain the output to a JSON object.")
    var jsonOutput = false

    func validate() throws {
        guard [grammar != nil, jsonSchema != nil, jsonOutput].filter({ $0 }).count <= 1 else {
            throw ValidationError("--grammar, --json-schema and --json-output exclude each other")
        }
    }

    /// The grammar as GBNF text, or nil when no option asked for one.
    func gbnf() throws -> String? {
        func read(_ path: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        if let grammar { return try read(grammar) }
        if let jsonSchema { return try JSONSchemaGrammar.gbnf(schema: read(jsonSchema)) }
        if jsonOutput { return JSONSchemaGrammar.anyJSON(objectOnly: true) }
        return nil
    }

    /// A constraint for one generation on `engine`'s vocabulary (through the engine's grammar
    /// store, which builds the vocabulary trie once), or nil.
    func constraint(for engine: Engine) throws -> GrammarConstraint? {
        try gbnf().map { try engine.grammars.constraint(gbnf: $0) }
    }
}
