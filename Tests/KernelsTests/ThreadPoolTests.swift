import CKernels
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The C worker pool: every task of every region runs exactly once, whatever the thread count,
/// including more threads than cores (workers that are not scheduled must not stall or repeat work).
final class ThreadPoolTests: XCTestCase {
    private struct Region {
        var hits: UnsafeMutablePointer<Int32>
        var region: Int32
    }

    /// Runs one region of `count` tasks; each task moves its slot from -1 to the region's number,
    /// so a repeated task, a skipped one or a task run for the wrong region leaves another value.
    private func runRegion(_ pool: OpaquePointer, _ region: Int, count: Int, hits: UnsafeMutablePointer<Int32>,
                           capacity: Int) -> String? {
        hits.initialize(repeating: -1, count: capacity)
        var context = Region(hits: hits, region: Int32(region))
        withUnsafeMutablePointer(to: &context) { ctx in
            ck_pool_run(pool, { ctx, i, n in
                let r = ctx!.assumingMemoryBound(to: Region.self).pointee
                let old = r.hits[Int(i)]
                r.hits[Int(i)] = old == -1 && i < n ? r.region : -2
            }, ctx, Int32(count))
        }
        for i in 0..<count where hits[i] != Int32(region) { return "task \(i) of \(count) left \(hits[i])" }
        for i in count..<capacity where hits[i] != -1 { return "slot \(i) beyond the count was written" }
        return nil
    }

    func testEveryTaskRunsExactlyOnce() throws {
        let capacity = 300
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        defer { hits.deallocate() }
        for threads in [1, 2, 3, 8] {
            let pool = try XCTUnwrap(ck_pool_create(Int32(threads), nil))
            defer { ck_pool_destroy(pool) }
            for region in 0..<3000 {
                let count = [1, 2, 3, 7, 16, 64, 257][region % 7]
                if let problem = runRegion(pool, region, count: count, hits: hits, capacity: capacity) {
                    return XCTFail("threads \(threads), region \(region): \(problem)")
                }
            }
        }
    }

    func testParkedWorkersWakeForTheNextRegion() throws {
        let capacity = 128
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        defer { hits.deallocate() }
        let pool = try XCTUnwrap(ck_pool_create(3, nil))
        defer { ck_pool_destroy(pool) }
        for region in 0..<5 {
            usleep(30_000)  // long past the spin phase: the workers are parked
            XCTAssertNil(runRegion(pool, region, count: 100, hits: hits, capacity: capacity), "region \(region)")
        }
    }
}
