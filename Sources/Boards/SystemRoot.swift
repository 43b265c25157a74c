import Foundation

/// Where `/proc` and `/sys` are read from: `/` on the machine itself, or a directory holding a
/// synthetic tree (`DIR/proc/cpuinfo`, `DIR/sys/devices/system/cpu/...`) so detection, `doctor`
/// and the fit check can be run for a board this process is not running on.
///
/// Every read names the file it tried, so a missing or unreadable file becomes a clear message.
public struct SystemRoot: Sendable, Equatable {
    /// The directory that stands for `/` (no trailing slash, except for `/` itself).
    public let path: String

    /// The machine this process runs on.
    public static let host = SystemRoot(validated: "/")

    /// A root at `path`; it must be a directory.
    public init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw BoardsError.badRoot("--sysfs-root \(path) is not a directory")
        }
        var p = URL(fileURLWithPath: path).standardizedFileURL.path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.init(validated: p)
    }

    private init(validated path: String) { self.path = path }

    /// The root named by `$GEMMA_EDGE_SYSFS_ROOT` when set and non-empty, else the host.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> SystemRoot {
        guard let p = env["GEMMA_EDGE_SYSFS_ROOT"], !p.isEmpty else { return .host }
        return try SystemRoot(path: p)
    }

    /// True when this root is the running machine's own `/`.
    public var isHost: Bool { path == "/" }

    /// The real path of `absolute` (for example `/proc/cpuinfo`) under this root.
    public func resolve(_ absolute: String) -> String {
        let rel = absolute.hasPrefix("/") ? String(absolute.dropFirst()) : absolute
        return isHost ? "/" + rel : path + "/" + rel
    }

    /// Whether `absolute` exists under this root.
    public func exists(_ absolute: String) -> Bool {
        FileManager.default.fileExists(atPath: resolve(absolute))
    }

    /// The text of `absolute`; throws `BoardsError.unreadable` naming the file when it is missing
    /// or unreadable. Reads at most `limit` bytes (sysfs and procfs files are small).
    public func read(_ absolute: String, limit: Int = 1 << 20) throws -> String {
        let real = resolve(absolute)
        guard let h = FileHandle(forReadingAtPath: real) else {
            let why = FileManager.default.fileExists(atPath: real) ? "not readable" : "missing"
            throw BoardsError.unreadable(path: real, why)
        }
        defer { try? h.close() }
        let data: Data
        do {
            data = try h.read(upToCount: limit) ?? Data()
        } catch {
            throw BoardsError.unreadable(path: real, "read failed: \(error.localizedDescription)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The text of `absolute`, or nil when it does not exist or cannot be read.
    public func readIfPresent(_ absolute: String) -> String? { try? read(absolute) }

    /// A device-tree string property: NUL-separated strings, returned without the NULs.
    public func deviceTreeStrings(_ absolute: String) -> [String] {
        guard let s = readIfPresent(absolute) else { return [] }
        return s.split(separator: "\0", omittingEmptySubsequences: true)
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
    }

    /// One integer from a single-value sysfs file (`cpu_capacity`, `temp`, `scaling_cur_freq`).
    /// Throws when the file is missing or holds anything but one integer.
    public func integer(_ absolute: String) throws -> Int {
        let text = try read(absolute, limit: 4096).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let v = Int(text) else {
            throw BoardsError.garbage(path: resolve(absolute), "expected one integer, found \(Self.quote(text))")
        }
        return v
    }

    /// The entries of directory `absolute` whose names start with `prefix`, sorted by the number
    /// that follows the prefix (cpu2 before cpu10); empty when the directory is missing.
    public func numberedEntries(_ absolute: String, prefix: String) -> [(name: String, number: Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: resolve(absolute))) ?? []
        return names.compactMap { name -> (String, Int)? in
            guard name.hasPrefix(prefix), let n = Int(name.dropFirst(prefix.count)) else { return nil }
            return (name, n)
        }.sorted { $0.1 < $1.1 }.map { (name: $0.0, number: $0.1) }
    }

    /// A short, printable rendering of a value read from a file, for error messages.
    static func quote(_ s: String) -> String {
        let cut = s.count > 40 ? String(s.prefix(40)) + "..." : s
        return "\"" + cut.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\0", with: "\\0") + "\""
    }
}

/// Why board detection, a profile, the thread choice or the fit check failed.
public enum BoardsError: Error, CustomStringConvertible, Equatable {
    /// `--sysfs-root` is not a directory.
    case badRoot(String)
    /// A file that had to be read is missing or unreadable.
    case unreadable(path: String, String)
    /// A file held something that is not what the kernel writes there.
    case garbage(path: String, String)
    /// A board profile is malformed or inconsistent.
    case badProfile(file: String, String)
    /// No profile has the requested name, or no profiles were found.
    case unknownBoard(String)
    /// `--threads` / `--cores` cannot be satisfied.
    case badCores(String)
    /// Another option is out of range.
    case badOption(String)
    /// The model does not fit in the memory available (the message says what to change).
    case doesNotFit(String)

    public var description: String {
        switch self {
        case .badRoot(let m), .unknownBoard(let m), .badCores(let m), .badOption(let m), .doesNotFit(let m): return m
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        case .garbage(let p, let why): return "unexpected contents in \(p): \(why)"
        case .badProfile(let f, let why): return "board profile \(f): \(why)"
        }
    }
}
