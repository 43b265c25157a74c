import CKernels
import Foundation
import GGUF
import Kernels
import TestSupport
import XCTest

// The repacked layouts (CKRepack.h) and the arena with its cache file (RepackedArena.swift).
// Helpers (SplitMix64, randomWeights, quantize, misaligned, ...) are in CKernelsTests.swift;
// Cross/kernel_test.c runs the same kernel comparisons for the AArch64 sets under qemu.

/// Repacks a rows x n matrix of `type` (rows `rb` bytes apart) into a fresh array.
private func repack(_ type: ck_type, _ w: UnsafeRawPointer, rb: Int, rows: Int, n: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0xA5, count: Int(ck_rp_bytes(type, Int64(rows), Int64(n))))
    let groups = Int64((rows + 7) / 8)
    out.withUnsafeMutableBytes {
        XCTAssertEqual(ck_rp_repack(type, w, rb, Int64(rows), Int64(n), 0, groups, $0.baseAddress), 0)
    }
    return out
}

final class RepackTests: XCTestCase {
    func testGeometryAndSelection() {
        XCTAssertEqual(ck_rp_group_bytes(CK_Q4_0, 640), 20 * 144)
        XCTAssertEqual(ck_rp_bytes(CK_Q4_0, 17, 64), 3 * 2 * 144)
        XCTAssertEqual(ck_rp_bytes(CK_Q4_0, 8, 48), 0, "ragged rows have no layout")
        XCTAssertEqual(ck_rp_group_bytes(CK_Q4_K, 512), 2 * 1184)
        XCTAssertEqual(ck_rp_bytes(CK_Q4_K, 9, 256), 2 * 1184)
        XCTAssertEqual(ck_rp_bytes(CK_Q4_K, 8, 128), 0, "Q4_K rows are whole super-blocks")
        XCTAssertEqual(ck_rp_bytes(CK_Q6_K, 8, 256), 0, "only Q4_0 and Q4_K have layouts")
        XCTAssertEqual(ck_rp_bytes(CK_Q4_0, 8, Int64(CK_RP_MAX_COLUMNS) + 32), 0)
        for ks in availableSets() {
            for type in [CK_Q4_0, CK_Q4_K] {
                let rk = ck_rp_select(ks, type)
                if ks == ck_kernels_scalar() {
                    XCTAssertNil(rk, "the scalar set sums in another order: no repacked kernel")
                } else {
                    XCTAssertNotNil(rk, setName(ks))
                    XCTAssertEqual(rk?.pointee.group_rows, 8)
                    XCTAssertEqual(rk?.pointee.type, type)
                }
            }
            XCTAssertNil(ck_rp_select(ks, CK_Q8_0))
            XCTAssertNil(ck_rp_select(ks, CK_Q6_K))
        }
    }

    /// Every set's repacked kernels (q4_0x8, q4_Kx8) against the layout's scalar reference and the
    /// set's own native vec_dot, bit for bit, for row counts around the groups (and group pairs),
    /// lengths around the chain chunks, token counts around the register tiles, misaligned buffers
    /// and strides, and outputs past the rows left untouched.
    func testRepackedKernelsEqualNativeVecDotBitForBit() {
        for type in [CK_Q4_0, CK_Q4_K] { checkRepackedKernels(type) }
    }

