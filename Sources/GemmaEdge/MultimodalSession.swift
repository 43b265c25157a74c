import Gemma3
import Sampling
import Tokenizer
import Vision

/// A prompt of text with images placed in it: `segments[i]` is the text before image i, the last
/// segment the text after the last image.
public struct MultimodalPrompt: Sendable {
    /// Where an image goes in the prompt text (llama.cpp's media marker, so prompts carry over).
    public static let marker = "<__media__>"
    public var segments: [String]
    public var images: [RGBImage]

    /// Splits `text` at `marker`s and places `images` there in order. Text without markers gets
    /// every image before it (as llama-mtmd-cli does). Otherwise there must be one marker per image.
    public init(text: String, images: [RGBImage]) throws {
        var parts = text.components(separatedBy: Self.marker)
        if parts.count == 1 {
            parts = Array(repeating: "", count: images.count) + [text]
        }
        guard parts.count == images.count + 1 else {
            throw EngineError.invalidOption("the prompt has \(parts.count - 1) \(Self.marker) markers but "
                                            + "\(images.count) images were given")
        }
        segments = parts
        self.images = images
    }
}

/// A conversation state that holds images as well as text: a KV cache whose local rings take a
/// whole image's soft tokens in one bidirectional batch, the ids so far (each soft token recorded
/// as `imagePlaceholder`) and the logits after the last token.
///
/// Images enter as llama.cpp's mtmd places them for Gemma 3: `<start_of_image>`, the projected
/// soft tokens (one position each, attending to each other in both directions), `<end_of_image>`;
/// text around them is tokenised piece by piece. The engine's compute threads run the encoder, so
/// a session must not encode while another evaluates on the same engine.
public final class MultimodalSession: @unchecked Sendable {
    /// The id recorded in `tokens` for each soft token of an image.
    public static let imagePlaceholder: Int32 = -1

    public let engine: Engine
    public let vision: VisionModel
    public let cache: KVCache
    /// Every position evaluated so far: token ids, and `imagePlaceholder` for soft tokens.
    public private(set) var tokens: [Int32]
    /// Logits after the last token of the last `append` (image soft tokens have none).
    public let logits: UnsafeMutableBufferPointer<Float>
    public let startOfImage: Int32
    public let endOfImage: Int32
    /// Seconds spent in the vision encoder so far, and the views encoded.
    public private(set) var encodeSeconds: Double = 0
    public private(set) var encodedViews = 0
    private let embeddings: UnsafeMutableBufferPointer<Float>  // one view: tokensPerImage x textWidth

    /// - Parameter context: positions the session holds (default: the engine's context).
    public init(engine: Engine, vision: VisionModel, context: Int? = nil) throws {
        let n = vision.tokensPerImage
        guard vision.textWidth == engine.config.embeddingLength else {
            throw EngineError.invalidOption("the projector writes \(vision.textWidth)-wide soft tokens but the text "
                                            + "model is \(engine.config.embeddingLength) wide")
        }
        guard engine.model.maxBatch >= n else {
            throw EngineError.invalidOption("an image is \(n) soft tokens evaluated in one batch, but the engine's "
                                            + "batch is \(engine.model.maxBatch) (raise --batch / EngineOptions.batch)")
        }
        let vocabulary = engine.tokenizer.vocabulary
        guard let soi = vocabulary.id(of: "<start_of_image>"), let eoi = vocabulary.id(of: "<end_of_image>") else {
            throw EngineError.invalidOption("the text model's vocabulary has no <start_of_image> / <end_of_image> "
                                            + "pieces: it is not a Gemma 3 vision model")
        }
        self.engine = engine
        self.vision = vision
        startOfImage = soi
        endOfImage = eoi
        let ctx = min(context ?? engine.options.context, engine.options.context)
        cache = KVCache(config: engine.config, context: ctx, bidirectionalSpan: n)
        tokens = []
        tokens.reserveCapacity(ctx)
        logits = .allocate(capacity: engine.config.vocabularySize)
        logits.initialize(repeating: 0)
        embeddings = .allocate(capacity: n * vision.textWidth)
        embeddings.initialize(repeating: 0)
    }

