import Base
import CKernels
import GGUF

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A matrix's weights in a repacked layout (CKRepack.h), with the kernel that reads them.
public struct RepackedView: @unchecked Sendable {
    /// The first group of the repacked matrix.
    public let base: UnsafeRawPointer
    /// Bytes from one group of rows to the next.
    public let groupBytes: Int
    /// Rows per group: a thread's first row must be a multiple of it.
    public let groupRows: Int
    /// The kernel set's repacked matrix product (gemv when tokens == 1).
    public let gemm: ck_rp_gemm_fn
}

/// The weights of the eligible matrices repacked once into one aligned buffer, and the cache file
/// that lets later starts skip the repacking.
///
/// At load the Q4_0 matrices are repacked (in parallel, by groups of rows) into one 64-byte
/// aligned arena. The arena is then written atomically to a cache file beside the model, or, when
/// that directory is not writable (a kiosk's read-only model partition), under
/// `~/.cache/gemma-edge/repack`; the buffer is then replaced by a read-only mapping of that file,
/// so its pages are clean page cache. Later starts map the file and use it only when its header
/// matches this model (file size and mtime), this layout version, this kernel set and the exact
/// list of repacked tensors, when its size is what the header says, and when its checksum is
/// right; anything else (stale, truncated, corrupt) is ignored and rebuilt, never trusted.
///
/// The native pages of repacked tensors are never read by the kernels; `releaseNativePages` drops
/// those the load mapped (`MADV_DONTNEED` on the private file mapping), so resident memory holds one
/// copy of the weights.
public final class RepackedArena: @unchecked Sendable {
    /// Where the arena's bytes came from.
    public enum Source: String, Sendable {
        /// Repacked during this load (and written to `cachePath` when that succeeded).
        case built
        /// Mapped from a valid cache file.
        case cache
    }

    struct Entry {
        let name: String
        /// The type the arena holds the matrix in.
        let type: UInt32
        /// The file's type of the tensor (differs from `type` for a requantised matrix).
        let sourceType: UInt32
        /// In the kernel set's repacked layout (else plain rows of `type`).
        let packed: Bool
        let rows: Int
        let columns: Int
        let offset: Int
        let bytes: Int

        var requantised: Bool { type != sourceType }
    }

    public let source: Source
    /// The cache file in use or just written; nil when none could be written.
    public let cachePath: String?
    /// Why no cache file could be written or the existing ones were rejected (for diagnostics).
    public private(set) var notes: [String] = []
    /// Bytes of repacked weights.
    public let byteCount: Int
    /// Repacked tensors by name.
    private let views: [String: RepackedView]
    /// Requantised tensors by name.
    private let requantisedMatrices: [String: Matrix]
    private let file: GGUFFile
    private let entries: [Entry]
    private var mapping: (UnsafeMutableRawPointer, Int)?
    /// The SIGBUS guard's slot for `mapping` (a cache file truncated under us is a clear exit).
    private var guardSlot: Int32 = -1
    private var heap: UnsafeMutableRawPointer?

    /// Version of the cache file format (the header below); the layouts have their own version.
    static let fileFormat: UInt32 = 2
    static let magic: [UInt8] = Array("GEREPACK".utf8)
    static let headerAlignment = 4096

    /// The view of tensor `name`, or nil when it was not repacked.
    public func view(_ name: String) -> RepackedView? { views[name] }

    /// Tensor `name` as the arena holds it in another type than the file's (`requantise` in
    /// `load`): plain rows of that type, or only its repacked form (then `Matrix.base` is not
    /// rows and the matrix is read through `repacked` alone). Nil when it was not requantised.
    public func requantised(_ name: String) -> Matrix? { requantisedMatrices[name] }

    /// Number of repacked tensors.
    public var count: Int { views.count }

    /// The layouts and instruction sets in use, e.g. ["q4_0x8/avx2"].
    public let layouts: [String]

