import Foundation

/// Everything a profile run captured, before analysis.
public struct ProfileCapture {
    public var clock: RunClock
    public var machine: ProfileReport.Machine
    public var model: ProfileReport.ModelInfo
    public var settings: ProfileReport.Settings
    public var loadSeconds: Double
    /// Idle, load, prefill and decode spans in time order.
    public var spans: [PhaseSpan]
    public var records: [ConversationRecord]
    public var sensorColumns: [SensorColumn]
    /// Sampler rows: the fixed columns of `SensorSampler.Fixed`, then `sensorColumns`.
    public var rows: [[Double]]
    public var source: PowerSource?
    public var probes: [PowerProbe]
    public var meter: MeterLog?
    public var samplerCPUSeconds: Double
    public var samplerSeconds: Double
    public var missedTicks: Int
    public var overwritten: Int
    public var processCPUSeconds: Double?
    public var peakRSSBytes: Double?
    public var sensorProblems: [String]
    public var missingSensors: [String]
    public var notes: [String] = []
}

/// Turns a capture into the report's figures.
public enum ReportBuilder {
    static let fixed = SensorSampler.Fixed.allCases.count

    /// The power over time the figures use: the meter's log when there is one, else the sampler's.
    public static func powerSeries(_ c: ProfileCapture) -> PowerSeries? {
        if let m = c.meter { return m.series(epoch: c.clock.epoch) }
        guard c.source != nil, !c.rows.isEmpty else { return nil }
        let t = c.rows.map { $0[SensorSampler.Fixed.time.rawValue] }
        let w = c.rows.map { $0[SensorSampler.Fixed.watts.rawValue] }
        let j = c.rows.map { $0[SensorSampler.Fixed.joules.rawValue] }
        return PowerSeries(times: t, watts: w, joules: j.contains(where: \.isFinite) ? j : nil)
    }

