import Foundation
@testable import Grammar
import XCTest

final class JSONSchemaTests: XCTestCase {
    func grammar(_ schema: String) throws -> Grammar { try JSONSchemaGrammar.grammar(schema: schema) }

    func accepts(_ g: Grammar, _ text: String) -> Bool {
        let m = GrammarMatcher(grammar: g)
        return m.accept(Array(text.utf8)) && m.isComplete
    }

    func testObjectsRequiredOptionalAndAdditional() throws {
        let g = try grammar(#"""
        {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
         "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["name"], "additionalProperties": false}
        """#)
        XCTAssertTrue(accepts(g, #"{"name": "Ann"}"#))
        XCTAssertTrue(accepts(g, #"{"name": "Ann", "age": 3}"#))
        XCTAssertTrue(accepts(g, #"{"name":"Ann","tags":["a","b"]}"#))
        XCTAssertTrue(accepts(g, #"{"name": "Ann", "age": -4, "tags": []}"#))
        XCTAssertFalse(accepts(g, #"{"age": 3}"#))                 // name is required
        XCTAssertFalse(accepts(g, #"{"name": "Ann", "x": 1}"#))    // no other members
        XCTAssertFalse(accepts(g, #"{"age": 3, "name": "Ann"}"#))  // properties in order
        XCTAssertFalse(accepts(g, #"{"name": "Ann",}"#))
        let open = try grammar(#"{"type": "object", "properties": {"a": {"type": "boolean"}}}"#)
        XCTAssertTrue(accepts(open, #"{"a": true, "b": [1]}"#))
        XCTAssertTrue(accepts(open, #"{"zz": null}"#))
        XCTAssertTrue(accepts(open, #"{}"#))
    }

    func testEnumsConstsAnyOfAndRefs() throws {
        let g = try grammar(#"""
        {"type": "object", "properties": {
          "colour": {"enum": ["red", "green", 3, null]},
          "kind": {"const": "fixed"},
          "v": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]},
          "next": {"$ref": "#/$defs/node"}},
         "required": ["colour", "kind", "v"], "additionalProperties": false,
         "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "additionalProperties": false}}}
        """#)
        XCTAssertTrue(accepts(g, #"{"colour": "red", "kind": "fixed", "v": 12}"#))
        XCTAssertTrue(accepts(g, #"{"colour": null, "kind": "fixed", "v": "ab", "next": {"next": {}}}"#))
        XCTAssertFalse(accepts(g, #"{"colour": "blue", "kind": "fixed", "v": 1}"#))
        XCTAssertFalse(accepts(g, #"{"colour": 3, "kind": "other", "v": 1}"#))
        XCTAssertFalse(accepts(g, #"{"colour": 3, "kind": "fixed", "v": "abc"}"#))
    }

    func testArraysStringsAndFormats() throws {
        let g = try grammar(#"""
        {"type": "object", "properties": {
          "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 1, "maxItems": 2},
          "day": {"type": "string", "format": "date"},
          "at": {"type": "string", "format": "date-time"},
          "t": {"type": "string", "format": "time"},
          "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}(x|yz)?$"},
          "short": {"type": "string", "minLength": 2, "maxLength": 3}},
         "required": ["ids", "day", "at", "t", "code", "short"], "additionalProperties": false}
        """#)
        let ok = #"{"ids": ["123e4567-e89b-12d3-a456-426614174000"], "day": "2024-02-29", "at": "2024-01-05T10:20:30Z", "t": "23:59:59.123+02:00", "code": "AB-123yz", "short": "éa"}"#
        XCTAssertTrue(accepts(g, ok))
        XCTAssertFalse(accepts(g, ok.replacingOccurrences(of: "2024-02-29", with: "2024-13-01")))
        XCTAssertFalse(accepts(g, ok.replacingOccurrences(of: "AB-123yz", with: "AB-12")))
        XCTAssertFalse(accepts(g, ok.replacingOccurrences(of: "\"éa\"", with: "\"a\"")))
        XCTAssertFalse(accepts(g, ok.replacingOccurrences(of: "\"éa\"", with: "\"abcd\"")))
        XCTAssertFalse(accepts(g, ok.replacingOccurrences(of: "[\"123", with: "[]").replacingOccurrences(of: "000\"]", with: "")))
        let three = ok.replacingOccurrences(of: "[\"123e4567-e89b-12d3-a456-426614174000\"]",
                                            with: "[\"123e4567-e89b-12d3-a456-426614174000\", \"123e4567-e89b-12d3-a456-426614174000\", \"123e4567-e89b-12d3-a456-426614174000\"]")
        XCTAssertFalse(accepts(g, three))
    }

    func testIntegerBoundsMatchExactly() throws {
        let cases: [(Int64?, Int64?)] = [(0, 9), (5, 120), (-15, 7), (-300, -12), (100, nil), (nil, -3), (13, 13), (0, 1000), (-9, nil)]
        for (lo, hi) in cases {
            var schema = #"{"type": "integer""#
            if let lo { schema += ", \"minimum\": \(lo)" }
            if let hi { schema += ", \"maximum\": \(hi)" }
            let g = try grammar(schema + "}")
            for n in -1100...1100 {
                let inside = (lo.map { Int64(n) >= $0 } ?? true) && (hi.map { Int64(n) <= $0 } ?? true)
                XCTAssertEqual(accepts(g, String(n)), inside, "\(n) in \(String(describing: lo))...\(String(describing: hi))")
            }
            XCTAssertFalse(accepts(g, "007"))
        }
        let ex = try grammar(#"{"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}"#)
        XCTAssertFalse(accepts(ex, "0"))
        XCTAssertTrue(accepts(ex, "1"))
        XCTAssertTrue(accepts(ex, "9"))
        XCTAssertFalse(accepts(ex, "10"))
    }

    func testUnsupportedKeywordsAreNamed() {
        let cases: [(String, String)] = [
            (#"{"type": "object", "patternProperties": {}}"#, "'patternProperties'"),
            (#"{"type": "string", "format": "email"}"#, "'email'"),
            (#"{"type": "number", "minimum": 1.5}"#, "'minimum'"),
            (#"{"not": {}}"#, "'not'"),
            (#"{"allOf": [{}, {}]}"#, "allOf"),
            (#"{"$ref": "http://example.com/x"}"#, "$ref"),
            (#"{"type": "string", "pattern": "(?=a)b"}"#, "lookaround"),
            (#"{"type": "strange"}"#, "unknown type"),
            (#"{"type": "object", "required": ["a"]}"#, "'a'"),
            (#"{"type": "array", "minItems": 3, "maxItems": 2}"#, "maxItems"),
            (#"{"type": "integer", "minimum": 5, "maximum": 2}"#, "between"),
            (#"[1, 2"#, "JSON"),
            (String(repeating: "[", count: 1000), "deeper"),
        ]
        for (schema, expected) in cases {
            XCTAssertThrowsError(try JSONSchemaGrammar.grammar(schema: schema), schema) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(schema): \(error)")
            }
        }
    }

    /// A schema of 20 properties compiles quickly; prints the figure for Benchmarks/RESULTS.md.
    func testTwentyPropertySchemaCompileTime() throws {
        let schema = Self.twentyProperties
        let t0 = Date()
        let g = try grammar(schema)
        let seconds = Date().timeIntervalSince(t0)
        print("20-property schema: \(g.ruleCount) rules, \(g.elementCount) elements, compiled in \(String(format: "%.2f", seconds * 1000)) ms")
        XCTAssertLessThan(seconds, 1.0)
    }

    static let twentyProperties: String = {
        let kinds = [#"{"type": "string", "maxLength": 40}"#, #"{"type": "integer", "minimum": 0, "maximum": 150}"#,
                     #"{"type": "boolean"}"#, #"{"enum": ["low", "medium", "high"]}"#, #"{"type": "string", "format": "date"}"#,
                     #"{"type": "number"}"#, #"{"type": "array", "items": {"type": "string"}, "maxItems": 4}"#]
        let props = (0..<20).map { "\"field\($0)\": \(kinds[$0 % kinds.count])" }.joined(separator: ", ")
        let required = (0..<20).filter { $0 % 3 != 2 }.map { "\"field\($0)\"" }.joined(separator: ", ")
        return "{\"type\": \"object\", \"properties\": {\(props)}, \"required\": [\(required)], \"additionalProperties\": false}"
    }()
}
