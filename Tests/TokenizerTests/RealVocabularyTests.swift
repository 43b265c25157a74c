import Foundation
import GGUF
import TestSupport
import XCTest
@testable import Tokenizer

/// Tests on the real Gemma 3 270M vocabulary (262,144 pieces). They fail, never skip, when the
/// model is missing: `make test` fetches it first.
final class RealVocabularyTests: XCTestCase {
    struct Loaded {
        let vocabulary: Vocabulary
        let bpe: BPETokenizer
        let sentencePiece: SentencePieceTokenizer
        let seconds: (gguf: Double, vocabulary: Double, sentencePiece: Double)
    }

    nonisolated(unsafe) private static var cached: Result<Loaded, Error>?

    /// Loads the model's vocabulary once for all tests of this class.
    static func loaded() throws -> Loaded {
        if let cached { return try cached.get() }
        let result = Result { () throws -> Loaded in
            let path = try RealModel.require()
            let t0 = Date()
            let file = try GGUFFile(path: path)
            let t1 = Date()
            let vocabulary = try Vocabulary(gguf: file)
            let t2 = Date()
            let sp = try SentencePieceTokenizer(vocabulary: vocabulary)
            let t3 = Date()
            return Loaded(vocabulary: vocabulary, bpe: BPETokenizer(vocabulary: vocabulary), sentencePiece: sp,
                          seconds: (t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), t3.timeIntervalSince(t2)))
        }
        cached = result
        return try result.get()
    }

    /// Text of every kind the tokenizers must agree on.
    static let corpus: [String] = [
        "",
        "The quick brown fox jumps over the lazy dog.",
        "Hello, world! It's 5 o'clock -- don't panic.",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "class A {\n\tvoid f() {\n\t\tif (x) {\n\t\t\treturn;\n\t\t}\n\t}\n}\n",
        "机器学习是人工智能的一个分支。今日はいい天気ですね。안녕하세요.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "مرحبا بالعالم. هذه جملة باللغة العربية.",
        "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇯🇵 🫠 and math ∑ x² ≤ ∞",
        "a" + String(repeating: " ", count: 40) + "b" + String(repeating: "\n", count: 35) + String(repeating: "\t", count: 33),
        "   leading and trailing   ",
        " \n \t\n\n  \t \r\n\r\n",
        "3.14159265358979 1,234,567 0x1F 2024-01-01 12345678901234567890",
        "<table><tr><td>a</td></tr></table><b>bold</b> <s>strike</s> <code>x</code> <div>\n  <span>hi</span>\n</div>",
        "<bos><eos><start_of_turn>user\n<end_of_turn><pad><unk><mask><unused0>",
        "<0x41><0xFF> [multimodal]",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "a\u{0}b\u{1}c\u{7f} e\u{301} \u{feff}bom \u{200b}zw\u{200d}j \u{e000}",
        "𠀀𠀁𪚥 龘 ᚠᛇᚻ ꙮ",
    ]

    func testVocabularyLoadsWithSpecialIdsFoundByText() throws {
        let loaded = try Self.loaded()
        let v = loaded.vocabulary
        print(String(format: "real vocabulary: GGUF open %.3f s, vocabulary %.3f s, SentencePiece model %.3f s",
                     loaded.seconds.gguf, loaded.seconds.vocabulary, loaded.seconds.sentencePiece))
        XCTAssertEqual(v.count, 262_144)
        XCTAssertEqual(v.specialTokens, SpecialTokens(bos: 2, eos: 1, pad: 0, unk: 3, startOfTurn: 105, endOfTurn: 106,
                                                      startOfImage: 255_999, endOfImage: 256_000))
        XCTAssertTrue(v.addBOS)
        XCTAssertFalse(v.addSpacePrefix)
        XCTAssertEqual(v.types.filter { $0 == .byte }.count, 256)
        XCTAssertEqual(v.types.filter { $0 == .userDefined }.count, 164)  // 165 stored, `</s>` overridden
        XCTAssertEqual(v.storedTypes.filter { $0 == .userDefined }.count, 165)
        XCTAssertLessThan(loaded.seconds.vocabulary, 2.0, "building the vocabulary took too long")
    }

    func testBPEMatchesSentencePieceBuiltFromTheGGUFVocabulary() throws {
        let loaded = try Self.loaded()
        var texts = Self.corpus
        texts += try Self.fixtureCorpus().map(\.text)
        var same = 0
        for text in texts {
            let bpe = loaded.bpe.encode(text, addBOS: true)
            let sp = try loaded.sentencePiece.encode(text, addBOS: true)
            XCTAssertEqual(bpe, sp, "text: \(text.debugDescription)")
            if bpe == sp { same += 1 }
        }
        print("BPE == SentencePiece on \(same) of \(texts.count) texts")
        XCTAssertGreaterThan(texts.count, 60)
    }

    func testBPEMatchesLlamaCppGoldenIds() throws {
        let loaded = try Self.loaded()
        let url = Fixtures.url("golden/tokenize.json")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        XCTAssertFalse(golden.add_special)
        XCTAssertFalse(golden.parse_special)
        var same = 0
        for c in golden.cases {
            let ids = loaded.bpe.encode(c.text, addBOS: false)
            XCTAssertEqual(ids, c.ids, "case \(c.name)")
            if ids == c.ids { same += 1 }
        }
        print("BPE == llama.cpp golden ids on \(same) of \(golden.cases.count) cases")
        XCTAssertGreaterThan(golden.cases.count, 0)
    }

    /// Ids recorded by hand with `llama-tokenize --no-parse-special --no-escape --no-bos --ids`
    /// (llama.cpp from llama-cpp-python 0.3.36) for cases the golden corpus does not cover.
    func testLlamaCppSpecificCases() throws {
        let bpe = try Self.loaded().bpe
        // `</s>` is spelled with ordinary pieces (llama.cpp's end-of-generation override), `<b>`,
        // `</b>` are user-defined pieces.
        XCTAssertEqual(bpe.encode("<s>x</s> <b>y</b>", addBOS: false), [203, 236781, 954, 236751, 236813, 236743, 200, 236762, 209])
        XCTAssertEqual(bpe.encode("a     b", addBOS: false), [236746, 141, 236763])
        XCTAssertEqual(bpe.encode("<bos>hi<end_of_turn>", addBOS: false),
                       [236820, 46757, 236813, 2202, 236820, 643, 236779, 1340, 236779, 887, 236813])
        XCTAssertEqual(bpe.encode("Hello, world!", addBOS: true), [2, 9259, 236764, 1902, 236888])
        // `<start_of_image>` is a user-defined piece in this file, so llama.cpp (and SentencePiece)
        // match it in user text.
        XCTAssertEqual(bpe.encode("<start_of_image>", addBOS: false), [255_999])
    }

    /// The chat format's ids equal llama.cpp's for the rendered template (parsed with specials).
    func testChatTemplateMatchesLlamaCpp() throws {
        let loaded = try Self.loaded()
        let template = try ChatTemplate(tokenizer: loaded.bpe)
        let messages: [ChatMessage] = [
            .system("You are terse."), .user("Hello there"), .model("Hi!"),
            .user("Write <b>bold</b>\tcode:\n    x = 1"),
        ]
        let ids = try template.encode(messages)
        XCTAssertEqual(try ChatTemplate(tokenizer: loaded.sentencePiece).encode(messages), ids)
        XCTAssertEqual(ids, [2, 105, 2364, 107, 3048, 659, 17514, 236761, 108, 9259, 993, 106, 107, 105, 4368, 107, 10979,
                             236888, 106, 107, 105, 2364, 107, 6974, 236743, 200, 15640, 209, 255968, 3970, 236787, 107,
                             140, 236781, 578, 236743, 236770, 106, 107, 105, 4368, 107])
        XCTAssertEqual(template.stopTokens, [106, 1])
    }

    /// Justifies the one rule where BPETokenizer departs from llama.cpp's code (merges never make
    /// control, unknown or byte pieces): in this vocabulary no merge chain can spell one.
    func testNoMergeChainSpellsAControlOrBytePiece() throws {
        let v = try Self.loaded().vocabulary
        var memo: [String: Bool] = [:]
        func reachable(_ s: String) -> Bool {
            let chars = Array(s)
            if chars.count <= 1 { return true }
            if let known = memo[s] { return known }
            memo[s] = false
            var result = false
            for k in 1..<chars.count {
                let left = String(chars[..<k]), right = String(chars[k...])
                if v.id(of: left) != nil, v.id(of: right) != nil, reachable(left), reachable(right) {
                    result = true
                    break
                }
            }
            memo[s] = result
            return result
        }
        var checked = 0
        for id in 0..<Int32(v.count) where [.control, .unknown, .byte].contains(v.storedTypes[Int(id)]) {
            let piece = v.piece(id)!.replacingOccurrences(of: " ", with: "▁")
            XCTAssertFalse(reachable(piece), "merges can spell the \(v.storedTypes[Int(id)]) piece \(piece)")
            checked += 1
        }
        XCTAssertEqual(checked, 6249 + 256)
    }

    /// llama.cpp splits user-defined pieces longest first but leaves the order among pieces of
    /// equal length unspecified; that order cannot matter when no two such pieces can overlap.
    func testEqualLengthUserDefinedPiecesNeverOverlap() throws {
        let v = try Self.loaded().vocabulary
        let pieces = v.userDefinedByLength.map { v.pieceBytes($0)! }
        var pairs = 0
        for a in pieces {
            for b in pieces where a.count == b.count && a != b {
                for k in 1..<a.count {
                    XCTAssertNotEqual(Array(a[k...]), Array(b[..<(a.count - k)]),
                                      "\(String(decoding: a, as: UTF8.self)) overlaps \(String(decoding: b, as: UTF8.self))")
                }
                pairs += 1
            }
        }
        XCTAssertGreaterThan(pairs, 0)
    }

    func testEncodeSpeedOn100KB() throws {
        let loaded = try Self.loaded()
        var text = ""
        let corpus = Self.corpus + (try Self.fixtureCorpus().map(\.text))
        while text.utf8.count < 100_000 { for t in corpus { text += t + "\n" } }
        let t0 = Date()
        let ids = loaded.bpe.encode(text, addBOS: true)
        let seconds = Date().timeIntervalSince(t0)
        print(String(format: "BPE encoded %d bytes to %d ids in %.3f s", text.utf8.count, ids.count, seconds))
        XCTAssertEqual(ids, try loaded.sentencePiece.encode(text, addBOS: true))
        XCTAssertLessThan(seconds, 5.0, "even a debug build should encode 100 KB within seconds")
    }

    // MARK: Fixtures

    struct CorpusItem: Decodable {
        let name: String
        let text: String
    }

    struct Golden: Decodable {
        struct Case: Decodable {
            let name: String
            let text: String
            let ids: [Int32]
        }
        let add_special: Bool
        let parse_special: Bool
        let cases: [Case]
    }

    static func fixtureCorpus() throws -> [CorpusItem] {
        try JSONDecoder().decode([CorpusItem].self, from: Data(contentsOf: Fixtures.url("texts/tokenize-corpus.json")))
    }
}