    func checkRepackedKernels(_ type: ck_type) {
        var rng = SplitMix64(state: 42)
        let lengths = type == CK_Q4_K ? [256, 512, 768, 1280, 2304] : [32, 64, 96, 640, 1024, 1056, 2080]
        let rowCounts = [1, 2, 7, 8, 9, 15, 16, 17, 24, 33]
        let tokenCounts = [1, 2, 3, 4, 5, 8, 9, 13, 70]
        let activation = ck_activation_type(type)
        let reference = type == CK_Q4_K ? ck_rp_ref_gemm_q4_K : ck_rp_ref_gemm_q4_0
        var compared = 0
        for ks in availableSets() {
            guard let rk = ck_rp_select(ks, type) else { continue }
            let dot = vecDot(ks, type)!
            for (li, n) in lengths.enumerated() {
                for (ri, rows) in rowCounts.enumerated() where n < 1024 || ri % 3 == 0 {
                    let ntok = tokenCounts[(li * 3 + ri) % tokenCounts.count]
                    let mis = (li + ri) % 4
                    let rb = rowBytes(type, n) + mis, ab = rowBytes(activation, n) + 3, os = rows + 5
                    var w = [UInt8](repeating: 0, count: rows * rb)
                    for r in 0..<rows {
                        let row = randomWeights(type, n, mode: r & 1, &rng)
                        w.replaceSubrange((r * rb)..<(r * rb + row.count), with: row)
                    }
                    var a = [UInt8](repeating: 0, count: ntok * ab)
                    for t in 0..<ntok {
                        let row = quantize(ck_kernels_scalar(), activation, randomFloats(n, block: 32, &rng))
                        a.replaceSubrange((t * ab)..<(t * ab + row.count), with: row)
                    }
                    let rp = w.withUnsafeBytes { repack(type, $0.baseAddress!, rb: rb, rows: rows, n: n) }
                    var ref = [Float](repeating: -7, count: ntok * os), got = ref
                    misaligned(rp, mis) { wp in
                        a.withUnsafeBytes { ap in
                            reference(Int64(n), wp, Int64(rows), ap.baseAddress, ab, Int64(ntok), &ref, Int64(os))
                            rk.pointee.gemm(Int64(n), wp, Int64(rows), ap.baseAddress, ab, Int64(ntok), &got, Int64(os))
                        }
                    }
                    for t in 0..<ntok {
                        for r in 0..<rows {
                            let native = w.withUnsafeBytes { wp in
                                a.withUnsafeBytes { ap in dot(Int64(n), wp.baseAddress! + r * rb, ap.baseAddress! + t * ab) }
                            }
                            XCTAssertEqual(ref[t * os + r].bitPattern, native.bitPattern,
                                           "reference vs \(setName(ks)) vec_dot n=\(n) rows=\(rows) t=\(t) r=\(r)")
                            XCTAssertEqual(got[t * os + r].bitPattern, native.bitPattern,
                                           "\(String(cString: rk.pointee.name)) n=\(n) rows=\(rows) ntok=\(ntok) t=\(t) r=\(r)")
                            compared += 1
                        }
                        for r in rows..<os { XCTAssertEqual(got[t * os + r], -7, "wrote past the rows") }
                    }
                }
            }
        }
        if availableSets().count > 1 { XCTAssertGreaterThan(compared, 1000) }
    }
}

