import GGUF

/// How the rows of a KV cache are stored. Attention scores and outputs stay f32 whatever the type;
/// only the cached keys and values are narrower, and against f16 keys the query is rounded to f16
/// first, as llama.cpp does (that rounding moved the ctx 512 golden perplexity from 0.67 % off the
/// peer's to 0.01 %). Against q8 keys the query stays f32 (llama.cpp quantises it to q8_0).
///
/// - f32: 4 bytes an element, exact (a reference).
/// - f16: 2 bytes an element; what llama.cpp stores by default (`--cache-type-k/v f16`).
/// - q8: ggml's q8_0 layout, blocks of 32 int8 quants with one f16 scale (34 bytes per 32
///   elements, about 1.06 bytes an element); blocks never cross heads (the head size must be a
///   multiple of 32), so every head of every position has its own scales.
///
/// The type chosen applies to the global layers, whose cache grows with the context. Local rings
/// are f16 for f16 and q8 (they hold at most `window` positions, so narrowing them further saves
/// little, and f16 is what llama.cpp keeps there too) and f32 for f32.
public enum KVType: String, CaseIterable, Sendable, Codable {
    case f32, f16, q8

    /// The tensor type of a stored row.
    public var tensorType: TensorType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .q8: return .q8_0
        }
    }

    /// The type of the local rings in a cache whose global layers use this type.
    public var localRing: KVType { self == .f32 ? .f32 : .f16 }

    /// Bytes of one stored row of `n` elements (`n` a multiple of 32 for q8).
    public func rowBytes(_ n: Int) -> Int { tensorType.rowBytes(n) ?? -1 }

    /// Whether rows of this type can hold heads of `headDim` elements.
    public func fits(headDim: Int) -> Bool { self != .q8 || headDim % 32 == 0 }
}

/// Keys and values of every layer for one sequence.
///
/// A local (sliding-window) layer only ever needs the last `window` positions, so its cache is a
/// ring of exactly `min(window, context)` slots whose size never depends on the context; a global
/// layer keeps `context` slots. Position `p` lives in slot `p % capacity`. A slot holds one row of
/// `kvDim` elements in the layer's `KVType` (`kvType` for global layers, `kvType.localRing` for
/// local ones).
public final class KVCache: @unchecked Sendable {
    public let config: Gemma3Config
    public let context: Int
    /// The storage type of the global layers (the local rings use `kvType.localRing`).
    public let kvType: KVType
    /// Positions filled so far (the next token goes at this position).
    public internal(set) var length = 0
    /// The oldest position the local rings are sure to hold: 0, except after restoring a snapshot
    /// saved with smaller rings (a plain session's into a speculative or vision one), whose slots
    /// reached back fewer positions than these do; `canTruncate` never cuts back to where a
    /// window would need a position before it.
    public internal(set) var ringFloor = 0
    let keys: [UnsafeMutableRawPointer]
    let values: [UnsafeMutableRawPointer]
    let capacity: [Int]
    /// Storage type of each layer.
    let types: [KVType]
    /// Bytes of one slot (kvDim elements) of each layer.
    let rowBytes: [Int]
    /// Vision hook: local rings hold window + span - 1 slots, so a session can still cut its cache
    /// back to before an image of `span` soft tokens (see `canTruncate`) after evaluating it.
    public let bidirectionalSpan: Int
    /// Speculative decoding: positions a verification batch may drop again (see `canTruncate`);
    /// local rings hold at least window + rollback - 1 slots.
    public let rollback: Int
    /// Slots of the smallest local ring (nil without local layers), for `canTruncate`, which a
    /// speculative session calls per verification (so it must not allocate).
    private let smallestRing: Int?

