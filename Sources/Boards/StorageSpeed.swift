import Base
import Foundation
import GemmaEdge

#if canImport(Glibc)
import Glibc
#endif

/// How fast the model's storage delivers the file through a memory mapping — the way the
/// engine reads weights at start. First start on slow storage (SD cards) is where users give up.
public struct StorageReadSpeed: Codable, Sendable, Equatable {
    /// The file read.
    public var path: String
    /// Bytes touched (the whole file, or the first `limit` bytes).
    public var bytes: Int
    /// Wall time of the read.
    public var seconds: Double
    /// Decimal megabytes per second.
    public var megabytesPerSecond: Double
    /// Share of those bytes that were already in the page cache before the read (0...1). Near 1
    /// means the figure is memory speed, not storage speed.
    public var cachedBefore: Double
    /// True when the file's cached pages were dropped first (`--cold-read`).
    public var cold: Bool

    /// One line for people.
    public var summary: String {
        var s = String(format: "%.0f MB/s (%@ in %.2f s", megabytesPerSecond, formatBytes(bytes), seconds)
        if cold {
            s += String(format: ", cache dropped first; %.0f %% stayed cached)", cachedBefore * 100)
        } else {
            s += String(format: ", %.0f %% already in the page cache)", cachedBefore * 100)
        }
        return s
    }

    /// Maps `path`, optionally asks the kernel to drop its cached pages (`POSIX_FADV_DONTNEED`,
    /// which only drops clean pages nobody has mapped), then touches one byte per page of the
    /// first `limit` bytes with sequential read-ahead, and times it.
    public static func measure(path: String, limit: Int = 1 << 30, dropCache: Bool = false) throws -> StorageReadSpeed {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BoardsError.unreadable(path: path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else {
            throw BoardsError.unreadable(path: path, "not a non-empty regular file")
        }
        let size = min(Int(st.st_size), max(limit, 1))
        if dropCache { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw BoardsError.unreadable(path: path, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, size) }
        let page = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        let pages = (size + page - 1) / page
        var resident = [UInt8](repeating: 0, count: pages)
        let cached: Double
        if mincore(base, size, &resident) == 0 {
            cached = Double(resident.reduce(0) { $0 + Int($1 & 1) }) / Double(pages)
        } else {
            cached = 0
        }
        _ = madvise(base, size, MADV_SEQUENTIAL)
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let t0 = monotonicSeconds()
        var sum: UInt64 = 0
        var offset = 0
        while offset < size {
            sum &+= UInt64(bytes[offset])
            offset += page
        }
        let dt = max(monotonicSeconds() - t0, 1e-9)
        storageReadSink = sum   // a global store keeps the reads from being optimised away
        return StorageReadSpeed(path: path, bytes: size, seconds: dt, megabytesPerSecond: Double(size) / dt / 1e6,
                                cachedBefore: cached, cold: dropCache)
    }
}

/// Where the timed read leaves its byte sum.
var storageReadSink: UInt64 = 0
