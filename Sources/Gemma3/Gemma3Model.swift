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
    private let scores: UnsafeMutablePointer<Float>     // [heads][maxContext]
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
        scores = .allocate(capacity: c.headCount * maxContext)
        attentionJob = .allocate(capacity: 1)
        kvRows = (KVRowKernels(ks, type: CK_F32)!, KVRowKernels(ks, type: CK_F16)!, KVRowKernels(ks, type: CK_Q8_0)!)
        attentionJob.initialize(to: AttentionJob(rows: kvRows.f16))
    }

    /// Bytes of the scratch buffers a model with this config, batch and context allocates.
    public static func scratchBytes(config c: Gemma3Config, maxBatch b: Int, maxContext: Int) -> Int {
        let floats = b * (c.embeddingLength * 4 + c.qDim * 2 + c.kvDim * 2 + c.feedForwardLength * 2)
            + c.headCount * maxContext
        // Quantised copies of the matrix inputs: at most ~1.1 bytes per element per format, 3 formats.
        let quantised = b * (c.embeddingLength * 2 + c.qDim + c.feedForwardLength) * 4
        return floats * MemoryLayout<Float>.size + quantised
    }

    deinit {
        ropeLocal.deallocate()
        ropeGlobal.deallocate()
        x.deallocate(); q.deallocate(); k.deallocate(); v.deallocate()
        projected.deallocate(); up.deallocate(); scores.deallocate(); attentionJob.deallocate()
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
    /// still see only keys less than `window` positions behind); the cache's local rings must then
    /// hold window + count - 1 slots (`KVCache(bidirectionalSpan:)`).
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
        // Vision hook: every key of a bidirectional batch is written before any query attends.
        if bidirectional, let ring = (0..<c.blockCount).filter({ !c.isGlobal(layer: $0) }).map({ cache.capacity[$0] }).min(),
           ring < min(cache.length + n, c.slidingWindow + n - 1) {
            throw ModelError.invalidConfig(file: weights.file.path, "a bidirectional batch of \(n) needs local KV rings of "
                                           + "\(c.slidingWindow + n - 1) slots, the cache has \(ring) (KVCache bidirectionalSpan)")
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
            if let timings { timings.feedForward[layer] += ForwardTimings.lap(&clock) }
        }
        cache.length = start + n
        rmsNormRows(x, weights.outputNorm, into: final, n)
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

    /// QK norm, RoPE, cache write and attention for every token of the batch, in order: token t
    /// writes its key and value, then attends, so a local ring of exactly `window` slots holds all
    /// it needs even when the batch is longer than the window.
    ///
    /// Vision hook: a `bidirectional` batch runs the loop in two passes, the first only writing every
    /// key and value, the second only attending, so each query also sees the keys after it in the
    /// batch (the ring then needs window + n - 1 slots, checked in `evaluate`).
    private func attention(layer: Int, weights w: BlockWeights, tokens n: Int, start: Int, cache: KVCache,
                           bidirectional: Bool = false) {
        let c = config
        let global = c.isGlobal(layer: layer)
        let rope = global ? ropeGlobal : ropeLocal
        let job = attentionJob
        let rows: KVRowKernels
        switch cache.types[layer] {
        case .f32: rows = kvRows.f32
        case .f16: rows = kvRows.f16
        case .q8: rows = kvRows.q8
        }
        job.pointee.dot = rows.dot
        job.pointee.axpy = rows.axpy
        job.pointee.rowBytes = cache.rowBytes[layer]
        job.pointee.headBytes = cache.types[layer].rowBytes(c.headDim)
        let roundQuery = cache.types[layer] == .f16
        let passes = bidirectional ? 2 : 1  // vision hook
        for i in 0..<(passes * n) {  // vision hook: was `for t in 0..<n`
            let pass = i / n, t = i % n  // vision hook
            let pos = start + t
            let qt = q + t * c.qDim
            let kt = k + t * c.kvDim
            if pass == 0 {  // vision hook (the block below is only re-indented)
                for h in 0..<c.headCount {
                    ElementWise.rmsNorm(qt + h * c.headDim, weight: w.qNorm, eps: c.rmsEpsilon, n: c.headDim, out: qt + h * c.headDim)
                }
                for h in 0..<c.kvHeadCount {
                    ElementWise.rmsNorm(kt + h * c.headDim, weight: w.kNorm, eps: c.rmsEpsilon, n: c.headDim, out: kt + h * c.headDim)
                }
                rope.apply(qt, heads: c.headCount, position: pos)
                rope.apply(kt, heads: c.kvHeadCount, position: pos)
                // Against f16 keys the peer dots a query rounded to f16 (llama.cpp converts Q to
                // the keys' dot type); rounding ours the same way keeps the two closer.
                if roundQuery { for i in 0..<c.qDim { qt[i] = Float(Float16(qt[i])) } }
                rows.store(kt, cache.keyRow(layer: layer, position: pos), Int64(c.kvDim))
                rows.store(v + t * c.kvDim, cache.valueRow(layer: layer, position: pos), Int64(c.kvDim))
            }  // vision hook
            if pass + 1 < passes { continue }  // vision hook: the first of two passes only writes

            // Keys visible from pos: all j <= pos (global), or pos - window < j <= pos (local).
            // Vision hook: a bidirectional batch also sees every later key of the batch.
            let first = global ? 0 : max(0, pos - c.slidingWindow + 1)
            let last = bidirectional ? start + n - 1 : pos  // vision hook
            job.pointee.query = qt
            job.pointee.out = attended.floats + t * c.qDim
            job.pointee.keys = cache.keys[layer]
            job.pointee.values = cache.values[layer]
            job.pointee.capacity = cache.capacity[layer]
            job.pointee.first = first
            job.pointee.count = last - first + 1  // vision hook: was pos - first + 1
            job.pointee.headDim = c.headDim
            job.pointee.groupSize = c.headCount / c.kvHeadCount
            job.pointee.scale = c.attentionScale
            job.pointee.scores = scores
            job.pointee.scoresStride = maxContext
            compute.parallel(c.headCount, context: job) { ctx, h, _ in
                ctx!.assumingMemoryBound(to: AttentionJob.self).pointee.run(head: Int(h))
            }
        }
        attended.invalidate(tokens: n)
    }
}

