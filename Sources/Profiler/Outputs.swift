import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writing result files so they survive a power cut: a temporary file in the same directory,
/// fsync, rename over the target, fsync the directory.
public enum DurableFile {
    /// Replaces `path` with `data` durably (temporary file, fsync, rename, fsync of the directory).
    public static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ProfilerError.io("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; ok = false; return }
                off += n
            }
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard ok, synced else {
            unlink(tmp)
            throw ProfilerError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw ProfilerError.io("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
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
