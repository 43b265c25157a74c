// The one prompt path: a conversation (or a plain prompt) of texts and images -> `ChatTemplate`
// renders it into pieces -> `PromptBuilder` turns pieces into positions (token ids and image
// views) -> `Session.prefill` evaluates them, reusing the prefix the session already holds.
// The CLI, the server and the profiler all go through it.
import Tokenizer
import Vision

/// Text with images placed in it: `segments[i]` is the text before image i, the last segment the
/// text after the last image.
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

    /// Text and images already in order (no marker is looked for in the text): one more segment
    /// than images.
    public init(segments: [String], images: [RGBImage]) {
        precondition(segments.count == images.count + 1, "one more text segment than images")
        self.segments = segments
        self.images = images
    }

    /// Text alone.
    public init(_ text: String) { self.init(segments: [text], images: []) }

    /// The content as template parts; image i is media `first + i`.
    func parts(firstMedia first: Int) -> [ChatTemplate.Part] {
        var parts: [ChatTemplate.Part] = []
        for (i, segment) in segments.enumerated() {
            parts.append(.text(segment))
            if i < images.count { parts.append(.media(first + i)) }
        }
        return parts
    }
}

/// One message of a conversation whose content may hold images.
public struct MultimodalMessage: Sendable {
    public var role: ChatMessage.Role
    public var content: MultimodalPrompt

    public init(_ role: ChatMessage.Role, _ content: MultimodalPrompt) {
        self.role = role
        self.content = content
    }

    public static func system(_ text: String) -> MultimodalMessage { .init(.system, MultimodalPrompt(text)) }
    public static func user(_ content: MultimodalPrompt) -> MultimodalMessage { .init(.user, content) }
    public static func model(_ text: String) -> MultimodalMessage { .init(.model, MultimodalPrompt(text)) }
}

/// One step of a prompt: token ids, or one view of an image (a whole image or a Pan & Scan crop).
public enum PromptItem: Sendable {
    case tokens([Int32])
    case view(RGBImage)
}

/// Turns rendered pieces into prompt items: texts tokenised one by one, control tokens as they
/// are, and each image as its views with `<start_of_image>` / `<end_of_image>` around each (and,
/// when Pan & Scan gives crops, the reference processor's words around them).
struct PromptBuilder {
    let engine: Engine
    private var items: [PromptItem] = []
    private var ids: [Int32] = []

    init(engine: Engine) { self.engine = engine }

    mutating func add(_ pieces: [ChatTemplate.Piece], images: [RGBImage]) throws {
        for piece in pieces {
            switch piece {
            case .token(let id): ids.append(id)
            case .text(let text): try add(text: text)
            case .media(let i): try add(image: images[i])
            }
        }
    }

    private mutating func add(text: String) throws {
        if !text.isEmpty { ids += try engine.tokenizer.encode(text, addBOS: false) }
    }

    private mutating func add(image: RGBImage) throws {
        let (vision, start, end) = try engine.requireVision()
        let views = vision.views(of: image)
        func view(_ v: RGBImage) {
            ids.append(start)
            items.append(.tokens(ids))
            items.append(.view(v))
            ids = [end]
        }
        guard views.count > 1 else { return view(views[0]) }
        try add(text: "Here is the original image ")
        view(views[0])
        try add(text: " and here are some crops to help you see better ")
        for (j, crop) in views.dropFirst().enumerated() {
            if j > 0 { try add(text: " ") }
            view(crop)
        }
    }

    func finish() -> [PromptItem] { items + [.tokens(ids)] }
}

extension Engine {
    /// The vision projector and the image markers, or the error a prompt with an image gets without them.
    public func requireVision() throws -> (model: VisionModel, start: Int32, end: Int32) {
        guard let vision = vision, let markers = imageMarkers else {
            throw EngineError.invalidOption("this model was loaded without a vision projector (--mmproj), so it cannot "
                                            + "take images")
        }
        return (vision, markers.start, markers.end)
    }

    /// The steps of a plain prompt (BOS unless `addBOS` is false), or with `chatTemplate` of one
    /// Gemma 3 user turn opening the model's turn.
    public func items(for prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> [PromptItem] {
        if chatTemplate { return try items(for: [.user(prompt)]) }
        var pieces: [ChatTemplate.Piece] = []
        if addBOS, let bos = tokenizer.specialTokens.bos { pieces.append(.token(bos)) }
        for part in prompt.parts(firstMedia: 0) {
            switch part {
            case .text(let t): pieces.append(.text(t))
            case .media(let i): pieces.append(.media(i))
            }
        }
        var builder = PromptBuilder(engine: self)
        try builder.add(pieces, images: prompt.images)
        return builder.finish()
    }

    /// The steps of a conversation in the Gemma 3 chat format (see `ChatTemplate`), images in
    /// place, optionally opening the model's turn. Text-only conversations give exactly the ids of
    /// `ChatTemplate.encode`.
    public func items(for messages: [MultimodalMessage], addGenerationPrompt: Bool = true) throws -> [PromptItem] {
        var images: [RGBImage] = []
        let turns = messages.map { m -> ChatTemplate.Turn in
            defer { images += m.content.images }
            return ChatTemplate.Turn(m.role, m.content.parts(firstMedia: images.count))
        }
        let pieces = try ChatTemplate(tokenizer: tokenizer).pieces(turns, addGenerationPrompt: addGenerationPrompt)
        var builder = PromptBuilder(engine: self)
        try builder.add(pieces, images: images)
        return builder.finish()
    }

    /// Positions `items` take.
    public func positions(of items: [PromptItem]) -> Int {
        items.reduce(0) {
            if case .tokens(let ids) = $1 { return $0 + ids.count }
            return $0 + (vision?.tokensPerImage ?? 0)
        }
    }
}
