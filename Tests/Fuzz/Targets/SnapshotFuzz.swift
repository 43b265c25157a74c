import Gemma3
import GGUF
import TestSupport

/// The session snapshot reader. The cache is a TinyGemma layout small enough that a valid
/// snapshot is a few kilobytes (7 layers, one local ring of 4 slots per local layer, a context of
/// 16, 8 floats per slot). Each input is read twice: as it is, and with its checksum made right
/// (so mutations reach the header and length checks behind it). Properties: a refused snapshot
/// leaves the cache as it was; an accepted one fills it with exactly the tokens it says, within
/// the context, holds finite logits, and is refused again once any one of its bits is flipped.
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

    /// True when the snapshot, with its checksum made right, was restored.
    func run(_ data: [UInt8]) throws -> Bool {
        var input = data
        if data.count >= 20 {
            let crc = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<($0.count - 4)])) }
            withUnsafeBytes(of: crc.littleEndian) { input.replaceSubrange((input.count - 4)..., with: $0) }
        }
        if input != data, try restore(data) {
            throw FuzzTarget.snapshot.finding("a snapshot with a wrong checksum was accepted")
        }
        guard try restore(input) else { return false }
        // One flipped bit anywhere (chosen by the input) must be refused.
        let bit = Int(input.withUnsafeBytes { CRC32C.checksum($0) } % UInt32(input.count * 8))
        var flipped = input
        flipped[bit / 8] ^= UInt8(1 << (bit % 8))
        if try restore(flipped) {
            throw FuzzTarget.snapshot.finding("a snapshot with bit \(bit) flipped was accepted")
        }
        return true
    }

    /// True when the snapshot was restored.
    private func restore(_ data: [UInt8]) throws -> Bool {
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
        guard logits.allSatisfy(\.isFinite) else {
            throw FuzzTarget.snapshot.finding("a restored snapshot holds non-finite logits")
        }
        return true
    }
}
