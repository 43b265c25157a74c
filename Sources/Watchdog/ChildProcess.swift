import Base
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A supervised child process: started with `posix_spawnp` in its own process group, with
/// default signal dispositions and an empty signal mask (the supervisor's signal handling,
/// which ignores SIGTERM and SIGINT to receive them another way, must not be inherited), and
/// without the systemd notify variables (only the supervisor talks to systemd).
public final class ChildProcess {
    /// The child's process id (also its process group id).
    public let pid: pid_t
    public let arguments: [String]
    /// Set once `poll()` has reaped the child.
    public private(set) var termination: Termination?

    /// How the child ended.
    public enum Termination: Equatable, CustomStringConvertible, Sendable {
        case exited(Int32)
        case signalled(Int32)

        public var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signalled(let sig): return "was killed by signal \(sig) (\(String(cString: strsignal(sig))))"
            }
        }
    }

    /// Environment variables the child must not see.
    static let privateVariables: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// Starts `arguments[0]` (looked up in `PATH`) with `arguments`.
    public init(arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let program = arguments.first, !program.isEmpty else { throw ChildError("no command to run") }
        self.arguments = arguments
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in 1..<32 where sig != SIGKILL && sig != SIGSTOP { sigaddset(&defaults, Int32(sig)) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        var environment = environment.filter { !Self.privateVariables.contains($0.key) }
        environment[SupervisorLink.variable] = String(getpid())
        let env = environment.map { "\($0.key)=\($0.value)" }
        var cArgs = arguments.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, program, nil, &attr, &cArgs, &cEnv)
        guard rc == 0 else { throw ChildError("cannot start \(program): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Sends `sig` to the child's whole process group (so a shell wrapper's children get it too).
    public func signal(_ sig: Int32) {
        guard termination == nil else { return }
        if kill(-pid, sig) != 0 { kill(pid, sig) }
    }

    /// Reaps the child if it has ended (never blocks); returns how it ended, or nil while it runs.
    @discardableResult
    public func poll() -> Termination? {
        if let termination { return termination }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        guard rc == pid else { return nil }
        let low = status & 0x7F
        termination = low == 0 ? .exited((status >> 8) & 0xFF) : .signalled(low)
        return termination
    }

    /// SIGTERM (and SIGCONT, so a stopped child can act on it), then SIGKILL after `grace`
    /// seconds; blocks until the child is reaped. `whileWaiting` runs every 50 ms (keep-alives).
    public func terminate(grace: Double, whileWaiting: () -> Void = {}) -> Termination {
        signal(SIGTERM)
        signal(SIGCONT)
        let deadline = monotonicSeconds() + grace
        var killed = false
        while true {
            if let t = poll() { return t }
            if !killed && monotonicSeconds() >= deadline {
                signal(SIGKILL)
                killed = true
            }
            whileWaiting()
            usleep(50_000)
        }
    }

    /// Resident memory in MiB (`VmRSS` in /proc/PID/status), or nil when unreadable.
    public var residentMegabytes: Double? {
        Self.residentMegabytes(statusFile: "/proc/\(pid)/status")
    }

    /// `VmRSS` of a /proc status file in MiB.
    static func residentMegabytes(statusFile: String) -> Double? {
        guard let text = try? String(contentsOfFile: statusFile, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kb = Double(parts[1]) else { return nil }
            return kb / 1024
        }
        return nil
    }

    /// Whether the child is stopped (by SIGSTOP, or paused for heat).
    public var isStopped: Bool { (try? Self.state(of: pid)) == "T" }

    /// The state letter of a process in /proc/PID/stat (`R`, `S`, `T` for stopped, `Z`, ...).
    public static func state(of pid: pid_t) throws -> String {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = text.lastIndex(of: ")") else { throw ChildError("cannot parse /proc/\(pid)/stat") }
        let rest = text[text.index(after: close)...].trimmingCharacters(in: .whitespaces)
        return rest.first.map { String($0).uppercased() } ?? "?"
    }
}

/// How a supervised `gemma-edge serve` dies with its supervisor, so a restarted supervisor never
/// finds the port taken by an orphan. The supervisor names itself in the child's environment;
/// the child checks four times a second whether that process is still its parent (or, behind
/// a wrapper such as a shell, still alive) and exits at once when not. (`PR_SET_PDEATHSIG` is
/// tied to the thread that forked, and the supervisor forks from a pool thread that may end.)
public enum SupervisorLink {
    public static let variable = "GEMMA_EDGE_SUPERVISOR_PID"

    /// Starts the check when this process was started by a supervisor; does nothing otherwise.
    /// `onOrphaned` runs (then the process exits with status 1) when the supervisor is gone.
    public static func exitWithSupervisor(environment: [String: String] = ProcessInfo.processInfo.environment,
                                          onOrphaned: @escaping @Sendable () -> Void = {}) {
        guard let text = environment[variable], let supervisor = pid_t(text), supervisor > 1 else { return }
        let direct = getppid() == supervisor
        let thread = Thread {
            while true {
                let gone = direct ? getppid() != supervisor : (kill(supervisor, 0) != 0 && errno == ESRCH)
                if gone {
                    onOrphaned()
                    _exit(1)
                }
                usleep(250_000)
            }
        }
        thread.name = "gemma-edge-supervisor-link"
        thread.start()
    }
}

/// A child that could not be started.
public struct ChildError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
