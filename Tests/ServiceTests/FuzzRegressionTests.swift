import FuzzTargets
import XCTest

/// The request fuzz target's committed inputs replayed through the fuzzers' own entry point.
final class RequestFuzzRegressionTests: XCTestCase {
    func testCommittedFuzzInputs() throws {
        let accepted = try FuzzTarget.request.replayCommittedInputs()
        XCTAssertEqual(accepted["chat.json"], true)
        XCTAssertEqual(accepted["completion-ids.json"], true)
        XCTAssertEqual(accepted["bad-types.json"], false)
    }
}
