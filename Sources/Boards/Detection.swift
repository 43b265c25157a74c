import Foundation

/// The board a root was recognised as, and why.
public struct DetectedBoard: Sendable, Equatable {
    /// The profile, nil when the catalog is empty.
    public var profile: BoardProfile?
    /// "--board", "device-tree model", "device-tree compatible", "cpu parts", "architecture",
    /// or "none" (no profiles).
    public var matchedBy: String
    /// `/proc/device-tree/model`, nil when absent (x86, ACPI boots).
    public var deviceTreeModel: String?
    /// `/proc/device-tree/compatible` entries.
    public var compatible: [String]
    /// Detection problems and disagreements worth a warning.
    public var warnings: [String]

    /// The profile name, or "unknown".
    public var name: String { profile?.name ?? "unknown" }
}

/// Recognises a board from a root's device tree and CPU description.
///
/// Order: `--board NAME`; a profile whose `match.device_tree_model` substring is in
/// `/proc/device-tree/model`; one whose `match.compatible` entry is in
/// `/proc/device-tree/compatible`; one whose `match.cpu_parts` equal the CPU part numbers of
/// `/proc/cpuinfo` exactly; else the generic profile for the CPU's architecture (profiles with
/// no match rules, named `generic-<arch>`).
public enum BoardDetector {
    /// Detects the board under `root` among `catalog`'s profiles; `override` is `--board`.
    public static func detect(root: SystemRoot, cpu: CPUInfo?, catalog: BoardCatalog, override: String? = nil) throws -> DetectedBoard {
        let model = root.deviceTreeStrings("/proc/device-tree/model").first
        let compatible = root.deviceTreeStrings("/proc/device-tree/compatible")
        let arch = cpu?.architecture ?? (root.isHost ? .current : .unknown)
        var result = DetectedBoard(profile: nil, matchedBy: "none", deviceTreeModel: model, compatible: compatible, warnings: [])

        if let override {
            let p = try catalog.profile(named: override)
            result.profile = p
            result.matchedBy = "--board"
            if arch != .unknown && p.arch != arch.rawValue {
                result.warnings.append("--board \(p.name) is an \(p.arch) profile but this CPU is \(arch.rawValue)")
            }
            return result
        }
        guard !catalog.profiles.isEmpty else {
            result.warnings.append("no board profiles found (looked in \(catalog.searched.joined(separator: ", "))): "
                + "threads follow the CPU topology alone; set GEMMA_EDGE_BOARDS to Platforms/boards")
            return result
        }
        let candidates = catalog.profiles.filter { arch == .unknown || $0.arch == arch.rawValue }
        if let m = model?.lowercased() {
            let hits = candidates.filter { p in p.match.deviceTreeModel.contains { m.contains($0.lowercased()) } }
            if let p = hits.first {
                if hits.count > 1 { result.warnings.append("the model string matches \(hits.map(\.name)); using \(p.name)") }
                return matched(result, p, "device-tree model", cpu)
            }
        }
        if let p = candidates.first(where: { p in p.match.compatible.contains(where: compatible.contains) }) {
            return matched(result, p, "device-tree compatible", cpu)
        }
        if let cpu {
            let parts = partCounts(cpu)
            if !parts.isEmpty, let p = candidates.first(where: { p in
                !p.match.cpuParts.isEmpty && Dictionary(p.match.cpuParts.map { ($0.part, $0.count) }, uniquingKeysWith: +) == parts
            }) {
                if model != nil {
                    result.warnings.append("the device-tree model '\(model!)' names no known board; recognised \(p.name) by its CPU parts alone")
                }
                return matched(result, p, "cpu parts", cpu)
            }
        }
        let generic = catalog.profiles.first { p in
            p.match.deviceTreeModel.isEmpty && p.match.compatible.isEmpty && p.match.cpuParts.isEmpty && p.arch == arch.rawValue
        }
        if let generic {
            result.profile = generic
            result.matchedBy = "architecture"
        } else {
            result.warnings.append("no profile for a \(arch.rawValue) CPU: threads follow the CPU topology alone")
        }
        return result
    }

    /// How many processors have each CPU part.
    static func partCounts(_ cpu: CPUInfo) -> [String: Int] {
        var out: [String: Int] = [:]
        for p in cpu.processors { if let part = p.part { out[part, default: 0] += 1 } }
        return out
    }

    private static func matched(_ r: DetectedBoard, _ p: BoardProfile, _ by: String, _ cpu: CPUInfo?) -> DetectedBoard {
        var r = r
        r.profile = p
        r.matchedBy = by
        if let cpu, !p.match.cpuParts.isEmpty {
            let have = partCounts(cpu)
            let want = Dictionary(p.match.cpuParts.map { ($0.part, $0.count) }, uniquingKeysWith: +)
            if !have.isEmpty && have != want {
                r.warnings.append("\(p.name) should have CPU parts \(describe(want)) but /proc/cpuinfo lists \(describe(have))")
            }
        }
        return r
    }

    static func describe(_ parts: [String: Int]) -> String {
        parts.sorted { $0.key < $1.key }.map { "\($0.value)x \(ArmCore.name(of: $0.key))" }.joined(separator: " + ")
    }
}
