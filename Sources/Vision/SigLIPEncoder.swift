// The Gemma 3 vision tower: SigLIP ViT, 2-D average pooling, soft-embedding RMS norm and the
// projection to the text width. Reference behaviour: llama.cpp's tools/mtmd/models/siglip.cpp and
// clip.cpp (build_vit, build_inp, build_attn), which the golden fixtures were recorded from.
//
//   x = conv2d(image, patch_embd) + patch_bias + position_embd        (a matmul over patch rows)
//   each block:  x = x + attn_out(MHA(LN1(x)))                       (bidirectional, every patch)
//                x = x + ffn_down(gelu(ffn_up(LN2(x))))
//   x = post_LN(x); pool k x k patches -> tokens; rms_norm * soft_emb_norm; tokens · input_projection
import Base
import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns one preprocessed image into its soft tokens for the text model. Every buffer is
/// allocated in `init`; `encode` allocates nothing. Runs on the compute threads it is given: do
/// not encode while the same `Compute` evaluates text.
public final class SigLIPEncoder: @unchecked Sendable {
    public let weights: VisionWeights
    public let compute: Compute
    public let config: VisionConfig
    /// Token rows of one MLP block.
    let mlpBlock: Int

    private let arena = FloatArena()
    private let patches: QuantizedRows                 // [P][3 * patch * patch]
    private let x: UnsafeMutablePointer<Float>          // residual stream    [P][embd]
    private let normed: QuantizedRows                   // LayerNorm output   [P][embd]
    // Buffers are shared where lifetimes allow (a 4B image is 4096 x 1152 floats, 19 MB a buffer):
    // the queries live in `attended`, which attention overwrites item by item after copying that
    // item's queries; `projected` is `k`, dead once attention has packed it.
    private let q: UnsafeMutablePointer<Float>          // queries (= attended.floats) [P][embd]
    private let k: UnsafeMutablePointer<Float>          // keys               [P][embd]
    private let v: UnsafeMutablePointer<Float>          // values             [P][embd]
    private let attentionJob: UnsafeMutablePointer<AttentionBlocks> // packed keys and values, scratch
    private let attended: QuantizedRows                 // attention output   [P][embd]
    private let projected: UnsafeMutablePointer<Float>  // attn_out / ffn_down output (= v) [P][embd]
    private let hidden: QuantizedRows                   // gelu(ffn_up)       [mlpBlock][ff]
    private let pooled: QuantizedRows                   // pooled, normed     [tokens][embd]
    private let job: UnsafeMutablePointer<RowJob>
    private var seconds: Double = 0
    private var stages = EncoderStages()

    // The two timings below are read through getters that are never inlined, not as stored
    // properties: another module reads a stored property of this class at the field offset it
    // was compiled with, so a dependent left stale by an incremental build after this class's
    // private storage changed (as the attention panels did) read the wrong bytes: the CLI's
    // `vision-stages` line showed pooling and projection as patch embedding and projections,
    // and zeros past the end of the object.

    /// Seconds the last `encode` took.
    public var lastSeconds: Double {
        @inline(never) get { seconds }
    }

    /// Where the last `encode` spent them: the stages add up to `lastSeconds`.
    public var lastStages: EncoderStages {
        @inline(never) get { stages }
    }

