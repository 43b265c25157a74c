import Foundation

/// One online CPU: its id, what core it is and how fast the kernel says it is.
public struct CoreInfo: Codable, Sendable, Equatable {
    /// The logical CPU number (`cpuN`).
    public var id: Int
    /// `CPU part` from /proc/cpuinfo ("0xd0b"), nil on x86 or when not listed.
    public var part: String?
    /// The core's name ("Cortex-A76"), or the x86 model name.
    public var core: String
    /// `cpu_capacity` (1024 for the fastest core), nil when the file is absent.
    public var capacity: Int?
    /// `cpufreq/cpuinfo_max_freq` in kHz, nil when absent.
    public var maxFrequencyKhz: Int?
    /// "big", "little", or "uniform" when all cores are alike.
    public var role: String

    /// A core; `CPUTopology.init(cores:)` assigns the role.
    public init(id: Int, part: String?, core: String, capacity: Int?, maxFrequencyKhz: Int?, role: String = "uniform") {
        self.id = id
        self.part = part
        self.core = core
        self.capacity = capacity
        self.maxFrequencyKhz = maxFrequencyKhz
        self.role = role
    }
}

/// The online CPUs of a root and which of them are the big cores.
///
/// Big cores come from `cpu_capacity` when the kernel reports different capacities (every core
/// within 80 % of the largest counts as big, so two big clusters clocked slightly apart stay
/// together), else from the `CPU part` numbers (Cortex-A53/A55/A510/A520 and friends are the
/// LITTLE side), else every core is alike.
public struct CPUTopology: Sendable, Equatable {
    /// The online cores, by id.
    public var cores: [CoreInfo]
    /// How the big cores were told apart: "cpu_capacity", "cpu part", or "uniform".
    public var bigCoresFrom: String
    /// Problems met while reading (missing or garbage files); the topology is still usable.
    public var notes: [String]

    /// Online CPU ids in ascending order.
    public var online: [Int] { cores.map(\.id) }
    /// The big cores' ids (every core on a uniform CPU).
    public var big: [Int] { cores.filter { $0.role != "little" }.map(\.id) }
    /// The LITTLE cores' ids.
    public var little: [Int] { cores.filter { $0.role == "little" }.map(\.id) }
    /// True on big.LITTLE CPUs.
    public var isHeterogeneous: Bool { !little.isEmpty }

    /// Reads `/sys/devices/system/cpu/online`, each online CPU's `cpu_capacity` and
    /// `cpufreq/cpuinfo_max_freq`, and the part numbers from `cpu` (the parsed /proc/cpuinfo).
    public init(root: SystemRoot, cpu: CPUInfo?) {
        var notes: [String] = []
        var ids: [Int]
        do {
            ids = try CPUList.parse(root.read("/sys/devices/system/cpu/online"))
        } catch {
            ids = cpu?.processors.map(\.id).sorted() ?? []
            notes.append("\(error); using the processors /proc/cpuinfo lists (\(CPUList.format(ids)))")
        }
        if root.isHost, let allowed = Affinity.allowedCPUs() {
            let kept = ids.filter(allowed.contains)
            if !kept.isEmpty && kept.count < ids.count {
                notes.append("this process may only run on CPUs \(CPUList.format(kept)) of the online \(CPUList.format(ids)) (affinity mask)")
                ids = kept
            }
        }
        if ids.isEmpty {
            ids = [0]
            notes.append("no online CPUs found: assuming one CPU (cpu0)")
        }
        var cores: [CoreInfo] = []
        for id in ids {
            let base = "/sys/devices/system/cpu/cpu\(id)"
            var capacity: Int?
            if root.exists(base + "/cpu_capacity") {
                do {
                    let c = try root.integer(base + "/cpu_capacity")
                    if c > 0 && c <= 1 << 20 { capacity = c } else { notes.append("cpu\(id)/cpu_capacity \(c) is out of range: ignored") }
                } catch { notes.append("\(error)") }
            }
            var maxFreq: Int?
            if root.exists(base + "/cpufreq/cpuinfo_max_freq") {
                do { maxFreq = try root.integer(base + "/cpufreq/cpuinfo_max_freq") } catch { notes.append("\(error)") }
            }
            let part = cpu?.part(of: id)
            let name = part != nil ? ArmCore.name(of: part) : (cpu?.modelName ?? "unknown")
            cores.append(CoreInfo(id: id, part: part, core: name, capacity: capacity, maxFrequencyKhz: maxFreq, role: "uniform"))
        }
        self.init(cores: cores, notes: notes)
    }

    /// A topology from already known cores: assigns the big / little roles.
    public init(cores: [CoreInfo], notes: [String] = []) {
        var cores = cores.sorted { $0.id < $1.id }
        let capacities = cores.compactMap(\.capacity)
        var from = "uniform"
        if capacities.count == cores.count, let top = capacities.max(), let low = capacities.min(), low != top {
            for i in cores.indices { cores[i].role = cores[i].capacity! * 10 >= top * 8 ? "big" : "little" }
            from = "cpu_capacity"
        } else {
            let parts = Set(cores.compactMap(\.part))
            let littleParts = parts.intersection(ArmCore.littleParts)
            if cores.allSatisfy({ $0.part != nil }) && !littleParts.isEmpty && littleParts.count < parts.count {
                for i in cores.indices { cores[i].role = littleParts.contains(cores[i].part!) ? "little" : "big" }
                from = "cpu part"
            }
        }
        if from == "uniform" { for i in cores.indices { cores[i].role = "uniform" } }
        self.cores = cores
        self.bigCoresFrom = from
        self.notes = notes
    }
}

/// The kernel's CPU list syntax: "0-3,6,8-9".
public enum CPUList {
    /// Parses a list such as "0-3,6"; throws on anything else. Duplicates are kept out; the
    /// order of the text is kept (so `--cores 6,4` pins thread 0 to cpu 6).
    public static func parse(_ text: String) throws -> [Int] {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty else { throw BoardsError.badCores("an empty CPU list") }
        var out: [Int] = []
        for item in t.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let lo = Int(bounds[0]), let hi = Int(bounds.last!),
                  lo >= 0, hi >= lo, hi < 4096 else {
                throw BoardsError.badCores("'\(item)' in CPU list '\(t)' is not N or N-M with N <= M < 4096")
            }
            for c in lo...hi where !out.contains(c) { out.append(c) }
        }
        return out
    }

    /// The shortest list text for `ids` ("0-3,6").
    public static func format(_ ids: [Int]) -> String {
        let s = ids.sorted()
        var parts: [String] = []
        var i = 0
        while i < s.count {
            var j = i
            while j + 1 < s.count && s[j + 1] == s[j] + 1 { j += 1 }
            parts.append(j > i ? "\(s[i])-\(s[j])" : "\(s[i])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
