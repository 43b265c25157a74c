import Foundation

/// A chart of a few named series over labelled categories (for example decode speed and memory at
/// each context length, one line per engine): one panel per measure, stacked, sharing the x axis.
public struct SeriesChart: Codable, Sendable, Equatable {
    public struct Series: Codable, Sendable, Equatable {
        public var name: String
        /// One value per category; NaN (or null in JSON) leaves a gap.
        public var values: [Double?]
        public init(name: String, values: [Double?]) { self.name = name; self.values = values }
    }

    public struct Panel: Codable, Sendable, Equatable {
        public var title: String
        public var series: [Series]
        public init(title: String, series: [Series]) { self.title = title; self.series = series }
    }

    public var title: String
    /// Subtitle line (conditions of the run).
    public var note: String?
    public var xTitle: String
    /// Category labels, evenly spaced along the x axis.
    public var categories: [String]
    public var panels: [Panel]

    public init(title: String, note: String? = nil, xTitle: String, categories: [String], panels: [Panel]) {
        self.title = title
        self.note = note
        self.xTitle = xTitle
        self.categories = categories
        self.panels = panels
    }

    /// Draws the chart: panels of 260 px one under another, lines with a dot and the value at each
    /// category, and a legend per panel.
    public func draw() -> Canvas {
        let width = 900, left = 80, plotW = width - left - 40, plotH = 240, gap = 70
        let top = note == nil ? 70 : 86
        let height = top + panels.count * (plotH + gap) + 10
        let c = Canvas(width: width, height: height)
        c.text(title, x: 20, y: 12, .black, scale: 2)
        if let note { c.text(note, x: 20, y: 38, .axis) }
        let n = max(1, categories.count)
        for (pi, panel) in panels.enumerated() {
            let y = top + pi * (plotH + gap)
            let values = panel.series.map { $0.values.map { $0 ?? .nan } }
            guard let r = Charts.range(values, floorZero: true) else { continue }
            // Categories sit at 0.5, 1.5, ... so the first and last are not on the frame.
            let p = Charts.Plot(canvas: c, x: left, y: y, w: plotW, h: plotH, x0: 0, x1: Double(n), y0: r.0, y1: r.1)
            c.text(panel.title, x: left, y: y - 14, .black)
            for t in Charts.ticks(p.y0, p.y1, count: 4) {
                let yy = p.py(t)
                c.fillRect(x: left, y: yy, width: plotW, height: 1, .grid)
                let s = Charts.label(t)
                c.text(s, x: left - 6 - Canvas.textWidth(s), y: yy - 3, .axis)
            }
            for (i, label) in categories.enumerated() {
                let xx = p.px(Double(i) + 0.5)
                c.fillRect(x: xx, y: y, width: 1, height: plotH, .grid)
                c.text(label, x: xx - Canvas.textWidth(label) / 2, y: y + plotH + 5, .axis)
            }
            c.strokeRect(x: left, y: y, width: plotW, height: plotH, .axis)
            for (si, s) in panel.series.enumerated() {
                let color = Charts.palette[si % Charts.palette.count]
                p.series((0..<s.values.count).map { Double($0) + 0.5 }, s.values.map { $0 ?? .nan }, color)
                for (i, v) in s.values.enumerated() {
                    guard let v, v.isFinite else { continue }
                    let px = p.px(Double(i) + 0.5), py = p.py(v)
                    c.fillRect(x: px - 3, y: py - 3, width: 7, height: 7, color)
                    // The highest value at a category is labelled above its dot, the others below.
                    let highest = panel.series.allSatisfy { i >= $0.values.count || ($0.values[i] ?? -.infinity) <= v }
                    c.text(Charts.label(v), x: px + 6, y: py + (highest ? -12 : 5), color)
                }
            }
            Charts.legend(c, panel.series.map(\.name), x: left + 10 + Canvas.textWidth(panel.title) + 20, y: y - 14, offset: 0)
        }
        let xl = xTitle
        c.text(xl, x: left + (plotW - Canvas.textWidth(xl)) / 2, y: height - 22, .black)
        return c
    }
}
