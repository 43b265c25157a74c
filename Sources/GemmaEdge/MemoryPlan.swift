import GGUF
import Gemma3

/// The memory a model needs at a given context, by component, computed from the file alone
/// (nothing is loaded): what `inspect --memory` prints and what the fit check compares with the
/// memory available.
public struct MemoryPlan: Sendable, Equatable {
    /// Weight tensors, mapped from the file (page cache, shared, evictable).
    public var weightsMapped: Int
    /// The repacked weight arena (0 while weights are read in their file layout).
    public var repackedArena: Int
    /// Local-layer KV rings: the same for every context length above the window.
    public var localKV: Int
    /// Global-layer KV cache: grows with the context.
    public var globalKV: Int
    /// Activations, quantised inputs, attention scores and the logits of one step.
    public var scratch: Int

    public var kvTotal: Int { localKV + globalKV }
    public var total: Int { weightsMapped + repackedArena + localKV + globalKV + scratch }

    public init(weightsMapped: Int, repackedArena: Int, localKV: Int, globalKV: Int, scratch: Int) {
        self.weightsMapped = weightsMapped
        self.repackedArena = repackedArena
        self.localKV = localKV
        self.globalKV = globalKV
        self.scratch = scratch
    }

    /// The plan for `file` with a context of `context` tokens, prompt batches of `batch` and KV rows
    /// of `kvType` (the bytes the cache really allocates for that type).
    public init(file: GGUFFile, context: Int, batch: Int = 64, kvType: KVType = .f16) throws {
        let config = try Gemma3Config(file: file)
        let kv = KVCache.bytes(config: config, context: context, kvType: kvType)
        self.init(weightsMapped: file.tensors.reduce(0) { $0 + $1.byteCount }, repackedArena: 0,
                  localKV: kv.local, globalKV: kv.global,
                  scratch: Gemma3Model.scratchBytes(config: config, maxBatch: batch, maxContext: context)
                      + config.vocabularySize * MemoryLayout<Float>.size)
    }

    /// What a cache giving every layer the whole context would take (the design without rings).
    public static func kvWithoutRings(file: GGUFFile, context: Int, kvType: KVType = .f16) throws -> Int {
        let b = KVCache.bytes(config: try Gemma3Config(file: file), context: context, localRing: false, kvType: kvType)
        return b.local + b.global
    }

    /// The figures by name, in bytes (for JSON).
    public var components: [(String, Int)] {
        [("weights_mapped", weightsMapped), ("repacked_arena", repackedArena), ("local_kv", localKV),
         ("global_kv", globalKV), ("scratch", scratch), ("total", total)]
    }
}
