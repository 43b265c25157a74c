import Boards
import Foundation
import Kernels
import XCTest

/// Board detection, the kernel path and the big cores on every synthetic tree, and clear errors
/// for missing and garbage files.
final class DetectionTests: BoardsTestCase {
    struct Expected {
        var board: String
        var matchedBy: String
        var kernel: String
        var big: [Int]
        var little: [Int]
    }

    static let expected: [String: Expected] = [
        "raspberry-pi-4": Expected(board: "raspberry-pi-4", matchedBy: "device-tree model", kernel: "neon", big: [0, 1, 2, 3], little: []),
        "raspberry-pi-5": Expected(board: "raspberry-pi-5", matchedBy: "device-tree model", kernel: "neon-dotprod", big: [0, 1, 2, 3], little: []),
        "rk3588": Expected(board: "rk3588", matchedBy: "device-tree model", kernel: "neon-dotprod", big: [4, 5, 6, 7], little: [0, 1, 2, 3]),
        "jetson-orin-nano": Expected(board: "jetson-orin-nano", matchedBy: "device-tree model", kernel: "neon-dotprod",
                                     big: [0, 1, 2, 3, 4, 5], little: []),
        // A RockPro64 (RK3399, 4x A53 + 2x A72): no profile of its own, big cores from cpu_capacity.
        "generic-aarch64": Expected(board: "generic-aarch64", matchedBy: "architecture", kernel: "neon", big: [4, 5], little: [0, 1, 2, 3]),
        "generic-x86_64": Expected(board: "generic-x86_64", matchedBy: "architecture", kernel: "avx2", big: [0, 1, 2, 3], little: []),
    ]

    func testEveryTree() throws {
        let catalog = try Repo.catalog()
        XCTAssertEqual(Set(Self.expected.keys), Set(Repo.boardNames), "one tree per profile")
        for (tree, want) in Self.expected {
            let root = try Repo.root(tree)
            let cpu = try CPUInfo(root: root)
            let board = try BoardDetector.detect(root: root, cpu: cpu, catalog: catalog)
            XCTAssertEqual(board.name, want.board, tree)
            XCTAssertEqual(board.matchedBy, want.matchedBy, tree)
            XCTAssertEqual(board.warnings, [], tree)
            let kernel = KernelPath.decide(root: root, cpu: cpu)
            XCTAssertEqual(kernel.path, want.kernel, tree)
            let topology = CPUTopology(root: root, cpu: cpu)
            XCTAssertEqual(topology.big, want.big, tree)
            XCTAssertEqual(topology.little, want.little, tree)
            XCTAssertEqual(topology.notes, [], tree)
        }
    }

    func testPi4HasNoDotprodPath() throws {
        let root = try Repo.root("raspberry-pi-4")
        let k = KernelPath.decide(root: root, cpu: try CPUInfo(root: root))
        XCTAssertEqual(k.features, ["neon"])
        XCTAssertEqual(k.available, ["scalar", "portable", "neon"])
        XCTAssertFalse(k.available.contains("neon-dotprod"))
    }

