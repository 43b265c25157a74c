// The Gemma 3 text forward pass, as written in shared/GEMMA3.md ("One forward step").
// Reference behaviour: llama.cpp's gemma3 graph (src/models/gemma3.cpp), which the golden
// fixtures were recorded from.
import CKernels
import GGUF
import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class Gemma3Model: @unchecked Sendable {
    public let config: Gemma3Config
    public let weights: Gemma3Weights
    public let compute: Compute
    /// Most tokens one `evaluate` call takes (the prefill batch).
    public let maxBatch: Int

    private let ropeLocal: RotaryTable
    private let ropeGlobal: RotaryTable
    private let embedScale: Float

    // Scratch, sized once for maxBatch tokens.
    private let x: UnsafeMutablePointer<Float>          // residual stream   [B][embd]
    private let normed: QuantizedRows                    // matrix inputs      [B][embd]
    private let q: UnsafeMutablePointer<Float>          // queries           [B][qDim]
    private let k: UnsafeMutablePointer<Float>          // keys              [B][kvDim]
    private let v: UnsafeMutablePointer<Float>          // values            [B][kvDim]
    private let attended: QuantizedRows                  // attention output  [B][qDim]
    private let projected: UnsafeMutablePointer<Float>  // o / down output   [B][embd]
    private let hidden: QuantizedRows                    // gelu(gate) * up   [B][ffn]
    private let up: UnsafeMutablePointer<Float>         // up projection     [B][ffn]
    private let final: QuantizedRows                     // output-normed     [B][embd]
    private let attentionJob: UnsafeMutablePointer<AttentionJob>
    private let batchKeys: UnsafeMutableRawPointer      // the batch's keys as KV rows  [B][kvDim]
    private let batchValues: UnsafeMutableRawPointer    // and values
    private let scores: UnsafeMutablePointer<Float>     // [threads][heads per KV head][maxContext]
    private let partials: UnsafeMutablePointer<Float>   // split attention: [tasks][heads per KV head][headDim + 2]
    /// Fewest positions worth a piece of their own when a unit's attention is split.
    static let positionsPerSplit = 64
    private let maxContext: Int
    /// The row kernels of each KV type, taken from the kernel set once.
    private let kvRows: (f32: KVRowKernels, f16: KVRowKernels, q8: KVRowKernels)
    /// When set, each part of the forward pass adds its time here (for the profiler).
    public var timings: ForwardTimings?
    /// Tokens in the last evaluated batch (rows of `final` that hold results).
    public private(set) var lastBatchCount = 0

    /// - Parameters:
    ///   - maxContext: the longest cache this model will be asked to attend over.
    ///   - repacked: repacked forms of some weight matrices (see `RepackedArena`), or nil.
    public init(file: GGUFFile, compute: Compute, maxBatch: Int = 64, maxContext: Int,
                repacked: RepackedArena? = nil) throws {
        let c = try Gemma3Config(file: file)
        config = c
        weights = try Gemma3Weights(file: file, config: c, repacked: repacked)
        self.compute = compute
        self.maxBatch = maxBatch
        self.maxContext = maxContext
        ropeLocal = RotaryTable(headDim: c.headDim, base: c.ropeBaseLocal)
        ropeGlobal = RotaryTable(headDim: c.headDim, base: c.ropeBaseGlobal, linearScale: c.ropeScaleGlobal)
        embedScale = Float(c.embeddingLength).squareRoot()

        let ks = compute.kernels
        func formats(_ ms: [Matrix]) -> Set<UInt32> { Set(ms.map { $0.activationType.rawValue }) }
        let blocks = weights.blocks
        x = .allocate(capacity: maxBatch * c.embeddingLength)
        normed = QuantizedRows(capacity: maxBatch, width: c.embeddingLength,
                               formats: formats(blocks.flatMap { [$0.q, $0.k, $0.v, $0.gate, $0.up] }), kernels: ks)
        q = .allocate(capacity: maxBatch * c.qDim)
        k = .allocate(capacity: maxBatch * c.kvDim)
        v = .allocate(capacity: maxBatch * c.kvDim)
        attended = QuantizedRows(capacity: maxBatch, width: c.qDim, formats: formats(blocks.map(\.output)), kernels: ks)
        projected = .allocate(capacity: maxBatch * c.embeddingLength)
        hidden = QuantizedRows(capacity: maxBatch, width: c.feedForwardLength, formats: formats(blocks.map(\.down)), kernels: ks)
        up = .allocate(capacity: maxBatch * c.feedForwardLength)
        final = QuantizedRows(capacity: maxBatch, width: c.embeddingLength,
                              formats: formats([weights.outputProjection]), kernels: ks)
        let group = c.headCount / c.kvHeadCount
        scores = .allocate(capacity: compute.threads * group * maxContext)
        batchKeys = .allocate(byteCount: maxBatch * Self.widestRowBytes(c), alignment: 64)
        batchValues = .allocate(byteCount: maxBatch * Self.widestRowBytes(c), alignment: 64)
        let splitTasks = maxSplitTasks(threads: compute.threads)
        partials = .allocate(capacity: splitTasks * group * (c.headDim + 2))
        attentionJob = .allocate(capacity: 1)
        kvRows = (KVRowKernels(ks, type: CK_F32)!, KVRowKernels(ks, type: CK_F16)!, KVRowKernels(ks, type: CK_Q8_0)!)
        var job = AttentionJob(rows: kvRows.f16, rope: ropeLocal)
        job.eps = c.rmsEpsilon
        job.scale = c.attentionScale
        job.headDim = c.headDim
        job.heads = c.headCount
        job.kvHeads = c.kvHeadCount
        job.q = q
        job.k = k
        job.v = v
        job.batchKeys = batchKeys
        job.batchValues = batchValues
        job.out = attended.floats
        job.scores = scores
        job.scoresPerThread = group * maxContext
        job.scoresStride = maxContext
        job.partialOut = partials
        job.partialShift = partials + splitTasks * group * c.headDim
        job.partialSum = job.partialShift + splitTasks * group
        attentionJob.initialize(to: job)
    }

    /// Bytes of a cached row (kvDim elements) of the widest KV type, f32.
    private static func widestRowBytes(_ c: Gemma3Config) -> Int { c.kvDim * MemoryLayout<Float>.size }

    /// Bytes of the scratch buffers a model with this config, batch, context and thread count allocates.
    public static func scratchBytes(config c: Gemma3Config, maxBatch b: Int, maxContext: Int, threads: Int = 1) -> Int {
        let floats = b * (c.embeddingLength * 4 + c.qDim * 2 + c.kvDim * 4 + c.feedForwardLength * 2)
            + (threads * maxContext + maxSplitTasks(threads: threads) * (c.headDim + 2)) * (c.headCount / c.kvHeadCount)
        // Quantised copies of the matrix inputs: at most ~1.1 bytes per element per format, 3 formats.
        let quantised = b * (c.embeddingLength * 2 + c.qDim + c.feedForwardLength) * 4
        return floats * MemoryLayout<Float>.size + quantised
    }

    deinit {
        ropeLocal.deallocate()
        ropeGlobal.deallocate()
        x.deallocate(); q.deallocate(); k.deallocate(); v.deallocate()
        projected.deallocate(); up.deallocate(); scores.deallocate(); attentionJob.deallocate()
        batchKeys.deallocate(); batchValues.deallocate(); partials.deallocate()
    }

    /// Runs `tokens` (at most maxBatch) through every block at the next positions of `cache`,
    /// leaving each token's output-normalised hidden state ready for `logits`.
    public func evaluate(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache) throws {
        try evaluate(tokens, count: tokens.count, embeddings: nil, bidirectional: false, cache: cache)  // vision hook
    }

    /// Vision hook (issue 7): runs `count` ready-made input rows (`embeddings`, [count][embd]: image
    /// soft tokens, which enter as they are, without the sqrt(n_embd) scale of token embeddings) at
    /// the next positions of `cache`. With `bidirectional` the rows attend to each other in both
    /// directions, as llama.cpp decodes an image chunk with causal attention off (local layers
    /// still see only keys less than `window` positions behind). The batch's keys are read from
    /// scratch until every query has attended, so the local rings need no room beyond the window.
    public func evaluate(embeddings: UnsafePointer<Float>, count: Int, cache: KVCache, bidirectional: Bool) throws {
        try evaluate(UnsafeBufferPointer(start: nil, count: 0), count: count, embeddings: embeddings,
                     bidirectional: bidirectional, cache: cache)
    }

    private func evaluate(_ tokens: UnsafeBufferPointer<Int32>, count n: Int, embeddings: UnsafePointer<Float>?,
                          bidirectional: Bool, cache: KVCache) throws {  // vision hook: was the public evaluate
        let c = config
        guard n > 0 else { throw ModelError.emptyInput }
        precondition(n <= maxBatch, "batch of \(n) exceeds maxBatch \(maxBatch)")
        guard cache.length + n <= min(cache.context, maxContext) else {
            throw ModelError.contextFull(needed: cache.length + n, context: min(cache.context, maxContext))
        }
        let d = c.embeddingLength
        let start = cache.length

        // Timing (only when a profiler attached `timings`): `clock` is the start of the current part.
        let timings = self.timings
        var clock = timings == nil ? 0 : ForwardTimings.now()

        // x = token_embd[id] * sqrt(n_embd)
        if let embeddings { x.update(from: embeddings, count: n * d) }  // vision hook: soft tokens, unscaled
        for t in 0..<(embeddings == nil ? n : 0) {  // vision hook: was 0..<n
            let id = Int(tokens[t])
            guard id >= 0, id < c.vocabularySize else {
                throw ModelError.invalidConfig(file: weights.file.path, "token id \(id) is outside the vocabulary")
            }
            weights.tokenEmbedding.dequantizeRow(id, into: x + t * d)
            ElementWise.scale(x + t * d, by: embedScale, d)
        }

        if let timings { timings.embedding += ForwardTimings.lap(&clock) }

        let blocks = weights.blocks
        for layer in 0..<blocks.count {
            let w = blocks[layer]
            // a = attention(norm(x, attn_norm)); x = x + norm(a, post_attention_norm)
            rmsNormRows(x, w.attnNorm, into: normed, n)
            compute.matmul(w.q, normed, tokens: n, out: q, outStride: c.qDim)
            compute.matmul(w.k, normed, tokens: n, out: k, outStride: c.kvDim)
            compute.matmul(w.v, normed, tokens: n, out: v, outStride: c.kvDim)
            attention(layer: layer, weights: w, tokens: n, start: start, cache: cache, bidirectional: bidirectional)
            compute.matmul(w.output, attended, tokens: n, out: projected, outStride: d)
            addNormed(projected, w.postAttentionNorm, n)
            if let timings { timings.attention[layer] += ForwardTimings.lap(&clock) }

            // f = ffn_down(gelu_tanh(ffn_gate(h)) * ffn_up(h)), h = norm(x, ffn_norm);
            // x = x + norm(f, post_ffw_norm)
            rmsNormRows(x, w.ffnNorm, into: normed, n)
            compute.matmul(w.gate, normed, tokens: n, out: hidden.floats, outStride: c.feedForwardLength)
            compute.matmul(w.up, normed, tokens: n, out: up, outStride: c.feedForwardLength)
            compute.geluTanhMul(hidden.floats, up, count: n * c.feedForwardLength)
            hidden.invalidate(tokens: n)
            compute.matmul(w.down, hidden, tokens: n, out: projected, outStride: d)
            addNormed(projected, w.postFFNNorm, n)
            try ModelError.requireFinite(x, rows: n, width: d, "after layer \(layer) (blk.\(layer))")
            if let timings { timings.feedForward[layer] += ForwardTimings.lap(&clock) }
        }
        rmsNormRows(x, weights.outputNorm, into: final, n)
        try ModelError.requireFinite(final.floats, rows: n, width: d, "after the output norm (output_norm.weight)")
        cache.length = start + n
        lastBatchCount = n
    }

    /// logits[t - rows.lowerBound][0..<vocab] = output projection of token t of the last batch.
    public func logits(rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= lastBatchCount)
        let start = timings == nil ? 0 : ForwardTimings.now()
        compute.matmul(weights.outputProjection, final, firstToken: rows.lowerBound, tokens: rows.count,
                       out: out, outStride: config.vocabularySize)
        if let timings { timings.output += ForwardTimings.now() - start }
    }

    /// Logits of the last token of the last batch.
    public func lastLogits(into out: UnsafeMutablePointer<Float>) {
        logits(rows: (lastBatchCount - 1)..<lastBatchCount, into: out)
    }

    // MARK: Steps

    private func rmsNormRows(_ src: UnsafeMutablePointer<Float>, _ weight: UnsafeMutablePointer<Float>,
                             into dst: QuantizedRows, _ n: Int) {
        let d = config.embeddingLength
        for t in 0..<n {
            ElementWise.rmsNorm(src + t * d, weight: weight, eps: config.rmsEpsilon, n: d, out: dst.floats + t * d)
        }
        dst.invalidate(tokens: n)
    }

    /// x += norm(p, weight) row by row.
    private func addNormed(_ p: UnsafeMutablePointer<Float>, _ weight: UnsafeMutablePointer<Float>, _ n: Int) {
        let d = config.embeddingLength
        for t in 0..<n {
            ElementWise.rmsNorm(p + t * d, weight: weight, eps: config.rmsEpsilon, n: d, out: p + t * d)
            ElementWise.add(p + t * d, into: x + t * d, d)
        }
    }

    /// Attention of the whole batch at one layer, in three steps:
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
    private func attention(layer: Int, weights w: BlockWeights, tokens n: Int, start: Int, cache: KVCache,
                           bidirectional: Bool = false) {
        let c = config
        let global = c.isGlobal(layer: layer)
        let type = cache.types[layer]
        let rows: KVRowKernels
        switch type {
        case .f32: rows = kvRows.f32
        case .f16: rows = kvRows.f16
        case .q8: rows = kvRows.q8
        }
        let job = attentionJob
        job.pointee.rows = rows
        job.pointee.rope = global ? ropeGlobal : ropeLocal
        job.pointee.qNorm = w.qNorm
        job.pointee.kNorm = w.kNorm
        job.pointee.roundQuery = type == .f16 ? compute.kernels.table.pointee.round_f16 : nil
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
        attended.invalidate(tokens: n)
    }
}

/// Most tasks a split attention region has (its partial results are preallocated for this many).
func maxSplitTasks(threads: Int) -> Int { 4 * threads }

/// The attention of one layer for one batch (`Gemma3Model.attention`), split into pool tasks.
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
