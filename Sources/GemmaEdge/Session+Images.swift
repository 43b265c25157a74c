import Gemma3
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

extension Session {
    /// One step of a prompt: token ids, or one view of an image (a whole image or a Pan & Scan crop).
    public enum Item: Sendable {
        case tokens([Int32])
        case view(RGBImage)
    }

    /// The steps of `prompt` (see `Engine.items(for:addBOS:chatTemplate:)`).
    public func items(for prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> [Item] {
        try engine.items(for: prompt, addBOS: addBOS, chatTemplate: chatTemplate)
    }

    /// The steps of a conversation (see `Engine.items(for:addGenerationPrompt:)`).
    public func items(for messages: [MultimodalMessage], addGenerationPrompt: Bool = true) throws -> [Item] {
        try engine.items(for: messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// Positions `items` take.
    public func positions(of items: [Item]) -> Int { engine.positions(of: items) }

    func requireVision() throws -> (model: VisionModel, start: Int32, end: Int32) { try engine.requireVision() }

    /// Evaluates a prompt of text and images (see `items(for:)`) after what the session holds and
    /// leaves the logits of its last token. Checks the whole prompt fits the context before
    /// encoding anything. Returns the positions it took.
    @discardableResult
    public func append(_ prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> Int {
        try append(items: try items(for: prompt, addBOS: addBOS, chatTemplate: chatTemplate))
    }

    /// Evaluates `items` after what the session holds; returns the positions they took.
    @discardableResult
    public func append(items: [Item]) throws -> Int {
        let needed = positions(of: items)
        guard needed <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + needed, context: context) }
        try evaluate(items, skipping: 0, keys: [:])
        return needed
    }

    /// Makes the session hold `items`, reusing the longest prefix it already holds (text and whole
    /// image views whose keys match) and evaluating only the rest. An image view is reused whole or
    /// not at all: its soft tokens attended to each other, so the cache cannot be cut inside one.
    /// Returns how many positions were reused.
    @discardableResult
    public func prefill(_ items: [Item]) throws -> Int {
        let total = positions(of: items)
        guard total > 0 else { throw EngineError.emptyPrompt }
        guard case .tokens(let tail)? = items.last, !tail.isEmpty else {
            throw EngineError.invalidOption("a prompt must end with text (the logits of its last token are needed)")
        }
        guard total <= context else { throw EngineError.promptTooLong(tokens: total, context: context) }
        var keys: [Int: String] = [:]  // item index -> key of the view
        var common = 0
        matching: for (i, item) in items.enumerated() {
            switch item {
            case .tokens(let ids):
                for id in ids {
                    guard common < tokens.count, tokens[common] == id else { break matching }
                    common += 1
                }
            case .view(let image):
                guard common < tokens.count, tokens[common] == Self.imagePlaceholder,
                      let span = imageSpans.first(where: { $0.start == common }) else { break matching }
                let key = try viewKey(image)
                keys[i] = key
                guard span.key == key, span.count == (try requireVision()).model.tokensPerImage else { break matching }
                common += span.count
            }
        }
        if common == total, common == tokens.count { return common }  // logits are already those of the last token
        // The logits of the last prompt token are needed, so at least one token is evaluated.
        common = min(common, total - 1)
        if let inside = imageSpans.first(where: { $0.start < common && common < $0.start + $0.count }) {
            common = inside.start
        }
        if !cache.canTruncate(to: common) { common = 0 }
        cache.truncate(to: common)
        tokens.removeSubrange(common...)
        imageSpans.removeAll { $0.start >= common }
        try evaluate(items, skipping: common, keys: keys)
        return common
    }

    /// Evaluates `items` except their first `skip` positions (which the cache already holds),
    /// with the logits after the last item only.
    private func evaluate(_ items: [Item], skipping skip: Int, keys: [Int: String]) throws {
        var mark = 0  // the prompt's own position
        for (i, item) in items.enumerated() {
            switch item {
            case .tokens(let ids):
                defer { mark += ids.count }
                guard mark + ids.count > skip else { continue }
                try append(Array(ids[max(0, skip - mark)...]), logits: i == items.count - 1)
            case .view(let image):
                let n = try requireVision().model.tokensPerImage
                defer { mark += n }
                guard mark >= skip else { continue }
                try append(view: image, key: keys[i] ?? viewKey(image))
            }
        }
    }

    /// Encodes one view and evaluates its soft tokens as one bidirectional batch.
    public func append(view image: RGBImage) throws {
        try append(view: image, key: viewKey(image))
    }

    private func append(view image: RGBImage, key: String) throws {
        let vision = try requireVision().model
        let n = vision.tokensPerImage
        guard n <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + n, context: context) }
        if embeddings == nil {
            let e = UnsafeMutablePointer<Float>.allocate(capacity: n * vision.textWidth)
            e.initialize(repeating: 0, count: n * vision.textWidth)
            embeddings = e
        }
        try vision.encode(image, into: embeddings!)
        encodeSeconds += vision.lastEncodeSeconds
        encodedViews += 1
        try append(softTokens: UnsafePointer(embeddings!), count: n, key: key)
    }

    /// Evaluates ready-made soft tokens (`count` rows of the text width) as one bidirectional
    /// batch; `key` names what they are (prefix reuse compares it).
    public func append(softTokens: UnsafePointer<Float>, count: Int, key: String) throws {
        guard count <= remaining else { throw EngineError.promptTooLong(tokens: cache.length + count, context: context) }
        let start = cache.length
        try resettingOnBrokenState {
            try engine.model.evaluate(embeddings: softTokens, count: count, cache: cache, bidirectional: true)
        }
        tokens.append(contentsOf: repeatElement(Self.imagePlaceholder, count: count))
        imageSpans.append(SnapshotSpan(start: start, count: count, key: key))
    }

