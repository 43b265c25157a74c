import Foundation
@testable import Grammar
import Sampling
import XCTest

/// Grammar files of this test target (Tests/GrammarTests/Fixtures) and llama.cpp's, when the peer
/// source is in the cache.
enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func gbnf(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name + ".gbnf"), encoding: .utf8)
    }

    static var llamaGrammars: String {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        let cache = ProcessInfo.processInfo.environment["GEMMA_EDGE_CACHE"] ?? home + "/.cache/gemma-edge"
        return cache + "/peer/llama_cpp_python-0.3.36/vendor/llama.cpp/grammars"
    }

    /// A vocabulary of every single byte, some words and stop token 0.
    static func vocabulary() -> TokenVocabulary {
        var tokens: [[UInt8]] = [[]]  // id 0: the stop token, no bytes
        tokens += (0..<256).map { [UInt8($0)] }
        let words = ["{\"", "\":", "\",", "\"}", "\"", "true", "false", "null", " ", "  ", "\n", "12", "3.5", "abc",
                     "name", "\": \"", "e4", "Nf3", ". ", "1. ", "x", "O-O", "- ", "item", "é", "日本", "\u{FF}",
                     "[1,", "2]", "},{", "ab\"", "\"a", "= ", "+", "(x", "0."]
        tokens += words.map { Array($0.utf8) }
        tokens.append([0xE6])  // a lone lead byte
        tokens.append([0x97, 0xA5])  // continuation bytes
        return TokenVocabulary(tokens: tokens, stopTokens: [0])
    }
}

final class GrammarTests: XCTestCase {
    func accepts(_ g: Grammar, _ text: String) -> Bool {
        let m = GrammarMatcher(grammar: g)
        return m.accept(Array(text.utf8)) && m.isComplete
    }

