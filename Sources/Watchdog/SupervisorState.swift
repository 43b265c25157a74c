#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What the supervisor writes to its state file after every change (with `AtomicFile`, so a
/// power cut leaves the old state or the new one): where it stands and the last events, for
/// people and scripts after a reboot or a power cut.
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
