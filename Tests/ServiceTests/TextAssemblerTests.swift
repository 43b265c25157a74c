import Foundation
import GemmaEdge
@testable import Service
import XCTest

/// Stop sequences cut the text at the right place however tokens split them.
final class TextAssemblerTests: XCTestCase {
    func assemble(_ text: String, stops: [String]) throws -> (pieces: [String], stopped: Bool) {
        var o = EngineOptions()
        o.threads = 1
        let engine = try Engine(modelPath: Models.small, options: o)
        let ids = try engine.tokenizer.encode(text, addBOS: false)
        var a = TextAssembler(vocabulary: engine.tokenizer.vocabulary, stops: stops)
        var pieces = ids.map { a.append($0) }
        pieces.append(a.finish())
        return (pieces, a.stopped)
    }

    func testWithoutStopsEverythingPassesAtOnce() throws {
        let (pieces, stopped) = try assemble("hello world", stops: [])
        XCTAssertEqual(pieces.joined(), "hello world")
        XCTAssertFalse(stopped)
    }

    func testCutsBeforeTheStopEvenAcrossTokens() throws {
        for stop in ["world", "lo w", "o wo", "d"] {
            let (pieces, stopped) = try assemble("hello world hello", stops: [stop])
            let expected = String("hello world hello".prefix(upTo: "hello world hello".range(of: stop)!.lowerBound))
            XCTAssertEqual(pieces.joined(), expected, stop)
            XCTAssertTrue(stopped, stop)
        }
    }

    func testHoldsBackAPossibleStartThenReleasesIt() throws {
        let (pieces, stopped) = try assemble("hello world", stops: ["hello there"])
        XCTAssertEqual(pieces.joined(), "hello world")
        XCTAssertFalse(stopped)
        // Nothing was sent while "hello" could still have become "hello there".
        XCTAssertEqual(pieces.first, "")
    }

    func testTheEarliestOfSeveralStopsWins() throws {
        let (pieces, _) = try assemble("the hello world", stops: ["world", "hel"])
        XCTAssertEqual(pieces.joined(), "the ")
    }
}
