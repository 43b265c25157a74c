#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension MappedFile {
    /// Bytes of `offset..<offset + count` whose pages are resident in memory now (`mincore`), for
    /// telling what a mapping has actually read from what it merely maps. Whole pages are counted.
    public func residentBytes(offset: Int = 0, count: Int? = nil) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = max(0, offset) / page * page
        let end = min(bytes.count, offset + (count ?? bytes.count - offset))
        guard end > start, let base = bytes.baseAddress else { return 0 }
        let pages = (end - start + page - 1) / page
        var flags = [UInt8](repeating: 0, count: pages)
        let ok = flags.withUnsafeMutableBufferPointer {
            mincore(UnsafeMutableRawPointer(mutating: base + start), end - start, $0.baseAddress!) == 0
        }
        guard ok else { return 0 }
        return flags.reduce(0) { $0 + Int($1 & 1) } * page
    }

    /// Gives back the resident pages of the whole mapping (`madvise(MADV_DONTNEED)`; the mapping is
    /// read-only and private, so a later read faults them in again from the page cache). For after
    /// a pass that had to read everything once, so that only what is used stays resident. Does
    /// nothing for a heap copy (there the pages would come back as zeros).
    public func releaseResidentPages() {
        guard !ownsCopy, let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, MADV_DONTNEED)
    }
}