    /// - Parameter localRing: false gives local layers a full-context cache too (a reference for
    ///   tests; results must not change).
    /// - Parameter bidirectionalSpan: vision hook: local rings get window + span - 1 slots, so an
    ///   image's soft tokens (one batch of `span`) can be dropped again while the ring still holds
    ///   what came before them. The model itself needs only `window` slots for any batch.
    /// - Parameter kvType: how the global layers store their rows (see `KVType`); q8 needs a head
    ///   size that is a multiple of 32.
    /// - Parameter rollback: speculative decoding: local rings get window + rollback - 1 slots, so
    ///   the last `rollback` positions (rejected drafts) can always be dropped again.
    public init(config: Gemma3Config, context: Int, localRing: Bool = true, bidirectionalSpan: Int = 0,
                kvType: KVType = .f16, rollback: Int = 0) {
        precondition(context >= 1)
        precondition(kvType.fits(headDim: config.headDim), "q8 KV rows need a head size that is a multiple of 32")
        self.config = config
        self.context = context
        self.kvType = kvType
        self.bidirectionalSpan = bidirectionalSpan  // vision hook
        self.rollback = rollback
        var keys: [UnsafeMutableRawPointer] = []
        var values: [UnsafeMutableRawPointer] = []
        var capacity: [Int] = []
        var types: [KVType] = []
        var rowBytes: [Int] = []
        for layer in 0..<config.blockCount {
            let slots = Self.slots(config: config, layer: layer, context: context, localRing: localRing,
                                   span: max(bidirectionalSpan, rollback))
            let type = config.isGlobal(layer: layer) ? kvType : kvType.localRing
            let row = type.rowBytes(config.kvDim)
            capacity.append(slots)
            types.append(type)
            rowBytes.append(row)
            func zeroed() -> UnsafeMutableRawPointer {
                let p = UnsafeMutableRawPointer.allocate(byteCount: slots * row, alignment: 64)
                p.initializeMemory(as: UInt8.self, repeating: 0, count: slots * row)
                return p
            }
            keys.append(zeroed())
            values.append(zeroed())
        }
        self.keys = keys
        self.values = values
        self.capacity = capacity
        self.types = types
        self.rowBytes = rowBytes
        smallestRing = (0..<config.blockCount).filter { !config.isGlobal(layer: $0) }.map { capacity[$0] }.min()
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Forgets every position (a fresh sequence).
    public func reset() {
        length = 0
        ringFloor = 0
    }

    /// Drops positions from `newLength` on (for example, to re-use a shared prefix).
    public func truncate(to newLength: Int) {
        precondition(canTruncate(to: newLength), "truncating would lose keys still inside a local window")
        length = newLength
        if newLength == 0 { ringFloor = 0 }
    }

    /// Whether `truncate(to:)` keeps every key the next position needs. The query at position n
    /// sees keys n - window < j < n; a position p in n..<length overwrote the ring slot of
    /// p - capacity, so those keys survive when length - capacity <= n - window + 1, that is when
    /// at most capacity - window + 1 positions are dropped (one for a ring of exactly `window`
    /// slots, `rollback` for a speculative session's), when the ring never wrapped, or when nothing
    /// is kept.
    /// After a restore from smaller rings, positions before `ringFloor` were never in these rings,
    /// so the next position's window must start at or after it.
    public func canTruncate(to n: Int) -> Bool {
        guard n >= 0, n <= length else { return false }
        if n == 0 { return true }  // nothing is kept, so nothing can be missing
        guard let ring = smallestRing else { return true }
        guard max(0, n - config.slidingWindow + 1) >= ringFloor else { return false }
        return length - n <= ring - config.slidingWindow + 1 || length <= ring
    }

    /// Bytes held by local rings and global caches.
    public var bytes: (local: Int, global: Int) {
        Self.bytes(config: config, context: context, bidirectionalSpan: max(bidirectionalSpan, rollback), kvType: kvType)
    }

    /// Slots of `layer`: the context for global layers (and for every layer without rings), the
    /// window plus `span` - 1 (a bidirectional span or a speculative rollback) for local rings.
    static func slots(config: Gemma3Config, layer: Int, context: Int, localRing: Bool, span: Int) -> Int {
        config.isGlobal(layer: layer) || !localRing
            ? context : min(config.slidingWindow + max(0, span - 1), context)
    }

    /// Bytes a cache for `context` positions takes, without making one.
    public static func bytes(config: Gemma3Config, context: Int, localRing: Bool = true,
                             bidirectionalSpan: Int = 0, kvType: KVType = .f16) -> (local: Int, global: Int) {  // vision hook
        var local = 0, global = 0
        for layer in 0..<config.blockCount {
            let isGlobal = config.isGlobal(layer: layer)
            let slots = Self.slots(config: config, layer: layer, context: context, localRing: localRing,
                                   span: bidirectionalSpan)
            let b = 2 * slots * (isGlobal ? kvType : kvType.localRing).rowBytes(config.kvDim)
            if isGlobal { global += b } else { local += b }
        }
        return (local, global)
    }

    @inline(__always) func keyRow(layer: Int, position: Int) -> UnsafeMutableRawPointer {
        keys[layer] + (position % capacity[layer]) * rowBytes[layer]
    }

    @inline(__always) func valueRow(layer: Int, position: Int) -> UnsafeMutableRawPointer {
        values[layer] + (position % capacity[layer]) * rowBytes[layer]
    }
}
