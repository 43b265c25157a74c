// Files that must survive a power cut or a kill: model files the project writes, the repacked
// arena, session snapshots, the watchdog's state file, the profiler's results. One implementation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safe whole-file writes: a reader sees the old file or the whole new one, never a torn
/// or zero-filled one (temp file in the same directory, fsync, rename, fsync of the directory).
public enum AtomicFile {
    /// Replaces `path` with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { sink in bytes.withUnsafeBytes { sink.put($0) } }
    }

    /// Writes `header` then `body` to `path`, without first copying a large body into an array.
    public static func write(header: [UInt8], body: UnsafeRawBufferPointer, to path: String) throws {
        try write(to: path) { sink in
            header.withUnsafeBytes { sink.put($0) }
            sink.put(body)
        }
    }

    /// Where `write(to:_:)` sends the bytes of the new file, in order.
    public final class Sink {
        fileprivate let fd: Int32
        /// Bytes put so far.
        public private(set) var count = 0
        /// errno of the first failed write (0: none); later puts are skipped.
        fileprivate var failure: Int32 = 0

        fileprivate init(fd: Int32) { self.fd = fd }

        public func put(_ buffer: UnsafeRawBufferPointer) {
            count += buffer.count
            guard failure == 0, let base = buffer.baseAddress else { return }
            var done = 0
            while done < buffer.count {
                #if canImport(Glibc)
                let n = Glibc.write(fd, base + done, buffer.count - done)
                #else
                let n = Darwin.write(fd, base + done, buffer.count - done)
                #endif
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
    }

    /// Writes the file `produce` puts into its sink so that a power cut or a kill leaves either the
    /// old file or the whole new one: a temp file `<path>.tmp.<pid>` in the same directory, fsync,
    /// rename over `path`, fsync of the directory. Temp files that killed processes left behind
    /// are removed first (`removeStaleTemporaries`); on any failure the temp file is removed and
    /// `path` is untouched.
    public static func write(to path: String, _ produce: (Sink) throws -> Void) throws {
        removeStaleTemporaries(of: path)
        let tmp = "\(path).tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let sink = Sink(fd: fd)
        do {
            try produce(sink)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        var problem: String?
        if sink.failure != 0 {
            problem = "cannot write \(tmp): \(String(cString: strerror(sink.failure)))"
        } else if fsync(fd) != 0 {
            problem = "cannot fsync \(tmp): \(String(cString: strerror(errno)))"
        }
        close(fd)
        if problem == nil, rename(tmp, path) != 0 {
            problem = "cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))"
        }
        if let problem {
            unlink(tmp)
            throw AtomicFileError(problem)
        }
        let dir = directory(of: path)
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Removes the temp files `<path>.tmp.<pid>` of processes that no longer run (killed while
    /// writing `path`); those of live processes (another writer, right now) are left alone.
    /// Returns the paths removed.
    @discardableResult
    public static func removeStaleTemporaries(of path: String) -> [String] {
        let dir = directory(of: path)
        let prefix = Array(((path.split(separator: "/").last.map(String.init) ?? path) + ".tmp.").utf8)
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var removed: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            guard name.count > prefix.count, name.starts(with: prefix) else { continue }
            let digits = name[prefix.count...]
            guard digits.count <= 9, digits.allSatisfy({ (48...57).contains($0) }),
                  let pid = pid_t(String(decoding: digits, as: UTF8.self)), pid > 0, pid != getpid() else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let full = dir + "/" + String(decoding: name, as: UTF8.self)
            if unlink(full) == 0 { removed.append(full) }
        }
        return removed
    }

    /// The directory a path's file is in ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}

/// A crash-safe write that failed, with the step and the system's reason.
public struct AtomicFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}
