import Tokenizer

/// Turns generated ids into the text a client sees: whole UTF-8 characters only, and cut at the
/// first stop sequence (which itself is never sent).
///
/// Text that could be the start of a stop sequence is held back until the next tokens show
/// whether it is one; `finish()` releases what is held.
struct TextAssembler {
    private var decoder: StreamingDecoder
    private let stops: [String]
    private var held = ""
    /// Set once a stop sequence was found; later tokens are ignored.
    private(set) var stopped = false

    init(vocabulary: Vocabulary, stops: [String]) {
        decoder = StreamingDecoder(vocabulary: vocabulary)
        self.stops = stops
    }

    /// Adds one token; returns the text that can be sent now.
    mutating func append(_ id: Int32) -> String {
        guard !stopped else { return "" }
        return release(decoder.append(id))
    }

    /// Returns what is still held at the end of generation.
    mutating func finish() -> String {
        guard !stopped else { return "" }
        let rest = release(decoder.flush())
        let out = rest + held
        held = ""
        return out
    }

    private mutating func release(_ piece: String) -> String {
        guard !stops.isEmpty else { return piece }
        held += piece
        // A complete stop sequence: send what comes before the earliest one and stop.
        var cut: String.Index?
        for s in stops {
            if let r = held.range(of: s), cut == nil || r.lowerBound < cut! { cut = r.lowerBound }
        }
        if let cut {
            stopped = true
            let out = String(held[..<cut])
            held = ""
            return out
        }
        // Hold back the longest tail that is a prefix of some stop sequence.
        var keep = 0
        for s in stops {
            var n = min(s.count - 1, held.count)
            while n > keep {
                if held.hasSuffix(s.prefix(n)) { keep = n; break }
                n -= 1
            }
        }
        let split = held.index(held.endIndex, offsetBy: -keep)
        let out = String(held[..<split])
        held = String(held[split...])
        return out
    }
}