/// One query's attention, split by head across the pool. Cached rows are read through the row
/// kernels of the layer's KV type; the query, scores and output are f32.
struct AttentionJob {
    var dot: KVRowKernels.Dot
    var axpy: KVRowKernels.Axpy
    var query = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var out = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var keys = UnsafeMutableRawPointer(bitPattern: 4)!
    var values = UnsafeMutableRawPointer(bitPattern: 4)!
    var scores = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var scoresStride = 0
    var capacity = 1
    var first = 0
    var count = 0
    var headDim = 0
    /// Bytes of one cached row (all KV heads of one position) and of one head within it.
    var rowBytes = 0
    var headBytes = 0
    var groupSize = 1
    var scale: Float = 1

    init(rows: KVRowKernels) {
        dot = rows.dot
        axpy = rows.axpy
    }

    func run(head h: Int) {
        let kvOffset = (h / groupSize) * headBytes
        let qh = UnsafeRawPointer(query + h * headDim)
        let s = scores + h * scoresStride
        let n = Int64(headDim)
        for j in 0..<count {
            let slot = (first + j) % capacity
            s[j] = dot(n, keys + slot * rowBytes + kvOffset, qh) * scale
        }
        ElementWise.softmax(s, count)
        let o = out + h * headDim
        o.initialize(repeating: 0, count: headDim)
        for j in 0..<count {
            let slot = (first + j) % capacity
            axpy(n, s[j], values + slot * rowBytes + kvOffset, o)
        }
    }
}
