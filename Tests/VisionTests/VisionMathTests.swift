import Foundation
import Vision
import XCTest

/// The vision tower's own element-wise steps against plain double-precision formulas.
final class VisionMathTests: XCTestCase {
    func testLayerNormMatchesTheDefinition() {
        let n = 37
        let x: [Float] = (0..<n).map { (i: Int) -> Float in
            let a: Float = Float(i % 5) * 1.3
            let b: Float = Float(i) * 0.01
            return a - 2 + b
        }
        let w = (0..<n).map { 1 + Float($0) * 0.02 }, b = (0..<n).map { Float($0) * -0.01 }
        var out = [Float](repeating: 0, count: n)
        VisionMath.layerNorm(x, weight: w, bias: b, eps: 1e-6, n: n, out: &out)
        let mean = x.map(Double.init).reduce(0, +) / Double(n)
        let squares: [Double] = x.map { (v: Float) -> Double in
            let d: Double = Double(v) - mean
            return d * d
        }
        let variance: Double = squares.reduce(0, +) / Double(n)
        for i in 0..<n {
            let expected = (Double(x[i]) - mean) / (variance + 1e-6).squareRoot() * Double(w[i]) + Double(b[i])
            XCTAssertEqual(Double(out[i]), expected, accuracy: 1e-5)
        }
        // Without weight and bias: zero mean, unit variance.
        VisionMath.layerNorm(x, weight: nil, bias: nil, eps: 1e-6, n: n, out: &out)
        XCTAssertEqual(Double(out.reduce(0, +)), 0, accuracy: 1e-4)
        XCTAssertEqual(Double(out.map { $0 * $0 }.reduce(0, +)) / Double(n), 1, accuracy: 1e-4)
    }

    func testQuickGelu() {
        var y: [Float] = [-3, 0, 1.5]
        VisionMath.geluQuick(&y, y.count)
        for (v, g) in zip([-3.0, 0, 1.5], y) { XCTAssertEqual(Double(g), v / (1 + exp(-1.702 * v)), accuracy: 1e-6) }
    }
}
