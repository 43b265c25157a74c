import CKernels
import GGUF
import Kernels
import XCTest

/// `Compute.batchMatmul` (the vision encoder's products): F16 and F32 weights through the float
/// gemm equal `matmul` up to float summation order, for token counts around the register tiles,
/// row counts around the 16-row panels and the 64-row tasks, and every kernel set; other weight
/// types, and one token, are `matmul` bit for bit.
final class BatchMatmulTests: XCTestCase {
    func matrixBytes(_ type: ck_type, rows: Int, n: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var w: [UInt8] = []
        for _ in 0..<rows { w += quantize(ck_kernels_scalar(), type, randomFloats(n, block: 32, &rng)) }
        return w
    }

    func testBatchMatmulMatchesMatmul() throws {
        var rng = SplitMix64(state: 77)
        let sets = [KernelSet.scalar, .portable] + availableSets().dropFirst().map { KernelSet(table: $0) }
        for set in sets {
            let compute = try Compute(kernels: set, threads: 2)
            for (type, tensorType) in [(CK_F16, TensorType.f16), (CK_F32, .f32), (CK_Q8_0, .q8_0)] {
                for (rows, n, tokens) in [(1, 32, 2), (3, 64, 5), (17, 96, 4), (130, 160, 9), (900, 320, 3), (40, 64, 1)] {
                    let w = matrixBytes(type, rows: rows, n: n, &rng)
                    let input = QuantizedRows(capacity: tokens, width: n, formats: [ck_activation_type(type).rawValue], kernels: set)
                    for i in 0..<(tokens * n) { input.floats[i] = rng.normal() }
                    input.invalidate(tokens: tokens)
                    var a = [Float](repeating: -1, count: tokens * (rows + 2)), b = a
                    w.withUnsafeBytes { wp in
                        let m = Matrix(type: tensorType, rows: rows, columns: n, base: wp.baseAddress!)
                        compute.matmul(m, input, tokens: tokens, out: &a, outStride: rows + 2)
                        compute.batchMatmul(m, input, tokens: tokens, out: &b, outStride: rows + 2)
                    }
                    let what = "\(set.name) \(typeName(type)) rows=\(rows) n=\(n) tokens=\(tokens)"
                    if type == CK_Q8_0 || tokens == 1 {
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), what)
                        continue
                    }
                    for i in a.indices {
                        if i % (rows + 2) >= rows { XCTAssertEqual(b[i], -1, "wrote past the rows, \(what)"); continue }
                        XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * Float(n).squareRoot() * max(1, abs(a[i])), what)
                    }
                }
            }
        }
    }
}
