/// SentencePiece's `ModelProto`, written and read by hand in protobuf wire format (no protobuf
/// library). Field numbers follow `sentencepiece_model.proto`.
///
/// Writing builds the model libsentencepiece needs to reproduce llama.cpp's ids from a GGUF
/// vocabulary: BPE, byte fallback, identity normalizer without dummy prefix or whitespace
/// cleanup, spaces escaped to `▁` (also inside user-defined pieces, which GGUF stores with
/// literal spaces). Reading takes the pieces of a user's `tokenizer.model`.
public enum SentencePieceModel {
    // ModelProto
    private static let fieldPieces = 1, fieldTrainerSpec = 2, fieldNormalizerSpec = 3
    // ModelProto.SentencePiece
    private static let fieldPiece = 1, fieldScore = 2, fieldType = 3
    // TrainerSpec
    private static let fieldModelType = 3, fieldVocabSize = 4, fieldSplitDigits = 25
    private static let fieldAllowWhitespaceOnlyPieces = 26, fieldByteFallback = 35
    private static let fieldUnkID = 40, fieldBosID = 41, fieldEosID = 42, fieldPadID = 43
    private static let fieldUnkPiece = 45, fieldBosPiece = 46, fieldEosPiece = 47, fieldPadPiece = 48
    private static let modelTypeBPE: UInt64 = 2
    // NormalizerSpec
    private static let fieldName = 1, fieldAddDummyPrefix = 3, fieldRemoveExtraWhitespaces = 4
    private static let fieldEscapeWhitespaces = 5

