// Attention over the KV cache for one layer and one batch: the rings of the local layers, the
// split of decode's positions across threads (flash-decoding) and the merge of their partial
// softmax results. The forward pass (Gemma3Model.swift) calls `LayerAttention.run` once per layer.
import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The attention engine of a run state: its scratch (scores per thread, the batch's keys and
/// values as cache rows, partial results of split tasks) and the row kernels of each KV type,
/// sized once for a batch, a context and a thread count.
final class LayerAttention {
    /// Fewest positions worth a piece of their own when a unit's attention is split.
    static let positionsPerSplit = 64
    private let config: Gemma3Config
    private let compute: Compute
    private let job: UnsafeMutablePointer<AttentionJob>
    private let batchKeys: UnsafeMutableRawPointer      // the batch's keys as KV rows  [B][kvDim]
    private let batchValues: UnsafeMutableRawPointer    // and values
    private let scores: UnsafeMutablePointer<Float>     // [threads][heads per KV head][maxContext]
    private let partials: UnsafeMutablePointer<Float>   // split attention: [tasks][heads per KV head][headDim + 2]
    /// The row kernels of each KV type, taken from the kernel set once.
    private let kvRows: (f32: KVRowKernels, f16: KVRowKernels, q8: KVRowKernels)

    /// - Parameters: q, k, v: the batch's projections ([B][qDim], [B][kvDim]); out: its attention
    ///   output; rope: any rotary table (each `run` names its layer's).
    init(config c: Gemma3Config, compute: Compute, maxBatch: Int, maxContext: Int, rope: RotaryTable,
         q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
         out: UnsafeMutablePointer<Float>) {
        config = c
        self.compute = compute
        let ks = compute.kernels
        let group = c.headCount / c.kvHeadCount
        scores = .allocate(capacity: compute.threads * group * maxContext)
        batchKeys = .allocate(byteCount: maxBatch * Self.widestRowBytes(c), alignment: 64)
        batchValues = .allocate(byteCount: maxBatch * Self.widestRowBytes(c), alignment: 64)
        let splitTasks = maxSplitTasks(threads: compute.threads)
        partials = .allocate(capacity: splitTasks * group * (c.headDim + 2))
        job = .allocate(capacity: 1)
        kvRows = (KVRowKernels(ks, type: .f32)!, KVRowKernels(ks, type: .f16)!, KVRowKernels(ks, type: .q8_0)!)
        var j = AttentionJob(rows: kvRows.f16, rope: rope)
        j.eps = c.rmsEpsilon
        j.scale = c.attentionScale
        j.headDim = c.headDim
        j.heads = c.headCount
        j.kvHeads = c.kvHeadCount
        j.q = q
        j.k = k
        j.v = v
        j.batchKeys = batchKeys
        j.batchValues = batchValues
        j.out = out
        j.scores = scores
        j.scoresPerThread = group * maxContext
        j.scoresStride = maxContext
        j.partialOut = partials
        j.partialShift = partials + splitTasks * group * c.headDim
        j.partialSum = j.partialShift + splitTasks * group
        job.initialize(to: j)
    }

    deinit {
        scores.deallocate(); job.deallocate(); batchKeys.deallocate(); batchValues.deallocate(); partials.deallocate()
    }

    /// Bytes of a cached row (kvDim elements) of the widest KV type, f32.
    private static func widestRowBytes(_ c: Gemma3Config) -> Int { c.kvDim * MemoryLayout<Float>.size }

    /// Floats of scratch `init` allocates for these sizes (for the memory plan).
    static func scratchFloats(config c: Gemma3Config, maxBatch b: Int, maxContext: Int, threads: Int) -> Int {
        b * c.kvDim * 2 + (threads * maxContext + maxSplitTasks(threads: threads) * (c.headDim + 2)) * (c.headCount / c.kvHeadCount)
    }

    /// Attention of the whole batch at one layer (`rope`: the layer's rotary table), in three steps:
    ///  1. each token's QK norm and RoPE, its key and value stored as rows of the layer's KV type in
    ///     the batch scratch (and, against f16 rows, its query rounded to f16), split by token;
    ///  2. every query attends over the cached positions of its window, read from the cache, and the
    ///     batch's own positions up to its own, read from the scratch; one task per token and KV
    ///     head (the query heads sharing that KV head read each row once), and when that gives too
    ///     few tasks to keep every thread busy (decode), each one split along the positions into
    ///     pieces whose partial softmax results are merged afterwards;
    ///  3. the batch's rows are copied into the cache. The cache is not written before every query
    ///     has attended, so a local ring of `window` slots serves a batch longer than the window.
    /// Vision hook: in a `bidirectional` batch every query also sees the batch's later positions.
    func run(layer: Int, qNorm: UnsafeMutablePointer<Float>, kNorm: UnsafeMutablePointer<Float>, rope: RotaryTable,
             tokens n: Int, start: Int, cache: KVCache, bidirectional: Bool) {
        let c = config
        let global = c.isGlobal(layer: layer)
        let type = cache.types[layer]
        let rows: KVRowKernels
        switch type {
        case .f32: rows = kvRows.f32
        case .f16: rows = kvRows.f16
        case .q8: rows = kvRows.q8
        }
        job.pointee.rows = rows
        job.pointee.rope = rope
        job.pointee.qNorm = qNorm
        job.pointee.kNorm = kNorm
        job.pointee.roundQuery = type == .f16 ? compute.kernels.roundF16 : nil
        job.pointee.rowBytes = cache.rowBytes[layer]
        job.pointee.headBytes = type.rowBytes(c.headDim)
        job.pointee.keys = cache.keys[layer]
        job.pointee.values = cache.values[layer]
        job.pointee.capacity = cache.capacity[layer]
        job.pointee.start = start
        job.pointee.tokens = n
        job.pointee.window = global ? Int.max : c.slidingWindow
        job.pointee.bidirectional = bidirectional

        // 1. Norms, RoPE and the batch's rows, a few tokens per task.
        job.pointee.tokensPerTask = max(1, n / (compute.threads * 8))
        compute.parallel((n + job.pointee.tokensPerTask - 1) / job.pointee.tokensPerTask, context: job) { ctx, i, _ in
            ctx!.assumingMemoryBound(to: AttentionJob.self).pointee.prepare(tasks: Int(i))
        }
        // 2. Attention: one unit per token and KV head, split along the positions when there are
        // too few units to keep every thread busy (decode).
        let units = n * c.kvHeadCount
        let longest = bidirectional ? min(start + n, c.slidingWindow + n - 1) : min(start + n, job.pointee.window)
        job.pointee.splits = units >= 2 * compute.threads ? 1
            : max(1, min(maxSplitTasks(threads: compute.threads) / units, longest / Self.positionsPerSplit))
        compute.parallel(units * job.pointee.splits, context: job) { ctx, i, thread in
            ctx!.assumingMemoryBound(to: AttentionJob.self).pointee.attend(task: Int(i), thread: Int(thread))
        }
        if job.pointee.splits > 1 { job.pointee.mergeSplits() }
        // 3. The batch's last `capacity` rows into the cache.
        let rowBytes = cache.rowBytes[layer]
        for pos in max(start, start + n - cache.capacity[layer])..<(start + n) {
            cache.keyRow(layer: layer, position: pos).copyMemory(from: batchKeys + (pos - start) * rowBytes, byteCount: rowBytes)
            cache.valueRow(layer: layer, position: pos).copyMemory(from: batchValues + (pos - start) * rowBytes, byteCount: rowBytes)
        }
    }
}

/// Most tasks a split attention region has (its partial results are preallocated for this many).
func maxSplitTasks(threads: Int) -> Int { 4 * threads }

/// The attention of one layer for one batch (`LayerAttention.run`), split into pool tasks.
/// Everything is set before a region starts; tasks only read it (and write disjoint rows).
struct AttentionJob {
    var rows: KVRowKernels
    var rope: RotaryTable
    var qNorm = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var kNorm = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var roundQuery: (@convention(c) (UnsafeMutablePointer<Float>?, Int64) -> Void)? = nil
    var eps: Float = 1e-6
    var scale: Float = 1
    var headDim = 0
    var heads = 0
    var kvHeads = 0
    // Batch: queries [tokens][heads * headDim], keys and values (f32, before step 1 stores them),
    // the scratch rows of the batch, and the attention output.
    var q = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var k = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var v = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var batchKeys = UnsafeMutableRawPointer(bitPattern: 4)!
    var batchValues = UnsafeMutableRawPointer(bitPattern: 4)!
    var out = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var start = 0
    var tokens = 0
    var tokensPerTask = 1
    var bidirectional = false
    /// Tasks per (token, KV head) unit: 1, or a split of its positions into pieces whose partial
    /// softmax results `mergeSplits` combines (flash-decoding). Partial results per task: outputs
    /// [group * headDim], and per query the shift and the sum of `ElementWise.expShiftedParts`.
    var splits = 1
    var partialOut = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var partialShift = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var partialSum = UnsafeMutablePointer<Float>(bitPattern: 4)!
    // Cache of the layer: rows of `rowBytes` (all KV heads of a position), `headBytes` per head.
    var keys = UnsafeMutableRawPointer(bitPattern: 4)!
    var values = UnsafeMutableRawPointer(bitPattern: 4)!
    var capacity = 1
    var rowBytes = 0
    var headBytes = 0
    /// Keys a query sees: positions pos - window < j <= pos (Int.max for global layers).
    var window = Int.max
    /// Per thread, `scoresPerThread` floats of scores.
    var scores = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var scoresPerThread = 0
    var scoresStride = 0

    init(rows: KVRowKernels, rope: RotaryTable) {
        self.rows = rows
        self.rope = rope
    }

    /// Step 1 for the tokens of task `i`.
    func prepare(tasks i: Int) {
        let qDim = heads * headDim, kvDim = kvHeads * headDim
        for t in (i * tokensPerTask)..<min(tokens, (i + 1) * tokensPerTask) {
            let qt = q + t * qDim, kt = k + t * kvDim
            for h in 0..<heads {
                ElementWise.rmsNorm(qt + h * headDim, weight: qNorm, eps: eps, n: headDim, out: qt + h * headDim)
            }
            for h in 0..<kvHeads {
                ElementWise.rmsNorm(kt + h * headDim, weight: kNorm, eps: eps, n: headDim, out: kt + h * headDim)
            }
            rope.apply(qt, heads: heads, position: start + t)
            rope.apply(kt, heads: kvHeads, position: start + t)
            // Against f16 keys the peer dots a query rounded to f16 (llama.cpp converts Q to the
            // keys' type); rounding ours the same way keeps the two closer.
            roundQuery?(qt, Int64(qDim))
            rows.store(kt, batchKeys + t * rowBytes, Int64(kvDim))
            rows.store(v + t * kvDim, batchValues + t * rowBytes, Int64(kvDim))
        }
    }

    /// Step 2 for task `i` on pool thread `thread`: the query heads sharing one KV head, of one
    /// token, attend over every position they see (or over piece i % splits of those positions).
    func attend(task i: Int, thread: Int) {
        let unit = i / splits, piece = i % splits
        let t = tokens - 1 - unit / kvHeads  // the longest rows first, for a balanced finish
        let g = unit % kvHeads
        let nq = heads / kvHeads
        let kvOffset = g * headBytes
        let pos = start + t
        var first = window == Int.max ? 0 : max(0, pos - window + 1)
        var last = bidirectional ? start + tokens - 1 : pos
        if splits > 1 {
            let per = (last - first + splits) / splits
            (first, last) = (first + piece * per, min(last, first + piece * per + per - 1))
        }
        let count = max(0, last - first + 1)
        let qh = q + t * heads * headDim + g * nq * headDim
        let s = scores + thread * scoresPerThread
        let n = Int64(headDim)

        // Scores against cached positions [first, start) (at most two runs of ring slots) and the
        // batch's positions [max(first, start), last].
        forEachRun(keys, batchKeys, first: first, last: last) { base, count, column in
            rows.rowsDot(n, Int64(nq), qh, n, base + kvOffset, rowBytes, Int64(count), scale, s + column, Int64(scoresStride))
        }
        let o = splits == 1 ? out + t * heads * headDim + g * nq * headDim : partialOut + i * nq * headDim
        for j in 0..<nq {
            let (shift, sum) = ElementWise.expShiftedParts(s + j * scoresStride, scale: 1, count)
            if splits == 1 {
                ElementWise.scale(s + j * scoresStride, by: 1 / sum, count)
            } else {
                partialShift[i * nq + j] = shift
                partialSum[i * nq + j] = sum
            }
        }
        o.initialize(repeating: 0, count: nq * headDim)
        forEachRun(values, batchValues, first: first, last: last) { base, count, column in
            rows.rowsMix(n, Int64(nq), s + column, Int64(scoresStride), base + kvOffset, rowBytes, Int64(count), o, n)
        }
    }

    /// Combines the pieces of every unit: out = sum_p w_p o_p / sum_p w_p sum_p, with
    /// w_p = exp(shift_p - max shift) (empty pieces have shift -infinity, so weigh exp(-inf) = 0).
    func mergeSplits() {
        let nq = heads / kvHeads
        for unit in 0..<(tokens * kvHeads) {
            let t = tokens - 1 - unit / kvHeads, g = unit % kvHeads
            for j in 0..<nq {
                var top = -Float.infinity
                for p in 0..<splits { top = max(top, partialShift[(unit * splits + p) * nq + j]) }
                var total: Float = 0
                for p in 0..<splits {
                    let i = (unit * splits + p) * nq + j
                    total += partialSum[i] * expf(partialShift[i] - top)
                }
                let o = out + t * heads * headDim + (g * nq + j) * headDim
                o.initialize(repeating: 0, count: headDim)
                for p in 0..<splits {
                    let i = (unit * splits + p) * nq + j
                    let w = expf(partialShift[i] - top) / total
                    let src = partialOut + i * headDim
                    for e in 0..<headDim { o[e] += w * src[e] }
                }
            }
        }
    }

    /// Calls `body(rows, count, column)` for each contiguous run of stored rows (`rowBytes` apart)
    /// holding positions first...last, in order: cached positions from the ring `cached` (at most
    /// two runs, split where the ring wraps), then the batch's own from `batch`. `column` is the
    /// run's first position minus `first`.
    @inline(__always)
    private func forEachRun(_ cached: UnsafeMutableRawPointer, _ batch: UnsafeMutableRawPointer, first: Int, last: Int,
                            _ body: (UnsafeRawPointer, Int, Int) -> Void) {
        var p = first
        let cachedLast = min(last, start - 1)
        while p <= cachedLast {
            let slot = p % capacity
            let run = min(cachedLast - p + 1, capacity - slot)
            body(cached + slot * rowBytes, run, p - first)
            p += run
        }
        if p <= last { body(batch + (p - start) * rowBytes, last - p + 1, p - first) }
    }
}