    public init(weights: VisionWeights, compute: Compute) {
        self.weights = weights
        self.compute = compute
        let c = weights.config
        config = c
        let n = c.patchCount, d = c.embeddingLength
        mlpBlock = min(n, 512)
        let ks = compute.kernels
        func formats(_ ms: [Matrix]) -> Set<UInt32> { Set(ms.map { $0.activationType.rawValue }) }
        let blocks = weights.blocks
        patches = QuantizedRows(capacity: n, width: c.patchElements, formats: formats([weights.patchEmbedding]), kernels: ks)
        x = arena.allocate(n * d)
        normed = QuantizedRows(capacity: n, width: d, formats: formats(blocks.flatMap { [$0.q, $0.k, $0.v, $0.up] }),
                               kernels: ks)
        k = arena.allocate(n * d)
        v = arena.allocate(n * d)
        attentionJob = .allocate(capacity: 1)
        attentionJob.initialize(to: AttentionBlocks(gemm: compute.floatGemm, kernels: compute.rows, patches: n, width: d,
                                                    headDim: c.headDim, heads: c.headCount, threads: compute.threads,
                                                    arena: arena))
        attended = QuantizedRows(capacity: n, width: d, formats: formats(blocks.map(\.output)), kernels: ks)
        q = attended.floats
        projected = k
        hidden = QuantizedRows(capacity: mlpBlock, width: c.feedForwardLength, formats: formats(blocks.map(\.down)),
                               kernels: ks)
        pooled = QuantizedRows(capacity: c.tokensPerImage, width: d, formats: formats([weights.projection]), kernels: ks)
        job = .allocate(capacity: 1)
        job.initialize(to: RowJob(kernels: compute.rows))
    }

    deinit {
        job.deallocate()
        attentionJob.deallocate()
    }

    /// Bytes of the scratch an encoder for `config` allocates on `threads` compute threads (f32
    /// rows; quantised copies of matrix inputs add at most about as much again when the weights
    /// are quantised).
    public static func scratchBytes(config c: VisionConfig, textWidth: Int, threads: Int) -> Int {
        let n = c.patchCount, d = c.embeddingLength
        let floats = n * c.patchElements + n * d * 5
            + AttentionBlocks.floats(patches: n, headDim: c.headDim, heads: c.headCount, threads: threads)
            + min(n, 512) * c.feedForwardLength + c.tokensPerImage * d
        return floats * 4
    }

