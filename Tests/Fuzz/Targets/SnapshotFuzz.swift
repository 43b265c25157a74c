import Gemma3
import GGUF
import TestSupport

/// The session snapshot reader. The cache is a TinyGemma layout small enough that a valid
/// snapshot is a few kilobytes (7 layers, one local ring of 4 slots per local layer, a context of
/// 16, 8 floats per slot). Properties: a refused snapshot leaves the cache as it was; an accepted
/// one fills it with exactly the tokens it says, within the context.
final class SnapshotFuzz: @unchecked Sendable {
    static let shared: SnapshotFuzz = {
        do { return try SnapshotFuzz() } catch { fatalError("the snapshot fuzz target cannot build its model: \(error)") }
    }()

    /// The identity snapshots must carry to be accepted.
    static let model = "tiny-fuzz"
    static let logitCount = 8

    /// The model the snapshots belong to, written by TestSupport and read back by the GGUF reader.
    static func tinyModel() -> TinyGemma {
        var g = TinyGemma()
        g.blocks = 7
        g.embedding = 16
        g.feedForward = 16
        g.heads = 1
        g.kvHeads = 1
        g.headDim = 8
        g.window = 4
        g.context = 16
        return g
    }

    let file: GGUFFile
    let cache: KVCache
    var logits = [Float](repeating: 0, count: SnapshotFuzz.logitCount)

    init() throws {
        let bytes = Self.tinyModel().serialize()
        file = try bytes.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "tiny.gguf")) }
        cache = KVCache(config: try Gemma3Config(file: file), context: 16)
    }

    /// True when the snapshot was restored.
    func run(_ data: [UInt8]) throws -> Bool {
        cache.reset()
        let before = cache.length
        let restored: [Int32]
        do {
            restored = try data.withUnsafeBytes { b in
                try logits.withUnsafeMutableBufferPointer { l in
                    try cache.restoreSnapshot(bytes: b, name: "fuzz.snapshot", logits: l, model: Self.model)
                }
            }
        } catch is SnapshotError {
            guard cache.length == before else {
                throw FuzzTarget.snapshot.finding("a refused snapshot changed the cache length to \(cache.length)")
            }
            return false
        }
        guard restored.count == cache.length, (0...cache.context).contains(cache.length) else {
            throw FuzzTarget.snapshot.finding("restored \(restored.count) tokens into a cache of length \(cache.length)")
        }
        return true
    }
}
