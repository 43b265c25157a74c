import ArgumentParser
import Foundation
import Profiler

/// Draws a PNG chart from a JSON description (`SeriesChart`): what Benchmarks/ctx-scaling.sh uses
/// to chart decode speed and memory against the context, with the profiler's raster code.
struct ChartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chart",
        abstract: "Draw a PNG line chart from a JSON file of labelled series (see Sources/Profiler/SeriesChart.swift).")

    @Argument(help: "JSON: {title, note?, xTitle, categories: [..], panels: [{title, series: [{name, values}]}]}.")
    var input: String
    @Option(name: [.customShort("o"), .long], help: "PNG file to write.") var out: String

    func run() throws {
        let chart: SeriesChart
        do {
            chart = try JSONDecoder().decode(SeriesChart.self, from: Data(contentsOf: URL(fileURLWithPath: input)))
        } catch {
            throw CLIError("\(input): not a chart description (\(error))")
        }
        guard !chart.panels.isEmpty, !chart.categories.isEmpty else { throw CLIError("\(input): no panels or no categories") }
        try chart.draw().png().write(to: URL(fileURLWithPath: out))
    }
}
