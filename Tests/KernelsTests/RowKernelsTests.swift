import Foundation
import Kernels
import XCTest

/// The row kernels (CKernels.h, "Row kernels") of every kernel set this CPU runs against the
/// scalar set, at every length from 0 to 300 and a few real widths, at misalignments of 0 to 7
/// floats; floats outside a row must stay untouched. The tanh GELU is also checked against its
/// definition in double precision, and the exp-shift against exp() and on masked scores.
final class RowKernelsTests: XCTestCase {
    private let lengths = Array(0...300) + [511, 1152, 4096, 4304]
    private let scalar = RowKernels(.scalar)

    /// Random values spread over a few decades; kind 0 adds masked (-infinity) and far-below scores.
    private func row(_ count: Int, kind: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(state: seed &* 0x9E37_79B9_7F4A_7C15)
        let scale = Float(pow(10, Double(g.unit()) * 3 - 1.5))
        return (0..<count).map { _ in
            let r = g.next() % 64
            if kind == 0 && r == 0 { return -.infinity }
            if kind == 0 && r == 1 { return -150 + g.unit() }
            if kind == 1 && r == 0 { return g.next() & 1 == 0 ? 60 : -60 }
            return (kind == 2 ? 3 : 0) + scale * (g.unit() * 2 - 1) * 8
        }
    }

    /// Runs `check` for every set other than the scalar one, every length and every offset.
    private func forEachCase(_ check: (RowKernels, String, Int, Int, UInt64) -> Void) {
        for set in KernelSet.available where set.name != "scalar" {
            let kernels = RowKernels(set)
            var seed: UInt64 = 1
            for n in lengths {
                for offset in 0..<8 {
                    check(kernels, set.name, n, offset, seed)
                    seed &+= 1
                }
            }
        }
    }

    func testMaxAndExpShiftMatchTheScalarSet() {
        forEachCase { k, name, n, o, seed in
            let source = row(n + 16, kind: 0, seed: seed)
            var a = source, b = source
            let m = a.withUnsafeBufferPointer { k.max($0.baseAddress! + o, n) }
            XCTAssertEqual(m, b.withUnsafeBufferPointer { scalar.max($0.baseAddress! + o, n) }, "\(name) max n=\(n) o=\(o)")
            let shift = n == 0 || m == -.infinity ? 0 : m
            let s1 = a.withUnsafeMutableBufferPointer { k.expShift($0.baseAddress! + o, n, shift: shift) }
            let s2 = b.withUnsafeMutableBufferPointer { scalar.expShift($0.baseAddress! + o, n, shift: shift) }
            var ok = true
            for i in 0..<(n + 16) {
                if i < o || i >= o + n { ok = ok && a[i].bitPattern == source[i].bitPattern; continue }
                ok = ok && abs(a[i] - b[i]) <= 3e-7 * abs(b[i]) + 1e-37
            }
            let sum = (o..<(o + n)).reduce(0.0) { $0 + Double(b[$1]) }
            let tolerance = (3e-7 + 1.2e-7 * Double(n + 8)) * sum + 1e-30
            XCTAssertTrue(ok, "\(name) exp_shift n=\(n) o=\(o)")
            XCTAssertEqual(Double(s1), sum, accuracy: tolerance, "\(name) exp_shift sum n=\(n) o=\(o)")
            XCTAssertEqual(Double(s2), sum, accuracy: tolerance, "scalar exp_shift sum n=\(n) o=\(o)")
        }
    }

    func testExpShiftOnMaskedRowsAndAgainstExp() {
        for set in KernelSet.available {
            let k = RowKernels(set)
            var masked = [Float](repeating: -.infinity, count: 19)
            let (shift, sum) = masked.withUnsafeMutableBufferPointer { k.expShiftedParts($0.baseAddress!, 19) }
            XCTAssertEqual(shift, -.infinity, set.name)
            XCTAssertEqual(sum, 0, "\(set.name): a fully masked row sums to 0")
            XCTAssertEqual(masked, [Float](repeating: 0, count: 19), set.name)
            var special: [Float] = [-.infinity, -200, 0, 100, -1e30, 1]
            _ = special.withUnsafeMutableBufferPointer { k.expShift($0.baseAddress!, 6, shift: 0) }
            XCTAssertEqual(Array(special[0..<3]), [0, 0, 1], set.name)
            XCTAssertEqual(special[3], .infinity, set.name)
            XCTAssertEqual(special[4], 0, set.name)
            var worst = 0.0
            var x = (0..<4096).map { Float(-103 + 191.7 * Double($0) / 4096) }
            let inputs = x
            _ = x.withUnsafeMutableBufferPointer { k.expShift($0.baseAddress!, 4096, shift: 0) }
            for (d, e) in zip(inputs, x) where d >= -87.33654 && d <= 88 {   // 0 below, +infinity above
                worst = max(worst, abs(Double(e) / exp(Double(d)) - 1))
            }
            XCTAssertLessThanOrEqual(worst, 3e-7, "\(set.name): exp relative error")
        }
    }

