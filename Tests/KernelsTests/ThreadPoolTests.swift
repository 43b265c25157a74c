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
        /// Per task, the thread number it ran on; per thread number, whether a task is running there.
        var ranOn: UnsafeMutablePointer<Int32>
        var busy: UnsafeMutablePointer<Int32>
    }

    /// Runs one region of `count` tasks; each task moves its slot from -1 to the region's number,
    /// so a repeated task, a skipped one or a task run for the wrong region leaves another value.
    /// Each task also records its thread number, which must be below the pool's thread count and
    /// never shared by two tasks running at the same time (the number selects per-thread scratch).
    private func runRegion(_ pool: OpaquePointer, _ region: Int, count: Int, hits: UnsafeMutablePointer<Int32>,
                           capacity: Int) -> String? {
        hits.initialize(repeating: -1, count: capacity)
        let ranOn = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        let busy = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        defer { ranOn.deallocate(); busy.deallocate() }
        ranOn.initialize(repeating: -1, count: capacity)
        busy.initialize(repeating: 0, count: 64)
        var context = Region(hits: hits, region: Int32(region), ranOn: ranOn, busy: busy)
        withUnsafeMutablePointer(to: &context) { ctx in
            ck_pool_run(pool, { ctx, i, thread in
                let r = ctx!.assumingMemoryBound(to: Region.self).pointee
                let old = r.hits[Int(i)]
                r.hits[Int(i)] = old == -1 ? r.region : -2
                guard thread >= 0 && thread < 64 else { r.ranOn[Int(i)] = -3; return }
                // Two tasks holding one thread number at once would see each other's mark.
                let shared = r.busy[Int(thread)] != 0
                r.busy[Int(thread)] = 1
                for _ in 0..<200 { if r.busy[Int(thread)] != 1 { break } }
                r.busy[Int(thread)] = 0
                r.ranOn[Int(i)] = shared ? -4 : thread
            }, ctx, Int32(count))
        }
        let threads = ck_pool_threads(pool)
        for i in 0..<count where hits[i] != Int32(region) { return "task \(i) of \(count) left \(hits[i])" }
        for i in count..<capacity where hits[i] != -1 { return "slot \(i) beyond the count was written" }
        for i in 0..<count where !(0..<threads).contains(ranOn[i]) {
            return "task \(i) ran on thread number \(ranOn[i]) of \(threads)"
        }
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
