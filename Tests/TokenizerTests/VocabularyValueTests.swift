import GGUF
import TestSupport
import Tokenizer
import XCTest

/// Vocabulary metadata with wrong values: token types outside the defined ones, special-token
/// ids outside the vocabulary, and a model that asks for BOS without having one.
final class VocabularyValueTests: XCTestCase {
    let good = { () -> [UInt8] in
        var m = TinyGemma()
        m.blocks = 1; m.embedding = 32; m.feedForward = 32; m.heads = 1; m.kvHeads = 1; m.headDim = 32
        return m.serialize()
    }()

    func vocabulary(_ bytes: [UInt8]) throws -> Vocabulary {
        try bytes.withUnsafeBytes { try Vocabulary(gguf: GGUFFile(mapping: MappedFile(copying: $0, name: "v.gguf"))) }
    }

    func assertRefused(_ bytes: [UInt8], _ text: String, line: UInt = #line) {
        XCTAssertThrowsError(try vocabulary(bytes), line: line) {
            XCTAssertTrue("\($0)".contains(text), "'\(text)' not in: \($0)", line: line)
        }
    }

    func testTheTinyVocabularyIsAccepted() throws {
        let v = try vocabulary(good)
        XCTAssertEqual(v.specialTokens.bos, 2)
        XCTAssertTrue(v.addBOS)
    }

    func testTokenTypesOutsideTheDefinedOnesAreRefused() throws {
        for bad: Int32 in [7, 99, -1, Int32.max] {
            var types = TinyGemma.tokenTypes
            types[17] = bad
            assertRefused(try Corrupt.rewrite(good) { $0.set("tokenizer.ggml.token_type", .array(.int32(types))) },
                          "tokenizer.ggml.token_type[17] is \(bad), which is not a token type (0 to 6)")
        }
        var types = TinyGemma.tokenTypes.map { UInt32($0) }
        types[3] = 0x8000_0003   // would read as 3 if truncated
        assertRefused(try Corrupt.rewrite(good) { $0.set("tokenizer.ggml.token_type", .array(.uint32(types))) },
                      "tokenizer.ggml.token_type[3] is 2147483651")
    }

    func testSpecialTokenIdsOutsideTheVocabularyAreRefused() throws {
        let n = TinyGemma.pieces.count
        for (key, id) in [("bos", UInt32(1_000_000_000)), ("eos", UInt32(n)), ("unknown", UInt32.max), ("padding", UInt32(n + 5))] {
            assertRefused(try Corrupt.rewrite(good) { $0.set("tokenizer.ggml.\(key)_token_id", .uint32(id)) },
                          "tokenizer.ggml.\(key)_token_id is \(id), outside the vocabulary of \(n) pieces")
        }
    }

    func testAMissingBOSIsAnErrorWhenTheModelAsksForIt() throws {
        var pieces = TinyGemma.pieces
        pieces[2] = "<not_bos>"
        let renamed = try Corrupt.rewrite(good) {
            $0.set("tokenizer.ggml.tokens", .array(.strings(pieces)))
            $0.remove("tokenizer.ggml.bos_token_id")
        }
        assertRefused(renamed, "the model asks for a BOS token (tokenizer.ggml.add_bos_token) but the vocabulary has no <bos>")
        // Renamed, but its id is given: that id is BOS.
        let byId = try Corrupt.rewrite(renamed) { $0.set("tokenizer.ggml.bos_token_id", .uint32(2)) }
        XCTAssertEqual(try vocabulary(byId).specialTokens.bos, 2)
        // A model that does not ask for BOS needs none.
        let noBOS = try Corrupt.rewrite(renamed) { $0.set("tokenizer.ggml.add_bos_token", .bool(false)) }
        XCTAssertNil(try vocabulary(noBOS).specialTokens.bos)
    }
}