    deinit {
        logits.deallocate()
        embeddings.deallocate()
    }

    public var context: Int { cache.context }
    public var remaining: Int { context - cache.length }

    /// Forgets everything (a fresh conversation).
    public func reset() {
        cache.reset()
        tokens.removeAll(keepingCapacity: true)
    }

    /// One step of a prompt: token ids, or one view of an image (a whole image or a Pan & Scan crop).
    public enum Item {
        case tokens([Int32])
        case view(RGBImage)
    }

    /// The steps of `prompt` in order, with `<start_of_image>` / `<end_of_image>` around every view
    /// and, when Pan & Scan gives an image crops, the reference processor's words around them.
    /// `chatTemplate` wraps the prompt in one Gemma 3 user turn and opens the model's turn.
    public func items(for prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> [Item] {
        let tok = engine.tokenizer
        var items: [Item] = []
        var ids: [Int32] = []
        func text(_ s: String) throws { if !s.isEmpty { ids += try tok.encode(s, addBOS: false) } }
        func view(_ image: RGBImage) {
            ids.append(startOfImage)
            items.append(.tokens(ids))
            items.append(.view(image))
            ids = [endOfImage]
        }
        var segments = prompt.segments
        var chat: ChatTemplate?
        if chatTemplate {
            let template = try ChatTemplate(tokenizer: tok)
            chat = template
            // The user text is trimmed as a whole (ASCII whitespace, as the template does for text).
            func space(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
            let first = Array(segments[0].utf8), last = segments.count - 1
            segments[0] = String(decoding: first.drop(while: space), as: UTF8.self)
            let tail = Array(segments[last].utf8)
            segments[last] = String(decoding: tail[..<(tail.lastIndex { !space($0) }.map { $0 + 1 } ?? 0)], as: UTF8.self)
            ids += [template.bos, template.startOfTurn]
            segments[0] = "user\n" + segments[0]
        } else if addBOS, let bos = tok.specialTokens.bos {
            ids.append(bos)
        }
        for (i, segment) in segments.enumerated() {
            try text(segment)
            guard i < prompt.images.count else { continue }
            let views = vision.views(of: prompt.images[i])
            if views.count == 1 {
                view(views[0])
            } else {
                try text("Here is the original image ")
                view(views[0])
                try text(" and here are some crops to help you see better ")
                for (j, crop) in views.dropFirst().enumerated() {
                    if j > 0 { try text(" ") }
                    view(crop)
                }
            }
        }
        if let chat {
            ids.append(chat.endOfTurn)
            try text("\n")
            ids.append(chat.startOfTurn)
            try text("model\n")
        }
        items.append(.tokens(ids))
        return items
    }

    /// Positions `items` take.
    public func positions(of items: [Item]) -> Int {
        items.reduce(0) {
            if case .tokens(let ids) = $1 { return $0 + ids.count }
            return $0 + vision.tokensPerImage
        }
    }

    /// Evaluates a prompt of text and images (see `items(for:)`) and leaves the logits of its last
    /// token. Checks the whole prompt fits the context before encoding anything. Returns the
    /// positions it took.
    @discardableResult
    public func append(_ prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> Int {
        let items = try items(for: prompt, addBOS: addBOS, chatTemplate: chatTemplate)
        let needed = positions(of: items)
        guard needed <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + needed, context: context) }
        for (i, item) in items.enumerated() {
            switch item {
            // Logits (the output projection, a whole vocabulary) only after the last step.
            case .tokens(let ids): if !ids.isEmpty { try append(ids, logits: i == items.count - 1) }
            case .view(let image): try append(view: image)
            }
        }
        return needed
    }

    /// Encodes one view and evaluates its soft tokens as one bidirectional batch.
    public func append(view image: RGBImage) throws {
        let n = vision.tokensPerImage
        guard n <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + n, context: context) }
        vision.encode(image, into: embeddings.baseAddress!)
        encodeSeconds += vision.encoder.lastSeconds
        encodedViews += 1
        try append(softTokens: UnsafePointer(embeddings.baseAddress!), count: n)
    }

    /// Evaluates ready-made soft tokens (`count` rows of the text width) as one bidirectional batch.
    public func append(softTokens: UnsafePointer<Float>, count: Int) throws {
        guard count <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + count, context: context) }
        try engine.model.evaluate(embeddings: softTokens, count: count, cache: cache, bidirectional: true)
        tokens.append(contentsOf: repeatElement(Self.imagePlaceholder, count: count))
    }

    /// Evaluates `ids` in batches and leaves the logits of the last one in `logits`.
    public func append(_ ids: [Int32]) throws { try append(ids, logits: true) }

    private func append(_ ids: [Int32], logits wanted: Bool) throws {
        guard !ids.isEmpty else { throw EngineError.emptyPrompt }
        guard ids.count <= remaining else {
            throw EngineError.promptTooLong(tokens: cache.length + ids.count, context: context)
        }
        let model = engine.model
        try ids.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count {
                let n = min(model.maxBatch, all.count - i)
                try model.evaluate(UnsafeBufferPointer(rebasing: all[i..<(i + n)]), cache: cache)
                i += n
            }
        }
        tokens.append(contentsOf: ids)
        if wanted { model.lastLogits(into: logits.baseAddress!) }
    }

    /// Evaluates one token (the decode step). Allocates nothing.
    public func append(token: Int32) throws {
        guard remaining >= 1 else { throw EngineError.promptTooLong(tokens: cache.length + 1, context: context) }
        var t = token
        try withUnsafePointer(to: &t) { try engine.model.evaluate(UnsafeBufferPointer(start: $0, count: 1), cache: cache) }
        tokens.append(token)
        engine.model.lastLogits(into: logits.baseAddress!)
    }

    /// Samples up to `maxTokens` tokens after what the session holds, exactly as
    /// `Session.generate` does (image placeholders are not given to the sampler's penalties).
    @discardableResult
    public func generate(maxTokens: Int, sampler: Sampler, stopTokens: [Int32],
                         onToken: (Int32) throws -> Bool) throws -> Session.StopReason {
        precondition(!tokens.isEmpty, "append a prompt first")
        var produced = 0
        var recent: [Int32] = tokens.filter { $0 != Self.imagePlaceholder }
        recent.reserveCapacity(recent.count + maxTokens)
        while produced < maxTokens {
            let next = recent.withUnsafeBufferPointer { sampler.sample(logits, recent: $0) }
            produced += 1
            let isStop = stopTokens.contains(next)
            guard try onToken(next) else { return .callback }
            if isStop { return .stopToken }
            if produced == maxTokens { return .maxTokens }
            guard remaining >= 1 else { return .contextFull }
            try append(token: next)
            recent.append(next)
        }
        return .maxTokens
    }
}

extension Engine {
    /// A new multimodal session on this engine with `vision` (see `MultimodalSession`).
    public func makeMultimodalSession(vision: VisionModel, context: Int? = nil) throws -> MultimodalSession {
        try MultimodalSession(engine: self, vision: vision, context: context)
    }

    /// Loads the vision projector at `path` for this engine's text model (maps and checks it,
    /// allocates the encoder's scratch): do it only when an image is given.
    public func loadVision(path: String) throws -> VisionModel {
        try VisionModel(path: path, textConfig: config, compute: model.compute)
    }

    /// `options` with the prompt batch raised to hold one image of the projector at `path` (its
    /// soft tokens are one bidirectional batch). Reads only the projector's metadata.
    public static func options(_ options: EngineOptions, fittingImagesOf path: String) throws -> EngineOptions {
        var o = options
        o.batch = max(o.batch, try VisionModel.config(path: path).tokensPerImage)
        return o
    }
}