    func testFeatureMappingFollowsTheCDispatch() throws {
        func path(_ arch: String, _ flags: String) throws -> String {
            let text = arch == "arm"
                ? "processor : 0\nFeatures : \(flags)\nCPU implementer : 0x41\nCPU part : 0xd0b\n"
                : "processor : 0\nvendor_id : GenuineIntel\nflags : \(flags)\n"
            let cpu = try CPUInfo(text: text)
            return KernelPath.select(architecture: cpu.architecture, features: KernelPath.features(of: cpu))
        }
        XCTAssertEqual(try path("arm", "fp asimd"), "neon")
        XCTAssertEqual(try path("arm", "fp asimd asimddp"), "neon-dotprod")
        XCTAssertEqual(try path("arm", "fp asimd asimddp i8mm"), "neon-dotprod")
        XCTAssertEqual(try path("x86", "sse4_2 avx avx2 fma f16c"), "avx2")
        XCTAssertEqual(try path("x86", "sse4_2 avx avx2 f16c"), "scalar", "AVX2 without FMA runs scalar, as cpu_features.c decides")
        XCTAssertEqual(try path("x86", "avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni"), "avx512vnni")
        XCTAssertEqual(try path("x86", "avx2 fma f16c avx512f avx512bw avx512vl"), "avx2", "AVX-512 without VNNI")
        // A processor without dotprod makes the whole CPU go without (threads may run anywhere).
        let mixed = try CPUInfo(text: "processor : 0\nFeatures : fp asimd asimddp\nCPU part : 0xd0b\n\nprocessor : 1\nFeatures : fp asimd\nCPU part : 0xd03\n")
        XCTAssertEqual(KernelPath.features(of: mixed), ["neon"])
    }

    /// On the machine running the tests, the cpuinfo mapping agrees with what the C dispatch picks.
    func testHostCpuinfoAgreesWithKernelSetBest() throws {
        let cpu = try CPUInfo(root: .host)
        let features = KernelPath.features(of: cpu)
        XCTAssertEqual(KernelPath.select(architecture: cpu.architecture, features: features), KernelSet.best().name)
        XCTAssertEqual(features, KernelSet.cpuFeatureNames)
        XCTAssertEqual(KernelPath.decide(root: .host, cpu: cpu).path, KernelSet.best().name)
    }

    func testBoardOverride() throws {
        let root = try Repo.root("raspberry-pi-5")
        let cpu = try CPUInfo(root: root)
        let b = try BoardDetector.detect(root: root, cpu: cpu, catalog: Repo.catalog(), override: "raspberry-pi-4")
        XCTAssertEqual(b.name, "raspberry-pi-4")
        XCTAssertEqual(b.matchedBy, "--board")
        let x86 = try BoardDetector.detect(root: root, cpu: cpu, catalog: Repo.catalog(), override: "generic-x86_64")
        XCTAssertEqual(x86.warnings, ["--board generic-x86_64 is an x86_64 profile but this CPU is aarch64"])
        XCTAssertThrowsError(try BoardDetector.detect(root: root, cpu: cpu, catalog: Repo.catalog(), override: "nope"))
    }

    func testDetectionByCpuPartsAndCompatible() throws {
        let catalog = try Repo.catalog()
        // No device tree at all (ACPI boot): the RK3588's 4x A55 + 4x A76 still name it.
        let bare = dir + "/bare"
        try FileManager.default.copyItem(atPath: Repo.tree("rk3588"), toPath: bare)
        try FileManager.default.removeItem(atPath: bare + "/proc/device-tree")
        var b = try BoardDetector.detect(root: SystemRoot(path: bare), cpu: CPUInfo(root: SystemRoot(path: bare)), catalog: catalog)
        XCTAssertEqual(b.name, "rk3588")
        XCTAssertEqual(b.matchedBy, "cpu parts")
        // An unknown model string with a known compatible entry.
        try write("Some Vendor RK board\0", to: "proc/device-tree/model", under: bare)
        try write("vendor,board\0rockchip,rk3588\0", to: "proc/device-tree/compatible", under: bare)
        b = try BoardDetector.detect(root: SystemRoot(path: bare), cpu: CPUInfo(root: SystemRoot(path: bare)), catalog: catalog)
        XCTAssertEqual(b.matchedBy, "device-tree compatible")
        // A board whose parts disagree with its profile is named, with a warning.
        let odd = dir + "/odd"
        try FileManager.default.copyItem(atPath: Repo.tree("raspberry-pi-5"), toPath: odd)
        let text = try String(contentsOfFile: odd + "/proc/cpuinfo", encoding: .utf8).replacingOccurrences(of: "0xd0b", with: "0xd08")
        try write(text, to: "proc/cpuinfo", under: odd)
        b = try BoardDetector.detect(root: SystemRoot(path: odd), cpu: CPUInfo(root: SystemRoot(path: odd)), catalog: catalog)
        XCTAssertEqual(b.name, "raspberry-pi-5")
        XCTAssertEqual(b.warnings, ["raspberry-pi-5 should have CPU parts 4x Cortex-A76 but /proc/cpuinfo lists 4x Cortex-A72"])
    }

