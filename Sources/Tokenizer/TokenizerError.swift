/// Why a vocabulary, model or chat could not be used. The message is meant for the user.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
