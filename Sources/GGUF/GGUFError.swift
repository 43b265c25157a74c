/// Why a GGUF file was refused. Every case names the file and where the problem is, so a user
/// can tell a truncated download from a file made for another runtime.
public struct GGUFError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case io, badMagic, badVersion, truncated, overflow, badValue, badKey, badTensor
        case missingKey, wrongType, unsupportedType, missingTensor
    }
    public let kind: Kind
    public let file: String
    /// Byte offset in the file where the problem was found, when it has one.
    public let offset: Int?
    public let message: String

    public init(_ kind: Kind, file: String, offset: Int? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.offset = offset
        self.message = message
    }

    public var description: String {
        if let offset { return "\(file): at byte \(offset): \(message)" }
        return "\(file): \(message)"
    }
}
