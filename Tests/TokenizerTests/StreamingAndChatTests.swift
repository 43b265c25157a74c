import XCTest
@testable import Tokenizer

final class StreamingDecoderTests: XCTestCase {
    var vocab: Vocabulary!

    override func setUpWithError() throws {
        vocab = try TinyVocabulary.make()
    }

    func testFourByteEmojiSplitAcrossByteTokensIsHeldBack() {
        var d = StreamingDecoder(vocabulary: vocab)
        XCTAssertEqual(d.append(vocab.must("▁hello")), " hello")
        XCTAssertEqual(d.append(vocab.byte(0xF0)), "")
        XCTAssertEqual(d.append(vocab.byte(0x9F)), "")
        XCTAssertTrue(d.hasPendingBytes)
        XCTAssertEqual(d.append(vocab.byte(0x98)), "")
        XCTAssertEqual(d.append(vocab.byte(0x80)), "😀")
        XCTAssertFalse(d.hasPendingBytes)
        XCTAssertEqual(d.append(vocab.must("a")), "a")
        XCTAssertEqual(d.flush(), "")
    }

    func testTwoAndThreeByteCharacters() {
        var d = StreamingDecoder(vocabulary: vocab)
        XCTAssertEqual(d.append(vocab.byte(0xC3)), "")
        XCTAssertEqual(d.append(vocab.byte(0xA9)), "é")
        XCTAssertEqual(d.append(vocab.byte(0xE2)), "")
        XCTAssertEqual(d.append(vocab.byte(0x82)), "")
        XCTAssertEqual(d.append(vocab.byte(0xAC)), "€")
    }

    func testInvalidBytesBecomeReplacementCharacters() {
        var d = StreamingDecoder(vocabulary: vocab)
        // A continuation byte with no lead can never become valid: out at once.
        XCTAssertEqual(d.append(vocab.byte(0x80)), "\u{FFFD}")
        // An unfinished character interrupted by ASCII.
        XCTAssertEqual(d.append(vocab.byte(0xE2)), "")
        XCTAssertEqual(d.append(vocab.must("a")), "\u{FFFD}a")
        // 0xED 0xA0 would start a surrogate: invalid as soon as the second byte arrives.
        XCTAssertEqual(d.append(vocab.byte(0xED)), "")
        XCTAssertEqual(d.append(vocab.byte(0xA0)), "\u{FFFD}\u{FFFD}")
        // An unfinished character at the end is flushed as U+FFFD.
        XCTAssertEqual(d.append(vocab.byte(0xF0)), "")
        XCTAssertEqual(d.append(vocab.byte(0x9F)), "")
        XCTAssertEqual(d.flush(), "\u{FFFD}")
        XCTAssertFalse(d.hasPendingBytes)
        XCTAssertEqual(d.flush(), "")
    }

    func testControlTokensAreHiddenUnlessAsked() {
        var hidden = StreamingDecoder(vocabulary: vocab)
        XCTAssertEqual(hidden.append(contentsOf: [vocab.must("Hi"), 1, 5]), "Hi")
        var shown = StreamingDecoder(vocabulary: vocab, showControlTokens: true)
        XCTAssertEqual(shown.append(contentsOf: [vocab.must("Hi"), 1]), "Hi<eos>")
    }

    func testWhitespacePiecesAndMetaSymbol() {
        var d = StreamingDecoder(vocabulary: vocab)
        let ids = BPETokenizer(vocabulary: vocab).encode("user model\n\n  x\t", addBOS: true)
        XCTAssertEqual(d.append(contentsOf: ids) + d.flush(), "user model\n\n  x\t")
    }

    func testOutOfRangeIdIsVisible() {
        var d = StreamingDecoder(vocabulary: vocab)
        XCTAssertEqual(d.append(Int32(vocab.count)), "\u{FFFD}")
    }
}

final class ChatTemplateTests: XCTestCase {
    var vocab: Vocabulary!
    var template: ChatTemplate!

    override func setUpWithError() throws {
        vocab = try TinyVocabulary.make()
        template = try ChatTemplate(tokenizer: BPETokenizer(vocabulary: vocab))
    }

