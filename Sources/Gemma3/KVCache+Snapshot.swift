import Base
import GGUF

#if canImport(Glibc)
import Glibc
#endif

/// Session snapshots: the whole KV state (local rings, global caches, length) plus the tokens that
/// produced it, in one file written atomically (temp file, fsync, rename, fsync directory) and
/// read back through a mapping. A snapshot only restores into a cache of the same model identity,
/// layer layout and context; anything else is refused with a clear error.
///
/// Layout (format 2, little-endian): magic "GESNAP02", u64 header length, header JSON, padding to
/// 64, then u32 tokens, padding to 64, then for each layer its key slots then its value slots
/// (rows of the layer's KV type, as the cache holds them), then the logits after the last token
/// (f32), so a restored session can sample at once, and last the CRC32C of every byte before it
/// (u32). The checksum is verified before anything else is read, so a flipped bit anywhere is a
/// refusal, never a silently wrong state. Format 1 ("GESNAP01", no checksum) is refused with a
/// message saying so. The header names the KV type (`kv`). A snapshot of another KV type is
/// refused rather than converted: converting q8 to f16 cannot restore the precision the q8 rows
/// lost, so the restored session would not be the one that was saved.
public struct SnapshotError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct SnapshotHeader: Codable, Equatable, Sendable {
    public var model: String
    public var layers: Int
    public var kvDim: Int
    public var window: Int
    public var pattern: Int
    public var context: Int
    public var length: Int
    public var tokens: Int
    public var slots: [Int]
    public var logits: Int
    /// The KV type of the global layers (`KVType.rawValue`); nil in snapshots from before KV types,
    /// which are f32.
    public var kv: String?
    /// Positions filled from embeddings rather than token ids (image soft tokens); absent in
    /// snapshots without any.
    public var spans: [SnapshotSpan]?
}

/// A run of positions evaluated from embeddings (an image's soft tokens, one bidirectional batch),
/// with a key naming what was encoded (the session's hash of the projector and the pixels), so a
/// restored session can tell whether a new prompt's image is the one its cache holds.
public struct SnapshotSpan: Codable, Equatable, Sendable {
    public var start: Int
    public var count: Int
    public var key: String

    public init(start: Int, count: Int, key: String) {
        self.start = start
        self.count = count
        self.key = key
    }
}

extension KVCache {
    static let snapshotMagic = Array("GESNAP02".utf8)
    /// The magic of format 1 (no checksum), recognised only to refuse it clearly.
    static let snapshotMagicV1 = Array("GESNAP01".utf8)

    func snapshotHeader(model: String, tokens: Int, logits: Int) -> SnapshotHeader {
        SnapshotHeader(model: model, layers: config.blockCount, kvDim: config.kvDim, window: config.slidingWindow,
                       pattern: config.slidingWindowPattern, context: context, length: length, tokens: tokens,
                       slots: capacity, logits: logits, kv: kvType.rawValue, spans: nil)
    }

    /// Saves the cache, `tokens` (which must be what the cache holds) and the logits after the
    /// last of them to `path`, atomically. `model` identifies the weights (`GGUFFile.identity`).
    /// `spans` are the positions evaluated from embeddings (see `SnapshotSpan`).
    public func saveSnapshot(to path: String, tokens: [Int32], logits: UnsafeBufferPointer<Float>, model: String,
                             spans: [SnapshotSpan] = []) throws {
        precondition(tokens.count == length, "the tokens must be those the cache holds")
        var fields = snapshotHeader(model: model, tokens: tokens.count, logits: logits.count)
        fields.spans = spans.isEmpty ? nil : spans
        let header = try JSONEncoder().encode(fields)
        do {
            try AtomicFile.write(to: path) { sink in
                var crc: UInt32 = 0
                func put(_ p: UnsafeRawPointer, _ n: Int) {
                    let bytes = UnsafeRawBufferPointer(start: p, count: n)
                    crc = CRC32C.checksum(bytes, continuing: crc)
                    sink.put(bytes)
                }
                let zeros = [UInt8](repeating: 0, count: 64)
                func pad() {
                    let rem = sink.count % 64
                    if rem != 0 { zeros.withUnsafeBytes { put($0.baseAddress!, 64 - rem) } }
                }
                Self.snapshotMagic.withUnsafeBytes { put($0.baseAddress!, 8) }
                withUnsafeBytes(of: UInt64(header.count).littleEndian) { put($0.baseAddress!, 8) }
                header.withUnsafeBytes { put($0.baseAddress!, header.count) }
                pad()
                tokens.withUnsafeBytes { if $0.count > 0 { put($0.baseAddress!, $0.count) } }
                pad()
                for layer in 0..<config.blockCount {
                    put(keys[layer], capacity[layer] * rowBytes[layer])
                    put(values[layer], capacity[layer] * rowBytes[layer])
                }
                put(logits.baseAddress!, logits.count * 4)
                withUnsafeBytes(of: crc.littleEndian) { sink.put($0) }
            }
        } catch let e as GGUFError {
            throw SnapshotError("cannot write snapshot \(path): \(e.message)")
        }
    }

