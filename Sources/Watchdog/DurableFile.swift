#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Whole-file writes that survive a power cut: write a temporary file in the same directory,
/// `fsync` it, `rename` it over the target, then `fsync` the directory so the rename itself is
/// on disk. A reader sees the old file or the new one, never a torn or zero-filled one.
///
/// (GGUF has an `AtomicFile` for model files; the supervisor keeps its own so that it does not
/// depend on the model format module.)
public enum DurableFile {
    /// Replaces `path` with `bytes`, durably.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DurableFileError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var problem: String?
        bytes.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    problem = "cannot write \(temporary): \(String(cString: strerror(errno)))"
                    return
                }
                done += n
            }
        }
        if problem == nil && fsync(fd) != 0 { problem = "cannot fsync \(temporary): \(String(cString: strerror(errno)))" }
        close(fd)
        if problem == nil && rename(temporary, path) != 0 {
            problem = "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))"
        }
        if let problem {
            unlink(temporary)
            throw DurableFileError(problem)
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw DurableFileError("cannot open \(directory) to fsync it: \(String(cString: strerror(errno)))") }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw DurableFileError("cannot fsync \(directory): \(String(cString: strerror(errno)))") }
    }
}

/// A durable write that failed, with the step and the system's reason.
public struct DurableFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// What the supervisor writes to its state file after every change: where it stands and the
/// last events, for people and scripts after a reboot or a power cut.
public struct SupervisorState: Codable, Equatable, Sendable {
    public var phase: String
    public var status: String
    public var pid: Int32?
    /// Children started after the first.
    public var restarts: Int
    public var threads: Int?
    public var temperature: Double?
    public var lastFailure: String?
    /// Wall-clock seconds since 1970.
    public var updated: Double
    /// The most recent events, oldest first (at most `SupervisorState.eventLimit`).
    public var events: [Event]

    public struct Event: Codable, Equatable, Sendable {
        public var time: Double
        public var message: String
    }

    public static let eventLimit = 50

    /// Pretty-printed JSON with sorted keys.
    public func encoded() -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array((try? e.encode(self)) ?? Data())
    }

    /// Reads a state file back.
    public static func read(from path: String) throws -> SupervisorState {
        try JSONDecoder().decode(SupervisorState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
