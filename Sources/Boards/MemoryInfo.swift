import Foundation

/// The figures of `/proc/meminfo` the fit check uses, in bytes.
public struct MemoryInfo: Codable, Sendable, Equatable {
    /// `MemTotal`.
    public var total: Int
    /// `MemAvailable`: what can be allocated without swapping (free memory plus the page cache
    /// and reclaimable slab the kernel can give back). Mapped model pages already in the page
    /// cache are part of it, so it is compared with the model's whole footprint.
    public var available: Int
    /// `SwapTotal` and `SwapFree` (0 when the lines are absent).
    public var swapTotal: Int
    public var swapFree: Int
    /// Set when `MemAvailable` was missing (kernels before 3.14) and was estimated.
    public var note: String?

    /// Figures in bytes (tests and callers with their own source).
    public init(total: Int, available: Int, swapTotal: Int = 0, swapFree: Int = 0, note: String? = nil) {
        self.total = total
        self.available = available
        self.swapTotal = swapTotal
        self.swapFree = swapFree
        self.note = note
    }

    /// Parses the text of a `/proc/meminfo` ("MemTotal:  3884360 kB" lines).
    public init(text: String, source: String = "/proc/meminfo") throws {
        var values: [String: Int] = [:]
        for (i, line) in text.split(separator: "\n").enumerated() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            guard ["MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree"].contains(key) else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ")
            guard let n = fields.first.flatMap({ Int($0) }), n >= 0, n < Int.max / 1024,
                  fields.count == 1 || (fields.count == 2 && fields[1] == "kB") else {
                throw BoardsError.garbage(path: source, "line \(i + 1): \(key) must be a number of kB, found \(SystemRoot.quote(String(line)))")
            }
            values[key] = fields.count == 2 ? n * 1024 : n
        }
        guard let total = values["MemTotal"], total > 0 else {
            throw BoardsError.garbage(path: source, "no MemTotal line (or MemTotal is 0)")
        }
        var note: String?
        let available: Int
        if let a = values["MemAvailable"] {
            available = a
        } else if let free = values["MemFree"] {
            available = free + (values["Buffers"] ?? 0) + (values["Cached"] ?? 0)
            note = "no MemAvailable line (kernel before 3.14): estimated as MemFree + Buffers + Cached"
        } else {
            throw BoardsError.garbage(path: source, "neither MemAvailable nor MemFree is listed")
        }
        guard available <= total else {
            throw BoardsError.garbage(path: source, "MemAvailable (\(available / 1024) kB) exceeds MemTotal (\(total / 1024) kB)")
        }
        self.init(total: total, available: available, swapTotal: values["SwapTotal"] ?? 0,
                  swapFree: values["SwapFree"] ?? 0, note: note)
    }

    /// Reads `/proc/meminfo` under `root`.
    public init(root: SystemRoot) throws {
        try self.init(text: root.read("/proc/meminfo"), source: root.resolve("/proc/meminfo"))
    }
}

/// Byte counts for people: "312.4 MiB", "3.70 GiB".
public func formatBytes(_ bytes: Int) -> String {
    let b = Double(bytes), m = b.magnitude
    if m >= 1_073_741_824 { return String(format: "%.2f GiB", b / 1_073_741_824) }
    if m >= 1_048_576 { return String(format: "%.1f MiB", b / 1_048_576) }
    if m >= 1024 { return String(format: "%.1f KiB", b / 1024) }
    return "\(bytes) B"
}
