@testable import Grammar
import XCTest

/// The grammar store: one vocabulary per model, mask caches shared by requests with the same
/// grammar, at most `capacity` grammars kept (least recently used dropped first).
final class GrammarStoreTests: XCTestCase {
    static func bytesVocabulary() -> TokenVocabulary {
        // Every single byte, a few words, and a stop token with no bytes of its own.
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        tokens += ["yes", "no", "\"a\"", "{\""].map { Array($0.utf8) }
        tokens.append([])
        return TokenVocabulary(tokens: tokens, stopTokens: [Int32(tokens.count - 1)])
    }

    func testSameGrammarSharesOneCacheAndTheVocabularyIsBuiltOnce() throws {
        var built = 0
        let store = GrammarStore(capacity: 2) {
            built += 1
            return Self.bytesVocabulary()
        }
        let a = try store.maskCache(gbnf: #"root ::= "yes" | "no""#)
        let c1 = GrammarConstraint(cache: a)
        _ = c1.allowedTokens()
        let bytesAfterFirst = store.statistics.cacheBytes
        XCTAssertGreaterThan(bytesAfterFirst, 0)
        let again = try store.maskCache(gbnf: #"root ::= "yes" | "no""#)
        XCTAssertTrue(a === again)
        // A second generation finds the first one's token classes: nothing new is computed.
        let c2 = try store.constraint(gbnf: #"root ::= "yes" | "no""#)
        _ = c2.allowedTokens()
        XCTAssertEqual(store.statistics.cacheBytes, bytesAfterFirst)
        _ = try store.maskCache(gbnf: #"root ::= [0-9]+"#)
        XCTAssertEqual(built, 1)
        let s = store.statistics
        XCTAssertEqual(s.hits, 2)
        XCTAssertEqual(s.misses, 2)
        XCTAssertEqual(s.grammars, 2)
        XCTAssertGreaterThan(s.vocabularyBytes, 0)
    }

    func testLeastRecentlyUsedGrammarIsDropped() throws {
        let store = GrammarStore(capacity: 2) { Self.bytesVocabulary() }
        let g = [#"root ::= "a""#, #"root ::= "b""#, #"root ::= "c""#]
        let first = try store.maskCache(gbnf: g[0])
        _ = try store.maskCache(gbnf: g[1])
        _ = try store.maskCache(gbnf: g[0])   // g[0] is now the most recent: g[1] goes next
        _ = try store.maskCache(gbnf: g[2])
        XCTAssertEqual(store.statistics.evictions, 1)
        XCTAssertEqual(store.statistics.grammars, 2)
        XCTAssertTrue(try store.maskCache(gbnf: g[0]) === first)
        let misses = store.statistics.misses
        _ = try store.maskCache(gbnf: g[1])
        XCTAssertEqual(store.statistics.misses, misses + 1, "the dropped grammar was compiled again")
    }

    func testBadGrammarIsAnErrorAndNotKept() {
        let store = GrammarStore { Self.bytesVocabulary() }
        XCTAssertThrowsError(try store.maskCache(gbnf: "root ::= ( \"x\"")) { error in
            XCTAssertTrue(error is GrammarError, "\(error)")
        }
        XCTAssertEqual(store.statistics.grammars, 0)
    }
}
