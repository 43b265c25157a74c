import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How many compute threads to run and on which cores.
public struct ThreadPlan: Codable, Sendable, Equatable {
    /// Compute threads including the caller's.
    public var threads: Int
    /// The cores the threads run on, in pinning order (thread i on cpus[i] when pinned).
    public var cpus: [Int]
    /// Whether each compute thread is pinned to its own core.
    public var pinned: Bool
    /// Why these cores.
    public var reason: String
    /// Things the user should know (more threads than cores, a profile that disagrees with the
    /// kernel's topology).
    public var warnings: [String]

    /// The value for `EngineOptions.cpus`: the pinning list, or nil when threads float.
    public var engineCPUs: [Int32]? { pinned ? cpus.prefix(threads).map { Int32($0) } : nil }

    /// The most threads chosen when nothing limits them (the engine's own default cap).
    public static let defaultCap = 8

    /// Chooses threads and cores for `topology`.
    ///
    /// - `cores` (`--cores`): exactly those CPUs, in that order, pinned; `threads` may use fewer.
    /// - otherwise on big.LITTLE (unless the profile says `use: all`): the big cores, pinned.
    ///   `--threads` above the big-core count adds LITTLE cores, fastest first.
    /// - otherwise every online core (at most 8 by default), pinned only if the profile says so.
    /// - `threads` 0 means "as many as the chosen cores".
    public static func choose(topology: CPUTopology, profile: BoardProfile?, threads: Int = 0, cores: [Int]? = nil) throws -> ThreadPlan {
        guard threads >= 0, threads <= 256 else { throw BoardsError.badCores("--threads must be between 1 and 256") }
        let online = topology.online
        if let cores {
            guard !cores.isEmpty else { throw BoardsError.badCores("--cores lists no CPU") }
            let offline = cores.filter { !online.contains($0) }
            guard offline.isEmpty else {
                throw BoardsError.badCores("--cores \(CPUList.format(offline)) not online; online CPUs are \(CPUList.format(online))")
            }
            let n = threads == 0 ? cores.count : threads
            guard n <= cores.count else {
                throw BoardsError.badCores("--threads \(n) needs \(n) cores but --cores lists \(cores.count) (\(CPUList.format(cores)))")
            }
            return ThreadPlan(threads: n, cpus: Array(cores.prefix(n)), pinned: true,
                              reason: "--cores \(CPUList.format(cores))", warnings: [])
        }
        var warnings: [String] = []
        let useAll = profile?.cpu.use == "all"
        var preferred: [Int]
        var reason: String
        var pinned = profile?.cpu.pin ?? false
        if topology.isHeterogeneous && !useAll {
            preferred = topology.big
            let names = Set(topology.cores.filter { $0.role == "big" }.map(\.core)).sorted().joined(separator: "/")
            reason = "the \(preferred.count) big cores (\(names), told apart by \(topology.bigCoresFrom)) of a big.LITTLE CPU"
            pinned = true
        } else if !useAll, let p = profile, let bigCluster = p.cpu.clusters.first(where: { $0.role == "big" }),
                  p.cpu.clusters.contains(where: { $0.role == "little" }), bigCluster.cpus.allSatisfy(online.contains) {
            // The kernel did not tell big from little (no capacities, no parts): trust the profile.
            preferred = p.cpu.clusters.filter { $0.role == "big" }.flatMap(\.cpus).sorted()
            reason = "the big cores \(CPUList.format(preferred)) the \(p.name) profile names (the kernel did not tell big from little)"
            warnings.append("could not tell big from little cores from cpu_capacity or CPU parts; using the profile's layout")
            pinned = true
        } else {
            preferred = Array(online.prefix(threads == 0 ? defaultCap : online.count))
            reason = topology.isHeterogeneous ? "every core (the \(profile?.name ?? "board") profile says use: all)"
                : (online.count > defaultCap && threads == 0 ? "the first \(defaultCap) of \(online.count) cores" : "every core")
        }
        if let p = profile, topology.isHeterogeneous, let bigCluster = p.cpu.clusters.first(where: { $0.role == "big" }),
           Set(p.cpu.clusters.filter { $0.role == "big" }.flatMap(\.cpus)) != Set(topology.big) {
            warnings.append("the \(p.name) profile puts the big cores at \(CPUList.format(bigCluster.cpus)) but this kernel "
                + "reports them at \(CPUList.format(topology.big)); following the kernel")
        }
        let n = threads == 0 ? preferred.count : threads
        if n > preferred.count {
            // Add the remaining cores, fastest first.
            let rest = topology.cores.filter { !preferred.contains($0.id) }
                .sorted { ($0.capacity ?? 0, -$0.id) > ($1.capacity ?? 0, -$1.id) }.map(\.id)
            let added = Array(rest.prefix(n - preferred.count))
            if topology.isHeterogeneous && !useAll && !added.isEmpty {
                warnings.append("--threads \(n) is more than the \(preferred.count) big cores: adding LITTLE cores "
                    + "\(CPUList.format(added)), which usually makes every step wait for the slowest core")
            }
            preferred += added
        }
        if n > preferred.count {
            warnings.append("--threads \(n) is more than the \(online.count) online cores: threads will share cores and are not pinned")
            return ThreadPlan(threads: n, cpus: online, pinned: false, reason: reason, warnings: warnings)
        }
        return ThreadPlan(threads: n, cpus: Array(preferred.prefix(n)), pinned: pinned, reason: reason, warnings: warnings)
    }
}

/// Limits the calling thread to a set of CPUs (the compute pool pins its workers itself, but
/// leaves the caller, which is compute thread 0, where it is).
public enum Affinity {
    private typealias AffinityFn = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32

    /// Restricts the calling thread (and threads it starts later) to `cpus`. Returns an error
    /// message instead of throwing: a failed restriction costs speed, not correctness.
    public static func restrictCallingThread(to cpus: [Int]) -> String? {
        #if os(Linux)
        guard !cpus.isEmpty else { return nil }
        // cpu_set_t is 1024 bits; sched_setaffinity is reached through dlsym because Glibc's
        // Swift overlay does not import the _GNU_SOURCE declaration.
        var mask = [UInt64](repeating: 0, count: 16)
        for c in cpus {
            guard c >= 0 && c < 1024 else { return "cpu \(c) is beyond the 1024 CPUs an affinity mask holds" }
            mask[c / 64] |= 1 << UInt64(c % 64)
        }
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "sched_setaffinity") else {
            return "sched_setaffinity is not available"
        }
        let fn = unsafeBitCast(sym, to: AffinityFn.self)
        let rc = mask.withUnsafeBytes { fn(0, $0.count, $0.baseAddress!) }
        return rc == 0 ? nil : "cannot limit the main thread to CPUs \(CPUList.format(cpus)): \(String(cString: strerror(errno)))"
        #else
        return nil
        #endif
    }

    /// The CPUs this process may run on (its affinity mask, which containers and `taskset`
    /// narrow), nil when it cannot be read.
    public static func allowedCPUs() -> [Int]? {
        #if os(Linux)
        var mask = [UInt64](repeating: 0, count: 16)
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "sched_getaffinity") else { return nil }
        let fn = unsafeBitCast(sym, to: AffinityFn.self)
        let rc = mask.withUnsafeMutableBytes { fn(0, $0.count, UnsafeRawPointer($0.baseAddress!)) }
        guard rc == 0 else { return nil }
        return (0..<1024).filter { mask[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
        #else
        return nil
        #endif
    }
}
