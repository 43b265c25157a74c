import FuzzTargets
import XCTest

/// The snapshot fuzz target's committed inputs replayed through the fuzzers' own entry point.
final class SnapshotFuzzRegressionTests: XCTestCase {
    func testCommittedFuzzInputs() throws {
        let accepted = try FuzzTarget.snapshot.replayCommittedInputs()
        // The seeds come from the snapshot writer and restore.
        XCTAssertEqual(accepted["tokens-0.snapshot"], true)
        XCTAssertEqual(accepted["tokens-3.snapshot"], true)
        XCTAssertEqual(accepted["tokens-16.snapshot"], true)
        // Found while writing the target, both traps before the fix: a header length above
        // Int.max, and a negative token count in a file sized to match it.
        XCTAssertEqual(accepted["regressions/header-length-above-int-max"], false)
        XCTAssertEqual(accepted["regressions/negative-token-count"], false)
        // Issue 18: a span of start 1 and count 2^63 - 1 in an otherwise valid snapshot.
        XCTAssertEqual(accepted["regressions/span-count-overflows"], false)
    }
}
