import Foundation
import Kernels
import XCTest

@testable import Vision

/// The encoder's blocked attention (`AttentionBlocks`: packed key and value panels, online softmax
/// over key blocks) against softmax(Q Kᵀ / sqrt(d)) V per head in double precision, with every
/// kernel set, on shapes the tiny pairs do not reach: several key blocks (the rescale of the
/// online softmax), a last partial key panel, a last partial query block, head widths that are
/// not whole panels.
final class VisionAttentionTests: XCTestCase {
    func testBlockedAttentionMatchesTheDefinition() throws {
        // (patches, heads, headDim)
        let shapes = [(300, 2, 72), (64, 4, 16), (17, 1, 20), (520, 1, 8), (97, 3, 33)]
        for set in KernelSet.available {
            let compute = try Compute(kernels: set, threads: 2)
            for (n, heads, hd) in shapes {
                let d = heads * hd
                var rng: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(n * 131 + d)
                func next() -> Float {
                    rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return Float(Int64(bitPattern: rng >> 11) % 2001 - 1000) / 250
                }
                var q = (0..<n * d).map { _ in next() }
                var k = (0..<n * d).map { _ in next() }
                var v = (0..<n * d).map { _ in next() }
                var out = [Float](repeating: .nan, count: n * d)
                let arena = FloatArena()
                let job = UnsafeMutablePointer<AttentionBlocks>.allocate(capacity: 1)
                defer { job.deallocate() }
                job.initialize(to: AttentionBlocks(gemm: compute.floatGemm, kernels: compute.rows, patches: n, width: d, headDim: hd,
                                                   heads: heads, threads: compute.threads, arena: arena))
                q.withUnsafeMutableBufferPointer { qp in
                    k.withUnsafeMutableBufferPointer { kp in
                        v.withUnsafeMutableBufferPointer { vp in
                            out.withUnsafeMutableBufferPointer { op in
                                job.pointee.set(q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!,
                                                out: op.baseAddress!)
                                AttentionBlocks.run(job, on: compute)
                            }
                        }
                    }
                }
                var worst = 0.0
                for h in 0..<heads {
                    for i in 0..<n {
                        var s = [Double](repeating: 0, count: n)
                        for j in 0..<n {
                            var dot = 0.0
                            for c in 0..<hd { dot += Double(q[i * d + h * hd + c]) * Double(k[j * d + h * hd + c]) }
                            s[j] = dot / Double(hd).squareRoot()
                        }
                        let m = s.max()!
                        let e = s.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                        for c in 0..<hd {
                            var o = 0.0
                            for j in 0..<n { o += e[j] * Double(v[j * d + h * hd + c]) }
                            worst = max(worst, abs(o / sum - Double(out[i * d + h * hd + c])))
                        }
                    }
                }
                // Measured: at most 1.1e-5 (scalar, portable, avx2) for values in -4 ... 4.
                XCTAssertLessThan(worst, 1e-4, "\(set.name) patches \(n) heads \(heads) headDim \(hd)")
            }
        }
    }
}