    /// Repacks (or maps from cache) the tensors among `names` that this kernel set has a repacked
    /// layout for, and holds the tensors in `requantise` in the type given there (converted once
    /// from the file's rows: dequantised, then quantised as `ck_quantize_row_ref` does; repacked
    /// too when the tensor is also in `names` and the new type has a layout). Returns nil when
    /// nothing qualifies.
    /// - Parameters:
    ///   - requantise: tensor name -> the type to hold it in (e.g. the output projection in Q5_0
    ///     to read fewer bytes per token); each must be a 2-D tensor whose rows that type can hold
    ///     (`canRequantise`). A tensor already of that type is left as it is.
    ///   - cacheDirectories: where to look for and write the cache file, in order; nil means beside
    ///     the model, then `$GEMMA_EDGE_CACHE` or `~/.cache/gemma-edge`, under `repack/`.
    ///   - everyLayout: also use layouts not measured to pay on this kernel set (`ck_rp_kernels.pays`).
    public static func load(file: GGUFFile, names: [String], requantise: [String: TensorType] = [:],
                            kernels: KernelSet, cacheDirectories: [String]? = nil,
                            everyLayout: Bool = false) -> RepackedArena? {
        var entries: [Entry] = []
        var offset = 0
        func layout(_ type: ck_type) -> Bool {
            guard let k = ck_rp_select(kernels.table, type) else { return false }
            return everyLayout || k.pointee.pays != 0
        }
        let order = names + requantise.keys.sorted().filter { !names.contains($0) }
        for name in order {
            guard let t = file.tensor(named: name), t.dimensions.count == 2 else { continue }
            let columns = t.dimensions[0], rows = t.dimensions[1]
            let target = requantise[name] ?? t.type
            let type = ck_type(rawValue: target.rawValue)
            let packedBytes = names.contains(name) && layout(type) ? Int(ck_rp_bytes(type, Int64(rows), Int64(columns))) : 0
            let bytes: Int
            if packedBytes > 0 {
                bytes = packedBytes
            } else if target != t.type && canRequantise(to: target, columns: columns) {
                bytes = rows * target.rowBytes(columns)!
            } else {
                continue
            }
            entries.append(Entry(name: name, type: target.rawValue, sourceType: t.type.rawValue, packed: packedBytes > 0,
                                 rows: rows, columns: columns, offset: offset, bytes: bytes))
            offset += (bytes + 63) / 64 * 64
        }
        guard !entries.isEmpty else { return nil }
        return RepackedArena(file: file, entries: entries, total: offset, kernels: kernels,
                             name: fileName(modelPath: file.path, kernels: kernels,
                                            requantise: requantise.filter { r in entries.contains { $0.name == r.key && $0.requantised } }),
                             directories: cacheDirectories ?? defaultDirectories(modelPath: file.path))
    }

