import Foundation

/// The differences between two reports, figure by figure.
public struct ReportComparison: Sendable {
    /// One compared figure; `better` says which direction is an improvement.
    public struct Row: Sendable, Equatable {
        public enum Better: Sendable { case lower, higher, neither }
        public var name: String
        public var unit: String
        public var a: Double?
        public var b: Double?
        public var better: Better

        /// B relative to A in percent, when both exist and A is not zero.
        public var changePercent: Double? {
            guard let a, let b, a != 0 else { return nil }
            return (b - a) / abs(a) * 100
        }
    }

    public var rows: [Row]
    /// Setting differences and caveats (different power sources, estimates).
    public var remarks: [String]

    /// Compares B against A.
    public init(_ a: ProfileReport, _ b: ProfileReport) {
        func row(_ n: String, _ u: String, _ f: (ProfileReport) -> Double?, _ better: Row.Better) -> Row {
            Row(name: n, unit: u, a: f(a), b: f(b), better: better)
        }
        rows = [
            row("load time", "s", { $0.load.seconds }, .lower),
            row("time to first token p50", "ms", { $0.totals.ttft.map { $0.p50Ms } }, .lower),
            row("time to first token max", "ms", { $0.totals.ttft.map { $0.maxMs } }, .lower),
            row("prefill speed", "tok/s", { $0.totals.prefillTokensPerSecond }, .higher),
            row("decode speed", "tok/s", { $0.totals.decodeTokensPerSecond }, .higher),
            row("inter-token latency p50", "ms", { $0.totals.interTokenLatency?.p50Ms }, .lower),
            row("inter-token latency p90", "ms", { $0.totals.interTokenLatency?.p90Ms }, .lower),
            row("inter-token latency p99", "ms", { $0.totals.interTokenLatency?.p99Ms }, .lower),
            row("inter-token latency max", "ms", { $0.totals.interTokenLatency?.maxMs }, .lower),
            row("sampling time", "s", { $0.totals.phaseSeconds.sampling }, .lower),
            row("peak RSS", "MiB", { $0.totals.peakRssBytes.map { $0 / 1_048_576 } }, .lower),
            row("average power", "W", { $0.power.averageWatts }, .lower),
            row("idle power", "W", { $0.power.idleWatts }, .neither),
            row("prefill energy per token", "mJ", { $0.power.prefill?.millijoulesPerToken }, .lower),
            row("decode energy per token", "mJ", { $0.power.decode?.millijoulesPerToken }, .lower),
            row("tokens per joule", "tok/J", { $0.power.tokensPerJoule }, .higher),
            row("drafts accepted", "%", { $0.model.speculation.map { $0.acceptanceRate * 100 } }, .higher),
            row("battery share", "%", { $0.power.battery?.percent }, .lower),
            row("hottest sensor", "C", { $0.thermal.zones.compactMap(\.maxC).max() }, .lower),
            row("throttle events", "", { Double($0.thermal.throttleEvents.count) }, .lower),
            row("sampler CPU", "% of a core", { $0.sampler.percentOfOneCore }, .lower),
        ]
        var r: [String] = []
        func differ<T: Equatable>(_ what: String, _ f: (ProfileReport) -> T) {
            if f(a) != f(b) { r.append("\(what): A \(f(a)), B \(f(b))") }
        }
        differ("model", { ($0.model.path as NSString).lastPathComponent })
        differ("threads", { $0.model.threads })
        differ("kernels", { $0.model.kernels })
        differ("machine", { "\($0.machine.hostname) (\($0.machine.cpu))" })
        differ("prompts x runs", { "\($0.settings.prompts) x \($0.settings.runs)" })
        differ("max tokens", { $0.settings.maxTokens })
        differ("speculative decoding", { $0.model.speculation.map { s in s.mode + (s.draftModel.map { " (\($0))" } ?? "") } ?? "off" })
        let sa = a.power.source.map { "\($0.kind) \($0.scope)" } ?? "none", sb = b.power.source.map { "\($0.kind) \($0.scope)" } ?? "none"
        if sa != sb { r.append("power sources differ (A: \(sa); B: \(sb)): energy figures measure different things") }
        if a.power.status == "estimated" || b.power.status == "estimated" {
            r.append("power is estimated in " + [a.power.status == "estimated" ? "A" : nil, b.power.status == "estimated" ? "B" : nil]
                .compactMap { $0 }.joined(separator: " and "))
        }
        remarks = r
    }

    /// A plain-text table.
    public func render(nameA: String, nameB: String) -> String {
        func fmt(_ v: Double?) -> String {
            guard let v, v.isFinite else { return "-" }
            if abs(v) >= 1000 { return String(format: "%.0f", v) }
            if abs(v) >= 10 { return String(format: "%.2f", v) }
            return String(format: "%.4g", v)
        }
        var lines = ["A: \(nameA)", "B: \(nameB)", ""]
        let header = ["figure", "A", "B", "change"]
        var table: [[String]] = [header]
        for row in rows {
            var change = "-"
            if let p = row.changePercent {
                change = String(format: "%+.1f %%", p)
                if abs(p) >= 1, row.better != .neither {
                    let improved = (row.better == .lower) == (p < 0)
                    change += improved ? " better" : " worse"
                }
            } else if (row.a == nil) != (row.b == nil) {
                change = row.a == nil ? "only in B" : "only in A"
            }
            let unit = row.unit.isEmpty ? "" : " (\(row.unit))"
            table.append([row.name + unit, fmt(row.a), fmt(row.b), change])
        }
        let widths = (0..<4).map { c in table.map { $0[c].count }.max() ?? 0 }
        for t in table {
            lines.append(t.enumerated().map { c, s in
                c == 0 ? s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - s.count) + s
            }.joined(separator: "  "))
        }
        if !remarks.isEmpty {
            lines.append("")
            lines += remarks.map { "note: " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
