import Gemma3
import Vision

extension Session {
    /// Encodes one view and evaluates its soft tokens as one bidirectional batch.
    public func append(view image: RGBImage) throws {
        try append(view: image, key: viewKey(image))
    }

    func append(view image: RGBImage, key: String) throws {
        let vision = try engine.requireVision().model
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
            try engine.model.evaluate(embeddings: softTokens, count: count, cache: cache, bidirectional: true,
                                      state: engine.state)
        }
        tokens.append(contentsOf: repeatElement(Self.imagePlaceholder, count: count))
        imageSpans.append(SnapshotSpan(start: start, count: count, key: key))
    }

    /// What identifies a view's soft tokens without encoding it: the projector's identity, the
    /// view's size and a 64-bit FNV-1a hash of its pixels (the encoder is deterministic).
    public func viewKey(_ image: RGBImage) throws -> String {
        let vision = try engine.requireVision().model
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        image.pixels.withUnsafeBufferPointer { p in
            for b in p { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        return "\(vision.identity)/\(image.width)x\(image.height)/\(String(h, radix: 16))"
    }
}
