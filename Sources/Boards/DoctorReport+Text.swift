import Foundation

extension DoctorReport {
    /// The report for people: one section per concern, advice last.
    public func text() -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        func field(_ k: String, _ v: String) { line("  " + k.padding(toLength: 14, withPad: " ", startingAt: 0) + v) }

        line("board")
        field("name", board.name + (board.displayName.map { " (\($0))" } ?? "") + ", matched by \(board.matchedBy)")
        if let m = board.deviceTreeModel { field("device tree", m) }
        if root != "/" { field("root", root) }
        field("profiles", board.profilesDirectory ?? "none found")

        line("cpu")
        field("architecture", "\(cpu.architecture), \(cpu.cores.count) online cores")
        for group in coreGroups() { field(group.0, group.1) }
        field("features", cpu.kernel.features.isEmpty ? "(none the kernels use)" : cpu.kernel.features.joined(separator: " "))
        field("kernel path", "\(cpu.kernel.path) (\(cpu.kernel.source))")
        field("available", cpu.kernel.available.joined(separator: ", "))

        line("threads")
        field("threads", "\(threads.threads) on CPUs \(CPUList.format(threads.cpus))" + (threads.pinned ? ", pinned" : ", not pinned"))
        field("why", threads.reason)

        line("memory")
        if let m = memory {
            field("total", formatBytes(m.total))
            field("available", formatBytes(m.available))
            field("swap", m.swapTotal == 0 ? "none" : "\(formatBytes(m.swapFree)) free of \(formatBytes(m.swapTotal))")
        } else {
            field("unknown", "/proc/meminfo could not be read")
        }

        if let model {
            line("model")
            field("file", "\(model.path) (\(formatBytes(model.fileBytes)))")
            if let s = model.storageRead { field("storage read", s.summary) }
            if let f = model.fit {
                field("needs", "\(formatBytes(f.needed)) at --ctx \(f.context): weights \(formatBytes(f.weightsMapped)), "
                    + "repacked \(formatBytes(f.repackedArena)), KV \(formatBytes(f.localKv + f.globalKv)) "
                    + "(local \(formatBytes(f.localKv)), global \(formatBytes(f.globalKv))), scratch \(formatBytes(f.scratch))")
                field("margin", formatBytes(f.margin))
                field("fits", f.fits ? "yes, \(formatBytes(f.headroom)) spare" : "NO, short by \(formatBytes(-f.headroom))")
                if let c = f.largestFittingContext, c < f.context { field("largest ctx", "\(c)") }
            }
            if let c = model.decodeCeilingTokensPerSecond, let b = model.bytesPerToken {
                field("decode bound", String(format: "%.0f-%.0f tokens/s (%@ read per token)", c[0], c[1], formatBytes(b)))
            }
        }

        line("clocks and heat")
        if health.policies.isEmpty { field("governor", "no cpufreq information") }
        for p in health.policies {
            var s = "\(p.governor ?? "?") on CPUs \(p.cpus)"
            if let c = p.currentKhz { s += ", \(c / 1000) MHz" }
            if let m = p.maxKhz { s += " (max \(m / 1000) MHz)" }
            field("governor", s)
        }
        if health.temperatures.isEmpty { field("temperature", "no thermal zones") }
        for t in health.temperatures where t.watched || !health.temperatures.contains(where: \.watched) {
            field("temperature", String(format: "%.1f °C (%@, %@)", t.celsius, t.type, t.zone))
        }
        if let th = health.throttled {
            let now = th.now.isEmpty ? "nothing now" : "now: " + th.now.joined(separator: ", ")
            let past = th.sinceBoot.isEmpty ? "" : "; since boot: " + th.sinceBoot.joined(separator: ", ")
            field("throttled", "\(th.raw) (\(now)\(past))")
        }

        if let p = profile {
            line("board profile")
            field("power", p.power.source)
            field("measure with", p.power.sensor + (health.powerSensors.isEmpty ? "" : " (found: \(health.powerSensors.joined(separator: ", ")))"))
            func gbs(_ r: [Double]) -> String {
                r[0] == r[1] ? String(format: "%.1f GB/s", r[0]) : String(format: "%.1f-%.1f GB/s", r[0], r[1])
            }
            if let bw = p.memory.bandwidthMeasuredGbs {
                field("bandwidth", gbs(bw) + " measured" + (p.memory.bandwidthTheoreticalGbs.map { ", \(gbs($0)) theoretical" } ?? ""))
            } else if let t = p.memory.bandwidthTheoreticalGbs {
                field("bandwidth", gbs(t) + " theoretical (no measured figure)")
            }
            if let chip = p.gpio.chipLabel {
                let led = p.gpio.statusLed.map { "line \($0.line) (header pin \($0.headerPin))" } ?? "none"
                let button = p.gpio.button.map { "line \($0.line) (header pin \($0.headerPin))" } ?? "none"
                field("gpio", "\(chip): status LED \(led), button \(button)")
            } else {
                field("gpio", p.gpio.note)
            }
        }

        for (title, items) in [("advice", advice), ("warnings", warnings), ("problems", problems)] where !items.isEmpty {
            line(title)
            for a in items { line("  - " + a) }
        }
        return out
    }

    /// "big cores" / "little cores" / "cores" lines: ids, core names, capacities.
    func coreGroups() -> [(String, String)] {
        let roles = cpu.cores.contains { $0.role == "little" } ? ["big", "little"] : ["uniform"]
        return roles.map { role in
            let cs = cpu.cores.filter { $0.role == role }
            let names = Set(cs.map(\.core)).sorted().joined(separator: "/")
            let caps = Set(cs.compactMap(\.capacity)).sorted().map(String.init).joined(separator: "/")
            let label = role == "uniform" ? "cores" : "\(role) cores"
            return (label, "\(CPUList.format(cs.map(\.id))): \(names)" + (caps.isEmpty ? "" : ", capacity \(caps)")
                + (role == "big" ? " (told apart by \(cpu.bigCoresFrom))" : ""))
        }
    }
}