    /// Encodes one image: `pixels` holds imageSize x imageSize RGB values, interleaved and already
    /// normalised (see `ImagePreprocessor`); `out` receives tokensPerImage rows of textWidth floats.
    public func encode(pixels: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let t0 = monotonicSeconds()
        var laps = EncoderStages()
        var mark = t0
        /// Seconds since the last lap.
        func lap() -> Double { let now = monotonicSeconds(); defer { mark = now }; return now - mark }
        let c = config, w = weights
        let n = c.patchCount, d = c.embeddingLength

        // Patch embedding: a 2-D convolution with stride = kernel = patch, i.e. one matmul over
        // the patches laid out as rows of [channel][ky][kx] (ggml's im2col order).
        let p = c.patchSize, side = c.patchesPerSide, width = c.imageSize
        for py in 0..<side {
            for px in 0..<side {
                let row = patches.floats + (py * side + px) * c.patchElements
                for ch in 0..<3 {
                    for ky in 0..<p {
                        let src = pixels + ((py * p + ky) * width + px * p) * 3 + ch
                        let dst = row + (ch * p + ky) * p
                        for kx in 0..<p { dst[kx] = src[kx * 3] }
                    }
                }
            }
        }
        patches.invalidate(tokens: n)
        compute.batchMatmul(w.patchEmbedding, patches, tokens: n, out: x, outStride: d)
        addBias(w.patchBias, to: x, rows: n)
        if let pos = w.positionEmbedding {
            for t in 0..<n {
                pos.dequantizeRow(t, into: projected)
                ElementWise.add(projected, into: x + t * d, d)
            }
        }
        if let pre = w.preNorm { layerNorm(x, pre, into: x, rows: n) }
        laps.patchEmbedding = lap()

        for b in w.blocks {
            // x = x + attn_out(attention(LN1(x)))
            layerNorm(x, b.norm1, into: normed.floats, rows: n)
            normed.invalidate(tokens: n)
            compute.batchMatmul(b.q, normed, tokens: n, out: q, outStride: d)
            compute.batchMatmul(b.k, normed, tokens: n, out: k, outStride: d)
            compute.batchMatmul(b.v, normed, tokens: n, out: v, outStride: d)
            addBias(b.qBias, to: q, rows: n)
            addBias(b.kBias, to: k, rows: n)
            addBias(b.vBias, to: v, rows: n)
            laps.attentionProjections += lap()
            attention()
            laps.attentionCore += lap()
            compute.batchMatmul(b.output, attended, tokens: n, out: projected, outStride: d)
            run(.residual, rows: n, width: d, src: projected, dst: x, bias: b.outputBias)
            laps.attentionProjections += lap()

            // x = x + ffn_down(gelu(ffn_up(LN2(x)))), in blocks of rows to bound the hidden buffer.
            layerNorm(x, b.norm2, into: normed.floats, rows: n)
            normed.invalidate(tokens: n)
            let ff = c.feedForwardLength
            var r0 = 0
            while r0 < n {
                let rows = min(mlpBlock, n - r0)
                compute.batchMatmul(b.up, normed, firstToken: r0, tokens: rows, out: hidden.floats, outStride: ff)
                run(.biasGelu, rows: rows, width: ff, src: hidden.floats, bias: b.upBias)
                hidden.invalidate(tokens: rows)
                compute.batchMatmul(b.down, hidden, tokens: rows, out: projected + r0 * d, outStride: d)
                r0 += rows
            }
            run(.residual, rows: n, width: d, src: projected, dst: x, bias: b.downBias)
            laps.mlp += lap()
        }
        if let post = w.postNorm { layerNorm(x, post, into: x, rows: n) }

        // k x k average pooling over the patch grid: token (oy, ox) averages patches
        // (oy*k + ky, ox*k + kx), as ggml_pool_2d(AVG) does (sum, then divide).
        let kp = c.poolingKernel, tokensSide = side / kp, area = Float(kp * kp)
        for oy in 0..<tokensSide {
            for ox in 0..<tokensSide {
                let dst = pooled.floats + (oy * tokensSide + ox) * d
                dst.initialize(repeating: 0, count: d)
                for ky in 0..<kp {
                    for kx in 0..<kp {
                        ElementWise.add(x + ((oy * kp + ky) * side + ox * kp + kx) * d, into: dst, d)
                    }
                }
                for i in 0..<d { dst[i] /= area }
                // Soft-embedding RMS norm (the vision eps, as llama.cpp uses).
                ElementWise.rmsNorm(dst, weight: w.softEmbeddingNorm, eps: c.layerNormEpsilon, n: d, out: dst)
            }
        }
        pooled.invalidate(tokens: c.tokensPerImage)
        laps.pooling = lap()
        compute.batchMatmul(w.projection, pooled, tokens: c.tokensPerImage, out: out, outStride: w.textWidth)
        laps.projection = lap()
        stages = laps
        seconds = mark - t0
    }

    // MARK: Steps

    /// Bidirectional multi-head attention over all patches (`AttentionBlocks`): reads the
    /// queries from `q`, the keys from `k` and the values from `v`, and writes `attended`.
    private func attention() {
        attentionJob.pointee.set(q: q, k: k, v: v, out: attended.floats)
        AttentionBlocks.run(attentionJob, on: compute)
        attended.invalidate(tokens: config.patchCount)
    }

    private func layerNorm(_ src: UnsafeMutablePointer<Float>, _ norm: LayerNormWeights,
                           into dst: UnsafeMutablePointer<Float>, rows: Int) {
        run(.layerNorm, rows: rows, width: config.embeddingLength, src: src, dst: dst, weight: norm.weight,
            bias: norm.bias, scale: config.layerNormEpsilon)
    }

    /// Adds `bias` to each of `n` rows of embeddingLength floats.
    private func addBias(_ bias: UnsafeMutablePointer<Float>?, to rows: UnsafeMutablePointer<Float>, rows n: Int) {
        guard let bias else { return }
        run(.addBias, rows: n, width: config.embeddingLength, src: rows, bias: bias)
    }

