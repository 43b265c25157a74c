import CKernels
import XCTest

// The prefill microkernels (ck_kernel_set.gemm) of every set this CPU runs, against the set's own
// vec_dot (bit for bit) and the scalar vec_dot per (row, token). Helpers (SplitMix64, randomWeights, ...) are in CKernelsTests.swift.
// Cross/kernel_test.c runs the same comparisons for the AArch64 sets under qemu.

func gemmKernel(_ ks: UnsafePointer<ck_kernel_set>, _ t: ck_type) -> ck_gemm_fn? { ck_set_gemm(ks, t) }

/// Scale fields of a weight row set to powers of two (2^-4, and 2^-5 for the mins' scale).
private func exactScales(_ t: ck_type, _ w: inout [UInt8]) {
    let bb = Int(ck_block_bytes(t))
    for p in stride(from: 0, to: w.count - bb + 1, by: bb) {
        if t == CK_Q6_K { putHalf(&w, p + 208, 0x1p-4) } else { putHalf(&w, p, 0x1p-4) }
        if t == CK_Q4_K || t == CK_Q5_K { putHalf(&w, p + 2, 0x1p-5) }
    }
}

/// An activation row with quants in [-maxq, maxq] and scale 2^-3 (Q8_0 or Q8_K with its bsums).
private func exactActivations(_ at: ck_type, _ n: Int, maxq: Int, _ rng: inout SplitMix64) -> [UInt8] {
    var y = [UInt8](repeating: 0, count: max(rowBytes(at, n), 1))
    let be = blockElements(at), bb = Int(ck_block_bytes(at))
    for b in 0..<(n / be) {
        let p = b * bb, q = p + (at == CK_Q8_K ? 4 : 2)
        let qs = (0..<be).map { _ in rng.below(2 * maxq + 1) - maxq }
        for i in 0..<be { y[q + i] = UInt8(bitPattern: Int8(qs[i])) }
        if at == CK_Q8_K {
            withUnsafeBytes(of: Float(0.125).bitPattern.littleEndian) { for i in 0..<4 { y[p + i] = $0[i] } }
            for g in 0..<16 {
                let s = UInt16(bitPattern: Int16(qs[(16 * g)..<(16 * g + 16)].reduce(0, +)))
                y[p + 260 + 2 * g] = UInt8(s & 0xFF)
                y[p + 261 + 2 * g] = UInt8(s >> 8)
            }
        } else {
            putHalf(&y, p, 0.125)
        }
    }
    return y
}

final class GemmKernelsTests: XCTestCase {
    func testEverySIMDSetHasTheMicrokernels() {
        for ks in availableSets() {
            for t in [CK_Q4_0, CK_Q5_0, CK_Q8_0, CK_Q4_K, CK_Q5_K, CK_Q6_K] {
                if ks == ck_kernels_scalar() {
                    XCTAssertNil(gemmKernel(ks, t), "scalar \(typeName(t)): the scalar set tiles vec_dot")
                } else {
                    XCTAssertNotNil(gemmKernel(ks, t), "\(setName(ks)) gemm[\(typeName(t))]")
                }
            }
        }
    }

