import Foundation
import Kernels
import XCTest

/// The Swift SIMD element-wise steps against plain double-precision formulas, for every length
/// from 0 to past two vectors and at misaligned starts, so the vector body and the scalar tail
/// are both checked.
final class ElementWiseTests: XCTestCase {
    private let lengths = Array(0...41) + [64, 255, 2048]
    private let offsets = [0, 1, 3]

    private func values(_ n: Int, spread: Double, seed: Double = 1.7) -> [Float] {
        (0..<n).map { Float(sin(Double($0) * seed + 0.3) * spread) }
    }

    func testExpTracksExpf() {
        var worst: Float = 0
        var x: Float = -87.3
        while x < 88 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0137 })
            let e = ElementWise.exp(lanes)
            for i in 0..<8 where lanes[i] <= 88 { worst = max(worst, abs(e[i] / expf(lanes[i]) - 1)) }
            x += 0.1093
        }
        XCTAssertLessThan(worst, 5e-7, "relative error against expf")
        XCTAssertEqual(ElementWise.exp(SIMD8(repeating: -200)), SIMD8(repeating: 0))
        XCTAssertEqual(ElementWise.exp(SIMD8(repeating: 0)), SIMD8(repeating: 1))
        XCTAssertEqual(ElementWise.exp(SIMD8(repeating: 89)), SIMD8(repeating: .infinity))
        XCTAssertEqual(ElementWise.exp(SIMD8(repeating: -.infinity)), SIMD8(repeating: 0))
    }

    func testGeluTanhMatchesTheDefinition() {
        func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
        for n in lengths {
            for offset in offsets {
                let source = values(n + offset, spread: 12)
                var x = source
                x.withUnsafeMutableBufferPointer { ElementWise.geluTanh($0.baseAddress! + offset, n) }
                for i in 0..<offset { XCTAssertEqual(x[i], source[i], "prefix untouched") }
                for i in offset..<(n + offset) {
                    let want = gelu(Double(source[i]))
                    XCTAssertEqual(Double(x[i]), want, accuracy: 2e-6 * max(1, abs(want)), "n \(n) offset \(offset) i \(i)")
                }
            }
        }
        // Large magnitudes saturate to x and 0 without producing NaN.
        var edges: [Float] = [-1000, -90, -12, 12, 90, 1000, 0, -0.0]
        ElementWise.geluTanh(&edges, edges.count)
        XCTAssertEqual(edges.map { $0 == 0 ? 0 : $0 }, [0, 0, -0.0, 12, 90, 1000, 0, 0].map { $0 == 0 ? 0 : $0 })
    }

    func testGeluTanhMulMatchesTheDefinition() {
        func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
        for n in lengths {
            for offset in offsets {
                let g0 = values(n + offset, spread: 6), u = values(n + offset, spread: 3, seed: 0.9)
                var g = g0
                g.withUnsafeMutableBufferPointer { gp in
                    u.withUnsafeBufferPointer { ElementWise.geluTanhMul(gp.baseAddress! + offset, $0.baseAddress! + offset, n) }
                }
                for i in offset..<(n + offset) {
                    let want = gelu(Double(g0[i])) * Double(u[i])
                    XCTAssertEqual(Double(g[i]), want, accuracy: 2e-6 * max(1, abs(want)), "n \(n) offset \(offset) i \(i)")
                }
            }
        }
    }

    func testThreadedGeluTanhMulEqualsSingleThreaded() throws {
        let compute = try Compute(threads: 2)
        for n in [0, 1, 7, 8191, 8192, 16_385, 40_000, 131_072] {
            let g0 = values(n, spread: 5), u = values(n, spread: 2, seed: 2.3)
            var one = g0, two = g0
            one.withUnsafeMutableBufferPointer { gp in u.withUnsafeBufferPointer { ElementWise.geluTanhMul(gp.baseAddress!, $0.baseAddress!, n) } }
            two.withUnsafeMutableBufferPointer { gp in u.withUnsafeBufferPointer { compute.geluTanhMul(gp.baseAddress!, $0.baseAddress!, count: n) } }
            let differing = zip(one, two).enumerated().first { $0.element.0.bitPattern != $0.element.1.bitPattern }?.offset
            XCTAssertNil(differing, "n \(n): splitting across threads must not change a single bit")
        }
    }

    func testSoftmaxMatchesTheDefinition() {
        for n in lengths where n > 0 {
            for offset in offsets {
                let source = values(n + offset, spread: 40)
                var x = source
                x.withUnsafeMutableBufferPointer { ElementWise.softmax($0.baseAddress! + offset, n) }
                let slice = source[offset...].map(Double.init)
                let m = slice.max()!
                let e = slice.map { Foundation.exp($0 - m) }
                let sum = e.reduce(0, +)
                for i in 0..<n {
                    XCTAssertEqual(Double(x[offset + i]), e[i] / sum, accuracy: 1e-6 * e[i] / sum + 1e-12, "n \(n) offset \(offset) i \(i)")
                }
            }
        }
    }

    func testExpShiftedIsAnUnnormalisedSoftmax() {
        for n in [1, 7, 8, 9, 64, 100] {
            let values = (0..<n).map { Float(sin(Double($0) * 1.7) * 30) }
            var x = values
            let inv = x.withUnsafeMutableBufferPointer { ElementWise.expShifted($0.baseAddress!, scale: 0.25, n) }
            let m = values.max()!
            let e = values.map { exp(Double($0 - m) * 0.25) }
            let sum = e.reduce(0, +)
            for i in 0..<n { XCTAssertEqual(Double(x[i]), e[i], accuracy: 1e-6 * e[i] + 1e-12, "n \(n), i \(i)") }
            XCTAssertEqual(Double(inv), 1 / sum, accuracy: 1e-6 / sum)
        }
    }

    func testRMSNormMatchesTheDefinition() {
        for n in lengths where n > 0 {
            for offset in offsets {
                let x = values(n + offset, spread: 4), w = values(n + offset, spread: 1, seed: 0.4)
                var out = [Float](repeating: .nan, count: n + offset)
                x.withUnsafeBufferPointer { xp in
                    w.withUnsafeBufferPointer { wp in
                        out.withUnsafeMutableBufferPointer {
                            ElementWise.rmsNorm(xp.baseAddress! + offset, weight: wp.baseAddress! + offset, eps: 1e-6, n: n,
                                                out: $0.baseAddress! + offset)
                        }
                    }
                }
                let ms = x[offset...].map { Double($0) * Double($0) }.reduce(0, +) / Double(n)
                for i in offset..<(n + offset) {
                    let want = Double(x[i]) / (ms + 1e-6).squareRoot() * Double(w[i])
                    XCTAssertEqual(Double(out[i]), want, accuracy: 2e-6 * max(1, abs(want)), "n \(n) offset \(offset)")
                }
            }
        }
    }
}
