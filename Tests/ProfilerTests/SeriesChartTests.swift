import Foundation
@testable import Profiler
import XCTest

/// The line chart of labelled series (what Benchmarks/ctx-scaling.sh draws through `gemma-edge chart`).
final class SeriesChartTests: XCTestCase {
    let chart = SeriesChart(
        title: "TEST", note: "a note", xTitle: "CONTEXT", categories: ["512", "2K", "8K", "32K"],
        panels: [
            .init(title: "DECODE TOK/S", series: [.init(name: "A", values: [50, 45, 40, 30]), .init(name: "B", values: [48, 44, nil, 20])]),
            .init(title: "PEAK RSS (MIB)", series: [.init(name: "A", values: [300, 310, 330, 400])]),
        ])

    func testDrawsEveryPanelAndSeriesAndRoundTripsThroughJSON() throws {
        let c = chart.draw()
        XCTAssertEqual(c.width, 900)
        XCTAssertEqual(c.height, 86 + 2 * (240 + 70) + 10)
        var counts = [0, 0]
        for y in 0..<c.height {
            for x in 0..<c.width {
                let p = c.pixel(x, y)
                if p == Charts.palette[0] { counts[0] += 1 } else if p == Charts.palette[1] { counts[1] += 1 }
            }
        }
        // Both series colours are drawn (lines and value dots), and a missing value leaves no crash.
        XCTAssertGreaterThan(counts[0], 200)
        XCTAssertGreaterThan(counts[1], 100)
        let decoded = try JSONDecoder().decode(SeriesChart.self, from: JSONEncoder().encode(chart))
        XCTAssertEqual(decoded, chart)
        XCTAssertFalse(try c.png().isEmpty)
    }

    func testHigherValuesAreDrawnHigher() {
        let one = SeriesChart(title: "T", xTitle: "X", categories: ["a", "b"],
                              panels: [.init(title: "P", series: [.init(name: "S", values: [1, 10])])])
        let c = one.draw()
        func topmost(inColumns xs: Range<Int>) -> Int {
            for y in 0..<c.height { for x in xs where c.pixel(x, y) == Charts.palette[0] { return y } }
            return c.height
        }
        // Categories sit at the middles of two halves of the plot: the second (10) is higher than the first (1).
        let left = 80, plotW = 900 - 80 - 40
        let first = topmost(inColumns: (left + plotW / 4 - 4)..<(left + plotW / 4 + 4))
        let second = topmost(inColumns: (left + 3 * plotW / 4 - 4)..<(left + 3 * plotW / 4 + 4))
        XCTAssertLessThan(second, first)
    }
}
