// Bidirectional multi-head attention over every patch of one image, flash-style: no P x P score
// matrix exists. Reference behaviour: llama.cpp's clip.cpp build_attn (softmax(Q Kᵀ / sqrt(d)) V
// per head, no mask), computed here in blocks with an online softmax as ggml's CPU
// flash_attn_ext does per row.
//
// Per layer the keys and values of each head are laid out once (`pack`) as panels of 16 columns
// that the float gemm reads in place, contiguous, so no product of the layer converts or copies
// them again, and no two rows of a panel are a power of two apart (the transposed [embd][P] keys
// were 16 KiB apart and fell into the same L1 set):
//   keys   [head][key panel][headDim][16]   key j of head h at column j % 16 of panel j / 16
//   values [head][dim panel][P][16]         dims past headDim are zero
// Work item (head h, block of queryBlock queries) then walks the keys in blocks of keyBlock:
// S = (Q_h / sqrt(headDim)) K_hᵀ one key panel at a time, the running maximum m and sum l of each
// query row updated and its output rescaled by exp(m_old - m_new), O += exp(S - m) V_h one dim
// panel at a time, and at the end O / l is written out. Items are the pool's tasks, handed out as
// threads free up; each thread has its own scratch (queries, scores, output, maxima, sums).
import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct AttentionBlocks {
    static let queryBlock = 96   // a multiple of every set's tile rows (6 on AVX2, 4 on NEON)
    static let keyBlock = 256    // a multiple of `panel`
    /// Columns of a packed panel: a multiple of every set's tile columns (16).
    static let panel = 16

    let gemm: FloatGemm
    /// The softmax's row kernels.
    let kernels: RowKernels
    let patches: Int, width: Int, headDim: Int, heads: Int
    let queryBlock: Int, keyBlock: Int
    /// Patches rounded up to whole key panels, headDim rounded up to whole dim panels.
    let paddedPatches: Int, paddedDim: Int
    let scale: Float
    let keys: UnsafeMutablePointer<Float>      // [heads][paddedPatches / panel][headDim][panel]
    let values: UnsafeMutablePointer<Float>    // [heads][paddedDim / panel][patches][panel]
    let scratch: UnsafeMutablePointer<Float>   // [threads][scratchFloats]
    /// Floats of one thread's scratch: queries, scores, output, maxima, sums.
    let scratchFloats: Int
    /// The layer's inputs (queries, keys, values: [patches][width]) and output, set by `set`.
    var q = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var k = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var v = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var out = UnsafeMutablePointer<Float>(bitPattern: 4)!

    /// Floats of the packed keys and values and of all tasks' scratch.
    static func floats(patches n: Int, headDim: Int, heads: Int, threads: Int) -> Int {
        let np = (n + panel - 1) / panel * panel, dp = (headDim + panel - 1) / panel * panel
        let qb = min(n, queryBlock), kb = min(n, keyBlock)
        return heads * np * headDim + heads * dp * n + threads * (qb * headDim + qb * kb + qb * dp + 2 * qb)
    }

    /// Takes its buffers (`floats(...)` of them) from `arena`.
    init(gemm: FloatGemm, kernels: RowKernels, patches n: Int, width: Int, headDim: Int, heads: Int, threads: Int,
         arena: FloatArena) {
        self.gemm = gemm
        self.kernels = kernels
        (patches, self.width, self.headDim, self.heads) = (n, width, headDim, heads)
        queryBlock = min(n, Self.queryBlock)
        keyBlock = min(n, Self.keyBlock)
        paddedPatches = (n + Self.panel - 1) / Self.panel * Self.panel
        paddedDim = (headDim + Self.panel - 1) / Self.panel * Self.panel
        scale = 1 / Float(headDim).squareRoot()
        keys = arena.allocate(heads * paddedPatches * headDim)
        values = arena.allocate(heads * paddedDim * n)
        scratchFloats = queryBlock * headDim + queryBlock * keyBlock + queryBlock * paddedDim + 2 * queryBlock
        scratch = arena.allocate(threads * scratchFloats)
    }

    mutating func set(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                      out: UnsafeMutablePointer<Float>) {
        (self.q, self.k, self.v, self.out) = (q, k, v, out)
    }

    /// Runs the attention `job` describes (after `set`) on `compute`'s threads: one parallel region
    /// lays out every head's keys and values, a second runs the work items.
    static func run(_ job: UnsafeMutablePointer<AttentionBlocks>, on compute: Compute) {
        compute.parallel(job.pointee.heads, context: job) { ctx, i, _ in
            ctx!.assumingMemoryBound(to: AttentionBlocks.self).pointee.pack(head: Int(i))
        }
        compute.parallel(job.pointee.items, context: job) { ctx, i, thread in
            ctx!.assumingMemoryBound(to: AttentionBlocks.self).pointee.run(item: Int(i), thread: Int(thread))
        }
    }

    /// Lays out head h's keys and values as panels (see the top of the file).
    func pack(head h: Int) {
        let n = patches, d = width, hd = headDim, p = Self.panel
        let kh = keys + h * paddedPatches * hd
        for j in 0..<n {
            let src = k + j * d + h * hd, dst = kh + (j / p) * hd * p + j % p
            for c in 0..<hd { dst[c * p] = src[c] }
        }
        let vh = values + h * paddedDim * n
        for j in 0..<n {
            let src = v + j * d + h * hd
            for c0 in stride(from: 0, to: paddedDim, by: p) {
                let dst = vh + c0 * n + j * p, w = min(p, hd - c0)
                dst.update(from: src + c0, count: w)
                if w < p { (dst + w).update(repeating: 0, count: p - w) }
            }
        }
    }

    /// Work items: (head, query block) pairs.
    var items: Int { heads * ((patches + queryBlock - 1) / queryBlock) }

    /// Runs work item `item` with the scratch of `thread` (all of `pack` must have run).
    func run(item: Int, thread: Int) {
        let n = patches, d = width, hd = headDim, dp = paddedDim, qb = queryBlock, kb = keyBlock, p = Self.panel
        let blocks = (n + qb - 1) / qb
        let queries = scratch + thread * scratchFloats
        let s = queries + qb * hd, o = s + qb * kb, m = o + qb * dp, l = m + qb
        let h = item / blocks, i0 = (item % blocks) * qb, rows = min(qb, n - i0)
        for t in 0..<rows {
            (queries + t * hd).update(from: q + (i0 + t) * d + h * hd, count: hd)
            ElementWise.scale(queries + t * hd, by: scale, hd)
        }
        let kh = keys + h * paddedPatches * hd, vh = values + h * dp * n
        var j0 = 0
        while j0 < n {
            let cols = min(kb, n - j0)
            // s[t][j] = q_t · key (j0 + j) of head h, one contiguous key panel at a time
            for c in stride(from: 0, to: cols, by: p) {
                gemm.kn(Int64(hd), queries, Int64(hd), Int64(rows), kh + (j0 + c) * hd, Int64(p),
                        Int64(min(p, cols - c)), s + c, Int64(cols), 0)
            }
            for t in 0..<rows {
                let old = j0 == 0 ? -Float.infinity : m[t]
                let (shift, sum) = kernels.expShiftedParts(s + t * cols, cols, floor: old)
                if j0 == 0 {
                    l[t] = sum
                } else {
                    let carry = expf(old - shift)
                    l[t] = l[t] * carry + sum
                    ElementWise.scale(o + t * dp, by: carry, dp)
                }
                m[t] = shift
            }
            // o[t] (+)= sum_j s[t][j] * value (j0 + j) of head h, one contiguous dim panel at a time
            for c0 in stride(from: 0, to: dp, by: p) {
                gemm.kn(Int64(cols), s, Int64(cols), Int64(rows), vh + c0 * n + j0 * p, Int64(p), Int64(p),
                        o + c0, Int64(dp), j0 == 0 ? 0 : 1)
            }
            j0 += cols
        }
        for t in 0..<rows {
            let dst = out + (i0 + t) * d + h * hd
            dst.update(from: o + t * dp, count: hd)
            ElementWise.scale(dst, by: 1 / l[t], hd)
        }
    }
}
