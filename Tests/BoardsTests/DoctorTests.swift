import Boards
import Foundation
import TestSupport
import XCTest

/// `doctor` on every synthetic tree: as a library report and through the binary's `--json`.
final class DoctorTests: BoardsTestCase {
    func report(_ tree: String, model: String? = nil, ctx: Int = 0) throws -> DoctorReport {
        var r = DoctorReport.Request()
        r.root = try Repo.root(tree)
        r.modelPath = model
        r.context = ctx
        return try DoctorReport.make(r, catalog: Repo.catalog())
    }

    func testReportOnEveryTree() throws {
        let model = try tinyModel()
        for (tree, want) in DetectionTests.expected {
            let r = try report(tree, model: model, ctx: 512)
            XCTAssertEqual(r.board.name, want.board, tree)
            XCTAssertEqual(r.cpu.kernel.path, want.kernel, tree)
            XCTAssertEqual(r.cpu.bigCores, want.big, tree)
            XCTAssertEqual(r.problems, [], tree)
            XCTAssertEqual(r.model?.fit?.fits, true, tree)
            XCTAssertNotNil(r.model?.storageRead, tree)
            XCTAssertNotNil(r.memory, tree)
            XCTAssertFalse(r.advice.isEmpty, tree)
            let text = r.text()
            XCTAssertTrue(text.contains("kernel path   \(want.kernel) "), "\(tree):\n\(text)")
            XCTAssertTrue(text.contains("name          \(want.board)"), "\(tree):\n\(text)")
        }
    }

    func testHealthAndAdviceFromTheTrees() throws {
        // Pi 5: 78.35 C is within 5 C of its 80 C limit; the firmware word says it throttled since boot.
        let pi5 = try report("raspberry-pi-5")
        XCTAssertEqual(pi5.health.hottestWatched?.celsius, 78.35)
        XCTAssertEqual(pi5.health.throttled?.now, [])
        XCTAssertEqual(pi5.health.throttled?.sinceBoot, ["frequency capped", "throttled", "soft temperature limit"])
        XCTAssertTrue(pi5.advice.contains { $0.contains("within 5 °C of the 80 °C throttling point") }, "\(pi5.advice)")
        XCTAssertEqual(pi5.health.powerSensors, ["rpi_volt at hwmon0"])
        // The RockPro64 runs the powersave governor: advice says so. An N100 under intel_pstate does not.
        XCTAssertTrue(try report("generic-aarch64").advice.contains { $0.contains("governor is powersave") })
        XCTAssertFalse(try report("generic-x86_64").advice.contains { $0.contains("governor") })
        let rk = try report("rk3588")
        XCTAssertEqual(rk.health.policies.map(\.cpus), ["0-3", "4-5", "6-7"])
        XCTAssertEqual(rk.health.temperatures.filter(\.watched).map(\.type), ["soc-thermal", "bigcore0-thermal", "bigcore1-thermal", "littlecore-thermal"])
        XCTAssertEqual(try report("jetson-orin-nano").health.powerSensors, ["ina3221 at hwmon0"])
    }

    func testDecodeCeilingFromBandwidth() throws {
        let model = try tinyModel()
        let r = try report("raspberry-pi-5", model: model, ctx: 256)
        let perToken = try XCTUnwrap(r.model?.bytesPerToken)
        XCTAssertEqual(perToken, r.model?.fit?.weightsMapped, "tied embedding: every weight byte is read per token")
        XCTAssertEqual(r.model?.decodeCeilingTokensPerSecond?[0] ?? 0, 4.9e9 / Double(perToken), accuracy: 1e-6)
        XCTAssertNil(try report("jetson-orin-nano", model: model, ctx: 256).model?.decodeCeilingTokensPerSecond, "no measured bandwidth")
    }

    func testBrokenTreeIsReportedNotFatal() throws {
        let broken = dir + "/broken"
        try write("processor : 0\nCPU part : what\n", to: "proc/cpuinfo", under: broken)
        try write("1\n", to: "sys/devices/system/cpu/online", under: broken)
        try write("hot\n", to: "sys/class/thermal/thermal_zone0/temp", under: broken)
        try write("cpu-thermal\n", to: "sys/class/thermal/thermal_zone0/type", under: broken)
        var r = DoctorReport.Request()
        r.root = try SystemRoot(path: broken)
        let rep = try DoctorReport.make(r, catalog: Repo.catalog())
        XCTAssertTrue(rep.problems.contains { $0.contains("line 2: expected a hex part number") }, "\(rep.problems)")
        XCTAssertTrue(rep.problems.contains { $0.hasPrefix("cannot read \(broken)/proc/meminfo: missing") }, "\(rep.problems)")
        XCTAssertTrue(rep.problems.contains { $0.contains("thermal_zone0/temp: expected one integer") }, "\(rep.problems)")
        XCTAssertNil(rep.memory)
        XCTAssertEqual(rep.cpu.kernel.path, "scalar")
        XCTAssertEqual(rep.threads.cpus, [1])
        XCTAssertTrue(rep.text().contains("problems"))
    }