    /// What identifies a view's soft tokens without encoding it: the projector's identity, the
    /// view's size and a 64-bit FNV-1a hash of its pixels (the encoder is deterministic).
    public func viewKey(_ image: RGBImage) throws -> String {
        let vision = try requireVision().model
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        image.pixels.withUnsafeBufferPointer { p in
            for b in p { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        return "\(vision.identity)/\(image.width)x\(image.height)/\(String(h, radix: 16))"
    }

    /// `s` without leading and/or trailing ASCII whitespace (as the chat template trims texts).
    static func trimmed(_ s: String, leading: Bool, trailing: Bool) -> String {
        func space(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        let bytes = Array(s.utf8)
        var start = 0, end = bytes.count
        if leading { while start < end && space(bytes[start]) { start += 1 } }
        if trailing { while end > start && space(bytes[end - 1]) { end -= 1 } }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

/// Accumulates a prompt's ids and views in order.
private struct ItemBuilder {
    let engine: Engine
    var items: [Session.Item] = []
    var ids: [Int32] = []

    init(engine: Engine) { self.engine = engine }

    mutating func text(_ s: String) throws {
        if !s.isEmpty { ids += try engine.tokenizer.encode(s, addBOS: false) }
    }

    mutating func view(_ image: RGBImage, start: Int32, end: Int32) {
        ids.append(start)
        items.append(.tokens(ids))
        items.append(.view(image))
        ids = [end]
    }

    /// Text segments with each image's views between them.
    mutating func content(_ prompt: MultimodalPrompt) throws {
        for (i, segment) in prompt.segments.enumerated() {
            try text(segment)
            guard i < prompt.images.count else { continue }
            let (vision, start, end) = try engine.requireVision()
            let views = vision.views(of: prompt.images[i])
            if views.count == 1 {
                view(views[0], start: start, end: end)
            } else {
                try text("Here is the original image ")
                view(views[0], start: start, end: end)
                try text(" and here are some crops to help you see better ")
                for (j, crop) in views.dropFirst().enumerated() {
                    if j > 0 { try text(" ") }
                    view(crop, start: start, end: end)
                }
            }
        }
    }

    func finish() -> [Session.Item] { items + [.tokens(ids)] }
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

    /// The steps of `prompt` in order, with `<start_of_image>` / `<end_of_image>` around every view
    /// and, when Pan & Scan gives an image crops, the reference processor's words around them.
    /// `chatTemplate` wraps the prompt in one Gemma 3 user turn and opens the model's turn.
    public func items(for prompt: MultimodalPrompt, addBOS: Bool = true, chatTemplate: Bool = false) throws -> [Session.Item] {
        if chatTemplate { return try items(for: [.user(prompt)]) }
        var builder = ItemBuilder(engine: self)
        if addBOS, let bos = tokenizer.specialTokens.bos { builder.ids.append(bos) }
        try builder.content(prompt)
        return builder.finish()
    }

    /// The steps of a conversation in the Gemma 3 chat format (see `ChatTemplate`), images in
    /// place, optionally opening the model's turn. Text-only conversations give exactly the ids of
    /// `ChatTemplate.encode`; a system message may not hold images.
    public func items(for messages: [MultimodalMessage], addGenerationPrompt: Bool = true) throws -> [Session.Item] {
        let template = try ChatTemplate(tokenizer: tokenizer)
        // The template checks the order of roles (and says what is wrong) on the texts alone.
        _ = try template.render(messages.map { ChatMessage($0.role, $0.content.segments.joined(separator: " ")) })
        var turns = messages[...]
        var system: String?
        if let first = turns.first, first.role == .system {
            guard first.content.images.isEmpty else {
                throw EngineError.invalidOption("a system message cannot hold images")
            }
            system = Session.trimmed(first.content.segments[0], leading: true, trailing: true)
            turns = turns.dropFirst()
        }
        var builder = ItemBuilder(engine: self)
        builder.ids.append(template.bos)
        for (i, message) in turns.enumerated() {
            var content = message.content
            let last = content.segments.count - 1
            content.segments[0] = Session.trimmed(content.segments[0], leading: true, trailing: last == 0)
            content.segments[last] = Session.trimmed(content.segments[last], leading: last == 0, trailing: true)
            if i == 0, let system, !system.isEmpty { content.segments[0] = system + "\n\n" + content.segments[0] }
            content.segments[0] = message.role.rawValue + "\n" + content.segments[0]
            builder.ids.append(template.startOfTurn)
            try builder.content(content)
            builder.ids.append(template.endOfTurn)
            try builder.text("\n")
        }
        if addGenerationPrompt {
            builder.ids.append(template.startOfTurn)
            try builder.text("model\n")
        }
        return builder.finish()
    }

    /// Positions `items` take.
    public func positions(of items: [Session.Item]) -> Int {
        items.reduce(0) {
            if case .tokens(let ids) = $1 { return $0 + ids.count }
            return $0 + (vision?.tokensPerImage ?? 0)
        }
    }

    /// Maps and checks the projector at `path` for this engine's text model, apart from
    /// `options.mmproj` (for encoding images outside a session, and for tests of bad files).
    public func loadVision(path: String) throws -> VisionModel {
        try VisionModel(path: path, textConfig: config, compute: model.compute)
    }
}
