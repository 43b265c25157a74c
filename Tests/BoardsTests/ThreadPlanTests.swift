import Boards
import Foundation
import GemmaEdge
import XCTest

/// Threads and cores: big cores by default on big.LITTLE, `--threads` and `--cores` override.
final class ThreadPlanTests: BoardsTestCase {
    func plan(_ tree: String, threads: Int = 0, cores: String? = nil, board: String? = nil) throws -> ThreadPlan {
        let root = try Repo.root(tree)
        let cpu = try CPUInfo(root: root)
        let detected = try BoardDetector.detect(root: root, cpu: cpu, catalog: Repo.catalog(), override: board)
        return try ThreadPlan.choose(topology: CPUTopology(root: root, cpu: cpu), profile: detected.profile,
                                     threads: threads, cores: cores.map { try CPUList.parse($0) })
    }

    func testBigCoresByDefaultOnRK3588() throws {
        let p = try plan("rk3588")
        XCTAssertEqual(p.threads, 4)
        XCTAssertEqual(p.cpus, [4, 5, 6, 7])
        XCTAssertTrue(p.pinned)
        XCTAssertEqual(p.engineCPUs, [4, 5, 6, 7])
        XCTAssertTrue(p.reason.contains("4 big cores (Cortex-A76, told apart by cpu_capacity)"), p.reason)
        XCTAssertEqual(p.warnings, [])
    }

    func testUnknownBigLittleBoardUsesItsBigCores() throws {
        let p = try plan("generic-aarch64")
        XCTAssertEqual(p.cpus, [4, 5])
        XCTAssertTrue(p.pinned)
    }

    func testSymmetricBoardsUseEveryCoreUnpinned() throws {
        for (tree, n) in [("raspberry-pi-4", 4), ("raspberry-pi-5", 4), ("jetson-orin-nano", 6), ("generic-x86_64", 4)] {
            let p = try plan(tree)
            XCTAssertEqual(p.threads, n, tree)
            XCTAssertEqual(p.cpus, Array(0..<n), tree)
            XCTAssertFalse(p.pinned, tree)
            XCTAssertNil(p.engineCPUs, tree)
        }
    }

    func testThreadsOverride() throws {
        var p = try plan("rk3588", threads: 2)
        XCTAssertEqual(p.cpus, [4, 5])
        p = try plan("rk3588", threads: 6)
        XCTAssertEqual(p.cpus, [4, 5, 6, 7, 0, 1])
        XCTAssertEqual(p.warnings.count, 1)
        XCTAssertTrue(p.warnings[0].contains("adding LITTLE cores 0-1"), p.warnings[0])
        p = try plan("raspberry-pi-4", threads: 12)
        XCTAssertEqual(p.threads, 12)
        XCTAssertFalse(p.pinned)
        XCTAssertTrue(p.warnings[0].contains("more than the 4 online cores"), p.warnings[0])
        XCTAssertThrowsError(try plan("rk3588", threads: 300))
    }

    func testCoresOverride() throws {
        var p = try plan("rk3588", cores: "6,7")
        XCTAssertEqual(p.threads, 2)
        XCTAssertEqual(p.engineCPUs, [6, 7])
        XCTAssertEqual(p.reason, "--cores 6-7")
        p = try plan("raspberry-pi-4", threads: 2, cores: "1-3")
        XCTAssertEqual(p.cpus, [1, 2])
        XCTAssertTrue(p.pinned)
        XCTAssertThrowsError(try plan("rk3588", cores: "4-9")) { e in
            XCTAssertEqual("\(e)", "--cores 8-9 not online; online CPUs are 0-7")
        }
        XCTAssertThrowsError(try plan("rk3588", threads: 3, cores: "4-5")) { e in
            XCTAssertTrue("\(e)".contains("--threads 3 needs 3 cores but --cores lists 2"), "\(e)")
        }
    }

    func testUseAllProfileOnBigLittle() throws {
        // --board generic-x86_64 (use: all) on the RK3588 tree: all eight cores, told so.
        let p = try plan("rk3588", board: "generic-x86_64")
        XCTAssertEqual(p.cpus, Array(0..<8))
    }

    func testProfileLayoutWhenTheKernelCannotTellBigFromLittle() throws {
        let cores = (0..<8).map { CoreInfo(id: $0, part: nil, core: "?", capacity: nil, maxFrequencyKhz: nil, role: "") }
        let p = try ThreadPlan.choose(topology: CPUTopology(cores: cores), profile: Repo.catalog().profile(named: "rk3588"))
        XCTAssertEqual(p.cpus, [4, 5, 6, 7])
        XCTAssertTrue(p.pinned)
        XCTAssertEqual(p.warnings.count, 1)
    }

    func testApplySetsEngineOptions() throws {
        // A synthetic root: thread count only, no pinning to CPU ids this machine may not have.
        let model = try tinyModel()
        let prep = try LoadPreparation.prepare(modelPath: model, context: 256, batch: 16, threads: 0, cores: nil, board: nil,
                                               root: Repo.root("rk3588"), catalog: Repo.catalog(), environment: [:])
        var o = EngineOptions()
        XCTAssertNil(prep.apply(to: &o))
        XCTAssertEqual(o.threads, 4)
        XCTAssertNil(o.cpus)
        XCTAssertEqual(prep.board.name, "rk3588")
        XCTAssertEqual(prep.fit?.fits, true)
    }

    func testAffinityOnThisMachine() throws {
        let allowed = try XCTUnwrap(Affinity.allowedCPUs())
        XCTAssertFalse(allowed.isEmpty)
        // Run on a helper thread so the test runner's own thread keeps its mask.
        final class Box: @unchecked Sendable { var outcome: String? = "not run" }
        let box = Box(), done = DispatchSemaphore(value: 0)
        let first = allowed[0]
        let t = Thread {
            box.outcome = Affinity.restrictCallingThread(to: [first])
            if box.outcome == nil, Affinity.allowedCPUs() != [first] { box.outcome = "the mask did not change" }
            done.signal()
        }
        t.start()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertNil(box.outcome)
        XCTAssertNotNil(Affinity.restrictCallingThread(to: [5000]))
    }
}
