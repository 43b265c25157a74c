import ArgumentParser
import Foundation
import GemmaEdge
import Sampling
import Tokenizer
import Vision

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Interactive multi-turn chat that keeps the KV state between turns.",
        discussion: """
            Reads one user message per line from stdin; an empty line or end of input ends the chat, /reset starts a \
            new conversation. With --mmproj, `/image PATH` attaches a PNG (or PPM) to the next message, and --image \
            attaches images to the first one; images go before the message's text and stay in the conversation. Each turn evaluates only its own tokens: earlier turns stay in the KV cache. When the \
            next turn would not fit in --ctx (with room for --max-tokens of answer), --overflow decides: \
            drop-oldest (default) keeps the system prompt, drops the oldest turns until the rest fits and \
            re-evaluates it; error stops with a message.
            """)

    enum Overflow: String, ExpressibleByArgument { case dropOldest = "drop-oldest", error }

    @OptionGroup var model: ModelOptions
    @OptionGroup var speculative: SpeculativeOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var vision: VisionOptions
    @Option(name: .customLong("image"), help: "A PNG or binary PPM/PGM image for the first message; repeat for several (needs --mmproj).")
    var images: [String] = []
    @Option(help: "System prompt, prepended to the first user message.") var system: String?
    @Option(help: "Most tokens per answer.") var maxTokens: Int = 512
    @Option(help: "What to do when the conversation outgrows the context: drop-oldest or error.")
    var overflow: Overflow = .dropOldest

    func validate() throws {
        if !images.isEmpty && vision.mmproj == nil { throw ValidationError("--image needs --mmproj (the model's vision projector)") }
    }

    func run() throws {
        let params = try sampling.parameters()
        let engine = try vision.load(model, speculative: speculative)
        let conversation = try Conversation(engine: engine, system: system, reserve: maxTokens)
        let sampler = Sampler(parameters: params, vocabularySize: engine.config.vocabularySize)
        let interactive = isatty(0) != 0
        var pending = try images.map { try engine.vision!.load(path: $0) }
        while true {
            if interactive { emit("> ") }
            guard let line = readLine(strippingNewline: true), !line.isEmpty else { break }
            if line == "/reset" {
                conversation.reset()
                pending.removeAll()
                continue
            }
            if line == "/image" || line.hasPrefix("/image ") {
                let path = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
                do {
                    guard let projector = engine.vision else { throw CLIError("/image needs --mmproj (the model's vision projector)") }
                    guard !path.isEmpty else { throw CLIError("usage: /image PATH") }
                    let image = try projector.load(path: path)
                    pending.append(image)
                    note("[image \(image.width)x\(image.height) attached to the next message]")
                } catch {
                    note("[\(error)]")
                }
                continue
            }
            let message = MultimodalPrompt(segments: Array(repeating: "", count: pending.count) + [line], images: pending)
            pending.removeAll()
            let dropped = try conversation.startTurn(message, allowDropping: overflow == .dropOldest)
            if dropped > 0 { FileHandle.standardError.write(Data("[dropped the \(dropped) oldest turn(s) to fit the context]\n".utf8)) }
            var decoder = StreamingDecoder(vocabulary: engine.tokenizer.vocabulary)
            try conversation.answer(maxTokens: maxTokens, sampler: sampler) { id in
                let piece = decoder.append(id)
                if !piece.isEmpty { emit(piece) }
            }
            emit(decoder.flush() + "\n")
        }
    }

    private func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
}

/// A chat kept in one session: the template's tokens for each turn are appended as the turn
/// comes, and the model's answer stays in the cache.
final class Conversation {
    let engine: Engine
    let session: Session
    let template: ChatTemplate
    let system: String?
    /// Tokens to keep free for an answer.
    let reserve: Int
    private var turns: [(user: MultimodalPrompt, answer: [Int32])] = []

    init(engine: Engine, system: String?, reserve: Int) throws {
        self.engine = engine
        session = engine.makeSession()
        template = try ChatTemplate(tokenizer: engine.tokenizer)
        self.system = system
        self.reserve = reserve
    }

    func reset() {
        session.reset()
        turns.removeAll()
    }

    /// The steps of the whole conversation so far plus `user`'s turn, opening the model's turn
    /// (token ids only, unless a turn holds images).
    private func items(turns: ArraySlice<(user: MultimodalPrompt, answer: [Int32])>, user: MultimodalPrompt) throws -> [Session.Item] {
        var messages: [MultimodalMessage] = []
        if let system { messages.append(.system(system)) }
        for t in turns {
            messages.append(.user(t.user))
            messages.append(.model(engine.tokenizer.decode(t.answer)))
        }
        messages.append(.user(user))
        return try session.engine.items(for: messages)
    }

    /// Appends the user's turn; returns how many old turns were dropped to make room.
    func startTurn(_ user: MultimodalPrompt, allowDropping: Bool) throws -> Int {
        let full = try items(turns: turns[...], user: user)
        let budget = session.context - reserve
        if session.engine.positions(of: full) <= budget {
            // Only what is new is evaluated: the cache already holds the earlier turns.
            try session.prefill(full)
            turns.append((user, []))
            return 0
        }
        guard allowDropping else {
            throw CLIError("the conversation needs \(session.engine.positions(of: full)) positions plus \(reserve) for the answer, more than the "
                + "context of \(session.context); use /reset, a larger --ctx, or --overflow drop-oldest")
        }
        var first = 0
        while first < turns.count, session.engine.positions(of: try items(turns: turns[first...], user: user)) > budget { first += 1 }
        let kept = try items(turns: turns[first...], user: user)
        guard session.engine.positions(of: kept) <= budget else {
            throw CLIError("this message alone needs \(session.engine.positions(of: kept)) positions plus \(reserve) for the answer, more than the "
                + "context of \(session.context); shorten it or raise --ctx")
        }
        turns.removeFirst(first)
        session.reset()
        try session.prefill(kept)
        turns.append((user, []))
        return first
    }

    /// Generates the model's answer, closing its turn in the cache so the next one follows the
    /// template.
    func answer(maxTokens: Int, sampler: Sampler, onToken: (Int32) -> Void) throws {
        var answer: [Int32] = []
        let stops = engine.stopTokens
        let reason = try session.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: stops) { id in
            if !stops.contains(id) {
                answer.append(id)
                onToken(id)
            }
            return true
        }
        turns[turns.count - 1].answer = answer
        // The last sampled token was not evaluated: close the turn with <end_of_turn>\n.
        let close = [template.endOfTurn] + (try engine.tokenizer.encode("\n", addBOS: false))
        if reason == .stopToken || reason == .maxTokens, session.remaining >= close.count {
            if reason == .maxTokens, let last = answer.last { try session.append(token: last) }
            try session.append(close)
        }
    }
}