    static func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }

    /// Every figure of the report (its `files` left empty).
    public static func build(_ c: ProfileCapture, createdAt: Date = Date()) -> ProfileReport {
        let series = powerSeries(c)
        let conversations = c.records.map { conversation($0, series: series) }
        let totals = self.totals(c)
        let power = self.power(c, series: series)
        var notes = c.notes
        let hz = c.settings.sampleHz
        let prefills = c.spans.filter { $0.kind == .prefill }
        if series != nil, !prefills.isEmpty {
            let mean = prefills.reduce(0) { $0 + $1.end - $1.start } / Double(prefills.count)
            if mean < 2 / hz, c.meter == nil {
                notes.append(String(format: "prefill phases last %.0f ms on average, under two sampling periods (%.0f ms): their energy "
                    + "rests on the samples taken at their start and end", mean * 1000, 1000 / hz))
            }
        }
        let loadSpan = c.spans.first { $0.kind == .load }
        let loadJoules = loadSpan.flatMap { s in series.flatMap { finite($0.energy(from: s.start, to: s.end).joules) } }
        let formatter = ISO8601DateFormatter()
        return ProfileReport(
            createdAt: formatter.string(from: createdAt), machine: c.machine, model: c.model, settings: c.settings,
            load: .init(seconds: c.loadSeconds, joules: loadJoules), totals: totals, layers: layers(c.records),
            conversations: conversations, power: power, thermal: thermal(c), sampler: sampler(c),
            sensorProblems: c.sensorProblems, notes: notes, files: [])
    }

    static func itl(_ r: ConversationRecord) -> LatencyRecorder {
        var l = LatencyRecorder()
        for i in r.tokenTimes.indices.dropFirst() { l.record(seconds: r.tokenTimes[i] - r.tokenTimes[i - 1]) }
        return l
    }

    static func conversation(_ r: ConversationRecord, series: PowerSeries?) -> ProfileReport.ConversationFigures {
        let decodeWindow = (r.tokenTimes.last ?? r.end) - r.firstToken
        let steps = max(0, r.generated - 1)
        var f = ProfileReport.ConversationFigures(
            index: r.index, run: r.run, prompt: r.promptIndex, promptTokens: r.promptTokens, generatedTokens: r.generated,
            stop: r.stop, startSeconds: r.start, ttftSeconds: r.firstToken - r.start, prefillSeconds: r.prefillSeconds,
            prefillTokensPerSecond: r.prefillSeconds > 0 ? Double(r.promptTokens) / r.prefillSeconds : 0,
            decodeSeconds: decodeWindow, decodeTokensPerSecond: steps > 0 && decodeWindow > 0 ? Double(steps) / decodeWindow : nil,
            decodeStepSeconds: r.decodeSeconds, samplingSeconds: r.samplingSeconds, interTokenLatency: itl(r).summary)
        if let s = series {
            let all = s.energy(from: r.start, to: r.end)
            f.joules = finite(all.joules)
            f.averageWatts = finite(all.meanWatts)
            if let j = s.energy(from: r.start, to: r.firstToken).joules, r.promptTokens > 0 {
                f.prefillMillijoulesPerToken = finite(j / Double(r.promptTokens) * 1000)
            }
            if steps > 0, let j = s.energy(from: r.firstToken, to: r.end).joules {
                f.decodeMillijoulesPerToken = finite(j / Double(steps) * 1000)
            }
        }
        return f
    }

    static func totals(_ c: ProfileCapture) -> ProfileReport.Totals {
        var ttft = LatencyRecorder(), itl = LatencyRecorder()
        var prompt = 0, generated = 0, steps = 0
        var prefillTime = 0.0, decodeWindow = 0.0, decodeTime = 0.0, sampling = 0.0
        for r in c.records {
            ttft.record(seconds: r.firstToken - r.start)
            itl.add(self.itl(r))
            prompt += r.promptTokens
            generated += r.generated
            steps += max(0, r.generated - 1)
            prefillTime += r.prefillSeconds
            decodeWindow += (r.tokenTimes.last ?? r.end) - r.firstToken
            decodeTime += r.decodeSeconds
            sampling += r.samplingSeconds
        }
        let wall = (c.records.last?.end ?? 0) - (c.records.first?.start ?? 0)
        return .init(conversations: c.records.count, promptTokens: prompt, generatedTokens: generated, ttft: ttft.summary,
                     prefillTokensPerSecond: prefillTime > 0 ? Double(prompt) / prefillTime : nil,
                     decodeTokensPerSecond: steps > 0 && decodeWindow > 0 ? Double(steps) / decodeWindow : nil,
                     interTokenLatency: itl.summary,
                     phaseSeconds: .init(prefill: prefillTime, decode: decodeTime, sampling: sampling, wall: wall),
                     peakRssBytes: c.peakRSSBytes)
    }

    static func layers(_ records: [ConversationRecord]) -> ProfileReport.LayerBreakdown {
        guard let first = records.first else {
            return .init(prefill: [], decode: [], prefillEmbeddingSeconds: 0, prefillOutputSeconds: 0,
                         decodeEmbeddingSeconds: 0, decodeOutputSeconds: 0)
        }
        let zero = LayerSeconds(zeros: first.prefillLayers.attention.count)
        let p = records.reduce(zero) { $0 + $1.prefillLayers }, d = records.reduce(zero) { $0 + $1.decodeLayers }
        func rows(_ l: LayerSeconds) -> [ProfileReport.LayerRow] {
            l.attention.indices.map { .init(layer: $0, attentionSeconds: l.attention[$0], feedForwardSeconds: l.feedForward[$0]) }
        }
        return .init(prefill: rows(p), decode: rows(d), prefillEmbeddingSeconds: p.embedding, prefillOutputSeconds: p.output,
                     decodeEmbeddingSeconds: d.embedding, decodeOutputSeconds: d.output)
    }

    static func power(_ c: ProfileCapture, series: PowerSeries?) -> ProfileReport.PowerFigures {
        var notes: [String] = []
        let info: ProfileReport.SourceInfo?
        if let s = c.source {
            info = .init(kind: s.kind.rawValue, device: s.device, scope: s.scope, quality: s.quality, notes: s.notes)
        } else if let m = c.meter {
            info = .init(kind: "csv", device: "external meter log", scope: "whatever the meter is wired to (usually the board's input)",
                         quality: .measured, notes: m.notes)
        } else {
            info = nil
        }
        guard let series, let info else {
            notes.append("no power source: energy figures are absent, not zero")
            return .init(status: "none", source: nil, probes: c.probes, notes: notes)
        }
        func sum(_ kind: PhaseSpan.Kind) -> (WindowEnergy, Double) {
            c.spans.filter { $0.kind == kind }.reduce((WindowEnergy.zero, 0)) { acc, s in
                (acc.0 + series.energy(from: s.start, to: s.end), acc.1 + s.end - s.start)
            }
        }
        let idle = c.spans.first { $0.kind == .idle }.map { series.energy(from: $0.start, to: $0.end) }
        let idleWatts = finite(idle?.meanWatts)
        let prompt = c.records.reduce(0) { $0 + $1.promptTokens }
        let generated = c.records.reduce(0) { $0 + $1.generated }
        let steps = c.records.reduce(0) { $0 + max(0, $1.generated - 1) }
        func figures(_ w: WindowEnergy, tokens: Int) -> ProfileReport.PhaseEnergy? {
            guard let j = finite(w.joules), let watts = finite(w.meanWatts) else { return nil }
            let perToken = tokens > 0 ? j / Double(tokens) * 1000 : nil
            let net = idleWatts.flatMap { iw in tokens > 0 ? (j - iw * w.seconds) / Double(tokens) * 1000 : nil }
            let quality: PowerQuality = info.quality == .measured && w.coverage >= 0.999 ? .measured : .estimated
            return .init(seconds: w.seconds, tokens: tokens, joules: j, averageWatts: watts, millijoulesPerToken: perToken,
                         coverage: w.coverage, quality: quality, netMillijoulesPerToken: finite(net))
        }
        let (pre, _) = sum(.prefill), (dec, _) = sum(.decode)
        let prefill = figures(pre, tokens: prompt), decode = figures(dec, tokens: steps)
        let total = figures(pre + dec, tokens: prompt + generated)
        for (name, w) in [("prefill", pre), ("decode", dec)] where w.seconds > 0 && w.coverage < 0.999 {
            notes.append(String(format: "%@ had power readings for %.1f %% of its time; the rest is filled at its mean power",
                                name, w.coverage * 100))
        }
        if info.quality == .estimated { notes.append("the source is an estimate: \(info.scope)") }
        var battery: ProfileReport.BatteryFigures?
        let capacity = c.settings.batteryWh.map { ($0, "--battery-wh") }
            ?? (c.source as? BatteryPower)?.capacityWh.map { ($0, "the battery's energy_full") }
        if let (wh, from) = capacity, wh > 0, let t = total, !c.records.isEmpty {
            let perConversation = t.joules / Double(c.records.count)
            let n = c.settings.conversationsForShare
            battery = .init(capacityWh: wh, capacityFrom: from, conversations: n, joulesPerConversation: perConversation,
                            percent: BatteryShare.percent(joulesPerConversation: perConversation, conversations: n, capacityWh: wh))
        } else if total != nil {
            notes.append("no battery capacity: pass --battery-wh for the share of a battery N conversations use")
        }
        if let b = c.source as? BatteryPower, b.status() != b.statusAtStart {
            notes.append("battery status changed from \(b.statusAtStart) to \(b.status()) during the run")
        }
        return .init(status: prefill?.quality == .measured && decode?.quality == .measured ? "measured" : "estimated",
                     source: info, probes: c.probes, idleWatts: idleWatts, averageWatts: total?.averageWatts,
                     prefill: prefill, decode: decode, total: total,
                     tokensPerJoule: total.flatMap { $0.joules > 0 ? Double(generated) / $0.joules : nil },
                     decodeTokensPerJoule: decode.flatMap { $0.joules > 0 ? Double(steps) / $0.joules : nil },
                     battery: battery, notes: notes)
    }

    /// Indices of rows taken during prefill or decode (all rows if none were).
    static func activeRows(_ c: ProfileCapture) -> [Int] {
        let active = c.spans.filter { $0.kind == .prefill || $0.kind == .decode }
        let idx = c.rows.indices.filter { i in
            let t = c.rows[i][0]
            return active.contains { t >= $0.start && t <= $0.end }
        }
        return idx.isEmpty ? Array(c.rows.indices) : idx
    }

    static func thermal(_ c: ProfileCapture) -> ProfileReport.ThermalFigures {
        var zones: [ProfileReport.ZoneFigures] = [], cores: [ProfileReport.CoreFrequency] = []
        var events: [ProfileReport.ThrottleEvent] = [], counters: [ProfileReport.CounterDelta] = []
        let active = activeRows(c)
        for (k, col) in c.sensorColumns.enumerated() {
            let j = fixed + k
            let all = c.rows.compactMap { r -> (Double, Double)? in r[j].isFinite ? (r[0], r[j]) : nil }
            switch col.group {
            case .temperature:
                zones.append(.init(name: col.name, startC: all.first?.1, maxC: all.map(\.1).max(), endC: all.last?.1))
            case .cpufreq:
                let values = active.map { c.rows[$0][j] }.filter(\.isFinite)
                cores.append(.init(cpu: col.name, minMhz: values.min(),
                                   meanMhz: values.isEmpty ? nil : values.reduce(0, +) / Double(values.count),
                                   maxMhz: values.max(), limitMhz: col.limit))
                events += frequencyDrops(c, column: j, name: col.name, active: active)
            case .cooling:
                let cpuCooling = col.name.contains("cpufreq") || col.name.contains("cpu")
                for i in all.indices.dropFirst() where all[i].1 > all[i - 1].1 && cpuCooling {
                    events.append(.init(timeSeconds: all[i].0, what: "\(col.name) state \(Int(all[i - 1].1)) -> \(Int(all[i].1))"))
                }
            case .throttle where col.unit == "flags":
                // Raspberry Pi get_throttled: bits 0-3 are the current state.
                let names = [0: "under-voltage", 1: "frequency capped", 2: "throttled", 3: "soft temperature limit"]
                for i in all.indices {
                    let now = Int(all[i].1) & 0xF, before = i > 0 ? Int(all[i - 1].1) & 0xF : 0
                    for bit in 0..<4 where now & (1 << bit) != 0 && before & (1 << bit) == 0 {
                        events.append(.init(timeSeconds: all[i].0, what: "get_throttled: \(names[bit]!)"))
                    }
                }
            case .throttle:
                guard let a = all.first, let b = all.last else { continue }
                counters.append(.init(name: col.name, delta: b.1 - a.1))
                if let firstRise = all.indices.dropFirst().first(where: { all[$0].1 > all[$0 - 1].1 }) {
                    events.append(.init(timeSeconds: all[firstRise].0, what: "\(col.name) rose by \(Int(b.1 - a.1)) over the run"))
                }
            }
        }
        events.sort { $0.timeSeconds < $1.timeSeconds }
        return .init(zones: zones, cpufreq: cores, throttleEvents: Array(events.prefix(200)), throttleCounters: counters,
                     missing: c.missingSensors)
    }

    /// A core dropping below 85 % of its own peak while the model runs (from at or above it).
    static func frequencyDrops(_ c: ProfileCapture, column j: Int, name: String, active: [Int]) -> [ProfileReport.ThrottleEvent] {
        let values = active.map { (c.rows[$0][0], c.rows[$0][j]) }.filter { $0.1.isFinite }
        guard let peak = values.map(\.1).max(), peak > 0 else { return [] }
        var out: [ProfileReport.ThrottleEvent] = []
        for i in values.indices.dropFirst() where values[i].1 < 0.85 * peak && values[i - 1].1 >= 0.85 * peak {
            out.append(.init(timeSeconds: values[i].0,
                             what: String(format: "%@ frequency fell to %.0f MHz (peak %.0f MHz)", name, values[i].1, peak)))
        }
        return out
    }

    static func sampler(_ c: ProfileCapture) -> ProfileReport.SamplerFigures {
        let costs = c.rows.map { $0[SensorSampler.Fixed.cost.rawValue] }.filter(\.isFinite)
        let marks = c.rows.filter { $0[SensorSampler.Fixed.mark.rawValue] == 1 }.count
        let mean = costs.isEmpty ? 0 : costs.reduce(0, +) / Double(costs.count) * 1e6
        let maxCost = (costs.max() ?? 0) * 1e6
        let ofCore = c.samplerSeconds > 0 ? c.samplerCPUSeconds / c.samplerSeconds * 100 : 0
        let ofProcess = c.processCPUSeconds.flatMap { $0 > 0 ? c.samplerCPUSeconds / $0 * 100 : nil }
        var statement = String(format: "the sampler took %d samples (%.0f us each on average, %.0f us at most) and used %.3f s of CPU "
            + "over %.1f s: %.3f %% of one core", c.rows.count, mean, maxCost, c.samplerCPUSeconds, c.samplerSeconds, ofCore)
        if let p = ofProcess { statement += String(format: ", %.3f %% of the process's CPU time", p) }
        return .init(hz: c.settings.sampleHz, samples: c.rows.count, boundarySamples: marks, overwritten: c.overwritten,
                     missedTicks: c.missedTicks, meanCostMicroseconds: mean, maxCostMicroseconds: maxCost,
                     cpuSeconds: c.samplerCPUSeconds, percentOfOneCore: ofCore, percentOfProcessCpu: ofProcess,
                     statement: statement)
    }
}
