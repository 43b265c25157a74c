import ArgumentParser
import Foundation
import GemmaEdge

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file: chunks of ctx - 1 tokens, each scored from BOS + chunk.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Most chunks to evaluate.") var chunks: Int = .max
    @Flag(help: "Print JSON with every scored position.") var json = false
    @Argument(help: "Text file.") var textFile: String

    func run() throws {
        var opts = model
        opts.batch = max(model.batch, 1)
        let engine = try opts.load()
        let text = try readText(textFile)
        let tokens = try engine.tokenizer.encode(text, addBOS: false)
        let result = try engine.perplexity(tokens: tokens, ctx: engine.options.context, maxChunks: chunks) { done, total in
            if !json { FileHandle.standardError.write(Data("chunk \(done)/\(total)\n".utf8)) }
        }
        if json {
            try printJSON([
                "ppl": result.perplexity,
                "tokens": result.positions.count,
                "positions": result.positions.map { ["token": Int($0.token), "top1": Int($0.top1), "logprob": $0.logprob] },
            ])
        } else {
            emit(String(format: "perplexity %.4f over %d tokens\n", result.perplexity, result.positions.count))
        }
    }
}
