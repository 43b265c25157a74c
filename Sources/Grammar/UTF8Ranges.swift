/// Code point ranges as UTF-8 byte sequences, so the grammar works on bytes (a token may end in
/// the middle of a character).
enum UTF8Ranges {
    /// The UTF-8 bytes of a code point (surrogates are refused by the parser before this).
    static func encode(_ cp: UInt32) -> [UInt8] {
        switch cp {
        case 0..<0x80: return [UInt8(cp)]
        case 0x80..<0x800: return [UInt8(0xC0 | cp >> 6), UInt8(0x80 | cp & 0x3F)]
        case 0x800..<0x10000:
            return [UInt8(0xE0 | cp >> 12), UInt8(0x80 | (cp >> 6) & 0x3F), UInt8(0x80 | cp & 0x3F)]
        default:
            return [UInt8(0xF0 | cp >> 18), UInt8(0x80 | (cp >> 12) & 0x3F), UInt8(0x80 | (cp >> 6) & 0x3F),
                    UInt8(0x80 | cp & 0x3F)]
        }
    }

    /// Sorted, merged ranges of scalar values (surrogates removed), complemented when `negated`.
    static func normalise(_ ranges: [ClosedRange<UInt32>], negated: Bool) -> [ClosedRange<UInt32>] {
        var merged: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        if negated {
            var out: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for r in merged {
                if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
                next = r.upperBound + 1
            }
            if next <= 0x10FFFF { out.append(next...0x10FFFF) }
            merged = out
        }
        // Remove the surrogate block, which UTF-8 cannot encode.
        var out: [ClosedRange<UInt32>] = []
        for r in merged {
            if r.upperBound < 0xD800 || r.lowerBound > 0xDFFF { out.append(r); continue }
            if r.lowerBound < 0xD800 { out.append(r.lowerBound...0xD7FF) }
            if r.upperBound > 0xDFFF { out.append(0xE000...r.upperBound) }
        }
        return out
    }

    /// Byte-range sequences whose union is exactly the UTF-8 encodings of `range` (the classic
    /// split: first by encoded length, then until every sequence position is one byte range).
    static func sequences(_ range: ClosedRange<UInt32>) -> [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        var work = [range]
        while let r = work.popLast() {
            let lo = r.lowerBound, hi = r.upperBound
            // Split at the encoded-length boundaries.
            var split = false
            for b: UInt32 in [0x7F, 0x7FF, 0xFFFF] where lo <= b && hi > b {
                work.append(lo...b)
                work.append((b + 1)...hi)
                split = true
                break
            }
            if split { continue }
            if hi < 0x80 {
                out.append([UInt8(lo)...UInt8(hi)])
                continue
            }
            let n = encode(lo).count
            for k in 1..<n {
                let m: UInt32 = (1 << (6 * k)) - 1
                if lo & ~m != hi & ~m {
                    if lo & m != 0 {
                        work.append(lo...(lo | m))
                        work.append(((lo | m) + 1)...hi)
                        split = true
                        break
                    }
                    if hi & m != m {
                        work.append(lo...((hi & ~m) - 1))
                        work.append((hi & ~m)...hi)
                        split = true
                        break
                    }
                }
            }
            if split { continue }
            let a = encode(lo), z = encode(hi)
            out.append((0..<n).map { a[$0]...z[$0] })
        }
        return out
    }
}
