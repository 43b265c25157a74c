/// A model's vocabulary as bytes, built once per model: the tokens sorted by their bytes (an
/// implicit trie: neighbours share prefixes, `lcp` says how much), so walking the sorted list
/// with a stack of parser states per prefix length visits every trie edge once.
public final class TokenVocabulary: @unchecked Sendable {
    /// The model's vocabulary size (ids 0..<size).
    public let size: Int
    /// Ids that end generation; allowed exactly when the grammar is complete.
    public let stopTokens: [Int32]
    /// Ids with bytes, sorted by their bytes.
    let sorted: [Int32]
    /// The bytes of `sorted[i]` are `bytes[offsets[i] ..< offsets[i + 1]]`.
    let offsets: [Int32]
    let bytes: [UInt8]
    /// Common prefix length of `sorted[i - 1]` and `sorted[i]` (0 for i = 0).
    let lcp: [UInt16]
    /// Index in `sorted` by id, or -1 for tokens without bytes (control, unused).
    let rank: [Int32]
    /// One bit per id with bytes.
    let valid: [UInt64]
    let maxLength: Int
    static let maxTokenBytes = 1024

    /// - Parameters:
    ///   - tokens: the bytes each id decodes to (empty for control and unused tokens, which are
    ///     never allowed).
    ///   - stopTokens: ids that end generation (`<eos>`, `<end_of_turn>`).
    public init(tokens: [[UInt8]], stopTokens: [Int32]) {
        size = tokens.count
        self.stopTokens = stopTokens.filter { $0 >= 0 && Int($0) < tokens.count }
        // Tokens longer than `maxTokenBytes` are never allowed (no real vocabulary has one).
        var ids = (0..<tokens.count).filter {
            !tokens[$0].isEmpty && tokens[$0].count <= Self.maxTokenBytes && !stopTokens.contains(Int32($0))
        }
        ids.sort { tokens[$0].lexicographicallyPrecedes(tokens[$1]) }
        var offsets: [Int32] = [0]
        var bytes: [UInt8] = []
        var lcp: [UInt16] = []
        var rank = [Int32](repeating: -1, count: tokens.count)
        var valid = [UInt64](repeating: 0, count: (tokens.count + 63) / 64)
        var maxLength = 0
        offsets.reserveCapacity(ids.count + 1)
        lcp.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() {
            let t = tokens[id]
            var common = 0
            if i > 0 {
                let p = tokens[ids[i - 1]]
                while common < min(p.count, t.count), p[common] == t[common] { common += 1 }
            }
            lcp.append(UInt16(common))
            bytes.append(contentsOf: t)
            offsets.append(Int32(bytes.count))
            rank[id] = Int32(i)
            valid[id >> 6] |= 1 << UInt64(id & 63)
            maxLength = max(maxLength, t.count)
        }
        self.sorted = ids.map(Int32.init)
        self.offsets = offsets
        self.bytes = bytes
        self.lcp = lcp
        self.rank = rank
        self.valid = valid
        self.maxLength = maxLength
    }

    /// The bytes of a token (empty for ids without bytes).
    public func bytes(of id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < size, rank[Int(id)] >= 0 else { return [] }
        let r = Int(rank[Int(id)])
        return bytes[Int(offsets[r])..<Int(offsets[r + 1])]
    }

    /// Bytes held by this structure (a figure for memory reports).
    public var memoryBytes: Int {
        sorted.count * 4 + offsets.count * 4 + bytes.count + lcp.count * 2 + rank.count * 4 + valid.count * 8
    }
}
