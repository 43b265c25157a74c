/// Why an image or a vision projector could not be used. Every message names the file and what
/// is wrong with it.
public enum VisionError: Error, CustomStringConvertible, Equatable {
    /// The mmproj file is not a Gemma 3 vision projector.
    case unsupportedProjector(file: String, String)
    case invalidConfig(file: String, String)
    case missingTensor(file: String, name: String)
    case badTensor(file: String, name: String, String)
    /// The projector does not fit the text model it is paired with.
    case mismatch(file: String, String)
    /// An image file that cannot be read, decoded or accepted.
    case badImage(file: String, String)

    public var description: String {
        switch self {
        case .unsupportedProjector(let f, let m): return "\(f): not a Gemma 3 vision projector: \(m)"
        case .invalidConfig(let f, let m): return "\(f): invalid vision projector config: \(m)"
        case .missingTensor(let f, let n): return "\(f): missing tensor '\(n)'"
        case .badTensor(let f, let n, let m): return "\(f): tensor '\(n)': \(m)"
        case .mismatch(let f, let m): return "\(f): does not match the text model: \(m)"
        case .badImage(let f, let m): return "\(f): \(m)"
        }
    }
}
