import CKernels
import Kernels
import XCTest

/// The Swift SIMD int4 dot products (PortableInt4) against the scalar C reference: bit for bit (the
/// float order is the reference's), over every length from 0 to 2 x 8 blocks plus long rows, both
/// kinds of weights (quantised floats, random bytes with sane scales), extreme activations, and
/// weights and activations at every misalignment; and the `portable` kernel set as a whole.
final class PortableInt4Tests: XCTestCase {
    func check(_ t: ck_type, _ dot: PortableInt4.Dot) {
        var rng = SplitMix64(state: 23)
        let scalar = vecDot(ck_kernels_scalar(), t)!
        let at = ck_activation_type(t)
        let be = blockElements(t)
        var compared = 0
        for blocks in Array(0...16) + [40, 81] {
            let n = blocks * be
            for mode in 0..<2 {
                let w = randomWeights(t, n, mode: mode, &rng)
                var x = randomFloats(n, block: 32, &rng)
                if mode == 1 { for i in x.indices where i % 7 == 0 { x[i] = i % 2 == 0 ? 1e3 : -1e3 } }  // +-127 quants
                let a = quantize(ck_kernels_scalar(), at, x)
                for wo in 0..<4 {
                    let ao = (wo * 3 + blocks) % 8
                    let got = misaligned(w, wo) { wp in misaligned(a, ao) { dot(Int64(n), wp, $0) } }
                    let want = misaligned(w, wo) { wp in misaligned(a, ao) { scalar(Int64(n), wp, $0) } }
                    XCTAssertEqual(got.bitPattern, want.bitPattern,
                                   "\(typeName(t)) n=\(n) mode=\(mode) offsets \(wo)/\(ao): \(got) vs \(want)")
                    compared += 1
                }
            }
        }
        XCTAssertGreaterThan(compared, 100)
    }

    func testQ4_0MatchesScalarBitForBit() { check(CK_Q4_0, PortableInt4.q4_0) }

    func testQ4_KMatchesScalarBitForBit() { check(CK_Q4_K, PortableInt4.q4_K) }

    /// The set: named "portable", selectable by name, the scalar set except its two int4 entries.
    func testPortableSet() throws {
        let p = KernelSet.portable
        XCTAssertEqual(p.name, "portable")
        XCTAssertEqual(KernelSet.named("portable")?.table, p.table)
        XCTAssertEqual(KernelSet.available.map(\.name).prefix(2), ["scalar", "portable"])
        let scalar = ck_kernels_scalar()!
        for t in [CK_F32, CK_F16, CK_Q5_0, CK_Q8_0, CK_Q6_K] {
            XCTAssertEqual(unsafeBitCast(vecDot(p.table, t)!, to: UnsafeRawPointer.self),
                           unsafeBitCast(vecDot(scalar, t)!, to: UnsafeRawPointer.self), typeName(t))
        }
        XCTAssertNotEqual(unsafeBitCast(vecDot(p.table, CK_Q4_0)!, to: UnsafeRawPointer.self),
                          unsafeBitCast(vecDot(scalar, CK_Q4_0)!, to: UnsafeRawPointer.self))
        XCTAssertNil(ck_rp_select(p.table, CK_Q4_0), "no repacked layout: the scalar float order")
    }
}
