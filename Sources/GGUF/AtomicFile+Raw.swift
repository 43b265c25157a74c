#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension AtomicFile {
    /// Writes `header` then `body` to `path` crash-safely (temp file, fsync, rename, fsync of the
    /// directory), without first copying a large body into an array.
    public static func write(header: [UInt8], body: UnsafeRawBufferPointer, to path: String) throws {
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let tmp = "\(path).tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GGUFError(.io, file: tmp, "cannot create: \(String(cString: strerror(errno)))") }
        func put(_ buf: UnsafeRawBufferPointer) -> Bool {
            var done = 0
            while done < buf.count {
                #if canImport(Glibc)
                let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
                #else
                let n = Darwin.write(fd, buf.baseAddress! + done, buf.count - done)
                #endif
                if n < 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
        var ok = header.withUnsafeBytes { put($0) } && (body.count == 0 || put(body))
        ok = ok && fsync(fd) == 0
        let err = errno
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let e = GGUFError(.io, file: path, "cannot write: \(String(cString: strerror(ok ? errno : err)))")
            unlink(tmp)
            throw e
        }
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}
