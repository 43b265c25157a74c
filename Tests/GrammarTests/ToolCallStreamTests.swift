@testable import Grammar
import XCTest

/// Reading a tool call piece by piece: the name once whole, then argument fragments that join to
/// the arguments text, whichever way the text is cut.
final class ToolCallStreamTests: XCTestCase {
    func testEverySplitGivesTheNameOnceAndTheWholeArguments() {
        let text = #" {"name" : "get_weather",  "parameters": {"city": "O\"s}lo", "tags": [{"a": 1}], "unit": "C"} }"#
        let arguments = #"{"city": "O\"s}lo", "tags": [{"a": 1}], "unit": "C"}"#
        let chars = Array(text)
        for cut in 1..<chars.count {
            for step in [1, 3, 7] {
                var s = ToolCallStream()
                var names: [String] = []
                var joined = ""
                var at = 0
                var pieces = [String(chars[0..<cut])]
                at = cut
                while at < chars.count {
                    pieces.append(String(chars[at..<min(chars.count, at + step)]))
                    at += step
                }
                for p in pieces {
                    let (name, fragment) = s.append(p)
                    if let name {
                        XCTAssertEqual(joined, "", "arguments before the name")
                        names.append(name)
                    }
                    joined += fragment
                }
                XCTAssertEqual(names, ["get_weather"])
                XCTAssertEqual(joined, arguments)
                XCTAssertTrue(s.complete)
            }
        }
        let parsed = ToolCalls.parse(text, tools: [ToolFunction(name: "get_weather")])
        XCTAssertEqual(parsed?.arguments, arguments)
    }

    func testOtherTextIsNotACall() {
        var s = ToolCallStream()
        _ = s.append(#"{"parameters": {}, "name": "x"}"#)
        XCTAssertFalse(s.viable)
        XCTAssertNil(s.name)
        // Another key order is still read whole (re-serialised).
        XCTAssertEqual(ToolCalls.parse(#"{"parameters": {"a": 1}, "name": "x"}"#, tools: [ToolFunction(name: "x")])?.arguments,
                       #"{"a":1}"#)
    }
}
