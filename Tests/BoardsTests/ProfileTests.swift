import Boards
import Foundation
import XCTest

/// The profiles in Platforms/boards load, are consistent, and broken profiles are refused with
/// a message that names the problem.
final class ProfileTests: BoardsTestCase {
    func testEveryShippedProfileLoads() throws {
        let catalog = try Repo.catalog()
        XCTAssertEqual(catalog.profiles.map(\.name), Repo.boardNames)
        let pi4 = try catalog.profile(named: "raspberry-pi-4")
        XCTAssertEqual(pi4.cpu.kernelPath, "neon")
        XCTAssertFalse(pi4.cpu.features.contains("dotprod"))
        XCTAssertEqual(try catalog.profile(named: "raspberry-pi-5").cpu.kernelPath, "neon-dotprod")
        let rk = try catalog.profile(named: "rk3588")
        XCTAssertEqual(rk.cpu.clusters.first { $0.role == "big" }?.cpus, [4, 5, 6, 7])
        XCTAssertEqual(rk.cpu.use, "big")
        XCTAssertEqual(try catalog.profile(named: "jetson-orin-nano").match.cpuParts, [.init(part: "0xd42", count: 6)])
        // The bandwidth figures of EDGE.md.
        XCTAssertEqual(try catalog.profile(named: "raspberry-pi-5").memory.bandwidthMeasuredGbs, [4.9, 6.2])
        XCTAssertEqual(rk.memory.bandwidthMeasuredGbs, [8.6, 12.4])
        XCTAssertEqual(try catalog.profile(named: "jetson-orin-nano").memory.bandwidthTheoreticalGbs?.last, 68)
    }

    func testUnknownBoardListsTheKnownOnes() throws {
        XCTAssertThrowsError(try Repo.catalog().profile(named: "pi6")) { e in
            XCTAssertTrue("\(e)".contains("--board pi6 is not a known board"), "\(e)")
            XCTAssertTrue("\(e)".contains("raspberry-pi-5"), "\(e)")
        }
        XCTAssertThrowsError(try BoardCatalog.empty.profile(named: "rk3588")) { e in
            XCTAssertTrue("\(e)".contains("no board profiles found"), "\(e)")
        }
    }

    /// Writes the Pi 4 profile with `edit` applied to its JSON object and loads it.
    func loadEdited(name: String = "raspberry-pi-4", _ edit: (inout [String: Any]) -> Void) throws -> BoardProfile {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repo.boards + "/raspberry-pi-4.json"))
        var obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        edit(&obj)
        let path = dir + "/\(name).json"
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
        return try BoardProfile.load(file: path)
    }

    func assertRejected(_ fragment: String, name: String = "raspberry-pi-4", line: UInt = #line,
                        _ edit: @escaping (inout [String: Any]) -> Void) {
        XCTAssertThrowsError(try loadEdited(name: name, edit), line: line) { e in
            XCTAssertTrue("\(e)".contains(fragment), "'\(e)' lacks '\(fragment)'", line: line)
        }
    }

    func testUnchangedCopyLoads() throws {
        XCTAssertEqual(try loadEdited { _ in }.name, "raspberry-pi-4")
    }

    func testInconsistentProfilesAreRefused() {
        // A Pi 4 promising the dotprod path would be a SIGILL on the board.
        assertRejected("features [\"neon\"] select 'neon'") { o in
            var cpu = o["cpu"] as! [String: Any]
            cpu["kernel_path"] = "neon-dotprod"
            o["cpu"] = cpu
        }
        assertRejected("disagree with match.cpu_parts") { o in
            var m = o["match"] as! [String: Any]
            m["cpu_parts"] = [["part": "0xd08", "count": 2]]
            o["match"] = m
        }
        assertRejected("differs from the file name", name: "other-board") { _ in }
        assertRejected("unknown keys [\"cpu.pinned\"]") { o in
            var cpu = o["cpu"] as! [String: Any]
            cpu["pinned"] = true
            o["cpu"] = cpu
        }
        assertRejected("missing key 'recommended'") { o in o["recommended"] = nil }
        assertRejected("wrong type at memory.sizes_gib") { o in
            var m = o["memory"] as! [String: Any]
            m["sizes_gib"] = "four"
            o["memory"] = m
        }
        assertRejected("cpu.use 'half'") { o in
            var cpu = o["cpu"] as! [String: Any]
            cpu["use"] = "half"
            o["cpu"] = cpu
        }
        assertRejected("bandwidth_measured_gbs must be [low, high]") { o in
            var m = o["memory"] as! [String: Any]
            m["bandwidth_measured_gbs"] = [3.0, 1.0]
            o["memory"] = m
        }
        assertRejected("share line 17") { o in
            var g = o["gpio"] as! [String: Any]
            g["button"] = ["line": 17, "header_pin": 13]
            o["gpio"] = g
        }
        assertRejected("not a GGUF quant the kernels run") { o in
            var r = o["recommended"] as! [String: Any]
            r["quant"] = "Q4_X"
            o["recommended"] = r
        }
    }

    func testNotJSONIsAClearError() throws {
        let path = dir + "/broken.json"
        try Data("{ \"name\": ".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try BoardProfile.load(file: path)) { e in
            XCTAssertTrue("\(e)".hasPrefix("board profile \(path): not valid JSON"), "\(e)")
        }
        XCTAssertThrowsError(try BoardCatalog(directory: dir)) { e in XCTAssertTrue("\(e)".contains("broken.json"), "\(e)") }
    }

    func testCatalogDiscovery() throws {
        // $GEMMA_EDGE_BOARDS wins; a missing one is an error, not a silent fallback.
        let c = try BoardCatalog.discover(environment: ["GEMMA_EDGE_BOARDS": Repo.boards], executable: "/nonexistent/bin/gemma-edge")
        XCTAssertEqual(c.directory, Repo.boards)
        XCTAssertThrowsError(try BoardCatalog.discover(environment: ["GEMMA_EDGE_BOARDS": dir + "/none"], executable: "/x/gemma-edge"))
        // A development build under .build/ finds Platforms/boards in an ancestor.
        let dev = try BoardCatalog.discover(environment: [:], executable: Repo.root + "/.build/debug/gemma-edge")
        XCTAssertEqual(dev.directory, Repo.boards)
        // The installed layout: <prefix>/bin/gemma-edge and <prefix>/share/gemma-edge/boards.
        try FileManager.default.createDirectory(atPath: dir + "/prefix/share/gemma-edge", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repo.boards, toPath: dir + "/prefix/share/gemma-edge/boards")
        let installed = try BoardCatalog.discover(environment: [:], executable: dir + "/prefix/bin/gemma-edge")
        XCTAssertEqual(installed.directory, dir + "/prefix/share/gemma-edge/boards")
        // Nowhere: an empty catalog that says where it looked.
        let none = try BoardCatalog.discover(environment: [:], executable: "/nonexistent/bin/gemma-edge")
        XCTAssertTrue(none.profiles.isEmpty)
        XCTAssertTrue(none.searched.contains("/nonexistent/share/gemma-edge/boards"))
    }
}