    /// Shapes that are not multiples of the tiles (1 token, 1 row, 17 rows, ...), K long enough
    /// for several panel chunks, enough tokens for several aux tiles, misaligned buffers and
    /// strides, untouched outputs past the rows; the entry itself and ck_gemm. Every output must
    /// equal the same set's vec_dot bit for bit (so a prefill gives what decoding token by token
    /// gives) and the scalar vec_dot up to float summation order. Modes: 0 weights quantised from
    /// floats, 1 random bytes with sane scales (every quant bit pattern), 2 exact: power-of-two
    /// scales and sums small enough that every summation order gives the same float, so the result
    /// must also equal the scalar vec_dot bit for bit (the integer block sums are the same).
    func testGemmMicrokernelsMatchVecDot() {
        var rng = SplitMix64(state: 0x6E33)
        let scalar = ck_kernels_scalar()!
        // rows, tokens, blocks of 32, super-blocks of 256
        let cases: [(Int, Int, Int, Int)] = [
            (1, 1, 1, 1), (1, 2, 3, 1), (3, 5, 2, 2), (8, 4, 4, 1), (15, 7, 5, 2), (16, 8, 1, 1), (17, 9, 3, 3),
            (33, 13, 2, 1), (37, 17, 20, 4), (5, 3, 130, 14), (17, 300, 20, 3), (24, 2, 0, 0), (40, 11, 7, 2),
        ]
        var failures = 0, compared = 0
        for ks in availableSets() {
            for t in [CK_Q4_0, CK_Q5_0, CK_Q8_0, CK_Q4_K, CK_Q5_K, CK_Q6_K, CK_Q4_1, CK_Q5_1, CK_F16] {
                guard let gemm = gemmKernel(ks, t) else { continue }
                let at = ck_activation_type(t), be = blockElements(t)
                for (ci, c) in cases.enumerated() {
                    let (rows, ntok) = (c.0, c.1)
                    let n = be * (be == 32 ? c.2 : c.3)
                    let rb = rowBytes(t, n) + (ci % 3) * 5, ab = rowBytes(at, n) + (ci % 4) * 3
                    let woff = ci % 8, aoff = (3 * ci + 1) % 8, os = rows + 3
                    let wbuf = UnsafeMutableRawPointer.allocate(byteCount: rows * rb + 16, alignment: 64)
                    let abuf = UnsafeMutableRawPointer.allocate(byteCount: ntok * ab + 16, alignment: 64)
                    defer { wbuf.deallocate(); abuf.deallocate() }
                    let w = wbuf + woff, a = abuf + aoff
                    for mode in 0..<3 {
                        if mode == 2 && n > (be == 32 ? 256 : 512) { continue }
                        var fw: [[Float]] = [], fa: [[Float]] = []
                        for r in 0..<rows {
                            var row = randomWeights(t, n, mode: mode == 2 ? 1 : mode, &rng)
                            if mode == 2 { exactScales(t, &row) }
                            row.withUnsafeBytes { (w + r * rb).copyMemory(from: $0.baseAddress!, byteCount: rowBytes(t, n)) }
                            fw.append(dequantize(t, row, n))
                        }
                        for k in 0..<ntok {
                            let q = mode == 2 ? exactActivations(at, n, maxq: be == 32 ? 127 : 7, &rng)
                                              : quantize(scalar, at, randomFloats(n, block: 32, &rng))
                            q.withUnsafeBytes { (a + k * ab).copyMemory(from: $0.baseAddress!, byteCount: rowBytes(at, n)) }
                            fa.append(dequantize(at, q, n))
                        }
                        // the set's own vec_dot, the scalar reference and the magnitude of each dot
                        // product, once for both paths
                        var own = [Float](repeating: 0, count: ntok * rows)
                        var ref = [Float](repeating: 0, count: ntok * rows), mag = [Double](repeating: 0, count: ntok * rows)
                        for k in 0..<ntok {
                            fa[k].withUnsafeBufferPointer { ak in
                                for r in 0..<rows {
                                    own[k * rows + r] = vecDot(ks, t)!(Int64(n), w + r * rb, a + k * ab)
                                    let v = vecDot(scalar, t)!(Int64(n), w + r * rb, a + k * ab)
                                    ref[k * rows + r] = v
                                    if mode == 2 { continue }
                                    var m = Double(abs(v))
                                    fw[r].withUnsafeBufferPointer { wr in
                                        for i in 0..<n { m += abs(Double(wr[i]) * Double(ak[i])) }
                                    }
                                    mag[k * rows + r] = m
                                }
                            }
                        }
                        for path in 0..<2 {
                            var out = [Float](repeating: -777, count: ntok * os)
                            out.withUnsafeMutableBufferPointer {
                                if path == 0 {
                                    gemm(Int64(n), w, rb, Int64(rows), a, ab, Int64(ntok), $0.baseAddress, Int64(os))
                                } else {
                                    ck_gemm(ks, t, Int64(n), w, rb, Int64(rows), a, ab, Int64(ntok), $0.baseAddress, Int64(os))
                                }
                            }
                            var bad = 0
                            for k in 0..<ntok {
                                for r in 0..<os {
                                    let got = out[k * os + r]
                                    if r >= rows {
                                        if got != -777 { bad += 1 }
                                        continue
                                    }
                                    let want = ref[k * rows + r]
                                    compared += 1
                                    if got != own[k * rows + r] {
                                        bad += 1
                                    } else if mode == 2 {
                                        if got != want { bad += 1 }
                                    } else if abs(Double(got) - Double(want)) > 2e-6 * mag[k * rows + r] {
                                        bad += 1
                                    }
                                }
                            }
                            if bad > 0 {
                                failures += 1
                                if failures < 20 {
                                    XCTFail("\(setName(ks)) \(path == 0 ? "gemm" : "ck_gemm") \(typeName(t)) rows=\(rows) "
                                        + "ntok=\(ntok) n=\(n) mode=\(mode) woff=\(woff) aoff=\(aoff): \(bad) outputs differ")
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0)
        if availableSets().count > 1 { XCTAssertGreaterThan(compared, 100_000, "microkernels were compared") }
    }
}