    func testSingleUserTurn() throws {
        let v = vocab!
        let nl = v.must("\n")
        let expected: [Int32] = [2, 4, v.must("user"), nl, v.must("Hi"), 5, nl, 4, v.must("model"), nl]
        XCTAssertEqual(try template.encode([.user("Hi")]), expected)
        XCTAssertEqual(try template.encode(user: "  Hi\n"), expected)  // texts are trimmed
        XCTAssertEqual(try template.render([.user("Hi")]),
                       "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    func testSystemPromptIsPrependedToTheFirstUserTurn() throws {
        let v = vocab!
        let nl = v.must("\n"), nl2 = v.must("\n\n")
        let ids = try template.encode(user: "Hi", system: "hello")
        XCTAssertEqual(ids, [2, 4, v.must("user"), nl, v.must("hello"), nl2, v.must("Hi"), 5, nl, 4, v.must("model"), nl])
        XCTAssertEqual(try template.render([.system("hello"), .user("Hi")]),
                       "<bos><start_of_turn>user\nhello\n\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    func testMultiTurnClosesModelTurns() throws {
        let v = vocab!
        let nl = v.must("\n")
        let ids = try template.encode([.user("Hi"), .model("hello"), .user("Hi")])
        XCTAssertEqual(ids, [2,
                             4, v.must("user"), nl, v.must("Hi"), 5, nl,
                             4, v.must("model"), nl, v.must("hello"), 5, nl,
                             4, v.must("user"), nl, v.must("Hi"), 5, nl,
                             4, v.must("model"), nl])
        XCTAssertEqual(try template.encode([.user("Hi")], addGenerationPrompt: false),
                       [2, 4, v.must("user"), nl, v.must("Hi"), 5, nl])
    }

    /// A tool's result goes back inside a user turn in a ```tool_output block; user and tool
    /// messages next to each other share the turn; two user messages still do not.
    func testToolResultsJoinTheUserTurn() throws {
        let call = #"{"name": "f", "parameters": {}}"#
        XCTAssertEqual(try template.render([.user("Hi"), .model(call), .tool(" 42 "), .tool("7"), .user("and?")]),
                       "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n\(call)<end_of_turn>\n"
                       + "<start_of_turn>user\n```tool_output\n42\n```\n\n```tool_output\n7\n```\n\nand?<end_of_turn>\n"
                       + "<start_of_turn>model\n")
        XCTAssertThrowsError(try template.encode([.user("a"), .user("b")]))
        XCTAssertThrowsError(try template.encode([.model("x"), .tool("1")]))
    }

    func testUserTextNeverBecomesSpecialTokens() throws {
        let ids = try template.encode(user: "<end_of_turn><start_of_turn><eos>")
        // Exactly one turn's worth of markers: the ones the template inserted.
        XCTAssertEqual(ids.filter { $0 == 5 }.count, 1)
        XCTAssertEqual(ids.filter { $0 == 4 }.count, 2)
        XCTAssertFalse(ids.contains(1))
    }

    func testStopTokensAndRoleChecks() throws {
        XCTAssertEqual(template.stopTokens, [5, 1])
        XCTAssertThrowsError(try template.encode([.model("x")]))
        XCTAssertThrowsError(try template.encode([.user("a"), .user("b")]))
        XCTAssertThrowsError(try template.encode([.user("a"), .system("b")])) { error in
            XCTAssertTrue("\(error)".contains("system"), "\(error)")
        }
    }

    /// Media between texts: the first text of a message is trimmed at its start, the last at its
    /// end, a text between two media items is kept; the system prompt joins the first user text;
    /// a system message cannot hold media.
    func testPiecesPlaceMediaAndTrimOnlyTheOuterTexts() throws {
        let turns: [ChatTemplate.Turn] = [
            .init(.system, [.text(" be brief ")]),
            .init(.user, [.text("  look "), .media(0), .text(" and "), .media(1), .text(" here\n")]),
        ]
        XCTAssertEqual(try template.pieces(turns), [
            .token(2), .token(4), .text("user\nbe brief\n\nlook "), .media(0), .text(" and "), .media(1), .text(" here"),
            .token(5), .text("\n"), .token(4), .text("model\n"),
        ])
        XCTAssertEqual(try template.pieces([.init(.user, [.media(0), .text("x")])], addGenerationPrompt: false),
                       [.token(2), .token(4), .text("user\n"), .media(0), .text("x"), .token(5), .text("\n")])
        XCTAssertThrowsError(try template.pieces([.init(.system, [.media(0)]), .init(.user, [.text("x")])])) {
            XCTAssertTrue("\($0)".contains("system message cannot hold images"), "\($0)")
        }
        // Text-only pieces are what encode tokenises.
        let ids = try template.encode([.system("be brief"), .user("Hi")])
        var fromPieces: [Int32] = []
        for piece in try template.pieces([.system("be brief"), .user("Hi")]) {
            switch piece {
            case .token(let id): fromPieces.append(id)
            case .text(let t): fromPieces += try template.tokenizer.encode(t, addBOS: false)
            case .media: XCTFail("no media in text messages")
            }
        }
        XCTAssertEqual(ids, fromPieces)
    }

    func testNeedsChatPieces() throws {
        let v = try Vocabulary(tokens: ["<unk>", "a"], types: [.control, .normal])
        XCTAssertThrowsError(try ChatTemplate(tokenizer: BPETokenizer(vocabulary: v))) { error in
            XCTAssertTrue("\(error)".contains("<start_of_turn>"), "\(error)")
        }
    }
}
