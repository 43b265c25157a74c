import CKernels
import GGUF
import Kernels
import XCTest

extension KVRowKernels {
    /// The kernels for rows of a C type (the tests name types as the C kernels do).
    init?(_ kernels: KernelSet, type: ck_type) { self.init(kernels, type: TensorType(rawValue: type.rawValue)!) }
}

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

    /// rows_dot / rows_mix (many queries against many rows, the prefill attention) of every set
    /// against the scalar set's loops over row_dot / row_axpy: query counts 1..9 (every tile shape
    /// and remainder), row counts 0..7 and 37, every length 0..67 (q8_0: whole blocks to 160),
    /// misaligned queries, rows, scores and outputs, row strides wider than a row; nothing outside
    /// the written ranges may change.
    func testManyQueryKernelsMatchScalar() {
        let scalar = KernelSet.scalar
        var rng = SplitMix64(state: 19)
        for ks in availableSets() where setName(ks) != "scalar" {
            for t in types {
                let k = KVRowKernels(KernelSet(table: ks), type: t)!, ref = KVRowKernels(scalar, type: t)!
                let lengths = t == CK_Q8_0 ? Array(stride(from: 0, through: 160, by: 32)) : Array(0...67)
                for n in lengths {
                    for (nq, nr) in [(1, 0), (1, 1), (2, 3), (3, 2), (4, 5), (4, 37), (5, 7), (9, 2), (8, 37)] {
                        let off = (n + nq + nr) % 8
                        let stride = rowBytes(t, n) + (off % 3) * 2 + (t == CK_F32 ? 4 : 0)
                        var rows = [UInt8](repeating: 0, count: off + max(1, nr) * stride + 8)
                        var deq: [[Float]] = []
                        for j in 0..<nr {
                            let row = storedRow(t, randomFloats(n, block: 32, &rng))
                            rows.replaceSubrange((off + j * stride)..<(off + j * stride + rowBytes(t, n)), with: row.prefix(rowBytes(t, n)))
                            deq.append(dequantised(t, row, n))
                        }
                        let qStride = n + (off & 3), sStride = nr + 1 + (off & 1), yStride = n + 1 + (off & 3)
                        let q = (0..<(off + nq * qStride + 1)).map { _ in rng.normal() }
                        let p = (0..<(off + nq * sStride + 1)).map { _ in rng.normal() }
                        let y0 = (0..<(off + nq * yStride + 1)).map { _ in rng.normal() }
                        var s1 = [Float](repeating: -7, count: off + nq * sStride + 1), s2 = s1
                        var y1 = y0, y2 = y0
                        rows.withUnsafeBytes { r in
                            q.withUnsafeBufferPointer { qb in
                                let rp = r.baseAddress! + off, qp = qb.baseAddress! + off
                                s1.withUnsafeMutableBufferPointer {
                                    k.rowsDot(Int64(n), Int64(nq), qp, Int64(qStride), rp, stride, Int64(nr), 0.125, $0.baseAddress! + off, Int64(sStride))
                                }
                                s2.withUnsafeMutableBufferPointer {
                                    ref.rowsDot(Int64(n), Int64(nq), qp, Int64(qStride), rp, stride, Int64(nr), 0.125, $0.baseAddress! + off, Int64(sStride))
                                }
                            }
                            p.withUnsafeBufferPointer { pb in
                                let rp = r.baseAddress! + off, pp = pb.baseAddress! + off
                                y1.withUnsafeMutableBufferPointer {
                                    k.rowsMix(Int64(n), Int64(nq), pp, Int64(sStride), rp, stride, Int64(nr), $0.baseAddress! + off, Int64(yStride))
                                }
                                y2.withUnsafeMutableBufferPointer {
                                    ref.rowsMix(Int64(n), Int64(nq), pp, Int64(sStride), rp, stride, Int64(nr), $0.baseAddress! + off, Int64(yStride))
                                }
                            }
                        }
                        let what = "\(setName(ks)) \(typeName(t)) n=\(n) nq=\(nq) nrows=\(nr)"
                        for i in s1.indices {
                            let (qi, j) = ((i - off) / sStride, (i - off) % sStride)
                            guard i >= off, qi < nq, j < nr else { XCTAssertEqual(s1[i], -7, "rows_dot wrote outside, \(what)"); continue }
                            var mag = 0.0
                            for e in 0..<n { mag += abs(Double(deq[j][e]) * Double(q[off + qi * qStride + e])) }
                            XCTAssertEqual(Double(s1[i]), Double(s2[i]), accuracy: 2e-6 * 0.125 * mag + 1e-30, "rows_dot \(what)")
                        }
                        for i in y1.indices {
                            let (qi, e) = ((i - off) / yStride, (i - off) % yStride)
                            guard i >= off, qi < nq, e < n else { XCTAssertEqual(y1[i], y0[i], "rows_mix wrote outside, \(what)"); continue }
                            var mag = abs(Double(y0[i]))
                            for j in 0..<nr { mag += abs(Double(p[off + qi * sStride + j]) * Double(deq[j][e])) }
                            XCTAssertEqual(Double(y1[i]), Double(y2[i]), accuracy: 4e-7 * mag + 1e-30, "rows_mix \(what)")
                        }
                    }
                }
            }
            // round_f16: bit for bit the scalar round trip, every length and offset.
            var a = (0..<80).map { i in rng.normal() * [1, 1e-5, 1e-7, 70000, 3][i % 5] }
            a[3] = 1 + 0x1p-11  // a tie
            for n in 0...70 {
                var x1 = a, x2 = a
                let off = n % 5
                x1.withUnsafeMutableBufferPointer { ks.pointee.round_f16($0.baseAddress! + off, Int64(n)) }
                x2.withUnsafeMutableBufferPointer { scalar.table.pointee.round_f16($0.baseAddress! + off, Int64(n)) }
                XCTAssertEqual(x1.map(\.bitPattern), x2.map(\.bitPattern), "\(setName(ks)) round_f16 n=\(n)")
            }
        }
    }
}
