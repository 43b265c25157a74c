#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Talks to systemd's notify socket (`sd_notify` without libsystemd): `READY=1`, `STATUS=...`,
/// `WATCHDOG=1`, `EXTEND_TIMEOUT_USEC=...`, `STOPPING=1`.
///
/// The socket is an AF_UNIX datagram socket named by `$NOTIFY_SOCKET`; a leading `@` means the
/// abstract namespace (the `@` becomes a NUL byte and the name is not NUL-terminated).
public final class SystemdNotifier {
    public let socketName: String
    /// Seconds between `WATCHDOG=1` messages: half of `$WATCHDOG_USEC`, or nil when systemd
    /// does not watch this process.
    public let watchdogInterval: Double?
    private let fd: Int32

    /// A notifier for this process, or nil when `$NOTIFY_SOCKET` is not set (not under systemd).
    public convenience init?(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        var interval: Double?
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            let forUs = environment["WATCHDOG_PID"].flatMap(Int32.init).map { $0 == getpid() } ?? true
            if forUs { interval = Double(usec) / 2e6 }
        }
        try self.init(socketName: name, watchdogInterval: interval)
    }

    /// A notifier for an explicit socket name (a path, or `@name` for the abstract namespace).
    public init(socketName: String, watchdogInterval: Double? = nil) throws {
        guard socketName.hasPrefix("/") || socketName.hasPrefix("@") else {
            throw NotifyError("NOTIFY_SOCKET must be an absolute path or start with @, not `\(socketName)`")
        }
        guard socketName.utf8.count <= 107 else { throw NotifyError("NOTIFY_SOCKET is longer than 107 bytes") }
        self.socketName = socketName
        self.watchdogInterval = watchdogInterval
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NotifyError("cannot create a datagram socket: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Sends one datagram of newline-separated `KEY=VALUE` assignments.
    public func send(_ assignments: [String]) throws {
        let message = Array(assignments.joined(separator: "\n").utf8)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let name = Array(socketName.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in name.enumerated() { raw[i] = (i == 0 && abstract) ? 0 : b }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        // Abstract names are exactly their bytes; paths include the terminating NUL.
        let length = socklen_t(pathOffset + name.count + (abstract ? 0 : 1))
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                // Never block the supervision loop: if systemd is not reading, drop the message.
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sa, length) }
            }
        }
        guard sent == message.count else {
            throw NotifyError("cannot send to \(socketName): \(String(cString: strerror(errno)))")
        }
    }

    /// `READY=1` with a status line.
    public func ready(status: String) throws { try send(["READY=1", "STATUS=" + Self.oneLine(status)]) }
    /// A status line for `systemctl status`.
    public func status(_ text: String) throws { try send(["STATUS=" + Self.oneLine(text)]) }
    /// The keep-alive for `WatchdogSec=`.
    public func watchdog() throws { try send(["WATCHDOG=1"]) }
    /// Asks for `seconds` more before the start (or stop) times out.
    public func extendTimeout(seconds: Double) throws {
        try send(["EXTEND_TIMEOUT_USEC=\(UInt64(max(0, seconds) * 1e6))"])
    }
    /// Says the service is shutting down.
    public func stopping(status: String) throws { try send(["STOPPING=1", "STATUS=" + Self.oneLine(status)]) }

    static func oneLine(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: " ") }
}

/// The notify socket could not be used.
public struct NotifyError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
