import Base
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writing result files so they survive a power cut (through `AtomicFile`).
public enum DurableFile {
    /// Replaces `path` with `data` durably.
    public static func write(_ data: Data, to path: String) throws {
        do {
            try AtomicFile.write(to: path) { sink in data.withUnsafeBytes { sink.put($0) } }
        } catch let e as AtomicFileError {
            throw ProfilerError.io(e.description)
        }
    }
}

/// `samples.csv`: one row per sampler row, with the phase it fell in and, when an external meter
/// was merged, the meter's reading at that time.
public enum SamplesCSV {
    /// The phase (and conversation) at time `t`, "" between phases.
    static func phase(at t: Double, spans: [PhaseSpan]) -> (String, String) {
        // Later spans win at shared boundaries (a decode starts where its prefill ends).
        for s in spans.reversed() where t >= s.start && t <= s.end {
            return (s.kind.rawValue, s.conversation.map(String.init) ?? "")
        }
        return ("", "")
    }

    /// The CSV text for a capture; `meter` adds a `meter_w` column read near each sample's time.
    public static func render(_ c: ProfileCapture, columnNames: [String], meter: PowerSeries?, sampleHz: Double) -> String {
        var out = (columnNames + ["phase", "conversation"] + (meter == nil ? [] : ["meter_w"])).joined(separator: ",") + "\n"
        out.reserveCapacity(c.rows.count * (columnNames.count * 8 + 16))
        func format(_ v: Double) -> String {
            guard v.isFinite else { return "" }
            if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
            return String(format: "%.6g", v)
        }
        for row in c.rows {
            var fields = row.map(format)
            fields[0] = String(format: "%.6f", row[0])
            let (p, conv) = phase(at: row[0], spans: c.spans)
            fields += [p, conv]
            if let m = meter { fields.append(format(m.watts(near: row[0], tolerance: max(1, 2 / sampleHz)))) }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }
}
