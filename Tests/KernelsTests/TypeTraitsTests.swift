import CKernels
import GGUF
import Kernels
import XCTest

/// The type traits table (CKernels.h, "type traits"): one row per type that every kernel set falls
/// back on, so a set lists only the kernels it improves.
final class TypeTraitsTests: XCTestCase {
    private func address<F>(_ f: F?) -> UnsafeRawPointer? { f.map { unsafeBitCast($0, to: UnsafeRawPointer.self) } }

    /// Every set handed out is complete, and every Swift tensor type has traits with its geometry.
    func testEverySetIsCompleteAndTheTraitsMatchTheFileFormat() {
        for ks in availableSets() {
            XCTAssertNil(ck_kernel_set_missing(ks).map { String(cString: $0) }, setName(ks))
        }
        for t in TensorType.allCases {
            guard let tr = ck_get_type_traits(ck_type(rawValue: t.rawValue)) else { return XCTFail("no traits for \(t)") }
            XCTAssertEqual(Int(tr.pointee.block_elements), t.blockElements, "\(t)")
            XCTAssertEqual(Int(tr.pointee.block_bytes), t.blockBytes, "\(t)")
            XCTAssertEqual(String(cString: tr.pointee.name).lowercased(), "\(t)".lowercased())
        }
        XCTAssertNil(ck_get_type_traits(ck_type(rawValue: 4)))   // 4 and 5 are gone from GGUF
        XCTAssertNil(ck_get_type_traits(CK_TYPE_COUNT))
    }

    /// A fresh set that brings nothing but one type's dot product is completed into a working set:
    /// its own entry is kept, every other one is the traits' scalar kernel, and its products equal
    /// the scalar set's for every type.
    func testAFreshSetWithOneEntryIsFilledFromTheTraits() throws {
        let best = KernelSet.best()
        let own = try XCTUnwrap(ck_set_vec_dot(best.table, CK_Q8_0))
        let set = KernelSet.completed(name: "one-entry") { ck_set_put_vec_dot($0, CK_Q8_0, own) }
        let scalar = ck_kernels_scalar()!
        XCTAssertNil(ck_kernel_set_missing(set.table))
        XCTAssertEqual(set.name, "one-entry")
        XCTAssertEqual(address(ck_set_vec_dot(set.table, CK_Q8_0)), address(own))
        var rng = SplitMix64(state: 7)
        for t in [CK_F32, CK_F16, CK_BF16, CK_Q4_0, CK_Q4_1, CK_Q5_0, CK_Q5_1, CK_Q4_K, CK_Q5_K, CK_Q6_K] {
            XCTAssertEqual(address(ck_set_vec_dot(set.table, t)), address(ck_set_vec_dot(scalar, t)), typeName(t))
            XCTAssertEqual(address(ck_set_quantize(set.table, t)), address(ck_set_quantize(scalar, t)), typeName(t))
            let n = 512, rows = 3
            let w = (0..<rows).flatMap { _ in randomWeights(t, n, mode: 0, &rng) }
            let a = quantize(scalar, ck_activation_type(t), randomFloats(n, block: 32, &rng))
            var got = [Float](repeating: 0, count: rows), want = got
            let rb = rowBytes(t, n)
            w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in
                ck_gemv(set.table, t, Int64(n), wp.baseAddress, rb, Int64(rows), ap.baseAddress, &got)
                ck_gemv(scalar, t, Int64(n), wp.baseAddress, rb, Int64(rows), ap.baseAddress, &want)
            } }
            XCTAssertEqual(got, want, typeName(t))
        }
        for t in [CK_F32, CK_F16, CK_Q8_0] {
            XCTAssertNotNil(KVRowKernels(set, type: TensorType(rawValue: t.rawValue)!), typeName(t))
            XCTAssertEqual(address(ck_set_rows_dot(set.table, t)), address(ck_set_rows_dot(scalar, t)), typeName(t))
        }
        XCTAssertNil(KVRowKernels(set, type: .q4_0))
    }
}
