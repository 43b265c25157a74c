import OpenAIRequests
import Tokenizer

/// The OpenAI request decoder, as the server runs it: decode, check the roles and options, read
/// the constrained-output fields (schemas and tools turned into GBNF text; compiling it is the
/// grammar target's job), range-check the numbers, apply the chat template. Every refusal must be a `RequestError`
/// (the server's 400) or a `TokenizerError` from the template (also a 400); anything else would
/// be answered as a 500. The same body is tried as a chat and as a text completion.
final class RequestFuzz: @unchecked Sendable {
    static let shared = RequestFuzz()

    let template: ChatTemplate
    let vocabularySize: Int

    init() {
        do {
            let tokenizer = BPETokenizer(vocabulary: try TokenizerFuzz.tinyVocabulary())
            template = try ChatTemplate(tokenizer: tokenizer)
            vocabularySize = tokenizer.vocabulary.count
        } catch {
            fatalError("the request fuzz target cannot build its chat template: \(error)")
        }
    }

    /// True when the body was accepted as a chat or a text completion.
    func run(_ data: [UInt8]) throws -> Bool {
        let chat = try expectingRequestErrors {
            let body = try RequestJSON.decode(ChatCompletionBody.self, from: data)
            let output = try OutputConstraint(body: data, chat: true)
            let messages = try body.chatMessages(toolPrompt: output.toolPrompt)
            let settings = try body.fields.validated(cap: 512, vocabularySize: vocabularySize, randomSeed: 7)
            try check(settings)
            _ = try template.encode(messages)
        }
        let text = try expectingRequestErrors {
            let body = try RequestJSON.decode(CompletionBody.self, from: data)
            try body.checkSupported()
            _ = try OutputConstraint(body: data, chat: false)
            let settings = try body.fields.validated(cap: 512, vocabularySize: vocabularySize, randomSeed: 7)
            try check(settings)
        }
        return chat || text
    }

    /// Runs `body`; true when it completed, false when it refused the request with a 400.
    private func expectingRequestErrors(_ body: () throws -> Void) throws -> Bool {
        do {
            try body()
            return true
        } catch let error as RequestError {
            guard !error.message.isEmpty else { throw FuzzTarget.request.finding("a refusal without a message") }
            return false
        } catch is TokenizerError {
            return false
        } catch let finding as FuzzFinding {
            throw finding
        } catch {
            throw FuzzTarget.request.finding("a request was refused with \(type(of: error)), not a 400: \(error)")
        }
    }

    /// What the scheduler relies on from validated settings.
    private func check(_ s: GenerationSettings) throws {
        let p = s.parameters
        guard (1...512).contains(s.maxTokens), s.stop.count <= 4, p.temperature.isFinite, p.temperature >= 0,
              p.topP > 0, p.topP <= 1, (0...vocabularySize).contains(p.topK), p.minP >= 0, p.minP <= 1,
              p.repetitionPenalty > 0, p.repetitionPenalty <= 10 else {
            throw FuzzTarget.request.finding("validated settings out of range: \(s)")
        }
    }
}
