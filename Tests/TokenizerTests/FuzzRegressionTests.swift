import FuzzTargets
import XCTest

/// The tokenizer fuzz target's committed inputs replayed through the fuzzers' own entry point
/// (with the real Gemma 3 vocabulary when the model is present, as the fuzzer uses).
final class TokenizerFuzzRegressionTests: XCTestCase {
    func testCommittedFuzzInputs() throws {
        let accepted = try FuzzTarget.tokenizer.replayCommittedInputs()
        // Valid UTF-8 has its round trip checked; other bytes only their ids.
        XCTAssertEqual(accepted["unicode.txt"], true)
        XCTAssertEqual(accepted["chat.txt"], true)
        XCTAssertEqual(accepted["invalid-utf8.bin"], false)
    }
}
