// The Gemma 3 text forward pass, as written in shared/GEMMA3.md ("One forward step").
// Reference behaviour: llama.cpp's gemma3 graph (src/models/gemma3.cpp), which the golden
// fixtures were recorded from. The activations live in a `Gemma3RunState` passed in; attention
// over the cache is `LayerAttention` (Attention.swift).
import GGUF
import Kernels

/// The model: its config, its weights (views into the mapped file or the repacked arena), the
/// rotary tables and the compute threads. Read-only once loaded.
public final class Gemma3Model: @unchecked Sendable {
    public let config: Gemma3Config
    public let weights: Gemma3Weights
    public let compute: Compute

    let ropeLocal: RotaryTable
    let ropeGlobal: RotaryTable
    private let embedScale: Float
    /// When set, each part of the forward pass adds its time here (for the profiler).
    public var timings: ForwardTimings?

    /// - Parameter repacked: repacked forms of some weight matrices (see `RepackedArena`), or nil.
    public init(file: GGUFFile, compute: Compute, repacked: RepackedArena? = nil) throws {
        let c = try Gemma3Config(file: file)
        config = c
        weights = try Gemma3Weights(file: file, config: c, repacked: repacked)
        self.compute = compute
        ropeLocal = RotaryTable(headDim: c.headDim, base: c.ropeBaseLocal)
        ropeGlobal = RotaryTable(headDim: c.headDim, base: c.ropeBaseGlobal, linearScale: c.ropeScaleGlobal)
        embedScale = Float(c.embeddingLength).squareRoot()
    }

    deinit {
        ropeLocal.deallocate()
        ropeGlobal.deallocate()
    }

    /// A run state for batches of up to `maxBatch` tokens over caches of up to `maxContext` positions.
    public func makeRunState(maxBatch: Int = 64, maxContext: Int) -> Gemma3RunState {
        Gemma3RunState(model: self, maxBatch: maxBatch, maxContext: maxContext)
    }

    /// Runs `tokens` (at most `state.maxBatch`) through every block at the next positions of
    /// `cache`, leaving each token's output-normalised hidden state in `state` for `logits`.
    public func evaluate(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache, state: Gemma3RunState) throws {
        try evaluate(tokens, count: tokens.count, embeddings: nil, bidirectional: false, cache: cache, state: state)
    }

    /// Runs `count` ready-made input rows (`embeddings`, [count][embd]: image
    /// soft tokens, which enter as they are, without the sqrt(n_embd) scale of token embeddings) at
    /// the next positions of `cache`. With `bidirectional` the rows attend to each other in both
    /// directions, as llama.cpp decodes an image chunk with causal attention off (local layers
    /// still see only keys less than `window` positions behind). The batch's keys are read from
    /// scratch until every query has attended, so the local rings need no room beyond the window.
    public func evaluate(embeddings: UnsafePointer<Float>, count: Int, cache: KVCache, bidirectional: Bool,
                         state: Gemma3RunState) throws {
        try evaluate(UnsafeBufferPointer(start: nil, count: 0), count: count, embeddings: embeddings,
                     bidirectional: bidirectional, cache: cache, state: state)
    }

    private func evaluate(_ tokens: UnsafeBufferPointer<Int32>, count n: Int, embeddings: UnsafePointer<Float>?,
                          bidirectional: Bool, cache: KVCache, state s: Gemma3RunState) throws {
        let c = config
        guard n > 0 else { throw ModelError.emptyInput }
        precondition(n <= s.maxBatch, "batch of \(n) exceeds maxBatch \(s.maxBatch)")
        guard cache.length + n <= min(cache.context, s.maxContext) else {
            throw ModelError.contextFull(needed: cache.length + n, context: min(cache.context, s.maxContext))
        }
        let x = s.x, normed = s.normed, q = s.q, k = s.k, v = s.v, attended = s.attended
        let projected = s.projected, hidden = s.hidden, up = s.up
        let d = c.embeddingLength
        let start = cache.length

        // Timing (only when a profiler attached `timings`): `clock` is the start of the current part.
        let timings = self.timings
        var clock = timings == nil ? 0 : ForwardTimings.now()

        // x = token_embd[id] * sqrt(n_embd)
        if let embeddings { x.update(from: embeddings, count: n * d) }  // image soft tokens enter unscaled
        for t in 0..<(embeddings == nil ? n : 0) {
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
            s.attention.run(layer: layer, qNorm: w.qNorm, kNorm: w.kNorm, rope: c.isGlobal(layer: layer) ? ropeGlobal : ropeLocal,
                            tokens: n, start: start, cache: cache, bidirectional: bidirectional)
            attended.invalidate(tokens: n)
            compute.matmul(w.output, attended, tokens: n, out: projected, outStride: d)
            addNormed(projected, w.postAttentionNorm, into: x, n)
            if let timings { timings.attention[layer] += ForwardTimings.lap(&clock) }

            // f = ffn_down(gelu_tanh(ffn_gate(h)) * ffn_up(h)), h = norm(x, ffn_norm);
            // x = x + norm(f, post_ffw_norm)
            rmsNormRows(x, w.ffnNorm, into: normed, n)
            compute.matmul(w.gate, normed, tokens: n, out: hidden.floats, outStride: c.feedForwardLength)
            compute.matmul(w.up, normed, tokens: n, out: up, outStride: c.feedForwardLength)
            compute.geluTanhMul(hidden.floats, up, count: n * c.feedForwardLength)
            hidden.invalidate(tokens: n)
            compute.matmul(w.down, hidden, tokens: n, out: projected, outStride: d)
            addNormed(projected, w.postFFNNorm, into: x, n)
            try ModelError.requireFinite(x, rows: n, width: d, "after layer \(layer) (blk.\(layer))")
            if let timings { timings.feedForward[layer] += ForwardTimings.lap(&clock) }
        }
        rmsNormRows(x, weights.outputNorm, into: s.final, n)
        try ModelError.requireFinite(s.final.floats, rows: n, width: d, "after the output norm (output_norm.weight)")
        cache.length = start + n
        s.batchCount = n
    }

    /// logits[t - rows.lowerBound][0..<vocab] = output projection of token t of the batch `state`
    /// last evaluated.
    public func logits(_ state: Gemma3RunState, rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= state.batchCount)
        let start = timings == nil ? 0 : ForwardTimings.now()
        compute.matmul(weights.outputProjection, state.final, firstToken: rows.lowerBound, tokens: rows.count,
                       out: out, outStride: config.vocabularySize)
        if let timings { timings.output += ForwardTimings.now() - start }
    }

    /// Logits of the last token of the batch `state` last evaluated.
    public func lastLogits(_ state: Gemma3RunState, into out: UnsafeMutablePointer<Float>) {
        logits(state, rows: (state.batchCount - 1)..<state.batchCount, into: out)
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
    private func addNormed(_ p: UnsafeMutablePointer<Float>, _ weight: UnsafeMutablePointer<Float>,
                           into x: UnsafeMutablePointer<Float>, _ n: Int) {
        let d = config.embeddingLength
        for t in 0..<n {
            ElementWise.rmsNorm(p + t * d, weight: weight, eps: config.rmsEpsilon, n: d, out: p + t * d)
            ElementWise.add(p + t * d, into: x + t * d, d)
        }
    }
}
