import FuzzTargets
import XCTest

/// The image fuzz target's committed inputs (both CPNG decoders, PPM/PGM, the resize) replayed
/// through the fuzzers' own entry point.
final class ImageFuzzRegressionTests: XCTestCase {
    func testCommittedFuzzInputs() throws {
        let accepted = try FuzzTarget.png.replayCommittedInputs()
        XCTAssertEqual(accepted["one-pixel.png"], true)
        XCTAssertEqual(accepted["solid.png"], true)
        XCTAssertEqual(accepted["fixture-grey4-interlaced.png"], true)
        XCTAssertEqual(accepted["p5-16bit.pgm"], true)
    }
}
