import ArgumentParser
import Foundation
import GemmaEdge
import Sampling
import Tokenizer

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Interactive multi-turn chat that keeps the KV state between turns.",
        discussion: "Reads one user message per line from stdin; an empty line or end of input ends the chat. "
            + "/reset starts a new conversation.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "System prompt, prepended to the first user message.") var system: String?
    @Option(help: "Most tokens per answer.") var maxTokens: Int = 512

    func run() throws {
        let params = try sampling.parameters()
        let engine = try model.load()
        let bpe = BPETokenizer(vocabulary: engine.tokenizer.vocabulary)
        let template = try ChatTemplate(tokenizer: bpe)
        let session = engine.makeSession()
        let sampler = Sampler(parameters: params, vocabularySize: engine.config.vocabularySize)
        let interactive = isatty(0) != 0
        var firstTurn = true
        while true {
            if interactive { emit("> ") }
            guard let line = readLine(strippingNewline: true), !line.isEmpty else { break }
            if line == "/reset" {
                session.reset()
                firstTurn = true
                continue
            }
            // Each turn appends only its own tokens: the KV state of earlier turns is kept.
            let turn = firstTurn
                ? try template.encode(user: line, system: system)
                : [template.startOfTurn] + bpe.encode("user\n" + line, addBOS: false) + [template.endOfTurn]
                    + bpe.encode("\n", addBOS: false) + [template.startOfTurn] + bpe.encode("model\n", addBOS: false)
            guard turn.count < session.remaining else {
                throw CLIError("the conversation no longer fits in the context of \(session.context) tokens; "
                    + "use /reset or a larger --ctx")
            }
            try session.append(turn)
            firstTurn = false
            var decoder = StreamingDecoder(vocabulary: engine.tokenizer.vocabulary)
            let reason = try session.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: engine.stopTokens) { id in
                let piece = decoder.append(id)
                if !piece.isEmpty { emit(piece) }
                return true
            }
            emit(decoder.flush() + "\n")
            // Close the model's turn (its last token was sampled, not evaluated) so the next user
            // turn follows the template.
            let close = [template.endOfTurn] + bpe.encode("\n", addBOS: false)
            if reason != .callback, session.remaining > close.count { try session.append(close) }
        }
    }
}
