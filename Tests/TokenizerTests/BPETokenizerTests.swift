import XCTest
@testable import Tokenizer

final class BPETokenizerTests: XCTestCase {
    var vocab: Vocabulary!
    var bpe: BPETokenizer!

    override func setUpWithError() throws {
        vocab = try TinyVocabulary.make()
        bpe = BPETokenizer(vocabulary: vocab)
    }

    private func ids(_ pieces: String...) -> [Int32] { pieces.map { vocab.must($0) } }

    func testSpecialIdsAreFoundByText() {
        let s = vocab.specialTokens
        XCTAssertEqual(s.pad, 0)
        XCTAssertEqual(s.eos, 1)
        XCTAssertEqual(s.bos, 2)
        XCTAssertEqual(s.unk, 3)
        XCTAssertEqual(s.startOfTurn, 4)
        XCTAssertEqual(s.endOfTurn, 5)
        XCTAssertNil(s.startOfImage)
        XCTAssertEqual(bpe.vocabularySize, TinyVocabulary.pieces.count)
    }

    func testHigherScoreMergesFirst() {
        // "bc" (-0.5) beats "ab" (-1), and "abc" is not a piece.
        XCTAssertEqual(bpe.encode("abc", addBOS: false), ids("a", "bc"))
        XCTAssertEqual(bpe.encode("abx", addBOS: false), ids("ab", "x"))
    }

    func testEqualScoresMergeLeftMostFirst() {
        XCTAssertEqual(bpe.encode("aaa", addBOS: false), ids("aa", "a"))
        XCTAssertEqual(bpe.encode("aaaaa", addBOS: false), ids("aa", "aa", "a"))
    }

    func testMergesChainThroughIntermediatePieces() {
        // he, then ll, then hell, then hello.
        XCTAssertEqual(bpe.encode("hello", addBOS: false), ids("hello"))
        XCTAssertEqual(bpe.encode("user model", addBOS: false), ids("user", "▁", "model"))
    }

    func testSpacesBecomeMetaSymbolWithoutDummyPrefix() {
        XCTAssertEqual(bpe.encode("a b", addBOS: false), ids("a", "▁", "b"))
        XCTAssertEqual(bpe.encode(" hello", addBOS: false), ids("▁hello"))
        XCTAssertEqual(bpe.encode("hello", addBOS: false), ids("hello"))
    }

    func testSpacePrefixWhenTheVocabularyAsksForIt() throws {
        let v = try TinyVocabulary.make(addSpacePrefix: true)
        let t = BPETokenizer(vocabulary: v)
        // A prefix at the start and after every user-defined piece, as llama.cpp does.
        XCTAssertEqual(t.encode("hello\nhello", addBOS: false),
                       [v.must("▁hello"), v.must("\n"), v.must("▁hello")])
    }

    func testByteFallbackForCharactersWithoutPieces() {
        XCTAssertEqual(bpe.encode("é", addBOS: false), [vocab.byte(0xC3), vocab.byte(0xA9)])
        XCTAssertEqual(bpe.encode("a😀", addBOS: false),
                       [vocab.must("a"), vocab.byte(0xF0), vocab.byte(0x9F), vocab.byte(0x98), vocab.byte(0x80)])
        // A lone invalid byte (not reachable from a String) also falls back.
        let raw: [UInt8] = [0x61, 0xFF]
        XCTAssertEqual(raw.withUnsafeBufferPointer { bpe.encode(utf8: $0, addBOS: false) },
                       [vocab.must("a"), vocab.byte(0xFF)])
    }

    func testUserDefinedWhitespaceRunsAreAtomicLongestFirst() {
        XCTAssertEqual(bpe.encode("a  b", addBOS: false), ids("a", "  ", "b"))
        XCTAssertEqual(bpe.encode("a     b", addBOS: false), ids("a", "   ", "  ", "b"))
        // Four spaces: the three-space run, then one ordinary space.
        XCTAssertEqual(bpe.encode("a    b", addBOS: false), ids("a", "   ", "▁", "b"))
        XCTAssertEqual(bpe.encode("a\n\n\nb\tc", addBOS: false), ids("a", "\n\n", "\n", "b", "\t", "c"))
        XCTAssertEqual(bpe.encode("   ", addBOS: false), ids("   "))
    }