final class RepackedArenaTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "repack-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A small model whose projections are Q4_0 (embedding Q8_0, so nothing else qualifies).
    func tinyModel() throws -> String {
        var m = TinyGemma()
        m.blocks = 2
        m.embedding = 64
        m.feedForward = 96
        m.heads = 2
        m.kvHeads = 1
        m.headDim = 32
        m.matrixType = .q4_0
        m.embeddingType = .q8_0
        return try m.write(directory: dir)
    }

    func names(_ file: GGUFFile) -> [String] {
        file.tensors.map(\.name).filter { $0.hasPrefix("blk.") && !$0.hasSuffix("norm.weight") } + ["token_embd.weight"]
    }

    /// out = W x for `tokens` random activations, through Compute.matmul (2 threads).
    func products(_ m: Matrix, compute: Compute, tokens: Int) -> [Float] {
        let rows = QuantizedRows(capacity: tokens, width: m.columns, formats: [m.activationType.rawValue],
                                 kernels: compute.kernels)
        var rng = SplitMix64(state: 9)
        let x = randomFloats(tokens * m.columns, block: 32, &rng)
        for i in 0..<x.count { rows.floats[i] = x[i] }
        rows.invalidate(tokens: tokens)
        var out = [Float](repeating: 0, count: tokens * m.rows)
        compute.matmul(m, rows, tokens: tokens, out: &out, outStride: m.rows)
        return out
    }

    func testBuildThenWarmStartThenRejectEveryDamagedCache() throws {
        let kernels = KernelSet.best()
        guard ck_rp_select(kernels.table, CK_Q4_0) != nil else { throw XCTSkip("no repacked kernels for \(kernels.name)") }
        let path = try tinyModel()
        let file = try GGUFFile(path: path)
        let compute = try Compute(kernels: kernels, threads: 2)
        let t = file.tensor(named: "blk.1.ffn_up.weight")!
        let native = Matrix(type: t.type, rows: t.dimensions[1], columns: t.dimensions[0], base: file.data(of: t).baseAddress!)
        let expected = [1, 5].map { products(native, compute: compute, tokens: $0) }
        let cacheFile = dir + "/" + RepackedArena.fileName(modelPath: path, kernels: kernels)

        func load(_ dirs: [String]? = nil) throws -> RepackedArena {
            let arena = try XCTUnwrap(RepackedArena.load(file: file, names: names(file), kernels: kernels,
                                                         cacheDirectories: dirs ?? [dir]))
            XCTAssertEqual(arena.count, 2 * 7, "every Q4_0 projection, not the Q8_0 embedding")
            var m = native
            m.repacked = try XCTUnwrap(arena.view("blk.1.ffn_up.weight"))
            for (i, tokens) in [1, 5].enumerated() {
                XCTAssertEqual(products(m, compute: compute, tokens: tokens).map(\.bitPattern), expected[i].map(\.bitPattern),
                               "repacked matmul must equal the native one bit for bit (\(tokens) tokens)")
            }
            return arena
        }

        // Cold: built and written beside the model; warm: mapped.
        var arena = try load()
        XCTAssertEqual(arena.source, .built)
        XCTAssertEqual(arena.cachePath, cacheFile)
        arena = try load()
        XCTAssertEqual(arena.source, .cache)
        XCTAssertTrue(arena.notes.isEmpty, "\(arena.notes)")

        // Every kind of damage is noticed, the file rebuilt, and the rebuilt file trusted again.
        func damage(_ what: String, _ body: (FileHandle, UInt64) throws -> Void) throws {
            let h = try XCTUnwrap(FileHandle(forUpdatingAtPath: cacheFile))
            let size = try h.seekToEnd()
            try body(h, size)
            try h.close()
            let a = try load()
            XCTAssertEqual(a.source, .built, "\(what): a damaged cache must be rebuilt, not trusted")
            XCTAssertFalse(a.notes.isEmpty, what)
            XCTAssertEqual(try load().source, .cache, "\(what): the rebuilt cache is used")
        }
        try damage("truncated") { h, size in try h.truncate(atOffset: size - 1) }
        try damage("extended") { h, _ in h.write(Data([0])) }
        try damage("arena byte flipped") { h, size in
            try h.seek(toOffset: size - 100)
            let b = h.readData(ofLength: 1).first!
            try h.seek(toOffset: size - 100)
            h.write(Data([b ^ 0x10]))
        }
        try damage("layout version") { h, _ in
            try h.seek(toOffset: 12)
            h.write(Data([0xEE]))
        }
        try damage("kernel set") { h, _ in
            try h.seek(toOffset: 32)
            h.write(Data("x".utf8))
        }
        try damage("tensor table") { h, _ in
            try h.seek(toOffset: 90)
            h.write(Data([0x7A]))
        }

        // A model file with another mtime (replaced in place): the cache is stale.
        var times = [timeval(tv_sec: 1_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000, tv_usec: 0)]
        XCTAssertEqual(utimes(path, &times), 0)
        let touched = try GGUFFile(path: path)
        let stale = try XCTUnwrap(RepackedArena.load(file: touched, names: names(touched), kernels: kernels,
                                                     cacheDirectories: [dir]))
        XCTAssertEqual(stale.source, .built, "a cache keyed by another mtime must not be used")
    }

    /// The model's directory cannot take the file (here: it is not a directory at all, as a
    /// read-only partition refuses it): the cache goes to the next directory and is found there.
    func testUnwritableModelDirectoryFallsBackToTheCacheDirectory() throws {
        let kernels = KernelSet.best()
        guard ck_rp_select(kernels.table, CK_Q4_0) != nil else { throw XCTSkip("no repacked kernels for \(kernels.name)") }
        let path = try tinyModel()
        let file = try GGUFFile(path: path)
        let blocked = path + "/not-a-directory", fallback = dir + "/cache/repack"
        let a = try XCTUnwrap(RepackedArena.load(file: file, names: names(file), kernels: kernels,
                                                 cacheDirectories: [blocked, fallback]))
        XCTAssertEqual(a.source, .built)
        XCTAssertEqual(a.cachePath, fallback + "/" + RepackedArena.fileName(modelPath: path, kernels: kernels))
        XCTAssertEqual(a.notes.count, 1, "the refused directory is reported")
        let b = try XCTUnwrap(RepackedArena.load(file: file, names: names(file), kernels: kernels,
                                                 cacheDirectories: [blocked, fallback]))
        XCTAssertEqual(b.source, .cache)
    }

    /// The tied Q8_0 embedding held for the output product in Q5_0 (plain rows: no Q5_0 layout)
    /// and in Q4_0 (requantised, then repacked): the rows are what dequantising the file's rows and
    /// quantising them with the reference quantiser gives, byte for byte; the repacked Q4_0
    /// product equals the plain Q4_0 one bit for bit; each choice has its own cache file, found
    /// again warm; and a tensor already of the asked type is left alone.
    func testRequantisedMatrixHoldsTheReferenceRowsAndItsOwnCacheFile() throws {
        let kernels = KernelSet.best()
        let path = try tinyModel()
        let file = try GGUFFile(path: path)
        let compute = try Compute(kernels: kernels, threads: 2)
        let t = file.tensor(named: "token_embd.weight")!
        let rows = t.dimensions[1], columns = t.dimensions[0]
        XCTAssertEqual(t.type, .q8_0)

        func reference(_ type: TensorType) -> [UInt8] {
            let src = file.data(of: t).baseAddress!, srcRow = TensorType.q8_0.rowBytes(columns)!
            let rowBytes = type.rowBytes(columns)!
            var out = [UInt8](repeating: 0, count: rows * rowBytes)
            var floats = [Float](repeating: 0, count: columns)
            for r in 0..<rows {
                ck_dequantize_row(CK_Q8_0, src + r * srcRow, &floats, Int64(columns))
                out.withUnsafeMutableBytes { o in
                    _ = ck_quantize_row_ref(ck_type(rawValue: type.rawValue), floats, o.baseAddress! + r * rowBytes, Int64(columns))
                }
            }
            return out
        }

        for type in [TensorType.q5_0, .q4_0] {
            let expected = reference(type)
            let want = expected.withUnsafeBytes { b -> [[Float]] in
                let m = Matrix(type: type, rows: rows, columns: columns, base: b.baseAddress!)
                return [1, 5].map { products(m, compute: compute, tokens: $0) }
            }
            for pass in ["cold", "warm"] {
                let arena = try XCTUnwrap(RepackedArena.load(file: file, names: ["token_embd.weight"],
                                                             requantise: ["token_embd.weight": type],
                                                             kernels: kernels, cacheDirectories: [dir]))
                XCTAssertEqual(arena.source, pass == "cold" ? .built : .cache, "\(type) \(pass)")
                XCTAssertEqual(arena.cachePath, dir + "/" + RepackedArena.fileName(
                    modelPath: path, kernels: kernels, requantise: ["token_embd.weight": type]))
                let m = try XCTUnwrap(arena.requantised("token_embd.weight"))
                XCTAssertEqual(m.type, type)
                XCTAssertEqual(m.rows, rows)
                let packed = ck_rp_select(kernels.table, ck_type(rawValue: type.rawValue)) != nil
                XCTAssertEqual(m.repacked != nil, packed, "\(type): repacked exactly when the set has its layout")
                XCTAssertEqual(m.rowsReadable, !packed)
                if m.rowsReadable {
                    XCTAssertEqual(Array(UnsafeRawBufferPointer(start: m.base, count: expected.count)), expected,
                                   "\(type) \(pass): the held rows are the reference quantiser's")
                }
                for (i, tokens) in [1, 5].enumerated() {
                    XCTAssertEqual(products(m, compute: compute, tokens: tokens).map(\.bitPattern), want[i].map(\.bitPattern),
                                   "\(type) \(pass): the product over the held matrix equals the reference rows' (\(tokens) tokens)")
                }
            }
        }
        // Without requantising, the same names give no arena here (Q8_0 has no layout), and asking
        // for the file's own type changes nothing.
        XCTAssertNil(RepackedArena.load(file: file, names: ["token_embd.weight"], requantise: ["token_embd.weight": .q8_0],
                                        kernels: kernels, cacheDirectories: [dir]))
        // Plain rows also when the tensor is not among those to repack (the engine's --no-repack).
        let plain = try XCTUnwrap(RepackedArena.load(file: file, names: [], requantise: ["token_embd.weight": .q4_0],
                                                     kernels: kernels, cacheDirectories: [dir]))
        XCTAssertNil(plain.requantised("token_embd.weight")?.repacked)
        XCTAssertEqual(plain.requantised("token_embd.weight")?.rowsReadable, true)
        XCTAssertFalse(RepackedArena.canRequantise(to: .q4_K, columns: columns), "k-quants need rows of 256")
        XCTAssertFalse(RepackedArena.canRequantise(to: .q4_0, columns: 40))
    }

    func testNothingEligibleGivesNoArena() throws {
        let path = try tinyModel()
        let file = try GGUFFile(path: path)
        XCTAssertNil(RepackedArena.load(file: file, names: names(file), kernels: .scalar, cacheDirectories: [dir]))
        XCTAssertNil(RepackedArena.load(file: file, names: ["token_embd.weight"], kernels: .best(), cacheDirectories: [dir]))
    }
}
