import Kernels

/// What one forward pass works in: the activations of a batch, the attention scratch and the
/// output-normalised hidden states the logits are read from, sized once for `maxBatch` tokens, a
/// context and the compute threads (as llama2.c's `RunState` or gemma.cpp's `Activations`). The
/// model's weights are shared and read-only; a run state belongs to one caller at a time.
public final class Gemma3RunState: @unchecked Sendable {
    /// Most tokens one `evaluate` call takes (the prefill batch).
    public let maxBatch: Int
    /// The longest cache a forward pass in this state attends over.
    public let maxContext: Int
    let x: UnsafeMutablePointer<Float>          // residual stream   [B][embd]
    let normed: QuantizedRows                    // matrix inputs      [B][embd]
    let q: UnsafeMutablePointer<Float>          // queries           [B][qDim]
    let k: UnsafeMutablePointer<Float>          // keys              [B][kvDim]
    let v: UnsafeMutablePointer<Float>          // values            [B][kvDim]
    let attended: QuantizedRows                  // attention output  [B][qDim]
    let projected: UnsafeMutablePointer<Float>  // o / down output   [B][embd]
    let hidden: QuantizedRows                    // gelu(gate) * up   [B][ffn]
    let up: UnsafeMutablePointer<Float>         // up projection     [B][ffn]
    let final: QuantizedRows                     // output-normed     [B][embd]
    let attention: LayerAttention
    /// Tokens in the last evaluated batch (rows of `final` that hold results).
    public internal(set) var batchCount = 0

    /// Scratch for `model`'s forward pass over batches of up to `maxBatch` tokens.
    public init(model: Gemma3Model, maxBatch: Int, maxContext: Int) {
        let c = model.config, weights = model.weights, ks = model.compute.kernels
        func formats(_ ms: [Matrix]) -> Set<UInt32> { Set(ms.map { $0.activationType.rawValue }) }
        let blocks = weights.blocks
        self.maxBatch = maxBatch
        self.maxContext = maxContext
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
        attention = LayerAttention(config: c, compute: model.compute, maxBatch: maxBatch, maxContext: maxContext,
                                   rope: model.ropeLocal, q: q, k: k, v: v, out: attended.floats)
    }

    deinit {
        x.deallocate(); q.deallocate(); k.deallocate(); v.deallocate(); projected.deallocate(); up.deallocate()
    }

    /// Bytes of the scratch a run state with this config, batch, context and thread count allocates.
    public static func scratchBytes(config c: Gemma3Config, maxBatch b: Int, maxContext: Int, threads: Int = 1) -> Int {
        let floats = b * (c.embeddingLength * 4 + c.qDim * 2 + c.kvDim * 2 + c.feedForwardLength * 2)
            + LayerAttention.scratchFloats(config: c, maxBatch: b, maxContext: maxContext, threads: threads)
        // Quantised copies of the matrix inputs: at most ~1.1 bytes per element per format, 3 formats.
        let quantised = b * (c.embeddingLength * 2 + c.qDim + c.feedForwardLength) * 4
        return floats * MemoryLayout<Float>.size + quantised
    }
}
