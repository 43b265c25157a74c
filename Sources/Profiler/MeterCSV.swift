import Foundation

/// An external power meter's log: one `timestamp,watts` line per reading (comma, semicolon or
/// tab), timestamps as Unix seconds (with fractions) or ISO 8601. A header line is allowed; `#`
/// starts a comment. Timestamps all below 1e8 are taken as seconds since the profile started.
/// Bad lines are counted and named in the report, never fatal.
public struct MeterLog: Sendable, Equatable {
    /// Timestamps as written (Unix seconds, or seconds from the start when `relative`), sorted.
    public var times: [Double] = []
    public var watts: [Double] = []
    /// True when the timestamps count from the start of the profile rather than from 1970.
    public var relative = false
    /// Line numbers (1-based) of the first bad lines, at most 10.
    public var badLines: [Int] = []
    /// How many lines were bad in all.
    public var badCount = 0
    /// Whether the lines were out of time order (they are sorted here).
    public var wasUnsorted = false

    public init() {}

    /// Reads and parses `path`; an unreadable file is an error, bad lines are not.
    public static func load(path: String) throws -> MeterLog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProfilerError.io("cannot read the meter log \(path)")
        }
        let log = parse(String(decoding: data, as: UTF8.self))
        guard !log.times.isEmpty else {
            throw ProfilerError.io("the meter log \(path) has no timestamp,watts lines"
                + (log.badCount > 0 ? " (\(log.badCount) bad lines, first at line \(log.badLines[0]))" : ""))
        }
        return log
    }

    /// Parses the text of a log.
    public static func parse(_ text: String) -> MeterLog {
        var log = MeterLog()
        let iso = ISO8601DateFormatter()
        let isoFraction = ISO8601DateFormatter()
        isoFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var rows: [(Double, Double)] = []
        var lineNumber = 0
        var sawData = false
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(omittingEmptySubsequences: false) { $0 == "," || $0 == ";" || $0 == "\t" }
                .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
            func time(_ s: String) -> Double? {
                if let v = Double(s), v.isFinite { return v }
                return (isoFraction.date(from: s) ?? iso.date(from: s))?.timeIntervalSince1970
            }
            if fields.count >= 2, let t = time(fields[0]), let w = Double(fields[1]), w.isFinite, w >= 0, w < 100_000 {
                rows.append((t, w))
                sawData = true
                continue
            }
            // A first line of words is a header, not a bad line.
            if !sawData, log.badCount == 0, rows.isEmpty, line.contains(where: \.isLetter), Double(fields[0]) == nil,
               fields.count >= 2, Double(fields[1]) == nil {
                continue
            }
            log.badCount += 1
            if log.badLines.count < 10 { log.badLines.append(lineNumber) }
        }
        for i in rows.indices.dropFirst() where rows[i].0 < rows[i - 1].0 {
            log.wasUnsorted = true
            break
        }
        if log.wasUnsorted { rows.sort { $0.0 < $1.0 } }
        log.times = rows.map(\.0)
        log.watts = rows.map(\.1)
        log.relative = !rows.isEmpty && rows.allSatisfy { $0.0 < 1e8 }
        return log
    }

    /// The readings on the run clock: `epoch` is the Unix time at run-clock zero.
    public func series(epoch: Double) -> PowerSeries {
        let shift = relative ? 0 : -epoch
        return PowerSeries(times: times.map { $0 + shift }, watts: watts)
    }

    /// Sentences for the report about what was skipped.
    public var notes: [String] {
        var n: [String] = []
        if badCount > 0 {
            n.append("\(badCount) bad meter lines skipped (lines " + badLines.map(String.init).joined(separator: ", ")
                + (badCount > badLines.count ? ", ..." : "") + ")")
        }
        if wasUnsorted { n.append("meter lines were out of time order and were sorted") }
        if relative { n.append("meter timestamps are below 1e8, taken as seconds from the start of the profile") }
        return n
    }
}
