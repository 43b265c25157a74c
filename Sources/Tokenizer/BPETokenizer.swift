/// SentencePiece BPE encoding in pure Swift, id for id what llama.cpp's SPM tokenizer produces.
///
/// Reference: llama.cpp `src/llama-vocab.cpp`, `tokenizer_st_partition` and
/// `llm_tokenizer_spm_session`. The steps:
/// 1. Split the raw text at every occurrence of a user-defined piece, longest pieces first, each
///    occurrence becoming that piece's id (control pieces are never looked for).
/// 2. In each remaining run of text, replace spaces by `▁` (prepending one first when the vocabulary
///    asks for a space prefix and the run starts the input or follows a piece from step 1).
/// 3. Start from one symbol per UTF-8 character; repeatedly merge the adjacent pair whose
///    concatenation is a piece with the highest score, the left-most pair on ties.
/// 4. Emit each final symbol's id, or its bytes as `<0xXX>` pieces when it is not a piece.
///
/// One deliberate difference: merges never produce control, unknown or byte pieces (llama.cpp
/// would, if a chain of merges spelled `<bos>`; SentencePiece would not). No such chain exists in
/// Gemma 3's vocabulary, so the ids are the same; the tests check this.
public final class BPETokenizer: Tokenizing, @unchecked Sendable {
    public let vocabulary: Vocabulary
    /// Per id: whether a merge may produce it (and a lone character may be emitted as it).
    private let emittable: [Bool]

    public init(vocabulary: Vocabulary) {
        self.vocabulary = vocabulary
        // llama.cpp's by-name overrides add the control attribute without taking merges away, so
        // this follows the stored types.
        self.emittable = vocabulary.storedTypes.map { t in t != .control && t != .unknown && t != .byte }
    }

