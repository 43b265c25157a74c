import CKernels
import Kernels
import XCTest

/// The KV cache row kernels (row_dot, row_axpy over f32 / f16 / q8_0 rows): every set this CPU
/// runs against the scalar reference for every length from 0 to 2N and misaligned rows and
/// vectors, and the scalar reference against a double-precision sum over the dequantised row.
/// (Cross/run-arm-kernel-tests.sh runs the same comparison for the AArch64 sets under qemu.)
final class KVRowKernelsTests: XCTestCase {
    let types: [ck_type] = [CK_F32, CK_F16, CK_Q8_0]

    func testEverySetHasRowKernels() {
        for ks in availableSets() {
            for t in types {
                XCTAssertNotNil(KVRowKernels(KernelSet(table: ks), type: t), "\(setName(ks)) \(typeName(t))")
            }
            XCTAssertNil(KVRowKernels(KernelSet(table: ks), type: CK_Q4_0), "rows are only f32, f16 and q8_0")
        }
    }

    /// One row of `t` holding `src` (quantised by the scalar set), at `offset` bytes into a buffer.
    func storedRow(_ t: ck_type, _ src: [Float]) -> [UInt8] {
        var row = [UInt8](repeating: 0, count: max(1, rowBytes(t, src.count)))
        let q = KVRowKernels(.scalar, type: t)!
        src.withUnsafeBufferPointer { s in row.withUnsafeMutableBytes { q.store(s.baseAddress, $0.baseAddress, Int64(src.count)) } }
        return row
    }

    func dequantised(_ t: ck_type, _ row: [UInt8], _ n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        if n > 0 { row.withUnsafeBytes { r in out.withUnsafeMutableBufferPointer { ck_dequantize_row(t, r.baseAddress, $0.baseAddress, Int64(n)) } } }
        return out
    }

    func testScalarRowsAgainstDoubleSums() {
        var rng = SplitMix64(state: 41)
        for t in types {
            let step = t == CK_Q8_0 ? 32 : 1
            for n in stride(from: 0, through: 96, by: step) {
                let src = randomFloats(n, block: 32, &rng)
                let x = (0..<n).map { _ in rng.normal() }
                let row = storedRow(t, src)
                let deq = dequantised(t, row, n)
                let k = KVRowKernels(.scalar, type: t)!
                let got = row.withUnsafeBytes { r in x.withUnsafeBytes { k.dot(Int64(n), r.baseAddress, $0.baseAddress) } }
                var want = 0.0, mag = 0.0
                for i in 0..<n { want += Double(deq[i]) * Double(x[i]); mag += abs(Double(deq[i]) * Double(x[i])) }
                XCTAssertEqual(Double(got), want, accuracy: 1e-6 * mag + 1e-30, "\(typeName(t)) dot n=\(n)")
                var y = x
                let a: Float = 0.75
                row.withUnsafeBytes { r in y.withUnsafeMutableBufferPointer { k.axpy(Int64(n), a, r.baseAddress, $0.baseAddress) } }
                for i in 0..<n {
                    XCTAssertEqual(Double(y[i]), Double(x[i]) + 0.75 * Double(deq[i]),
                                   accuracy: 1.2e-7 * (abs(Double(x[i])) + abs(0.75 * Double(deq[i]))) + 1e-30, "\(typeName(t)) axpy n=\(n) i=\(i)")
                }
                // Stored rows stay close to what was stored: f32 exactly, f16 to 2^-11, q8_0 to half a quant.
                for i in 0..<n {
                    let tol: Float = t == CK_F32 ? 0 : t == CK_F16 ? abs(src[i]) * 0x1p-11 + 0x1p-24
                        : (src[(i / 32 * 32)..<(i / 32 * 32 + 32)].map(abs).max()! / 127) * 0.51 + 1e-6 * abs(src[i])
                    XCTAssertLessThanOrEqual(abs(deq[i] - src[i]), tol, "\(typeName(t)) round trip n=\(n) i=\(i)")
                }
            }
        }
    }

    func testEverySetMatchesScalar() {
        let scalar = KernelSet.scalar
        var rng = SplitMix64(state: 7)
        for ks in availableSets() where setName(ks) != "scalar" {
            let set = KernelSet(table: ks)
            for t in types {
                let k = KVRowKernels(set, type: t)!, ref = KVRowKernels(scalar, type: t)!
                let step = t == CK_Q8_0 ? 32 : 1
                let maxN = t == CK_Q8_0 ? 2 * 256 : 2 * 32 + 3
                for n in stride(from: 0, through: maxN, by: step) {
                    for off in 0..<3 {
                        let src = randomFloats(n, block: 32, &rng)
                        let x = (0..<(n + 8)).map { _ in rng.normal() }
                        // The set's own store writes the same bytes as the scalar one.
                        var mine = [UInt8](repeating: 0, count: max(1, rowBytes(t, n)))
                        src.withUnsafeBufferPointer { s in mine.withUnsafeMutableBytes { k.store(s.baseAddress, $0.baseAddress, Int64(n)) } }
                        let row = storedRow(t, src)
                        XCTAssertEqual(mine, row, "\(setName(ks)) store \(typeName(t)) n=\(n)")
                        let deq = dequantised(t, row, n)
                        let ox = (off * 5 + n) % 8, orow = off * 7 + 1
                        let (got, want) = misaligned(row, orow) { r in
                            x.withUnsafeBytes { xb in
                                (k.dot(Int64(n), r, xb.baseAddress! + 4 * ox), ref.dot(Int64(n), r, xb.baseAddress! + 4 * ox))
                            }
                        }
                        var mag = 0.0
                        for i in 0..<n { mag += abs(Double(deq[i]) * Double(x[ox + i])) }
                        XCTAssertEqual(Double(got), Double(want), accuracy: 2e-6 * mag + 1e-30, "\(setName(ks)) dot \(typeName(t)) n=\(n) off=\(off)")
                        var y1 = x, y2 = x
                        let a = rng.normal()
                        misaligned(row, orow) { r in
                            y1.withUnsafeMutableBufferPointer { k.axpy(Int64(n), a, r, $0.baseAddress! + ox) }
                            y2.withUnsafeMutableBufferPointer { ref.axpy(Int64(n), a, r, $0.baseAddress! + ox) }
                        }
                        for i in 0..<x.count {
                            if i < ox || i >= ox + n {
                                XCTAssertEqual(y1[i], x[i], "\(setName(ks)) axpy \(typeName(t)) wrote outside its range")
                            } else {
                                let tol = 2.5e-7 * (abs(Double(x[i])) + abs(Double(a) * Double(deq[i - ox]))) + 1e-30
                                XCTAssertEqual(Double(y1[i]), Double(y2[i]), accuracy: tol, "\(setName(ks)) axpy \(typeName(t)) n=\(n) i=\(i)")
                            }
                        }
                    }
                }
            }
        }
    }
}