    /// Restores a snapshot saved from the same model and layout into this cache and `logits`;
    /// returns its tokens.
    public func restoreSnapshot(from path: String, logits: UnsafeMutableBufferPointer<Float>, model: String) throws -> [Int32] {
        try restoreSnapshotState(from: path, logits: logits, model: model).tokens
    }

    /// `restoreSnapshot`, also returning the spans evaluated from embeddings (checked to lie
    /// inside the restored positions, in order and without overlap).
    public func restoreSnapshotState(from path: String, logits: UnsafeMutableBufferPointer<Float>,
                                     model: String) throws -> (tokens: [Int32], spans: [SnapshotSpan]) {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw SnapshotError("cannot read snapshot: \(error)") }
        return try restoreSnapshotState(bytes: file.bytes, name: path, logits: logits, model: model)
    }

    /// Restores a snapshot from its bytes (`name` only labels errors); returns its tokens.
    public func restoreSnapshot(bytes b: UnsafeRawBufferPointer, name path: String,
                                logits: UnsafeMutableBufferPointer<Float>, model: String) throws -> [Int32] {
        try restoreSnapshotState(bytes: b, name: path, logits: logits, model: model).tokens
    }

    /// Restores a snapshot from its bytes (`name` only labels errors). Every length and count in
    /// the file is checked against the bytes present and this cache's layout before anything is
    /// copied; on any error the cache and `logits` are left as they were.
    public func restoreSnapshotState(bytes b: UnsafeRawBufferPointer, name path: String,
                                     logits: UnsafeMutableBufferPointer<Float>,
                                     model: String) throws -> (tokens: [Int32], spans: [SnapshotSpan]) {
        guard b.count >= 8, Array(b[0..<8]) != Self.snapshotMagicV1 else {
            throw SnapshotError("\(path) is a snapshot of format 1 (an older GemmaEdge, without a checksum), which this "
                                + "version does not restore: delete it and it is saved again")
        }
        guard b.count >= 20, Array(b[0..<8]) == Self.snapshotMagic else {
            throw SnapshotError("\(path) is not a GemmaEdge session snapshot")
        }
        // The checksum first: nothing of a damaged file is trusted, not even its header.
        let stored = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: b.count - 4, as: UInt32.self))
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 4)]))
        guard stored == computed else {
            throw SnapshotError("\(path) fails its checksum (stored \(String(stored, radix: 16)), computed "
                                + "\(String(computed, radix: 16))): the file is corrupt; delete it and it is saved again")
        }
        let rawHeaderLength = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard rawHeaderLength <= UInt64(b.count - 20) else { throw SnapshotError("\(path): truncated header") }
        let headerLength = Int(rawHeaderLength)
        let header: SnapshotHeader
        do {
            header = try JSONDecoder().decode(SnapshotHeader.self, from: Data(b[16..<(16 + headerLength)]))
        } catch {
            throw SnapshotError("\(path): unreadable header (\(error))")
        }
        let expected = snapshotHeader(model: model, tokens: header.tokens, logits: logits.count)
        guard header.model == model else {
            throw SnapshotError("\(path) was saved from another model (\(header.model)); this one is \(model)")
        }
        let savedType = header.kv ?? KVType.f32.rawValue
        guard savedType == kvType.rawValue else {
            throw SnapshotError("\(path) holds \(savedType) KV rows but this session stores \(kvType.rawValue): restore with "
                                + "--kv-type \(savedType)")
        }
        guard header.layers == expected.layers, header.kvDim == expected.kvDim, header.window == expected.window,
              header.pattern == expected.pattern, header.slots.count == expected.slots.count, header.context == context,
              header.logits == logits.count else {
            throw SnapshotError("\(path) has another cache layout (context \(header.context)); this session's context "
                                + "is \(context): restore with the same --ctx")
        }
        // Local rings may differ in size (a speculative session's or a vision one's are longer by
        // k - 1 or an image's span - 1 slots): any ring of at least a window is restored, position
        // by position. Global layers keep the whole context on both sides.
        for layer in 0..<config.blockCount where header.slots[layer] != capacity[layer] {
            guard !config.isGlobal(layer: layer),
                  (min(config.slidingWindow, context)...context).contains(header.slots[layer]) else {
                throw SnapshotError("\(path): layer \(layer) holds \(header.slots[layer]) slots, which no cache of this "
                                    + "model at --ctx \(context) has")
            }
        }
        guard header.length == header.tokens, (0...context).contains(header.length) else {
            throw SnapshotError("\(path): inconsistent lengths (\(header.length) cached, \(header.tokens) tokens, "
                                + "context \(context))")
        }
        // Spans in order, inside 0..<length, without overlap; compared so that no sum can overflow
        // (a count of 2^63 - 1 must not wrap into range).
        let spans = header.spans ?? []
        var end = 0
        for span in spans {
            guard span.start >= end, span.start <= header.length, span.count >= 1,
                  span.count <= header.length - span.start else {
                throw SnapshotError("\(path): inconsistent embedding spans")
            }
            end = span.start + span.count
        }
        func align(_ x: Int) -> Int { (x + 63) / 64 * 64 }
        let tokensAt = align(16 + headerLength)
        let kvAt = align(tokensAt + 4 * header.tokens)
        let saved = header.slots
        let kvBytes = (0..<config.blockCount).reduce(0) { $0 + 2 * saved[$1] * rowBytes[$1] }
        let logitsAt = kvAt + kvBytes
        let logitsEnd = logitsAt + 4 * logits.count
        guard logitsEnd + 4 == b.count else {
            throw SnapshotError("\(path) is \(b.count) bytes, expected \(logitsEnd + 4): truncated or corrupt")
        }
        let savedLogits = UnsafeRawBufferPointer(rebasing: b[logitsAt..<logitsEnd])
        guard NonFinite.firstIndex(float32: savedLogits) == nil else {
            throw SnapshotError("\(path) holds logits that are not finite numbers: the session that saved it was broken")
        }
        var tokens = [Int32](repeating: 0, count: header.tokens)
        tokens.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[tokensAt..<(tokensAt + 4 * header.tokens)])) }
        var at = kvAt
        let length = header.length
        for layer in 0..<config.blockCount {
            let row = rowBytes[layer], n = saved[layer] * row
            for (ours, theirs) in [(keys[layer], b.baseAddress! + at), (values[layer], b.baseAddress! + at + n)] {
                if saved[layer] == capacity[layer] {
                    ours.copyMemory(from: theirs, byteCount: n)
                } else {
                    // Position p is in slot p % slots on both sides; the last positions both hold.
                    for p in (length - min(length, saved[layer], capacity[layer]))..<length {
                        (ours + (p % capacity[layer]) * row).copyMemory(from: theirs + (p % saved[layer]) * row, byteCount: row)
                    }
                }
            }
            at += 2 * n
        }
        UnsafeMutableRawBufferPointer(logits).copyMemory(from: savedLogits)
        self.length = length
        // Positions before the smallest saved ring's reach were not in the snapshot.
        let reach = (0..<config.blockCount).filter { !config.isGlobal(layer: $0) }.map { saved[$0] }.min()
        ringFloor = reach.map { length - min(length, $0) } ?? 0
        return (tokens, spans)
    }
}

import Foundation