    private static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]

    // MARK: Writing

    /// The serialized `ModelProto` for a vocabulary.
    ///
    /// Throws when the vocabulary cannot be expressed: SentencePiece needs exactly one unknown
    /// piece (the `<unk>` piece is typed UNKNOWN when no piece is, as in Gemma's GGUF files where
    /// it is a control piece) and all 256 byte pieces.
    public static func serialize(_ vocabulary: Vocabulary) throws -> [UInt8] {
        let n = vocabulary.count
        var types = vocabulary.types
        if !types.contains(.unknown) {
            guard let unk = vocabulary.specialTokens.unk else {
                throw TokenizerError("the vocabulary has no unknown piece, which SentencePiece requires")
            }
            types[Int(unk)] = .unknown
        }
        let unkIDs = types.indices.filter { types[$0] == .unknown }
        guard unkIDs.count == 1 else {
            throw TokenizerError("the vocabulary has \(unkIDs.count) unknown pieces; SentencePiece requires exactly one")
        }
        let byteCount = types.lazy.filter { $0 == .byte }.count
        guard byteCount == 256 else {
            throw TokenizerError("the vocabulary has \(byteCount) byte pieces; byte fallback needs all 256")
        }

        var out: [UInt8] = []
        out.reserveCapacity(vocabulary.bytes.count + n * 16 + 256)
        var message: [UInt8] = []
        for id in 0..<n {
            var piece = Array(vocabulary.bytes[Int(vocabulary.offsets[id])..<Int(vocabulary.offsets[id + 1])])
            let type = types[id]
            if type == .userDefined && piece.contains(0x20) {
                piece = piece.flatMap { $0 == 0x20 ? spaceSymbol : [$0] }
            }
            message.removeAll(keepingCapacity: true)
            appendBytes(field: fieldPiece, piece, to: &message)
            appendFloat(field: fieldScore, vocabulary.scores[id], to: &message)
            appendVarint(field: fieldType, UInt64(protoType(type)), to: &message)
            appendBytes(field: fieldPieces, message, to: &out)
        }

        var trainer: [UInt8] = []
        appendVarint(field: fieldModelType, modelTypeBPE, to: &trainer)
        appendVarint(field: fieldVocabSize, UInt64(n), to: &trainer)
        appendVarint(field: fieldSplitDigits, 1, to: &trainer)
        appendVarint(field: fieldAllowWhitespaceOnlyPieces, 1, to: &trainer)
        appendVarint(field: fieldByteFallback, 1, to: &trainer)
        let specials = vocabulary.specialTokens
        appendVarint(field: fieldUnkID, UInt64(unkIDs[0]), to: &trainer)
        appendVarint(field: fieldBosID, int32Varint(specials.bos ?? -1), to: &trainer)
        appendVarint(field: fieldEosID, int32Varint(specials.eos ?? -1), to: &trainer)
        appendVarint(field: fieldPadID, int32Varint(specials.pad ?? -1), to: &trainer)
        let pieceFields: [(Int, Int32?)] = [(fieldUnkPiece, Int32(unkIDs[0])), (fieldBosPiece, specials.bos),
                                            (fieldEosPiece, specials.eos), (fieldPadPiece, specials.pad)]
        for (field, id) in pieceFields {
            if let id, let piece = vocabulary.pieceBytes(id) { appendBytes(field: field, piece, to: &trainer) }
        }
        appendBytes(field: fieldTrainerSpec, trainer, to: &out)

        var normalizer: [UInt8] = []
        appendBytes(field: fieldName, Array("identity".utf8), to: &normalizer)
        appendVarint(field: fieldAddDummyPrefix, vocabulary.addSpacePrefix ? 1 : 0, to: &normalizer)
        appendVarint(field: fieldRemoveExtraWhitespaces, 0, to: &normalizer)
        appendVarint(field: fieldEscapeWhitespaces, 1, to: &normalizer)
        appendBytes(field: fieldNormalizerSpec, normalizer, to: &out)
        return out
    }

    private static func protoType(_ t: TokenType) -> Int32 {
        t == .undefined ? TokenType.normal.rawValue : t.rawValue
    }

    private static func int32Varint(_ v: Int32) -> UInt64 {
        UInt64(bitPattern: Int64(v))  // protobuf sign-extends negative int32 values to 64 bits
    }

    private static func appendTag(_ field: Int, _ wireType: UInt64, to out: inout [UInt8]) {
        appendRawVarint(UInt64(field) << 3 | wireType, to: &out)
    }

    private static func appendRawVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func appendVarint(field: Int, _ value: UInt64, to out: inout [UInt8]) {
        appendTag(field, 0, to: &out)
        appendRawVarint(value, to: &out)
    }

    private static func appendFloat(field: Int, _ value: Float, to out: inout [UInt8]) {
        appendTag(field, 5, to: &out)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
    }

    private static func appendBytes(field: Int, _ bytes: [UInt8], to out: inout [UInt8]) {
        appendTag(field, 2, to: &out)
        appendRawVarint(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    // MARK: Reading

    /// What a `tokenizer.model` holds that the runtime uses.
    public struct Contents: Sendable {
        public var pieces: [String] = []
        public var scores: [Float] = []
        public var types: [TokenType] = []
        /// TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char (1 when absent).
        public var modelType: Int = 1
        /// NormalizerSpec.add_dummy_prefix (true when absent).
        public var addDummyPrefix: Bool = true
        public var bosID: Int32 = 1
    }

    /// Reads the pieces and the settings that matter from a serialized `ModelProto`.
    public static func parse(_ data: [UInt8]) throws -> Contents {
        var contents = Contents()
        try data.withUnsafeBufferPointer { buffer in
            var reader = WireReader(buffer: buffer, start: 0, end: buffer.count)
            while let (field, wire) = try reader.nextField() {
                switch (field, wire) {
                case (fieldPieces, 2):
                    var piece = try reader.submessage()
                    var text: [UInt8] = []
                    var score: Float = 0
                    var type = TokenType.normal
                    while let (f, w) = try piece.nextField() {
                        switch (f, w) {
                        case (fieldPiece, 2): text = try piece.bytes()
                        case (fieldScore, 5): score = Float(bitPattern: try piece.fixed32())
                        case (fieldType, 0): type = TokenType(storedValue: Int32(truncatingIfNeeded: try piece.varint()))
                        default: try piece.skip(w)
                        }
                    }
                    if type == .userDefined {
                        text = replaceSpaceSymbols(text)
                    }
                    contents.pieces.append(String(decoding: text, as: UTF8.self))
                    contents.scores.append(score)
                    contents.types.append(type)
                case (fieldTrainerSpec, 2):
                    var spec = try reader.submessage()
                    while let (f, w) = try spec.nextField() {
                        switch (f, w) {
                        case (fieldModelType, 0): contents.modelType = Int(truncatingIfNeeded: try spec.varint())
                        case (fieldBosID, 0): contents.bosID = Int32(truncatingIfNeeded: try spec.varint())
                        default: try spec.skip(w)
                        }
                    }
                case (fieldNormalizerSpec, 2):
                    var spec = try reader.submessage()
                    while let (f, w) = try spec.nextField() {
                        if f == fieldAddDummyPrefix && w == 0 {
                            contents.addDummyPrefix = try spec.varint() != 0
                        } else {
                            try spec.skip(w)
                        }
                    }
                default:
                    try reader.skip(wire)
                }
            }
        }
        guard !contents.pieces.isEmpty else {
            throw TokenizerError("the SentencePiece model holds no pieces (is it a tokenizer.model file?)")
        }
        return contents
    }

    /// User-defined pieces are stored with `▁` in SentencePiece models and literal spaces in GGUF;
    /// the vocabulary keeps GGUF's convention.
    private static func replaceSpaceSymbols(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if i + 2 < text.count, text[i] == 0xE2, text[i + 1] == 0x96, text[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// A bounds-checked protobuf reader over part of a buffer.
    private struct WireReader {
        let buffer: UnsafeBufferPointer<UInt8>
        var position: Int
        let end: Int

        init(buffer: UnsafeBufferPointer<UInt8>, start: Int, end: Int) {
            self.buffer = buffer
            self.position = start
            self.end = end
        }

        private func malformed(_ what: String) -> TokenizerError {
            TokenizerError("malformed SentencePiece model: \(what) at byte \(position)")
        }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < end else { throw malformed("truncated varint") }
                let b = buffer[position]
                position += 1
                guard shift < 64 else { throw malformed("overlong varint") }
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
        }

        mutating func nextField() throws -> (Int, UInt64)? {
            guard position < end else { return nil }
            let key = try varint()
            let field = key >> 3
            guard field > 0, field <= UInt64(Int32.max) else { throw malformed("bad field number \(field)") }
            return (Int(field), key & 7)
        }

        mutating func length() throws -> Int {
            let n = try varint()
            guard n <= UInt64(end - position) else { throw malformed("length \(n) past the end") }
            return Int(n)
        }

        mutating func bytes() throws -> [UInt8] {
            let n = try length()
            defer { position += n }
            return Array(buffer[position..<(position + n)])
        }

        mutating func submessage() throws -> WireReader {
            let n = try length()
            defer { position += n }
            return WireReader(buffer: buffer, start: position, end: position + n)
        }

        mutating func fixed32() throws -> UInt32 {
            guard end - position >= 4 else { throw malformed("truncated fixed32") }
            var v: UInt32 = 0
            for k in 0..<4 { v |= UInt32(buffer[position + k]) << (8 * UInt32(k)) }
            position += 4
            return v
        }

        mutating func skip(_ wire: UInt64) throws {
            switch wire {
            case 0: _ = try varint()
            case 1:
                guard end - position >= 8 else { throw malformed("truncated fixed64") }
                position += 8
            case 2: position += try length()
            case 5: _ = try fixed32()
            default: throw malformed("unsupported wire type \(wire)")
            }
        }
    }
}
