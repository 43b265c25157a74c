import CKernels
import Kernels
import XCTest

/// The float matrix products (`FloatGemm`, CKernels.h "Float matrix products") of every kernel set
/// against the scalar reference: row counts around the register tiles (1 to 13 and 25 rows of a),
/// column counts around the 16-column panels and 64-column chunks, lengths across the 256-value
/// chunks of k, misaligned buffers, strides wider than the rows, both accumulate modes. Outputs
/// outside the written ranges must stay untouched.
final class FloatGemmTests: XCTestCase {
    func testEverySetMatchesTheScalarReference() {
        var rng = SplitMix64(state: 2020)
        let reference = FloatGemm(.scalar)
        for table in availableSets().dropFirst() {
            let gemm = FloatGemm(KernelSet(table: table))
            let name = String(cString: table.pointee.name)
            for n in [0, 1, 7, 16, 72, 256, 300, 520] {
                for ntok in [1, 4, 6, 7, 13, 25] {
                    for cols in [1, 8, 16, 17, 64, 72, 81, 200] {   // 200: more than one chunk of weight rows
                        for form in 0..<3 {
                            check(name, gemm, reference, form: form, n: n, ntok: ntok, cols: cols, &rng)
                        }
                    }
                }
            }
        }
    }

    /// form 0: rows of an F32 matrix, 1: rows of an F16 matrix, 2: a k-major f32 block (fgemm_kn).
    func check(_ name: String, _ gemm: FloatGemm, _ reference: FloatGemm, form: Int, n: Int, ntok: Int, cols: Int,
               _ rng: inout SplitMix64) {
        let off = (n + ntok + cols + form) % 5, accumulate: Int32 = (n + ntok + cols) % 2 == 0 ? 1 : 0
        let aStride = n + off % 3, outStride = cols + 1 + off % 2
        let a = (0..<(ntok * aStride + off)).map { _ in rng.normal() }
        var b: [UInt8]
        var bStride = 0                        // bytes between matrix rows (forms 0, 1), floats (form 2)
        var dense = [Float](repeating: 0, count: cols * n)   // B(k, c) at [c * n + k], as the kernels read it
        if form < 2 {
            let type = form == 0 ? CK_F32 : CK_F16
            bStride = rowBytes(type, n) + 2 * (off % 2) + 4
            b = [UInt8](repeating: 0, count: cols * bStride + off + 8)
            for c in 0..<cols {
                let row = quantize(ck_kernels_scalar(), type, randomFloats(n, block: 16, &rng))
                for (i, byte) in row.prefix(rowBytes(type, n)).enumerated() { b[off + c * bStride + i] = byte }
                var values = [Float](repeating: 0, count: max(n, 1))
                if n > 0 { row.withUnsafeBytes { ck_dequantize_row(type, $0.baseAddress, &values, Int64(n)) } }
                for k in 0..<n { dense[c * n + k] = values[k] }
            }
        } else {
            bStride = cols + off % 3
            let values = (0..<(n * bStride + off)).map { _ in rng.normal() }
            b = values.withUnsafeBytes { [UInt8]($0) }
            for c in 0..<cols { for k in 0..<n { dense[c * n + k] = values[off + k * bStride + c] } }
        }
        let before = (0..<(ntok * outStride + off + 3)).map { _ in rng.normal() }
        var got = before, want = before
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBytes { bp in
                let ap = ap.baseAddress! + off, bp = bp.baseAddress! + (form < 2 ? off : off * 4)
                for (g, out) in [(gemm, 0), (reference, 1)] {
                    let run = { (o: UnsafeMutablePointer<Float>) in
                        if form < 2 {
                            g.rows(form == 0 ? CK_F32 : CK_F16)!(Int64(n), ap, Int64(aStride), Int64(ntok), bp, bStride,
                                                                  Int64(cols), o + off, Int64(outStride), accumulate)
                        } else {
                            g.kn(Int64(n), ap, Int64(aStride), Int64(ntok), bp.assumingMemoryBound(to: Float.self),
                                 Int64(bStride), Int64(cols), o + off, Int64(outStride), accumulate)
                        }
                    }
                    if out == 0 { got.withUnsafeMutableBufferPointer { run($0.baseAddress!) } }
                    else { want.withUnsafeMutableBufferPointer { run($0.baseAddress!) } }
                }
            }
        }
        let what = "\(name) form \(form) n=\(n) ntok=\(ntok) cols=\(cols) accumulate=\(accumulate)"
        for i in got.indices {
            let k = i - off, t = k >= 0 ? k / outStride : -1, c = k >= 0 ? k % outStride : -1
            if k < 0 || t >= ntok || c >= cols {
                XCTAssertEqual(got[i].bitPattern, before[i].bitPattern, "wrote outside the output, \(what)")
                continue
            }
            var magnitude = accumulate == 1 ? abs(before[i]) : 0
            for e in 0..<n { magnitude += abs(a[off + t * aStride + e] * dense[c * n + e]) }
            XCTAssertEqual(got[i], want[i], accuracy: 2e-6 * magnitude + 1e-30, what)
        }
    }
}