    func testGeluMatchesTheScalarSetAndTheDefinition() {
        func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
        forEachCase { k, name, n, o, seed in
            let source = row(n + 16, kind: 1, seed: seed), bias = row(n + 16, kind: 2, seed: ~seed)
            for withBias in [false, true] {
                var a = source, b = source
                bias.withUnsafeBufferPointer { bp in
                    let bb = withBias ? bp.baseAddress! + (7 - o) : nil
                    a.withUnsafeMutableBufferPointer { k.geluTanh($0.baseAddress! + o, n, bias: bb) }
                    b.withUnsafeMutableBufferPointer { scalar.geluTanh($0.baseAddress! + o, n, bias: bb) }
                }
                var ok = true
                for i in 0..<(n + 16) {
                    if i < o || i >= o + n { ok = ok && a[i].bitPattern == source[i].bitPattern; continue }
                    let v = Double(source[i]) + (withBias ? Double(bias[i - o + 7 - o]) : 0)
                    ok = ok && abs(Double(a[i]) - Double(b[i])) <= 1e-6 * (abs(v) + abs(Double(b[i]))) + 1e-30
                    ok = ok && abs(Double(a[i]) - gelu(Double(Float(v)))) <= 2e-6 * abs(v) + 1e-30
                }
                XCTAssertTrue(ok, "\(name) gelu_tanh n=\(n) o=\(o) bias=\(withBias)")
            }
        }
    }

    func testLayerNormAndAddMatchTheScalarSet() {
        forEachCase { k, name, n, o, seed in
            let source = row(n + 16, kind: 2, seed: seed), w = row(n + 16, kind: 2, seed: ~seed)
            let ob = (o * 3 + n) % 8
            for form in 0..<3 {   // weight and bias, neither, in place
                var a = source, b = source
                w.withUnsafeBufferPointer { wp in
                    let weight = form == 1 ? nil : wp.baseAddress! + ob, bias = form == 1 ? nil : wp.baseAddress! + 7 - ob
                    a.withUnsafeMutableBufferPointer {
                        k.layerNorm($0.baseAddress! + o, weight: weight, bias: bias, eps: 1e-6, n: n, out: $0.baseAddress! + o)
                    }
                    b.withUnsafeMutableBufferPointer {
                        scalar.layerNorm($0.baseAddress! + o, weight: weight, bias: bias, eps: 1e-6, n: n, out: $0.baseAddress! + o)
                    }
                }
                var ok = true
                for i in 0..<(n + 16) {
                    if i < o || i >= o + n { ok = ok && a[i].bitPattern == source[i].bitPattern; continue }
                    ok = ok && abs(a[i] - b[i]) <= 2e-5 * (1 + abs(b[i]))
                }
                XCTAssertTrue(ok, "\(name) layer_norm n=\(n) o=\(o) form=\(form)")
            }
            for withBias in [false, true] {
                var a = source, b = source
                w.withUnsafeBufferPointer { wp in
                    let bias = withBias ? wp.baseAddress! + 7 - ob : nil
                    a.withUnsafeMutableBufferPointer { k.add(wp.baseAddress! + ob, bias, into: $0.baseAddress! + o, n) }
                    b.withUnsafeMutableBufferPointer { scalar.add(wp.baseAddress! + ob, bias, into: $0.baseAddress! + o, n) }
                }
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) add_f32 n=\(n) o=\(o) bias=\(withBias)")
            }
        }
    }

    /// LayerNorm (SigLIP's: mean and variance, with weight and bias) against its double-precision
    /// definition, in every kernel set.
    func testLayerNormMatchesTheDefinition() {
        let n = 37
        let x: [Float] = (0..<n).map { (i: Int) -> Float in
            let a: Float = Float(i % 5) * 1.3
            let b: Float = Float(i) * 0.01
            return a - 2 + b
        }
        let w = (0..<n).map { 1 + Float($0) * 0.02 }, b = (0..<n).map { Float($0) * -0.01 }
        for set in KernelSet.available {
        let kernels = RowKernels(set)
        var out = [Float](repeating: 0, count: n)
        kernels.layerNorm(x, weight: w, bias: b, eps: 1e-6, n: n, out: &out)
        let mean = x.map(Double.init).reduce(0, +) / Double(n)
        let squares: [Double] = x.map { (v: Float) -> Double in
            let d: Double = Double(v) - mean
            return d * d
        }
        let variance: Double = squares.reduce(0, +) / Double(n)
        for i in 0..<n {
            let expected = (Double(x[i]) - mean) / (variance + 1e-6).squareRoot() * Double(w[i]) + Double(b[i])
            XCTAssertEqual(Double(out[i]), expected, accuracy: 1e-5, set.name)
        }
        // Without weight and bias: zero mean, unit variance.
        kernels.layerNorm(x, weight: nil, bias: nil, eps: 1e-6, n: n, out: &out)
        XCTAssertEqual(Double(out.reduce(0, +)), 0, accuracy: 1e-4, set.name)
        XCTAssertEqual(Double(out.map { $0 * $0 }.reduce(0, +)) / Double(n), 1, accuracy: 1e-4, set.name)
        }
    }
}
