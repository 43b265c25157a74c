import Foundation

/// The profile's charts, drawn on a `Canvas`: a timeline (power, temperature and CPU frequency
/// over time with load, prefill and decode shaded) and an inter-token latency histogram.
public enum Charts {
    static let prefillShade = RGBA(255, 170, 60, 70), decodeShade = RGBA(80, 150, 255, 55), loadShade = RGBA(150, 150, 150, 60)
    static let palette = [RGBA(214, 39, 40), RGBA(31, 119, 180), RGBA(44, 160, 44), RGBA(148, 103, 189),
                          RGBA(255, 127, 14), RGBA(140, 86, 75), RGBA(227, 119, 194), RGBA(23, 190, 207)]

    /// Round tick values covering `lo...hi` (about `count` of them, steps of 1, 2 or 5 x 10^k).
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(1, count))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        // Multiples of the step, so errors do not accumulate.
        var k = ceil(lo / step - 1e-9), out: [Double] = []
        while k * step <= hi + step * 1e-9, out.count < 50 {
            out.append(k == 0 ? 0 : k * step)
            k += 1
        }
        return out
    }

    static func label(_ v: Double) -> String {
        let a = abs(v)
        if a >= 100 || v == v.rounded() { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }

    /// One plot area with its value ranges.
    struct Plot {
        let canvas: Canvas
        let x: Int, y: Int, w: Int, h: Int
        var x0: Double, x1: Double, y0: Double, y1: Double

        func px(_ v: Double) -> Int { x + Int(((v - x0) / (x1 - x0) * Double(w - 1)).rounded()) }
        func py(_ v: Double) -> Int { y + h - 1 - Int(((v - y0) / (y1 - y0) * Double(h - 1)).rounded()) }

        /// Frame, grid and labelled ticks; `title` above the area.
        func axes(title: String, xLabels: Bool, yLabels: Bool = true) {
            canvas.text(title, x: x, y: y - 14, .black)
            for t in yLabels ? Charts.ticks(y0, y1, count: 4) : [] {
                let yy = py(t)
                canvas.fillRect(x: x, y: yy, width: w, height: 1, .grid)
                let s = Charts.label(t)
                canvas.text(s, x: x - 6 - Canvas.textWidth(s), y: yy - 3, .axis)
            }
            for t in Charts.ticks(x0, x1, count: 8) {
                let xx = px(t)
                canvas.fillRect(x: xx, y: y, width: 1, height: h, .grid)
                if xLabels {
                    let s = Charts.label(t)
                    canvas.text(s, x: xx - Canvas.textWidth(s) / 2, y: y + h + 5, .axis)
                }
            }
            canvas.strokeRect(x: x, y: y, width: w, height: h, .axis)
        }

        func shade(_ spans: [PhaseSpan]) {
            for s in spans {
                let c: RGBA
                switch s.kind {
                case .prefill: c = Charts.prefillShade
                case .decode: c = Charts.decodeShade
                case .load: c = Charts.loadShade
                case .idle: continue
                }
                let a = max(x, px(s.start)), b = min(x + w - 1, px(s.end))
                canvas.fillRect(x: a, y: y + 1, width: max(1, b - a + 1), height: h - 2, c)
            }
        }

        /// A polyline through the finite points; gaps (NaN) break it.
        func series(_ t: [Double], _ v: [Double], _ c: RGBA) {
            var last: (Int, Int)?
            for i in t.indices {
                guard v[i].isFinite, t[i].isFinite else { last = nil; continue }
                let p = (px(t[i]), py(min(max(v[i], y0), y1)))
                if let l = last { canvas.line(l.0, l.1, p.0, p.1, c, thickness: 2) } else { canvas.fillRect(x: p.0 - 1, y: p.1 - 1, width: 2, height: 2, c) }
                last = p
            }
        }

        func message(_ s: String) {
            canvas.text(s, x: x + (w - Canvas.textWidth(s, scale: 2)) / 2, y: y + h / 2 - 7, RGBA(160, 40, 40), scale: 2)
        }
    }

    static func range(_ values: [[Double]], floorZero: Bool) -> (Double, Double)? {
        let all = values.joined().filter(\.isFinite)
        guard var lo = all.min(), var hi = all.max() else { return nil }
        if floorZero { lo = min(0, lo) }
        if hi - lo < 1e-9 { hi += max(1, abs(hi) * 0.1); if !floorZero { lo -= max(1, abs(lo) * 0.1) } }
        let pad = (hi - lo) * 0.08
        return (floorZero && lo >= 0 ? lo : lo - pad, hi + pad)
    }

    /// The timeline chart. `power` is nil when there is no power source; `latency` holds each
    /// token's time and its inter-token latency in milliseconds (drawn as dots).
    public static func timeline(times: [Double], power: (t: [Double], w: [Double])?, powerLabel: String,
                                temperatures: [(name: String, values: [Double])], frequencies: [(name: String, values: [Double])],
                                latency: (t: [Double], ms: [Double]) = ([], []), spans: [PhaseSpan], title: String) -> Canvas {
        let width = 1100, height = 1050
        let c = Canvas(width: width, height: height)
        c.text(title, x: 20, y: 12, .black, scale: 2)
        var lx = 20
        for (name, color) in [("LOAD", loadShade), ("PREFILL", prefillShade), ("DECODE", decodeShade)] {
            c.fillRect(x: lx, y: 36, width: 14, height: 10, RGBA(color.r, color.g, color.b, 160))
            lx += 18 + c.text(name, x: lx + 18, y: 38, .black) + 12
        }
        let spanEnd = spans.map(\.end).max() ?? 1
        let tEnd = max(times.last ?? 0, spanEnd, 1e-3)
        let left = 70, plotW = width - left - 30, plotH = 190
        let tops = (0..<4).map { 80 + $0 * (plotH + 50) }

        var p = Plot(canvas: c, x: left, y: tops[0], w: plotW, h: plotH, x0: 0, x1: tEnd, y0: 0, y1: 1)
        if let power, let r = range([power.w], floorZero: true) {
            p.y0 = r.0; p.y1 = r.1
            p.shade(spans); p.axes(title: "POWER (W) - " + powerLabel, xLabels: false)
            p.series(power.t, power.w, palette[0])
        } else {
            p.shade(spans); p.axes(title: "POWER (W)", xLabels: false, yLabels: false)
            p.message(power == nil ? "NO POWER SOURCE" : "NO POWER READINGS")
        }

        var q = Plot(canvas: c, x: left, y: tops[1], w: plotW, h: plotH, x0: 0, x1: tEnd, y0: 0, y1: 1)
        if let r = range(temperatures.map(\.values), floorZero: false) {
            q.y0 = r.0; q.y1 = r.1
            q.shade(spans); q.axes(title: "TEMPERATURE (C)", xLabels: false)
            for (i, z) in temperatures.enumerated() { q.series(times, z.values, palette[(i + 1) % palette.count]) }
            legend(c, temperatures.map(\.name), x: left + 150, y: tops[1] - 14, offset: 1)
        } else {
            q.shade(spans); q.axes(title: "TEMPERATURE (C)", xLabels: false, yLabels: false)
            q.message("NO TEMPERATURE SENSORS")
        }

        var f = Plot(canvas: c, x: left, y: tops[2], w: plotW, h: plotH, x0: 0, x1: tEnd, y0: 0, y1: 1)
        if let r = range(frequencies.map(\.values), floorZero: true) {
            f.y0 = r.0; f.y1 = r.1
            f.shade(spans); f.axes(title: "CPU FREQUENCY (MHZ)", xLabels: false)
            for (i, z) in frequencies.enumerated() { f.series(times, z.values, palette[i % palette.count]) }
            legend(c, frequencies.map(\.name), x: left + 170, y: tops[2] - 14, offset: 0)
        } else {
            f.shade(spans); f.axes(title: "CPU FREQUENCY (MHZ)", xLabels: false, yLabels: false)
            f.message("NO CPUFREQ")
        }

        var l = Plot(canvas: c, x: left, y: tops[3], w: plotW, h: plotH, x0: 0, x1: tEnd, y0: 0, y1: 1)
        if let r = range([latency.ms], floorZero: true) {
            l.y0 = r.0; l.y1 = r.1
            l.shade(spans); l.axes(title: "INTER-TOKEN LATENCY (MS), ONE DOT PER TOKEN", xLabels: true)
            for (t, v) in zip(latency.t, latency.ms) where v.isFinite {
                c.fillRect(x: l.px(t) - 1, y: l.py(v) - 1, width: 3, height: 3, palette[3])
            }
        } else {
            l.shade(spans); l.axes(title: "INTER-TOKEN LATENCY (MS)", xLabels: true, yLabels: false)
            l.message("NO TOKENS")
        }
        let xl = "TIME (S)"
        c.text(xl, x: left + (plotW - Canvas.textWidth(xl)) / 2, y: tops[3] + plotH + 20, .black)
        return c
    }

    static func legend(_ c: Canvas, _ names: [String], x: Int, y: Int, offset: Int) {
        var lx = x
        for (i, n) in names.prefix(8).enumerated() {
            let color = palette[(i + offset) % palette.count]
            c.fillRect(x: lx, y: y + 2, width: 10, height: 3, color)
            lx += 14 + c.text(String(n.prefix(18)), x: lx + 14, y: y, .axis) + 10
            if lx > c.width - 120 { break }
        }
    }

    /// A histogram of inter-token latencies (milliseconds) with p50, p90 and p99 marked.
    public static func latencyHistogram(milliseconds: [Double], summary: LatencySummary?, title: String) -> Canvas {
        let width = 900, height = 500
        let c = Canvas(width: width, height: height)
        c.text(title, x: 20, y: 12, .black, scale: 2)
        let left = 70, top = 60, w = width - left - 30, h = height - top - 60
        let values = milliseconds.filter(\.isFinite)
        guard let lo = values.min(), let hi = values.max(), let s = summary else {
            let p = Plot(canvas: c, x: left, y: top, w: w, h: h, x0: 0, x1: 1, y0: 0, y1: 1)
            p.axes(title: "INTER-TOKEN LATENCY (MS)", xLabels: false, yLabels: false)
            p.message("NO INTER-TOKEN LATENCIES")
            return c
        }
        let x0 = max(0, lo - (hi - lo) * 0.05), x1 = hi > lo ? hi + (hi - lo) * 0.05 : lo + 1
        let bins = 50
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, max(0, Int((v - x0) / (x1 - x0) * Double(bins))))] += 1 }
        let top2 = Double(counts.max() ?? 1)
        let p = Plot(canvas: c, x: left, y: top, w: w, h: h, x0: x0, x1: x1, y0: 0, y1: top2 * 1.1)
        p.axes(title: "TOKENS PER LATENCY BIN", xLabels: true)
        for (i, n) in counts.enumerated() where n > 0 {
            let a = p.px(x0 + Double(i) / Double(bins) * (x1 - x0)), b = p.px(x0 + Double(i + 1) / Double(bins) * (x1 - x0))
            let yy = p.py(Double(n))
            c.fillRect(x: a + 1, y: yy, width: max(1, b - a - 1), height: top + h - 1 - yy, palette[1])
        }
        for (name, v, color) in [("P50", s.p50Ms, palette[2]), ("P90", s.p90Ms, palette[4]), ("P99", s.p99Ms, palette[0])] {
            let xx = p.px(v)
            c.fillRect(x: xx, y: top + 1, width: 2, height: h - 2, color)
            let text = "\(name) \(label(v)) MS", tw = Canvas.textWidth(text)
            // Labels go right of their line unless that would leave the plot.
            let tx = xx + 4 + tw < left + w ? xx + 4 : xx - 4 - tw
            let ty = top + 4 + (name == "P50" ? 0 : name == "P90" ? 12 : 24)
            c.fillRect(x: tx - 2, y: ty - 2, width: tw + 3, height: 11, RGBA(255, 255, 255, 220))
            c.text(text, x: tx, y: ty, color)
        }
        let xl = "INTER-TOKEN LATENCY (MS)"
        c.text(xl, x: left + (w - Canvas.textWidth(xl)) / 2, y: top + h + 20, .black)
        return c
    }
}
