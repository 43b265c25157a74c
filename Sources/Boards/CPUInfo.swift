import Foundation

/// The instruction-set family a `/proc/cpuinfo` describes.
public enum CPUArchitecture: String, Codable, Sendable, CaseIterable {
    case aarch64, armv7, x86_64, unknown

    /// The architecture this binary was built for.
    public static var current: CPUArchitecture {
        #if arch(arm64)
        return .aarch64
        #elseif arch(x86_64)
        return .x86_64
        #elseif arch(arm)
        return .armv7
        #else
        return .unknown
        #endif
    }
}

/// One `processor` block of `/proc/cpuinfo`.
public struct ProcessorInfo: Codable, Sendable, Equatable {
    /// The logical CPU number (`processor : N`).
    public var id: Int
    /// `CPU implementer` (ARM), for example "0x41" for Arm Ltd.
    public var implementer: String?
    /// `CPU part` (ARM), lower-case hex such as "0xd0b".
    public var part: String?
    /// `Features` (ARM) or `flags` (x86), as the kernel lists them.
    public var features: [String]
}

/// What `/proc/cpuinfo` says about the CPUs: architecture, per-processor part numbers and
/// feature flags. Parsing is strict about what it needs (processor numbers, part numbers) and
/// names the line when a value is garbage.
public struct CPUInfo: Sendable, Equatable {
    /// What the flags and part lines say the CPU is.
    public var architecture: CPUArchitecture
    /// The processor blocks, in file order.
    public var processors: [ProcessorInfo]
    /// `model name` (x86) or the board `Model` line some ARM kernels print; nil when absent.
    public var modelName: String?

    /// Parses the text of a `/proc/cpuinfo`; `source` names the file in error messages.
    public init(text: String, source: String = "/proc/cpuinfo") throws {
        var processors: [ProcessorInfo] = []
        var current: ProcessorInfo?
        var modelName: String?
        var sawARM = false, sawX86 = false, sawV7 = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let colon = raw.firstIndex(of: ":") else { continue }
            let key = raw[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = raw[raw.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            func bad(_ what: String) -> BoardsError {
                .garbage(path: source, "line \(index + 1): \(what), found \(SystemRoot.quote(value))")
            }
            switch key {
            case "processor":
                guard let id = Int(value), id >= 0, id < 4096 else { throw bad("expected a processor number") }
                if let c = current { processors.append(c) }
                current = ProcessorInfo(id: id, implementer: nil, part: nil, features: [])
            case "cpu implementer":
                guard let v = Self.hex(value) else { throw bad("expected a hex implementer") }
                current?.implementer = v
                sawARM = true
            case "cpu part":
                guard let v = Self.hex(value) else { throw bad("expected a hex part number") }
                current?.part = v
                sawARM = true
            case "cpu architecture":
                if value == "7" { sawV7 = true }
            case "features", "flags":
                current?.features = value.split(separator: " ").map(String.init)
                if key == "flags" { sawX86 = true }
            case "vendor_id":
                sawX86 = true
            case "model name", "model":
                // x86 "model name"; ARM boards may add "Model : Raspberry Pi 5 ...".
                if key == "model name" || Int(value) == nil { modelName = modelName ?? value }
            default:
                break
            }
        }
        if let c = current { processors.append(c) }
        guard !processors.isEmpty else {
            throw BoardsError.garbage(path: source, "no `processor : N` lines")
        }
        let ids = processors.map(\.id)
        guard Set(ids).count == ids.count else {
            throw BoardsError.garbage(path: source, "processor numbers repeat: \(ids)")
        }
        self.processors = processors
        self.modelName = modelName
        let hasASIMD = processors.contains { $0.features.contains("asimd") }
        if sawARM && sawV7 && !hasASIMD {
            architecture = .armv7
        } else if sawARM || hasASIMD {
            architecture = .aarch64
        } else if sawX86 {
            architecture = .x86_64
        } else {
            architecture = .unknown
        }
    }

    /// Reads and parses `/proc/cpuinfo` under `root`.
    public init(root: SystemRoot) throws {
        try self.init(text: root.read("/proc/cpuinfo"), source: root.resolve("/proc/cpuinfo"))
    }

    /// Feature flags every processor reports (the set a thread may rely on wherever it runs).
    public var commonFeatures: Set<String> {
        guard var common = processors.first.map({ Set($0.features) }) else { return [] }
        for p in processors.dropFirst() { common.formIntersection(p.features) }
        return common
    }

    /// The part number of processor `id`, if the kernel listed one.
    public func part(of id: Int) -> String? { processors.first { $0.id == id }?.part }

    /// Lower-case hex ("0xd0b") or nil when `s` is not a hex number.
    static func hex(_ s: String) -> String? {
        let t = s.lowercased()
        guard t.hasPrefix("0x"), t.count > 2, UInt32(t.dropFirst(2), radix: 16) != nil else { return nil }
        return t
    }
}

/// Names and performance classes of the Arm CPU cores GemmaEdge meets on boards, by `CPU part`
/// (implementer 0x41).
public enum ArmCore {
    /// Core name by part number.
    public static let names: [String: String] = [
        "0xc07": "Cortex-A7", "0xc0f": "Cortex-A15", "0xd03": "Cortex-A53", "0xd04": "Cortex-A35",
        "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
        "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77",
        "0xd0e": "Cortex-A76AE", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78", "0xd42": "Cortex-A78AE",
        "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2",
        "0xd49": "Neoverse-N2", "0xd4b": "Cortex-A78C", "0xd4d": "Cortex-A715", "0xd4e": "Cortex-X3",
        "0xd80": "Cortex-A520", "0xd81": "Cortex-A720", "0xd82": "Cortex-X4",
    ]

    /// In-order efficiency cores: the LITTLE side of a big.LITTLE pair.
    public static let littleParts: Set<String> = ["0xc07", "0xd03", "0xd04", "0xd05", "0xd46", "0xd80"]

    /// A readable name for `part` ("Cortex-A76"), or the raw part when unknown.
    public static func name(of part: String?) -> String {
        guard let part else { return "unknown" }
        return names[part] ?? "part \(part)"
    }
}
