import ArgumentParser
import Foundation
import GemmaEdge
import GGUF
import Tokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text file.")

    @Option(name: [.customShort("m"), .long], help: "GGUF model file (its vocabulary is used).") var model: String?
    @Option(help: "A SentencePiece tokenizer.model to use instead of the GGUF vocabulary.") var tokenizerModel: String?
    @Flag(help: "Prepend BOS.") var bos = false
    @Flag(help: "Print JSON {\"tokens\": [...]}.") var json = false
    @Argument(help: "Text file to tokenise (never parsed for special tokens).") var textFile: String

    func run() throws {
        let path = ModelOptionsPath.resolve(model)
        let text = try readText(textFile)
        let tokenizer: any Tokenizing
        if let spm = tokenizerModel {
            tokenizer = try SentencePieceTokenizer(modelFile: spm)
        } else {
            tokenizer = BPETokenizer(vocabulary: try Vocabulary(gguf: GGUFFile(path: path)))
        }
        let ids = try tokenizer.encode(text, addBOS: bos)
        if json {
            try printJSON(["tokens": ids.map(Int.init)])
        } else {
            for id in ids {
                let piece = String(decoding: tokenizer.decodePieceBytes(id, includeControl: true), as: UTF8.self)
                emit("\(id)\t\(piece.debugDescription)\n")
            }
        }
    }
}

enum ModelOptionsPath {
    static func resolve(_ model: String?) -> String {
        var o = ModelOptions()
        o.model = model
        return o.modelPath
    }
}
