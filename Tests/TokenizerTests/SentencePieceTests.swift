import CSentencePiece
import Foundation
import XCTest
@testable import Tokenizer

final class SentencePieceTests: XCTestCase {
    static let texts = [
        "", "abc", "abx", "aaaaa", "hello", " hello", "user model", "a  b", "a     b", "a    b",
        "a\n\n\nb\tc", "<b>x</b>", "<bos><eos>", "é 😀", "Hi\n\nhello   \t\t", "   ", "\n",
    ]

    func testMatchesBPEOnTinyVocabulary() throws {
        let vocab = try TinyVocabulary.make()
        let bpe = BPETokenizer(vocabulary: vocab)
        let sp = try SentencePieceTokenizer(vocabulary: vocab)
        XCTAssertEqual(sp.vocabularySize, vocab.count)
        for text in Self.texts {
            XCTAssertEqual(try sp.encode(text, addBOS: true), bpe.encode(text, addBOS: true), "text: \(text.debugDescription)")
        }
        // User-defined spaces are written as U+2581 for SentencePiece.
        XCTAssertEqual(sp.sentencePiece(vocab.must("  ")), "▁▁")
        XCTAssertNil(sp.sentencePiece(-1))
    }

    func testModelProtoRoundTripsAndLoadsFromAFile() throws {
        let vocab = try TinyVocabulary.make()
        let proto = try SentencePieceModel.serialize(vocab)
        let contents = try SentencePieceModel.parse(proto)
        XCTAssertEqual(contents.pieces, TinyVocabulary.pieces)
        XCTAssertEqual(contents.scores, vocab.scores)
        // <unk> is typed UNKNOWN in the model (SentencePiece needs one), control in the vocabulary.
        var expectedTypes = vocab.types
        expectedTypes[3] = .unknown
        XCTAssertEqual(contents.types, expectedTypes)
        XCTAssertEqual(contents.modelType, 2)
        XCTAssertFalse(contents.addDummyPrefix)

        let path = NSTemporaryDirectory() + "tiny-\(UUID().uuidString).model"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(proto)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sp = try SentencePieceTokenizer(modelFile: path)
        XCTAssertEqual(sp.vocabulary.count, vocab.count)
        XCTAssertEqual(sp.vocabulary.specialTokens.bos, 2)
        XCTAssertEqual(sp.vocabulary.id(of: "  "), vocab.must("  "))  // literal spaces again
        let bpe = BPETokenizer(vocabulary: vocab)
        for text in Self.texts {
            XCTAssertEqual(try sp.encode(text, addBOS: false), bpe.encode(text, addBOS: false), "text: \(text.debugDescription)")
        }
    }

    func testBadModelsGiveErrorsNotCrashes() throws {
        let path = NSTemporaryDirectory() + "garbage-\(UUID().uuidString).model"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([0x0A, 0xFF, 0xFF, 0x01, 0x02])))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try SentencePieceTokenizer(modelFile: path)) { error in
            XCTAssertTrue(error is TokenizerError, "\(error)")
        }
        XCTAssertThrowsError(try SentencePieceTokenizer(modelFile: "/nonexistent/tokenizer.model"))

        // The C boundary reports libsentencepiece's own refusal (a model without byte pieces
        // although byte fallback is on) as a message.
        var error = [CChar](repeating: 0, count: 256)
        let bogus: [UInt8] = [0x12, 0x02, 0x18, 0x02]  // trainer_spec { model_type: BPE }, no pieces
        let p = bogus.withUnsafeBytes { csp_create_from_proto($0.baseAddress, $0.count, &error, error.count) }
        XCTAssertNil(p)
        XCTAssertFalse(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).isEmpty)
        XCTAssertEqual(csp_piece_count(nil), -1)
        XCTAssertEqual(csp_encode(nil, "a", 1, nil, 0, nil, 0), -1)

        // A vocabulary SentencePiece cannot express is refused before it gets there.
        let noBytes = try Vocabulary(tokens: ["<unk>", "a"], types: [.control, .normal])
        XCTAssertThrowsError(try SentencePieceTokenizer(vocabulary: noBytes)) { error in
            XCTAssertTrue("\(error)".contains("byte pieces"), "\(error)")
        }
    }
}