    func testParsesAndMatchesFixtures() throws {
        let arith = try Grammar(gbnf: Fixtures.gbnf("arithmetic"))
        XCTAssertTrue(accepts(arith, "1+2=3\n"))
        XCTAssertTrue(accepts(arith, "(a * b) - c1 = 42\nx=y\n"))
        XCTAssertFalse(accepts(arith, "1+=3\n"))
        XCTAssertFalse(accepts(arith, "1+2=3"))  // a prefix, not complete
        let chess = try Grammar(gbnf: Fixtures.gbnf("chess"))
        XCTAssertTrue(accepts(chess, "1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 4. O-O Nxe4"))
        XCTAssertTrue(accepts(chess, "1. e8=Q+"))
        XCTAssertFalse(accepts(chess, "1. e9"))
        let list = try Grammar(gbnf: Fixtures.gbnf("list"))
        XCTAssertTrue(accepts(list, "- milk\n- eggs\n"))
        XCTAssertFalse(accepts(list, "- a\n- b\n- c\n- d\n- e\n- f\n"))
        let uni = try Grammar(gbnf: Fixtures.gbnf("unicode"))
        XCTAssertTrue(accepts(uni, "日本語 αβγ café"))
        XCTAssertFalse(accepts(uni, "日本人"))
        XCTAssertFalse(accepts(uni, "Ψ"))
        let json = try Grammar(gbnf: JSONSchemaGrammar.anyJSON())
        XCTAssertTrue(accepts(json, #"{"a": [1, 2.5e3, -0.1, true, null], "b": {"c": "d\u00e9\n"}}"#))
        XCTAssertFalse(accepts(json, #"{"a": 01}"#))
        XCTAssertFalse(accepts(json, "{\"a\": \"\u{1}\"}"))
    }

    func testLlamaCppGrammarsCompile() throws {
        let dir = Fixtures.llamaGrammars
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            throw XCTSkip("llama.cpp's grammars are not in the cache (\(dir)); Benchmarks/peer/build-peer.sh fetches them")
        }
        var compiled = 0
        for name in names.sorted() where name.hasSuffix(".gbnf") {
            let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            let g = try Grammar(gbnf: text)
            XCTAssertGreaterThan(g.elementCount, 0, name)
            compiled += 1
        }
        XCTAssertGreaterThan(compiled, 5)
        let json = try Grammar(gbnf: String(contentsOfFile: dir + "/json.gbnf", encoding: .utf8))
        XCTAssertTrue(accepts(json, #"{"a": [1, 2], "b": "c"}"#))
    }

    func testBadGrammarsAreClearErrors() {
        let cases: [(String, String)] = [
            ("root ::= foo", "undefined rule 'foo'"),
            ("a ::= \"x\"", "no 'root' rule"),
            ("root ::= root \"a\" | \"b\"", "left-recursive"),
            ("root ::= x \"a\"\nx ::= \"\" | root", "left-recursive"),
            ("root ::= (\"a\")* x\nx ::= root \"b\" | \"c\"", "left-recursive"),
            ("root ::= \"a\" root", "empty"),
            ("root ::= [^\\x00-\\U0010FFFF]", "empty"),
            ("root ::= \"a\"{1,100000}", "limit"),
            ("root ::= \"a\"{0,10000} \"b\"{0,10000} \"c\"{0,10000}", "rules"),
            ("root ::= \"abc", "unterminated"),
            ("root ::= [z-a]", "backwards"),
            ("root ::= " + String(repeating: "(", count: 200) + "\"a\"" + String(repeating: ")", count: 200), "nest"),
            ("root ::= \"\\q\"", "unknown escape"),
            ("root ::= \"\\uD800\"", "Unicode scalar"),
            ("root = \"a\"", "'::='"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try Grammar(gbnf: text), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(text): \(error)")
            }
        }
    }

    func testDeepNestingIsRefusedNotACrash() throws {
        var limits = GrammarLimits()
        limits.maxStackDepth = 64
        let g = try Grammar(gbnf: "root ::= \"[\" root \"]\" | \"x\"", limits: limits)
        let m = GrammarMatcher(grammar: g)
        XCTAssertTrue(m.accept(Array(String(repeating: "[", count: 60).utf8)))
        XCTAssertFalse(m.accept(Array(String(repeating: "[", count: 10).utf8)))
        // An ambiguous grammar: the work budget refuses it instead of hanging.
        let bomb = try Grammar(gbnf: "root ::= a*\na ::= \"x\" | \"x\" | \"xx\" | b\nb ::= \"x\"+")
        let mb = GrammarMatcher(grammar: bomb)
        _ = mb.accept(Array(String(repeating: "x", count: 200).utf8))
    }

    /// The cached masks must equal a brute-force check of every token from the same state.
    func testMasksEqualBruteForce() throws {
        let v = Fixtures.vocabulary()
        let texts: [(String, [String])] = [
            (JSONSchemaGrammar.anyJSON(), [#"{"name": "abc", "x": [1, 2.5, true], "y": {"z": null}}"#, #"["é日本", 3.5e2]"#]),
            (try Fixtures.gbnf("arithmetic"), ["(x + 12) * abc = 3\n"]),
            (try Fixtures.gbnf("chess"), ["1. e4 e5 2. Nf3 Nc6 3. O-O"]),
            (try Fixtures.gbnf("list"), ["- item one\n- é日本\n"]),
            (try Fixtures.gbnf("unicode"), ["日本語 é abc"]),
        ]
        for (gbnf, samples) in texts {
            let g = try Grammar(gbnf: gbnf)
            let cache = TokenMaskCache(grammar: g, vocabulary: v)
            for sample in samples {
                let bytes = Array(sample.utf8)
                let c = GrammarConstraint(cache: cache)
                for cut in 0...bytes.count {
                    if cut > 0 { XCTAssertTrue(c.matcher.accept(bytes[(cut - 1)..<cut]), "\(sample) at \(cut)") }
                    let allowed = c.allowedTokens()
                    var got = Set<Int32>()
                    switch allowed {
                    case .list(let l): got = Set(l)
                    case .mask:
                        for id in 0..<Int32(v.size) where c.isAllowed(id) { got.insert(id) }
                    }
                    var expected = Set<Int32>()
                    for id in 0..<Int32(v.size) {
                        if id == 0 {
                            if c.matcher.isComplete { expected.insert(0) }
                            continue
                        }
                        let m = GrammarMatcher(grammar: g)
                        if m.accept(bytes[0..<cut]), m.accept(v.bytes(of: id)) { expected.insert(id) }
                    }
                    XCTAssertEqual(got, expected, "\(sample.prefix(cut)) | \(gbnf.prefix(30))")
                    if got != expected { return }
                }
            }
        }
    }

    func testSamplerPicksOnlyAllowedTokens() throws {
        let v = Fixtures.vocabulary()
        let g = try Grammar(gbnf: try Fixtures.gbnf("chess"))
        let cache = TokenMaskCache(grammar: g, vocabulary: v)
        for temperature: Float in [0, 1.5] {
            var p = SamplingParameters()
            p.temperature = temperature
            p.topK = 0
            p.topP = 1
            p.minP = 0
            let sampler = Sampler(parameters: p, vocabularySize: v.size)
            let c = GrammarConstraint(cache: cache)
            sampler.constraint = c
            var rng = Xoshiro256(seed: 3)
            let logits = UnsafeMutableBufferPointer<Float>.allocate(capacity: v.size)
            defer { logits.deallocate() }
            var text: [UInt8] = []
            for _ in 0..<200 {
                for i in 0..<v.size { logits[i] = rng.nextUnitFloat() * 10 }
                logits[0] = -5  // the stop token is unlikely: it must still come once the grammar is done
                let t = sampler.sample(logits, recent: UnsafeBufferPointer(start: nil, count: 0))
                if t == 0 { break }
                text += v.bytes(of: t)
            }
            XCTAssertEqual(c.refusedTokens, 0)
            let m = GrammarMatcher(grammar: g)
            XCTAssertTrue(m.accept(text), String(decoding: text, as: UTF8.self))
            if c.finished { XCTAssertTrue(m.isComplete) }
        }
    }
}
