import Foundation
import Vision
import XCTest

/// The vision tower's own element-wise step (CLIP's quick GELU) against its double-precision formula.
final class VisionMathTests: XCTestCase {
    func testQuickGelu() {
        var y: [Float] = [-3, 0, 1.5]
        VisionMath.geluQuick(&y, y.count)
        for (v, g) in zip([-3.0, 0, 1.5], y) { XCTAssertEqual(Double(g), v / (1 + exp(-1.702 * v)), accuracy: 1e-6) }
    }
}
