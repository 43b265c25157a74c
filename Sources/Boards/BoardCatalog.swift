import Foundation

/// The board profiles, read at run time from a directory of JSON files.
///
/// Why files and not compiled-in data: a user can add or adjust a board on the board itself
/// without a Swift toolchain, and the profiles stay plain data that reviews read easily.
/// (SwiftPM resources were the alternative; on Linux `Bundle.module` stops the process when the
/// resource bundle was not copied next to the binary, which is exactly what happens when one
/// cross-built binary is copied to a board.) When no directory is found the catalog is empty and
/// callers fall back to what the CPU topology alone says.
///
/// The directory is, first found wins: `$GEMMA_EDGE_BOARDS`; `<exe>/../share/gemma-edge/boards`
/// (the layout of the Debian package, `/usr/bin` + `/usr/share/gemma-edge/boards`); `<exe>/boards`; `Platforms/boards` in the
/// first ancestor of the executable that has one (a development checkout, where the binary is
/// under `.build/`).
public struct BoardCatalog: Sendable {
    /// Valid profiles, sorted by name.
    public let profiles: [BoardProfile]
    /// The directory they came from, nil when none was found.
    public let directory: String?
    /// Where the catalog looked, in order (for messages).
    public let searched: [String]

    /// Loads every `*.json` in `directory`; any invalid profile is an error naming its file.
    public init(directory: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".json") }.sorted()
        var profiles: [BoardProfile] = []
        for n in names { profiles.append(try BoardProfile.load(file: directory + "/" + n)) }
        guard !profiles.isEmpty else { throw BoardsError.unknownBoard("no board profiles (*.json) in \(directory)") }
        self.profiles = profiles.sorted { $0.name < $1.name }
        self.directory = directory
        self.searched = [directory]
    }

    /// A catalog of the given profiles (tests, and the empty catalog).
    public init(profiles: [BoardProfile], directory: String? = nil, searched: [String] = []) {
        self.profiles = profiles.sorted { $0.name < $1.name }
        self.directory = directory
        self.searched = searched
    }

    /// The directories searched for profiles, in order, for this process.
    public static func candidateDirectories(environment: [String: String] = ProcessInfo.processInfo.environment,
                                            executable: String = CommandLine.arguments.first ?? "") -> [String] {
        var out: [String] = []
        if let e = environment["GEMMA_EDGE_BOARDS"], !e.isEmpty { out.append(e) }
        let exe = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        out.append(exe.deletingLastPathComponent().appendingPathComponent("share/gemma-edge/boards").path)
        out.append(exe.appendingPathComponent("boards").path)
        var dir = exe
        for _ in 0..<8 {
            out.append(dir.appendingPathComponent("Platforms/boards").path)
            let up = dir.deletingLastPathComponent()
            if up.path == dir.path { break }
            dir = up
        }
        return out
    }

    /// The catalog from the first candidate directory that exists. A directory named by
    /// `$GEMMA_EDGE_BOARDS` must exist; invalid profiles are errors; no directory at all gives an
    /// empty catalog (`searched` says where it looked).
    public static func discover(environment: [String: String] = ProcessInfo.processInfo.environment,
                                executable: String = CommandLine.arguments.first ?? "") throws -> BoardCatalog {
        let dirs = candidateDirectories(environment: environment, executable: executable)
        if let e = environment["GEMMA_EDGE_BOARDS"], !e.isEmpty {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: e, isDirectory: &isDir), isDir.boolValue else {
                throw BoardsError.unknownBoard("GEMMA_EDGE_BOARDS=\(e) is not a directory")
            }
        }
        for d in dirs {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue {
                let c = try BoardCatalog(directory: d)
                return BoardCatalog(profiles: c.profiles, directory: d, searched: dirs)
            }
        }
        return BoardCatalog(profiles: [], searched: dirs)
    }

    /// The profile called `name`, or an error listing the names there are.
    public func profile(named name: String) throws -> BoardProfile {
        if let p = profiles.first(where: { $0.name == name }) { return p }
        if profiles.isEmpty {
            throw BoardsError.unknownBoard("--board \(name): no board profiles found (looked in \(searched.joined(separator: ", ")); "
                + "set GEMMA_EDGE_BOARDS to the Platforms/boards directory)")
        }
        throw BoardsError.unknownBoard("--board \(name) is not a known board; known: \(profiles.map(\.name).joined(separator: ", "))")
    }
}