    /// Encodes user text (see `Tokenizing.encode`). BOS is prepended when `addBOS` and the
    /// vocabulary has one; EOS is never appended.
    public func encode(_ text: String, addBOS: Bool) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(utf8: $0, addBOS: addBOS) }
    }

    /// Encodes text with the vocabulary's default for BOS.
    public func encode(_ text: String) -> [Int32] {
        encode(text, addBOS: vocabulary.addBOS)
    }

    /// Encodes raw UTF-8 bytes. Invalid UTF-8 is not an error: lone bytes fall back to byte pieces.
    public func encode(utf8 text: UnsafeBufferPointer<UInt8>, addBOS: Bool) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.count / 3 + 4)
        if addBOS, let bos = vocabulary.specialTokens.bos { output.append(bos) }
        guard text.count > 0 else { return output }

        let fragments = partition(text)
        var session = Session()
        var previousWasPiece = true
        vocabulary.withTables { bytes, offsets, slots in
            emittable.withUnsafeBufferPointer { emittable in
                vocabulary.scores.withUnsafeBufferPointer { scores in
                    let tables = Tables(bytes: bytes, offsets: offsets, slots: slots, scores: scores,
                                        emittable: emittable, byteTokens: vocabulary.byteTokens,
                                        maxPieceLength: vocabulary.maxPieceLength, vocabulary: vocabulary)
                    for f in fragments {
                        if f.token >= 0 {
                            output.append(f.token)
                            previousWasPiece = true
                        } else {
                            let run = UnsafeBufferPointer(rebasing: text[f.start..<(f.start + f.length)])
                            session.encode(run, spacePrefix: vocabulary.addSpacePrefix && previousWasPiece,
                                           tables: tables, into: &output)
                            previousWasPiece = false
                        }
                    }
                }
            }
        }
        return output
    }

    // MARK: Step 1: user-defined pieces

    /// A run of raw text (`token < 0`) or a user-defined piece found in it.
    struct Fragment {
        var start: Int
        var length: Int
        var token: Int32
    }

    /// Splits the text at user-defined pieces, longest first, as llama.cpp's partition does.
    func partition(_ text: UnsafeBufferPointer<UInt8>) -> [Fragment] {
        var fragments = [Fragment(start: 0, length: text.count, token: -1)]
        var present = [Bool](repeating: false, count: 256)
        for b in text { present[Int(b)] = true }
        let bytes = vocabulary.bytes, offsets = vocabulary.offsets
        var next: [Fragment] = []
        bytes.withUnsafeBufferPointer { pieces in
            for id in vocabulary.userDefinedByLength {
                let ps = Int(offsets[Int(id)]), pl = Int(offsets[Int(id) + 1]) - ps
                guard pl > 0, pl <= text.count, present[Int(pieces[ps])] else { continue }
                let piece = pieces.baseAddress! + ps
                next.removeAll(keepingCapacity: true)
                var found = false
                for f in fragments {
                    guard f.token < 0, f.length >= pl else {
                        next.append(f)
                        continue
                    }
                    var pos = f.start
                    let end = f.start + f.length
                    while let m = BPETokenizer.find(piece, pl, in: text, from: pos, to: end) {
                        if m > pos { next.append(Fragment(start: pos, length: m - pos, token: -1)) }
                        next.append(Fragment(start: m, length: pl, token: id))
                        pos = m + pl
                        found = true
                    }
                    if pos < end { next.append(Fragment(start: pos, length: end - pos, token: -1)) }
                }
                if found { swap(&fragments, &next) }
            }
        }
        return fragments
    }

    /// The first position in `text[from..<to]` where the `n` bytes at `needle` occur.
    @inline(__always)
    static func find(_ needle: UnsafePointer<UInt8>, _ n: Int, in text: UnsafeBufferPointer<UInt8>,
                     from: Int, to: Int) -> Int? {
        let base = text.baseAddress!
        let first = Int32(needle[0])
        var i = from
        while to - i >= n {
            guard let hit = memchr(base + i, first, to - i - n + 1) else { return nil }
            let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + at, needle, n) == 0 { return at }
            i = at + 1
        }
        return nil
    }

    // MARK: Steps 2-4: SentencePiece merges within one run of text

    struct Tables {
        let bytes: UnsafeBufferPointer<UInt8>
        let offsets: UnsafeBufferPointer<Int32>
        let slots: UnsafeBufferPointer<Int32>
        let scores: UnsafeBufferPointer<Float>
        let emittable: UnsafeBufferPointer<Bool>
        let byteTokens: [Int32]
        let maxPieceLength: Int
        let vocabulary: Vocabulary

        @inline(__always)
        func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
            guard n <= maxPieceLength else { return -1 }
            let id = vocabulary.lookup(p, n, bytes: bytes, offsets: offsets, slots: slots)
            return id >= 0 && emittable[Int(id)] ? id : -1
        }
    }

    /// A candidate merge of two adjacent symbols.
    struct Bigram {
        var score: Float
        var left: Int32
        var right: Int32
        /// Byte length of the merged text; a mismatch later means a side has changed since.
        var size: Int32

        /// Whether `self` is merged before `other`: higher score first, then the left-most.
        @inline(__always)
        func precedes(_ other: Bigram) -> Bool {
            score > other.score || (score == other.score && left < other.left)
        }
    }

    /// Scratch space for one `encode` call, reused across its runs of text.
    struct Session {
        var escaped: [UInt8] = []
        var start: [Int32] = []
        var length: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heapStorage: [Bigram] = []

        mutating func encode(_ run: UnsafeBufferPointer<UInt8>, spacePrefix: Bool, tables: Tables,
                             into output: inout [Int32]) {
            // Step 2: escape spaces.
            escaped.removeAll(keepingCapacity: true)
            escaped.reserveCapacity(run.count * 3 + 3)
            if spacePrefix { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
            for b in run {
                if b == 0x20 {
                    escaped.append(0xE2)
                    escaped.append(0x96)
                    escaped.append(0x81)
                } else {
                    escaped.append(b)
                }
            }
            let n = escaped.count
            if n == 0 { return }

            // Step 3: one symbol per UTF-8 character (a lead byte's length, cut at the end).
            start.removeAll(keepingCapacity: true)
            length.removeAll(keepingCapacity: true)
            var offset = 0
            while offset < n {
                let lead = escaped[offset]
                let len = min(lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - offset)
                start.append(Int32(offset))
                length.append(Int32(len))
                offset += len
            }
            let count = start.count
            prev.removeAll(keepingCapacity: true)
            next.removeAll(keepingCapacity: true)
            for i in 0..<count {
                prev.append(Int32(i - 1))
                next.append(i + 1 == count ? -1 : Int32(i + 1))
            }
            var heap = BigramHeap()
            swap(&heap.items, &heapStorage)
            heap.items.removeAll(keepingCapacity: true)
            defer { swap(&heap.items, &heapStorage) }

            escaped.withUnsafeBufferPointer { text in
                start.withUnsafeMutableBufferPointer { start in
                    length.withUnsafeMutableBufferPointer { length in
                        prev.withUnsafeMutableBufferPointer { prev in
                            next.withUnsafeMutableBufferPointer { next in
                                let base = text.baseAddress!

                                func tryAdd(_ left: Int32, _ right: Int32) {
                                    guard left >= 0, right >= 0 else { return }
                                    let size = Int(length[Int(left)] + length[Int(right)])
                                    let id = tables.lookup(base + Int(start[Int(left)]), size)
                                    guard id >= 0 else { return }
                                    heap.push(Bigram(score: tables.scores[Int(id)], left: left, right: right,
                                                    size: Int32(size)))
                                }

                                for i in 1..<max(count, 1) { tryAdd(Int32(i - 1), Int32(i)) }

                                while let top = heap.pop() {
                                    let l = Int(top.left), r = Int(top.right)
                                    // Skip candidates made stale by an earlier merge.
                                    if length[l] == 0 || length[r] == 0 || length[l] + length[r] != top.size {
                                        continue
                                    }
                                    length[l] += length[r]
                                    length[r] = 0
                                    next[l] = next[r]
                                    if next[r] >= 0 { prev[Int(next[r])] = top.left }
                                    tryAdd(prev[l], top.left)
                                    tryAdd(top.left, next[l])
                                }

                                // Step 4: emit.
                                var i: Int32 = 0
                                while i >= 0 {
                                    let s = Int(start[Int(i)]), len = Int(length[Int(i)])
                                    let id = tables.lookup(base + s, len)
                                    if id >= 0 {
                                        output.append(id)
                                    } else {
                                        for k in s..<(s + len) { output.append(tables.byteTokens[Int(text[k])]) }
                                    }
                                    i = next[Int(i)]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A binary max-heap of candidate merges ordered by `Bigram.precedes`.
    struct BigramHeap {
        var items: [Bigram] = []

        mutating func push(_ b: Bigram) {
            items.append(b)
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard items[i].precedes(items[parent]) else { break }
                items.swapAt(i, parent)
                i = parent
            }
        }

        mutating func pop() -> Bigram? {
            guard let last = items.popLast() else { return nil }
            guard !items.isEmpty else { return last }
            let top = items[0]
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < n && items[l].precedes(items[best]) { best = l }
                if r < n && items[r].precedes(items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
            return top
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