    /// Runs a row-wise step across the compute threads.
    private func run(_ op: RowJob.Op, rows: Int, width: Int, src: UnsafeMutablePointer<Float>,
                     dst: UnsafeMutablePointer<Float>? = nil, weight: UnsafeMutablePointer<Float>? = nil,
                     bias: UnsafeMutablePointer<Float>? = nil, scale: Float = 1) {
        var op = op
        if op == .biasGelu, config.activation == .geluQuick { op = .biasGeluQuick }
        let perTask = max(1, (rows + compute.threads * 4 - 1) / (compute.threads * 4))
        job.pointee = RowJob(kernels: compute.rows, op: op, src: src, dst: dst ?? src, width: width, rows: rows,
                             rowsPerTask: perTask, weight: weight, bias: bias, scale: scale)
        compute.parallel((rows + perTask - 1) / perTask, context: job) { ctx, i, _ in
            ctx!.assumingMemoryBound(to: RowJob.self).pointee.run(task: Int(i))
        }
    }
}

/// Seconds of one `encode` by stage, summed over the blocks.
public struct EncoderStages: Sendable {
    /// Patches to rows, the patch matmul, position embeddings, pre-norm.
    public var patchEmbedding: Double = 0
    /// LayerNorm 1 and the q, k, v and output projections with their biases and residual.
    public var attentionProjections: Double = 0
    /// The attention itself: key transpose, scores, softmax, weighted values.
    public var attentionCore: Double = 0
    /// LayerNorm 2, ffn_up, GELU, ffn_down, biases and residual.
    public var mlp: Double = 0
    /// Post-norm, average pooling and the soft-embedding norm.
    public var pooling: Double = 0
    /// The projection to the text width.
    public var projection: Double = 0

    public init() {}

    public var total: Double { patchEmbedding + attentionProjections + attentionCore + mlp + pooling + projection }
}

extension EncoderStages: CustomStringConvertible {
    /// "patch embedding 12 ms, attention projections 340 ms, ..." (whole milliseconds).
    public var description: String {
        let parts: [(String, Double)] = [
            ("patch embedding", patchEmbedding), ("attention projections", attentionProjections),
            ("attention", attentionCore), ("mlp", mlp), ("pooling", pooling), ("projection", projection),
        ]
        return parts.map { "\($0.0) \(Int(($0.1 * 1000).rounded())) ms" }.joined(separator: ", ")
    }
}

/// One row-wise step of the encoder, split into tasks of `rowsPerTask` rows.
struct RowJob {
    enum Op {
        /// dst = LayerNorm(src) * weight + bias
        case layerNorm
        /// src = gelu(src + bias), tanh or quick form
        case biasGelu, biasGeluQuick
        /// src += bias
        case addBias
        /// dst += src + bias: a projection's bias and the residual
        case residual
    }
    let kernels: RowKernels
    var op: Op = .layerNorm
    var src = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var dst = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var width = 0
    var rows = 0
    var rowsPerTask = 1
    var weight: UnsafeMutablePointer<Float>? = nil
    var bias: UnsafeMutablePointer<Float>? = nil
    /// The epsilon of layerNorm.
    var scale: Float = 1

    func run(task: Int) {
        let r1 = min(rows, (task + 1) * rowsPerTask)
        for r in (task * rowsPerTask)..<r1 {
            let s = src + r * width, o = dst + r * width
            switch op {
            case .layerNorm: kernels.layerNorm(s, weight: weight, bias: bias, eps: scale, n: width, out: o)
            case .biasGelu: kernels.geluTanh(s, width, bias: bias)
            case .biasGeluQuick:
                if let bias { kernels.add(bias, into: s, width) }
                VisionMath.geluQuick(s, width)
            case .addBias: kernels.add(bias!, into: s, width)
            case .residual: kernels.add(s, bias, into: o, width)
            }
        }
    }
}
