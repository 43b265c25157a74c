import Kernels

/// Which kernel set a CPU gets, decided the way the C dispatch (`Sources/CKernels/dispatch.c`,
/// `ck_kernels_select`) decides it, but from a `/proc/cpuinfo` instead of from `cpuid` /
/// `getauxval`. `doctor --sysfs-root` uses it for boards this process is not running on; for the
/// running machine the answer comes from `KernelSet.best()` itself, and a test checks that both
/// agree on the host.
public enum KernelPath {
    /// The CPU feature names the kernels care about, as `KernelSet.cpuFeatureNames` spells them,
    /// derived from the flags every processor of `cpu` reports.
    ///
    /// AArch64: Advanced SIMD is mandatory (`neon`); `asimddp` is SDOT/UDOT (`dotprod`), `i8mm`
    /// is SMMLA (`i8mm`) — the same HWCAP / HWCAP2 bits `cpu_features.c` tests.
    /// x86-64: `avx2` needs `avx2`, `fma` and `f16c` together; `avx512` needs F, BW and VL;
    /// `avx512vnni` additionally `avx512_vnni`.
    public static func features(of cpu: CPUInfo) -> [String] {
        let f = cpu.commonFeatures
        var out: [String] = []
        switch cpu.architecture {
        case .aarch64:
            out.append("neon")
            if f.contains("asimddp") { out.append("dotprod") }
            if f.contains("i8mm") { out.append("i8mm") }
        case .x86_64:
            let avx2 = f.isSuperset(of: ["avx2", "fma", "f16c"])
            if avx2 { out.append("avx2") }
            if avx2 && f.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"]) {
                out.append("avx512")
                if f.contains("avx512_vnni") { out.append("avx512vnni") }
            }
        case .armv7, .unknown:
            break
        }
        // The order KernelSet.cpuFeatureNames uses.
        let order = ["avx2", "avx512", "avx512vnni", "neon", "dotprod", "i8mm"]
        return order.filter(out.contains)
    }

    /// The kernel sets a build for `architecture` holds, best first, with the features each
    /// needs (the `simd_sets` table of dispatch.c). `scalar` needs nothing and always follows.
    public static func sets(for architecture: CPUArchitecture) -> [(name: String, needs: Set<String>)] {
        switch architecture {
        case .aarch64: return [("neon-dotprod", ["neon", "dotprod"]), ("neon", ["neon"])]
        case .x86_64: return [("avx512vnni", ["avx2", "avx512", "avx512vnni"]), ("avx2", ["avx2"])]
        case .armv7, .unknown: return []
        }
    }

    /// The set `ck_kernels_select` picks for a CPU of `architecture` with `features`.
    public static func select(architecture: CPUArchitecture, features: [String]) -> String {
        let have = Set(features)
        return sets(for: architecture).first { $0.needs.isSubset(of: have) }?.name ?? "scalar"
    }

    /// Every set such a CPU can run, scalar and the Swift SIMD `portable` set first (the order
    /// `KernelSet.available` reports).
    public static func available(architecture: CPUArchitecture, features: [String]) -> [String] {
        let have = Set(features)
        return ["scalar", "portable"] + sets(for: architecture).reversed().filter { $0.needs.isSubset(of: have) }.map(\.name)
    }

    /// The kernel decision for a root: for the host, what this process really selects; for a
    /// synthetic tree, what a build for its architecture would select from its cpuinfo.
    public static func decide(root: SystemRoot, cpu: CPUInfo?) -> KernelDecision {
        if root.isHost {
            return KernelDecision(path: KernelSet.best().name, features: KernelSet.cpuFeatureNames,
                                  available: KernelSet.available.map(\.name),
                                  source: "chosen by this process at run time: cpuid / getauxval")
        }
        guard let cpu else {
            return KernelDecision(path: "scalar", features: [], available: ["scalar", "portable"],
                                  source: "no readable /proc/cpuinfo under the root: assuming the scalar reference")
        }
        let f = features(of: cpu)
        return KernelDecision(path: select(architecture: cpu.architecture, features: f), features: f,
                              available: available(architecture: cpu.architecture, features: f),
                              source: "derived from the tree's /proc/cpuinfo flags as the C dispatch maps HWCAPs")
    }
}

/// The kernel set that will run, the CPU features it was chosen from and where they came from.
public struct KernelDecision: Codable, Sendable, Equatable {
    /// The set name: "scalar", "avx2", "avx512vnni", "neon" or "neon-dotprod".
    public var path: String
    /// Feature names, as `KernelSet.cpuFeatureNames` spells them.
    public var features: [String]
    /// Every set the CPU can run, scalar first.
    public var available: [String]
    /// How the decision was made.
    public var source: String
}
