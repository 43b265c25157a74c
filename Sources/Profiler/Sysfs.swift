import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where kernel files are read from: `/` on a live system, or a directory holding a copied or
/// synthetic tree (`--sysfs-root`), in which case every `/sys/...` path is read under it.
public struct SysfsRoot: Sendable, Equatable {
    /// The prefix, without a trailing slash ("" for the live system).
    public let prefix: String

    /// - Parameter root: a directory, or nil / "/" for the live system.
    public init(_ root: String? = nil) {
        var r = root ?? ""
        while r.hasSuffix("/") { r.removeLast() }
        prefix = r
    }

    /// The live system.
    public static let live = SysfsRoot()

    /// `path` (absolute, like "/sys/class/hwmon") under this root.
    public func path(_ path: String) -> String { prefix + path }

    /// Names in a directory, sorted naturally ("cpu2" before "cpu10"); empty when missing.
    public func list(_ path: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.path(path))) ?? []
        return names.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
    }

    /// The trimmed text of a small file, or nil when it is missing or unreadable.
    public func text(_ path: String) -> String? {
        SysfsFile(fullPath: self.path(path)).readText()
    }

    /// Whether `path` exists under this root.
    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: self.path(path)) }
}

/// Why a kernel file gave no number.
public enum SensorFault: String, Error, Sendable, Codable, Equatable {
    /// The file does not exist (never did, or the device went away).
    case missing
    /// The file exists but cannot be read (permissions, an I/O error, ENODEV/ENODATA).
    case unreadable
    /// The file holds something that is not a number of the expected form.
    case garbage
}

/// One kernel attribute file read again and again without allocating: the path is kept as a C
/// string and the bytes land in a small buffer owned by the reader. Each read opens, reads and
/// closes the file, so a device that disappears (or a file replaced in a synthetic tree) is seen.
public final class SysfsFile: @unchecked Sendable {
    /// The full path (including any root prefix).
    public let fullPath: String
    private let cPath: UnsafeMutablePointer<CChar>
    private let buffer: UnsafeMutablePointer<UInt8>
    private static let capacity = 128

    public init(fullPath: String) {
        self.fullPath = fullPath
        cPath = strdup(fullPath)!
        buffer = .allocate(capacity: Self.capacity)
    }

    deinit {
        free(cPath)
        buffer.deallocate()
    }

    /// Reads the file into the buffer; returns the byte count or a fault.
    private func load() -> Result<Int, SensorFault> {
        let fd = open(cPath, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable) }
        defer { close(fd) }
        let n = read(fd, buffer, Self.capacity)
        if n < 0 { return .failure(errno == ENODEV || errno == ENOENT ? .missing : .unreadable) }
        // A value that fills the buffer is too long to be one number.
        if n == Self.capacity { return .failure(.garbage) }
        return .success(n)
    }

    /// A decimal integer (optionally signed, surrounded by whitespace), e.g. "2500000\n".
    public func readInteger() -> Result<Int64, SensorFault> {
        switch load() {
        case .failure(let f): return .failure(f)
        case .success(let n): return Self.parseInteger(UnsafeBufferPointer(start: buffer, count: n), hex: false)
        }
    }

    /// A hexadecimal integer with or without "0x" (e.g. Raspberry Pi `get_throttled`).
    public func readHex() -> Result<Int64, SensorFault> {
        switch load() {
        case .failure(let f): return .failure(f)
        case .success(let n): return Self.parseInteger(UnsafeBufferPointer(start: buffer, count: n), hex: true)
        }
    }

    /// The whitespace-separated decimal field number `field` (0-based), e.g. the resident pages
    /// in `/proc/self/statm`.
    public func readInteger(field: Int) -> Result<Int64, SensorFault> {
        switch load() {
        case .failure(let f): return .failure(f)
        case .success(let n): return Self.parseInteger(UnsafeBufferPointer(start: buffer, count: n), field: field)
        }
    }

    /// Parses the whitespace-separated decimal field number `field` (0-based) of `bytes`; a
    /// missing field is `.garbage`, like a field that is not a number.
    public static func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>, field: Int) -> Result<Int64, SensorFault> {
        let n = bytes.count
        var i = 0, index = 0
        func space(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 }
        while i < n {
            while i < n, space(bytes[i]) { i += 1 }
            let start = i
            while i < n, !space(bytes[i]) { i += 1 }
            if i > start {
                if index == field { return parseInteger(UnsafeBufferPointer(rebasing: bytes[start..<i]), hex: false) }
                index += 1
            }
        }
        return .failure(.garbage)
    }

    /// The trimmed text, or nil when missing or unreadable. Allocates; for setup, not sampling.
    public func readText() -> String? {
        guard let data = FileManager.default.contents(atPath: fullPath) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Parses an integer the way sysfs prints it. Anything else (empty, "N/A", "12abc", "1.5",
    /// overflow) is `.garbage`.
    public static func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>, hex: Bool) -> Result<Int64, SensorFault> {
        var i = 0, end = bytes.count
        func space(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 || c == 0 }
        while i < end, space(bytes[i]) { i += 1 }
        while end > i, space(bytes[end - 1]) { end -= 1 }
        guard i < end else { return .failure(.garbage) }
        var negative = false
        if !hex, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        if hex, end - i > 2, bytes[i] == UInt8(ascii: "0"), bytes[i + 1] | 0x20 == UInt8(ascii: "x") { i += 2 }
        guard i < end else { return .failure(.garbage) }
        var value: Int64 = 0
        let base: Int64 = hex ? 16 : 10
        while i < end {
            let c = bytes[i]
            let digit: Int64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where hex: digit = Int64(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where hex: digit = Int64(c - UInt8(ascii: "A") + 10)
            default: return .failure(.garbage)
            }
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (s, o2) = m.addingReportingOverflow(digit)
            if o1 || o2 { return .failure(.garbage) }
            value = s
            i += 1
        }
        return .success(negative ? -value : value)
    }

    /// Convenience for tests and setup: parses a Swift string.
    public static func parseInteger(_ text: String, hex: Bool = false) -> Result<Int64, SensorFault> {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { parseInteger(UnsafeBufferPointer($0), hex: hex) }
    }
}

/// The health of one sensor over a run: how many reads failed, since when, and why. Changes
/// state (and allocates a message) only when the fault changes, so steady reads cost nothing.
public final class SensorHealth: @unchecked Sendable {
    public let label: String
    public private(set) var reads = 0
    public private(set) var failures = 0
    /// Fault transitions in time order: (seconds on the run clock, fault or nil for recovery).
    public private(set) var events: [(time: Double, fault: SensorFault?)] = []
    private var current: SensorFault?

    public init(label: String) {
        self.label = label
        events.reserveCapacity(64)
    }

    /// Records the outcome of one read at `time`.
    @inline(__always) public func note(_ fault: SensorFault?, at time: Double) {
        reads += 1
        if fault != nil { failures += 1 }
        if fault != current {
            current = fault
            if events.count < 64 { events.append((time, fault)) }
        }
    }

    /// A sentence for the report, or nil when every read succeeded.
    public var summary: String? {
        guard failures > 0 else { return nil }
        let parts = events.map { e in
            e.fault.map { "\($0.rawValue) from \(String(format: "%.2f", e.time)) s" } ?? "back at \(String(format: "%.2f", e.time)) s"
        }
        return "\(label): \(failures) of \(reads) reads failed (" + parts.joined(separator: ", ") + ")"
    }
}
