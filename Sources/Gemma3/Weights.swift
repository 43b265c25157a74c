import GGUF
import Kernels

/// One transformer block's weights. Matrices are views into the mapped file; norm vectors are
/// small and copied to f32 once at load.
public struct BlockWeights: @unchecked Sendable {
    public let attnNorm: UnsafeMutablePointer<Float>          // [embd]
    public let q: Matrix                                        // [heads * headDim] x embd
    public let k: Matrix                                        // [kvHeads * headDim] x embd
    public let v: Matrix                                        // [kvHeads * headDim] x embd
    public let qNorm: UnsafeMutablePointer<Float>               // [headDim]
    public let kNorm: UnsafeMutablePointer<Float>               // [headDim]
    public let output: Matrix                                   // embd x [heads * headDim]
    public let postAttentionNorm: UnsafeMutablePointer<Float>   // [embd]
    public let ffnNorm: UnsafeMutablePointer<Float>             // [embd]
    public let gate: Matrix                                     // ffn x embd
    public let up: Matrix                                       // ffn x embd
    public let down: Matrix                                     // embd x ffn
    public let postFFNNorm: UnsafeMutablePointer<Float>         // [embd]
}

/// All weights of a Gemma 3 text model, checked against the config.
public final class Gemma3Weights: @unchecked Sendable {
    public let file: GGUFFile
    public let tokenEmbedding: Matrix        // vocab x embd
    public let outputProjection: Matrix      // vocab x embd (the embedding itself when tied)
    public let outputNorm: UnsafeMutablePointer<Float>
    public let blocks: [BlockWeights]
    /// The repacked matrices, kept alive as long as the weights.
    public let repacked: RepackedArena?
    private var owned: [UnsafeMutablePointer<Float>] = []

    /// The matrices multiplied by activations (the block projections, and the output projection:
    /// `output.weight`, or the tied `token_embd.weight`): what a `RepackedArena` may repack.
    public static func matmulTensorNames(file: GGUFFile, config c: Gemma3Config) -> [String] {
        var names: [String] = []
        for i in 0..<c.blockCount {
            for m in ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] {
                names.append("blk.\(i).\(m).weight")
            }
        }
        names.append(outputProjectionName(file))
        return names
    }

    /// The tensor the output projection reads: `output.weight`, or the tied `token_embd.weight`.
    public static func outputProjectionName(_ file: GGUFFile) -> String {
        file.tensor(named: "output.weight") == nil ? "token_embd.weight" : "output.weight"
    }

    /// - Parameter repacked: repacked (or requantised) forms of some matrices; each matrix found
    ///   there reads them instead of the mapped file. The embedding lookup always reads the file's
    ///   rows, also when the tied output projection is held in another type.
    public init(file: GGUFFile, config c: Gemma3Config, repacked: RepackedArena? = nil) throws {
        self.file = file
        self.repacked = repacked
        var owned: [UnsafeMutablePointer<Float>] = []

        func tensor(_ name: String, _ shape: [Int]) throws -> GGUFTensorInfo {
            guard let t = file.tensor(named: name) else { throw ModelError.missingTensor(file: file.path, name: name) }
            guard t.dimensions == shape else {
                throw ModelError.badTensorShape(file: file.path, name: name, expected: shape, found: t.dimensions)
            }
            return t
        }
        // A matrix as the arena holds it (requantised, or repacked), else the file's rows.
        func matrix(_ name: String, columns: Int, rows: Int, arena: Bool = true) throws -> Matrix {
            let t = try tensor(name, [columns, rows])
            if arena, let m = repacked?.requantised(name) { return m }
            var m = Matrix(type: t.type, rows: rows, columns: columns, base: file.data(of: t).baseAddress!)
            if arena { m.repacked = repacked?.view(name) }
            return m
        }
        func vector(_ name: String, _ n: Int) throws -> UnsafeMutablePointer<Float> {
            let t = try tensor(name, [n])
            let m = Matrix(type: t.type, rows: 1, columns: n, base: file.data(of: t).baseAddress!)
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            m.dequantizeRow(0, into: p)
            owned.append(p)
            return p
        }

        tokenEmbedding = try matrix("token_embd.weight", columns: c.embeddingLength, rows: c.vocabularySize, arena: false)
        outputProjection = try matrix(Self.outputProjectionName(file), columns: c.embeddingLength, rows: c.vocabularySize)
        outputNorm = try vector("output_norm.weight", c.embeddingLength)

        var blocks: [BlockWeights] = []
        for i in 0..<c.blockCount {
            let p = "blk.\(i)."
            blocks.append(BlockWeights(
                attnNorm: try vector(p + "attn_norm.weight", c.embeddingLength),
                q: try matrix(p + "attn_q.weight", columns: c.embeddingLength, rows: c.qDim),
                k: try matrix(p + "attn_k.weight", columns: c.embeddingLength, rows: c.kvDim),
                v: try matrix(p + "attn_v.weight", columns: c.embeddingLength, rows: c.kvDim),
                qNorm: try vector(p + "attn_q_norm.weight", c.headDim),
                kNorm: try vector(p + "attn_k_norm.weight", c.headDim),
                output: try matrix(p + "attn_output.weight", columns: c.qDim, rows: c.embeddingLength),
                postAttentionNorm: try vector(p + "post_attention_norm.weight", c.embeddingLength),
                ffnNorm: try vector(p + "ffn_norm.weight", c.embeddingLength),
                gate: try matrix(p + "ffn_gate.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                up: try matrix(p + "ffn_up.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                down: try matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: c.embeddingLength),
                postFFNNorm: try vector(p + "post_ffw_norm.weight", c.embeddingLength)))
        }
        self.blocks = blocks
        self.owned = owned
    }

    deinit {
        for p in owned { p.deallocate() }
    }

    /// Bytes of the mapped weight tensors this model reads.
    public var mappedBytes: Int { file.tensors.reduce(0) { $0 + $1.byteCount } }
}