    func testUserDefinedTagsAreAtomic() {
        XCTAssertEqual(bpe.encode("<b>x</b>", addBOS: false), ids("<b>", "x", "</b>"))
    }

    func testControlPiecesAreNeverParsedFromText() {
        let got = bpe.encode("<bos><eos>", addBOS: false)
        XCTAssertEqual(got, ids("<", "b", "o", "s", ">", "<", "e", "o", "s", ">"))
        for control in 0..<Int32(TinyVocabulary.control.count) {
            XCTAssertFalse(got.contains(control))
        }
        XCTAssertEqual(bpe.encode("<start_of_turn>", addBOS: false).first, vocab.must("<"))
    }

    func testEmptyInput() {
        XCTAssertEqual(bpe.encode("", addBOS: false), [])
        XCTAssertEqual(bpe.encode("", addBOS: true), [2])
        XCTAssertEqual(bpe.encode(""), [2])  // the vocabulary's default adds BOS
    }

    func testBOS() {
        XCTAssertEqual(bpe.encode("Hi", addBOS: true), [2, vocab.must("Hi")])
    }

    func testDecodeRoundTrips() {
        for text in ["hello world", "  a\tb\n\nc", "é 😀 <bos> <b>x</b>", ""] {
            XCTAssertEqual(bpe.decode(bpe.encode(text, addBOS: true)), text)
        }
        XCTAssertEqual(bpe.decodePieceBytes(1), [])
        XCTAssertEqual(bpe.decodePieceBytes(1, includeControl: true), Array("<eos>".utf8))
        XCTAssertEqual(bpe.decodePieceBytes(vocab.must("▁hello")), Array(" hello".utf8))
        XCTAssertEqual(bpe.decodePieceBytes(vocab.byte(0x41)), [0x41])
        XCTAssertEqual(bpe.decodePieceBytes(-1), [])
    }

    func testVocabularyValidation() {
        XCTAssertThrowsError(try Vocabulary(tokens: ["a", "b"], scores: [0], types: nil)) { error in
            XCTAssertTrue("\(error)".contains("2 pieces but 1 scores"), "\(error)")
        }
        XCTAssertThrowsError(try Vocabulary(tokens: ["a"], scores: nil, types: [.normal, .normal]))
        XCTAssertThrowsError(try Vocabulary(tokens: ["a", "a"])) { error in
            XCTAssertTrue("\(error)".contains("twice"), "\(error)")
        }
        XCTAssertThrowsError(try Vocabulary(tokens: ["a"], model: "gpt2")) { error in
            XCTAssertTrue("\(error)".contains("not supported"), "\(error)")
        }
        XCTAssertThrowsError(try Vocabulary(tokens: [])) { error in
            XCTAssertTrue(error is TokenizerError)
        }
        // No byte pieces and no <unk>: some text could not be encoded.
        XCTAssertThrowsError(try Vocabulary(tokens: ["a"]))
    }

    func testLlamaCppEndOfGenerationOverride() throws {
        // `</s>` as a user-defined piece: llama.cpp treats it as control, so it is not matched in text.
        var tokens = TinyVocabulary.pieces
        tokens.append("</s>")
        let types: [TokenType] = TinyVocabulary.control.map { _ in .control } + Array(repeating: .byte, count: 256)
            + TinyVocabulary.userDefined.map { _ in .userDefined } + TinyVocabulary.normal.map { _ in .normal }
            + [.userDefined]
        let overridden = try Vocabulary(tokens: tokens, types: types)
        let literal = try Vocabulary(tokens: tokens, types: types, llamaCppOverrides: false)
        let s = overridden.must("</s>")
        XCTAssertEqual(overridden.types[Int(s)], .control)
        XCTAssertEqual(overridden.storedTypes[Int(s)], .userDefined)
        XCTAssertFalse(BPETokenizer(vocabulary: overridden).encode("x</s>", addBOS: false).contains(s))
        XCTAssertEqual(BPETokenizer(vocabulary: literal).encode("x</s>", addBOS: false), [literal.must("x"), s])
    }
}