    /// Whether rows of `columns` elements can be requantised to `type` (a type the scalar
    /// quantiser writes, with whole blocks).
    public static func canRequantise(to type: TensorType, columns: Int) -> Bool {
        let writable: Set<TensorType> = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0]
        return writable.contains(type) && columns > 0 && columns % type.blockElements == 0
    }

    /// Beside the model, then the user's cache directory.
    public static func defaultDirectories(modelPath: String) -> [String] {
        let dir = modelPath.contains("/") ? String(modelPath[..<modelPath.lastIndex(of: "/")!]) : "."
        let env = getenv("GEMMA_EDGE_CACHE").map { String(cString: $0) }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        let cache = (env?.isEmpty == false ? env! : home + "/.cache/gemma-edge") + "/repack"
        return [dir.isEmpty ? "/" : dir, cache]
    }

    /// The cache file's name for a model and kernel set, and the requantised tensors if any (each
    /// choice its own file, so switching `--output-type` back and forth rebuilds nothing).
    public static func fileName(modelPath: String, kernels: KernelSet, requantise: [String: TensorType] = [:]) -> String {
        let base = modelPath.split(separator: "/").last.map(String.init) ?? modelPath
        let types = requantise.sorted { $0.key < $1.key }.map { "+\($0.key)-\("\($0.value)".lowercased())" }.joined()
        return "\(base).repack-\(kernels.name)\(types)"
    }

    private init(file: GGUFFile, entries: [Entry], total: Int, kernels: KernelSet, name: String, directories: [String]) {
        let header = Self.header(file: file, entries: entries, total: total, kernels: kernels)
        layouts = Array(Set(entries.filter(\.packed).map {
            String(cString: ck_rp_select(kernels.table, ck_type(rawValue: $0.type))!.pointee.name)
        })).sorted()
        var notes: [String] = []
        // 1. A valid cache file in any of the directories.
        for dir in directories {
            let path = dir + "/" + name
            switch Self.mapCache(path: path, header: header, total: total) {
            case .success(let m):
                self.mapping = m
                self.guardSlot = MappingGuard.add(m.0, size: m.1, path: path)
                self.source = .cache
                self.cachePath = path
                self.byteCount = total
                (self.views, self.requantisedMatrices) = Self.makeViews(UnsafeRawPointer(m.0) + header.count, entries, kernels)
                self.notes = notes
                self.file = file
                self.entries = entries
                return
            case .failure(let why):
                if why != .missing { notes.append("\(path): \(why.rawValue), rebuilding") }
            }
        }
        // 2. Repack into an aligned buffer.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(total, 64), alignment: 64)
        for (i, e) in entries.enumerated() {   // the alignment gaps are written to the file too
            let end = i + 1 < entries.count ? entries[i + 1].offset : total
            (buffer + e.offset + e.bytes).initializeMemory(as: UInt8.self, repeating: 0, count: end - e.offset - e.bytes)
        }
        Self.repack(file: file, entries: entries, into: buffer)
        let sum = Self.checksum(UnsafeRawPointer(buffer), total)
        var full = header
        withUnsafeBytes(of: sum.littleEndian) { full.replaceSubrange(Self.checksumRange, with: $0) }
        // 3. Write the cache file (first directory that takes it), then use its mapping.
        var written: String? = nil
        for dir in directories {
            let path = dir + "/" + name
            do {
                if dir != directories.first { try Self.makeDirectories(dir) }
                try AtomicFile.write(header: full, body: UnsafeRawBufferPointer(start: buffer, count: total), to: path)
                written = path
                break
            } catch {
                notes.append("cannot write \(path): \(error)")
            }
        }
        source = .built
        cachePath = written
        byteCount = total
        if let written, case .success(let m) = Self.mapCache(path: written, header: full, total: total, checkSum: false) {
            buffer.deallocate()
            mapping = m
            guardSlot = MappingGuard.add(m.0, size: m.1, path: written)
            (views, requantisedMatrices) = Self.makeViews(UnsafeRawPointer(m.0) + full.count, entries, kernels)
        } else {
            heap = buffer
            (views, requantisedMatrices) = Self.makeViews(UnsafeRawPointer(buffer), entries, kernels)
        }
        self.notes = notes
        self.file = file
        self.entries = entries
    }

    deinit {
        MappingGuard.remove(guardSlot)
        if let (p, n) = mapping { munmap(p, n) }
        heap?.deallocate()
    }

    private static func makeViews(_ base: UnsafeRawPointer, _ entries: [Entry], _ kernels: KernelSet)
        -> ([String: RepackedView], [String: Matrix])
    {
        var views: [String: RepackedView] = [:]
        var matrices: [String: Matrix] = [:]
        for e in entries {
            let type = ck_type(rawValue: e.type)
            if e.packed {
                let k = ck_rp_select(kernels.table, type)!
                views[e.name] = RepackedView(base: base + e.offset, groupBytes: Int(ck_rp_group_bytes(type, Int64(e.columns))),
                                             groupRows: Int(k.pointee.group_rows), gemm: k.pointee.gemm)
            }
            if e.requantised {
                var m = Matrix(type: TensorType(rawValue: e.type)!, rows: e.rows, columns: e.columns,
                               base: base + e.offset, rowsReadable: !e.packed)
                m.repacked = views[e.name]
                matrices[e.name] = m
            }
        }
        return (views, matrices)
    }

    // MARK: repacking

    private struct RepackJob {
        var entry: Entry
        var src: UnsafeRawPointer
        var g0: Int
        var g1: Int
        var dst: UnsafeMutableRawPointer
    }

    /// Repacks (and requantises) every entry, spread over the online cores in pieces of about
    /// 1 MiB of source rows.
    private static func repack(file: GGUFFile, entries: [Entry], into buffer: UnsafeMutableRawPointer) {
        var jobs: [RepackJob] = []
        for e in entries {
            let src = file.data(of: file.tensor(named: e.name)!)
            let rowBytes = Int(ck_row_bytes(ck_type(rawValue: e.sourceType), Int64(e.columns)))
            let groups = (e.rows + 7) / 8
            let per = max(1, (1 << 20) / max(1, rowBytes * 8))
            var g = 0
            while g < groups {
                jobs.append(RepackJob(entry: e, src: src.baseAddress!, g0: g, g1: min(groups, g + per), dst: buffer + e.offset))
                g += per
            }
        }
        let threads = max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        if let pool = ck_pool_create(Int32(threads), nil) {
            jobs.withUnsafeMutableBufferPointer { jb in
                ck_pool_run(pool, { ctx, i, _ in
                    RepackedArena.perform(ctx!.assumingMemoryBound(to: RepackJob.self)[Int(i)])
                }, UnsafeMutableRawPointer(jb.baseAddress!), Int32(jb.count))
            }
            ck_pool_destroy(pool)
        } else {
            for j in jobs { perform(j) }
        }
    }

    /// One job: groups `g0..<g1` (8 rows each) of an entry. A requantised entry's rows are
    /// dequantised and quantised again first (into the arena when it keeps plain rows, else into
    /// a scratch copy that is then repacked).
    private static func perform(_ j: RepackJob) {
        let e = j.entry
        let source = ck_type(rawValue: e.sourceType), type = ck_type(rawValue: e.type)
        let sourceRowBytes = Int(ck_row_bytes(source, Int64(e.columns)))
        let r0 = j.g0 * 8, r1 = min(e.rows, j.g1 * 8)
        guard e.requantised else {
            _ = ck_rp_repack(type, j.src, sourceRowBytes, Int64(e.rows), Int64(e.columns), Int64(j.g0), Int64(j.g1), j.dst)
            return
        }
        let rowBytes = Int(ck_row_bytes(type, Int64(e.columns)))
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: e.columns)
        defer { floats.deallocate() }
        let rows = e.packed ? UnsafeMutableRawPointer.allocate(byteCount: (r1 - r0) * rowBytes, alignment: 64) : nil
        defer { rows?.deallocate() }
        let out = rows ?? (j.dst + r0 * rowBytes)
        for r in r0..<r1 {
            ck_dequantize_row(source, j.src + r * sourceRowBytes, floats, Int64(e.columns))
            _ = ck_quantize_row_ref(type, floats, out + (r - r0) * rowBytes, Int64(e.columns))
        }
        if let rows {
            _ = ck_rp_repack(type, rows, rowBytes, Int64(r1 - r0), Int64(e.columns), 0, Int64(j.g1 - j.g0),
                             j.dst + j.g0 * Int(ck_rp_group_bytes(type, Int64(e.columns))))
        }
    }

    /// Drops whatever pages of the repacked tensors' native bytes this process has mapped (clean
    /// private file pages; they stay in the page cache), so the weights do not count twice in its
    /// resident memory. Call it once the model has read everything else it needs from the file at
    /// load (norm vectors, ...): the kernel maps file pages in whole folios, up to megabytes around
    /// each read, so reads of small neighbouring tensors would otherwise map native bytes back.
    /// Nothing reads the native bytes afterwards; if something did, they would simply fault in again.
    public func releaseNativePages() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let file = self.file, entries = self.entries
        for e in entries {
            let d = file.data(of: file.tensor(named: e.name)!)
            let start = (Int(bitPattern: d.baseAddress!) + page - 1) / page * page
            let end = (Int(bitPattern: d.baseAddress!) + d.count) / page * page
            if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
        }
    }

    // MARK: the cache file

    // Header layout (little-endian), padded with zeros to a multiple of 4096 bytes; the arena
    // follows, so it is page-aligned in the mapping:
    //   0   8  magic "GEREPACK"
    //   8   4  file format          12  4  layout version (CK_RP_LAYOUT_VERSION)
    //   16  8  model size           24  8  model mtime (seconds)
    //   32  32 kernel set name (NUL-padded)
    //   64  8  arena bytes          72  8  entry count
    //   80  8  arena checksum (see `checksum`)
    //   88  ... entries: u16 name length, name, u32 type (as held), u32 the file's type, u32 layout
    //           (1 repacked, 0 plain rows), u64 rows, u64 columns, u64 offset, u64 bytes
    static let checksumRange = 80..<88

    static func header(file: GGUFFile, entries: [Entry], total: Int, kernels: KernelSet) -> [UInt8] {
        var h: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { h.append(contentsOf: $0) } }
        h += magic
        put(fileFormat)
        put(UInt32(CK_RP_LAYOUT_VERSION))
        put(UInt64(file.mapping.size))
        put(Int64(file.mapping.modificationTime))
        var name = Array(kernels.name.utf8.prefix(31))
        name += [UInt8](repeating: 0, count: 32 - name.count)
        h += name
        put(UInt64(total))
        put(UInt64(entries.count))
        put(UInt64(0))   // checksum, filled in when known
        for e in entries {
            let n = Array(e.name.utf8)
            put(UInt16(n.count))
            h += n
            put(e.type)
            put(e.sourceType)
            put(UInt32(e.packed ? 1 : 0))
            put(UInt64(e.rows))
            put(UInt64(e.columns))
            put(UInt64(e.offset))
            put(UInt64(e.bytes))
        }
        h += [UInt8](repeating: 0, count: (headerAlignment - h.count % headerAlignment) % headerAlignment)
        return h
    }

    enum Rejection: String, Error {
        case missing = "no cache file"
        case unreadable = "cannot be read"
        case size = "has the wrong size (truncated or stale)"
        case key = "belongs to another model, layout or kernel set"
        case checksum = "fails its checksum (corrupt)"
    }

    /// Maps `path` and checks it against the expected header (everything but the checksum, which
    /// is checked against the mapped arena unless `checkSum` is false).
    static func mapCache(path: String, header: [UInt8], total: Int, checkSum: Bool = true)
        -> Result<(UnsafeMutableRawPointer, Int), Rejection>
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .failure(.unreadable) }
        let size = header.count + total
        guard Int(st.st_size) == size else { return .failure(.size) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else { return .failure(.unreadable) }
        let found = UnsafeRawBufferPointer(start: p, count: header.count)
        let same = header.withUnsafeBytes { h -> Bool in
            memcmp(h.baseAddress!, found.baseAddress!, checksumRange.lowerBound) == 0
                && memcmp(h.baseAddress! + checksumRange.upperBound, found.baseAddress! + checksumRange.upperBound,
                          header.count - checksumRange.upperBound) == 0
        }
        guard same else {
            munmap(p, size)
            return .failure(.key)
        }
        if checkSum {
            var stored: UInt64 = 0
            withUnsafeMutableBytes(of: &stored) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: found[checksumRange])) }
            guard UInt64(littleEndian: stored) == checksum(UnsafeRawPointer(p) + header.count, total) else {
                munmap(p, size)
                return .failure(.checksum)
            }
        }
        return .success((p, size))
    }

    /// A Fletcher-style sum over 64-bit words in four independent lanes (fast enough to run on
    /// every warm start: it reads the arena once, which the first forward pass does anyway).
    static func checksum(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var a = SIMD4<UInt64>(repeating: 0), b = SIMD4<UInt64>(repeating: 0)
        let words = n / 32
        for i in 0..<words {
            a &+= p.loadUnaligned(fromByteOffset: i * 32, as: SIMD4<UInt64>.self)
            b &+= a
        }
        var tail: UInt64 = 0
        for i in (words * 32)..<n { tail = tail &* 31 &+ UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        let s = a &* SIMD4(1, 3, 5, 7) &+ b &* SIMD4(11, 13, 17, 19)
        return s[0] ^ (s[1] << 1) ^ (s[2] << 2) ^ (s[3] << 3) ^ tail ^ UInt64(n)
    }

    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw GGUFError(.io, file: current, "cannot create directory: \(String(cString: strerror(errno)))")
            }
        }
    }
}