    func testStorageReadSpeedOnATempFile() throws {
        let path = dir + "/blob"
        try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: path))
        let all = try StorageReadSpeed.measure(path: path, dropCache: true)
        XCTAssertEqual(all.bytes, 3 << 20)
        XCTAssertTrue(all.cold)
        XCTAssertTrue((0...1).contains(all.cachedBefore))
        XCTAssertGreaterThan(all.megabytesPerSecond, 0)
        XCTAssertEqual(try StorageReadSpeed.measure(path: path, limit: 1 << 20).bytes, 1 << 20)
        XCTAssertThrowsError(try StorageReadSpeed.measure(path: dir + "/none")) { e in
            XCTAssertTrue("\(e)".hasPrefix("cannot read \(dir!)/none: No such file"), "\(e)")
        }
        XCTAssertThrowsError(try StorageReadSpeed.measure(path: dir)) { e in XCTAssertTrue("\(e)".contains("not a non-empty regular file"), "\(e)") }
    }

    // MARK: the binary

    /// The issue's "must show": on each tree, `doctor --json` names the board, the kernel path
    /// (no dotprod path on the Pi 4) and the big cores.
    func testDoctorJSONOnEveryTree() throws {
        let model = try tinyModel()
        for (tree, want) in DetectionTests.expected {
            let j = try doctorJSON(["--sysfs-root", Repo.tree(tree), "-m", model, "--ctx", "512"])
            XCTAssertEqual(j.at("board", "name") as? String, want.board, tree)
            XCTAssertEqual(j.at("cpu", "kernel", "path") as? String, want.kernel, tree)
            XCTAssertEqual(j.at("cpu", "big_cores") as? [Int], want.big, tree)
            XCTAssertEqual(j.at("threads", "cpus") as? [Int], want.big, tree)
            XCTAssertEqual(j.at("model", "fit", "fits") as? Bool, true, tree)
            if tree == "raspberry-pi-4" {
                XCTAssertEqual(j.at("cpu", "kernel", "features") as? [String], ["neon"])
                XCTAssertFalse((j.at("cpu", "kernel", "available") as? [String] ?? []).contains("neon-dotprod"))
            }
        }
    }

    func testDoctorJSONRefusalFigures() throws {
        let low = try tree(copying: "rk3588", totalKB: 2_000_000, availableKB: 120_000)
        let j = try doctorJSON(["--sysfs-root", low, "-m", try RealModel.require()])
        XCTAssertEqual(j.at("model", "fit", "fits") as? Bool, false)
        XCTAssertEqual(j.at("model", "fit", "available") as? Int, 120_000 * 1024)
        XCTAssertEqual(j.at("model", "fit", "context") as? Int, 4096)
        XCTAssertTrue((j["advice"] as? [String])?.first?.contains("does not fit") ?? false, "\(j["advice"] ?? "")")
    }

    func testDoctorOnThisMachineAndBadArguments() throws {
        let j = try doctorJSON([])
        XCTAssertEqual(j["root"] as? String, "/")
        XCTAssertTrue((j.at("cpu", "kernel", "source") as? String)?.hasPrefix("chosen by this process") ?? false)
        let text = try run(["doctor", "--sysfs-root", Repo.tree("rk3588"), "--board", "raspberry-pi-5"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("matched by --board"), text.stdout)
        for (args, message) in [(["--sysfs-root", dir + "/none"], "is not a directory"),
                                (["--board", "nope"], "is not a known board"),
                                (["--cores", "x"], "is not N or N-M"),
                                (["-m", dir + "/none.gguf"], "model file not found")] {
            let o = try run(["doctor"] + args)
            XCTAssertEqual(o.status, 1, "\(args): \(o.stderr)")
            XCTAssertTrue(o.stderr.contains(message), "\(args): \(o.stderr)")
        }
    }
}