    func testBigCoresFromPartsWhenNoCapacities() {
        let cores = (0..<8).map { CoreInfo(id: $0, part: $0 < 4 ? "0xd05" : "0xd0b", core: "", capacity: nil, maxFrequencyKhz: nil, role: "") }
        let t = CPUTopology(cores: cores)
        XCTAssertEqual(t.big, [4, 5, 6, 7])
        XCTAssertEqual(t.bigCoresFrom, "cpu part")
        // Equal capacities and equal parts: one uniform group.
        let same = (0..<4).map { CoreInfo(id: $0, part: "0xd0b", core: "", capacity: 1024, maxFrequencyKhz: nil, role: "") }
        XCTAssertFalse(CPUTopology(cores: same).isHeterogeneous)
    }

    func testCPUList() throws {
        XCTAssertEqual(try CPUList.parse("0-3,6\n"), [0, 1, 2, 3, 6])
        XCTAssertEqual(try CPUList.parse("6,4,6"), [6, 4])
        XCTAssertEqual(CPUList.format([4, 5, 6, 7, 0, 2]), "0,2,4-7")
        for bad in ["", "a", "3-1", "1-2-3", "-1", "1,,2", "5000"] {
            XCTAssertThrowsError(try CPUList.parse(bad), bad)
        }
    }

    func testGarbageAndMissingFilesAreClearErrors() throws {
        XCTAssertThrowsError(try CPUInfo(text: "processor : zero\n", source: "/x/cpuinfo")) { e in
            XCTAssertEqual("\(e)", "unexpected contents in /x/cpuinfo: line 1: expected a processor number, found \"zero\"")
        }
        XCTAssertThrowsError(try CPUInfo(text: "processor : 0\nCPU part : banana\n")) { e in
            XCTAssertTrue("\(e)".contains("line 2: expected a hex part number"), "\(e)")
        }
        XCTAssertThrowsError(try CPUInfo(text: "\u{0}\u{1}garbage")) { e in XCTAssertTrue("\(e)".contains("no `processor : N` lines"), "\(e)") }
        XCTAssertThrowsError(try CPUInfo(text: "processor : 0\n\nprocessor : 0\n")) { e in XCTAssertTrue("\(e)".contains("repeat"), "\(e)") }
        let empty = try SystemRoot(path: dir)
        XCTAssertThrowsError(try CPUInfo(root: empty)) { e in
            XCTAssertEqual("\(e)", "cannot read \(dir!)/proc/cpuinfo: missing")
        }
        XCTAssertThrowsError(try SystemRoot(path: dir + "/nope")) { e in XCTAssertTrue("\(e)".contains("is not a directory"), "\(e)") }
        // A tree with garbage sysfs values still gives a topology, with notes naming the files.
        try write("0-1\n", to: "sys/devices/system/cpu/online", under: dir)
        try write("fast\n", to: "sys/devices/system/cpu/cpu0/cpu_capacity", under: dir)
        let t = CPUTopology(root: empty, cpu: nil)
        XCTAssertEqual(t.online, [0, 1])
        XCTAssertEqual(t.notes, ["unexpected contents in \(dir!)/sys/devices/system/cpu/cpu0/cpu_capacity: expected one integer, found \"fast\""])
        try write("0-x\n", to: "sys/devices/system/cpu/online", under: dir)
        XCTAssertTrue(CPUTopology(root: empty, cpu: nil).notes.first?.contains("'0-x'") ?? false)
    }
}
