// Typed views of the SigLIP tower and the Gemma 3 projector inside an mmproj file. Tensor names and
// shapes are llama.cpp's (tools/mtmd/clip-impl.h, clip.cpp load_tensors). Matrices are views into
// the mapped file; vectors (norms, biases) are small and copied to f32 once.
import GGUF
import Kernels

/// One pre-LayerNorm transformer block of the encoder.
struct VisionBlockWeights: @unchecked Sendable {
    let norm1: LayerNormWeights            // ln1: [embd] weight and bias
    let q: Matrix                          // embd x embd
    let k: Matrix                          // embd x embd
    let v: Matrix                          // embd x embd
    let qBias: UnsafeMutablePointer<Float>?     // [embd]
    let kBias: UnsafeMutablePointer<Float>?
    let vBias: UnsafeMutablePointer<Float>?
    let output: Matrix                     // embd x embd (attn_out)
    let outputBias: UnsafeMutablePointer<Float>?
    let norm2: LayerNormWeights            // ln2
    let up: Matrix                         // ff x embd
    let upBias: UnsafeMutablePointer<Float>?    // [ff]
    let down: Matrix                       // embd x ff
    let downBias: UnsafeMutablePointer<Float>?  // [embd]
}

/// The weight and optional bias of a LayerNorm (either may be absent, as llama.cpp allows).
struct LayerNormWeights: @unchecked Sendable {
    let weight: UnsafeMutablePointer<Float>?
    let bias: UnsafeMutablePointer<Float>?
}

/// Every tensor of a Gemma 3 mmproj, checked against its config and against the width of the text
/// model it is paired with.
public final class VisionWeights: @unchecked Sendable {
    public let file: GGUFFile
    public let config: VisionConfig
    /// Width of the text model the projection writes (`mm.input_projection` columns).
    public let textWidth: Int
    let patchEmbedding: Matrix                 // embd x (3 * patch * patch), [c][ky][kx] per row
    let patchBias: UnsafeMutablePointer<Float>?
    let positionEmbedding: Matrix?             // patches x embd
    let preNorm: LayerNormWeights?
    let blocks: [VisionBlockWeights]
    let postNorm: LayerNormWeights?
    let softEmbeddingNorm: UnsafeMutablePointer<Float>   // [embd], already holding Gemma's 1 + w
    /// `mm.input_projection` transposed to textWidth x embd f32, so it runs on the same matmul as
    /// every other matrix (the file stores it embd rows of textWidth).
    let projection: Matrix
    /// Owns every vector copied out of the mapping (freed with the weights, or at once if init throws).
    private let arena = FloatArena()

    /// - Parameter textWidth: the paired text model's embedding length; the projection must write it.
    public convenience init(file: GGUFFile, config c: VisionConfig, textWidth: Int) throws {
        try self.init(file: file, config: c, textWidth: textWidth, readData: true)
    }

    /// Runs every check of `init` that the tensor table alone answers (names, shapes, types, the
    /// projection's width) without reading any tensor data, so a projector is validated at load
    /// while its pages stay unread until the first image. The finiteness of the vectors is checked
    /// when they are read.
    public static func validate(file: GGUFFile, config c: VisionConfig, textWidth: Int) throws {
        _ = try VisionWeights(file: file, config: c, textWidth: textWidth, readData: false)
    }

    /// - Parameter readData: false only checks the layout: vectors and the projection then point at
    ///   one unread placeholder and the object must not be used (see `validate`).
    private init(file: GGUFFile, config c: VisionConfig, textWidth: Int, readData: Bool) throws {
        self.file = file
        self.config = c
        self.textWidth = textWidth
        let path = file.path
        let arena = self.arena
        let unread = arena.allocate(1)

        func info(_ name: String, _ shape: [Int]) throws -> GGUFTensorInfo? {
            guard let t = file.tensor(named: name) else { return nil }
            guard t.dimensions == shape else {
                throw VisionError.badTensor(file: path, name: name, "shape \(t.dimensions), expected \(shape)")
            }
            return t
        }
        func required(_ name: String, _ shape: [Int]) throws -> GGUFTensorInfo {
            guard let t = try info(name, shape) else { throw VisionError.missingTensor(file: path, name: name) }
            return t
        }
        func matrix(_ t: GGUFTensorInfo, rows: Int, columns: Int) throws -> Matrix {
            guard rows * columns == t.elementCount, t.type.rowBytes(columns) != nil else {
                throw VisionError.badTensor(file: path, name: t.name, "\(t.type) rows of \(columns) are not whole blocks")
            }
            return Matrix(type: t.type, rows: rows, columns: columns, base: file.data(of: t).baseAddress!)
        }
        func vector(_ name: String, _ n: Int, required needed: Bool = false) throws -> UnsafeMutablePointer<Float>? {
            guard let t = needed ? try required(name, [n]) : try info(name, [n]) else { return nil }
            guard readData else { _ = try matrix(t, rows: 1, columns: n); return unread }
            let p = arena.allocate(n)
            try matrix(t, rows: 1, columns: n).dequantizeRow(0, into: p)
            try Self.checkFinite(p, n, file: path, name: name)
            return p
        }
        func norm(_ prefix: String, _ n: Int) throws -> LayerNormWeights {
            LayerNormWeights(weight: try vector(prefix + ".weight", n), bias: try vector(prefix + ".bias", n))
        }

        let d = c.embeddingLength, ff = c.feedForwardLength, p = c.patchSize
        patchEmbedding = try matrix(try required("v.patch_embd.weight", [p, p, 3, d]), rows: d, columns: c.patchElements)
        patchBias = try vector("v.patch_embd.bias", d)
        positionEmbedding = try info("v.position_embd.weight", [d, c.patchCount]).map {
            try matrix($0, rows: c.patchCount, columns: d)
        }
        let pre = try norm("v.pre_ln", d)
        preNorm = pre.weight == nil && pre.bias == nil ? nil : pre
        let post = try norm("v.post_ln", d)
        postNorm = post.weight == nil && post.bias == nil ? nil : post

        var blocks: [VisionBlockWeights] = []
        for i in 0..<c.blockCount {
            let b = "v.blk.\(i)."
            if file.tensor(named: b + "attn_qkv.weight") != nil {
                throw VisionError.badTensor(file: path, name: b + "attn_qkv.weight", "fused q/k/v is not a Gemma 3 layout")
            }
            func square(_ name: String) throws -> Matrix { try matrix(try required(b + name, [d, d]), rows: d, columns: d) }
            // Old exports swapped ffn_up and ffn_down; llama.cpp swaps them back by shape, and so do we.
            var upName = b + "ffn_up", downName = b + "ffn_down"
            if let u = file.tensor(named: upName + ".weight"), let w = file.tensor(named: downName + ".weight"),
               u.dimensions == [ff, d], w.dimensions == [d, ff], ff != d {
                swap(&upName, &downName)
            }
            let n1 = try norm(b + "ln1", d), n2 = try norm(b + "ln2", d)
            blocks.append(VisionBlockWeights(
                norm1: n1,
                q: try square("attn_q.weight"), k: try square("attn_k.weight"), v: try square("attn_v.weight"),
                qBias: try vector(b + "attn_q.bias", d), kBias: try vector(b + "attn_k.bias", d),
                vBias: try vector(b + "attn_v.bias", d),
                output: try square("attn_out.weight"), outputBias: try vector(b + "attn_out.bias", d),
                norm2: n2,
                up: try matrix(try required(upName + ".weight", [d, ff]), rows: ff, columns: d),
                upBias: try vector(upName + ".bias", ff),
                down: try matrix(try required(downName + ".weight", [ff, d]), rows: d, columns: ff),
                downBias: try vector(downName + ".bias", d)))
        }
        self.blocks = blocks
        if file.tensor(named: "v.blk.\(c.blockCount).attn_q.weight") != nil {
            throw VisionError.invalidConfig(file: path, "the file holds more blocks than block_count \(c.blockCount)")
        }

        softEmbeddingNorm = try vector("mm.soft_emb_norm.weight", d, required: true)!
        // The projection is the one place the two models meet: its width must be the text model's.
        guard let proj = file.tensor(named: "mm.input_projection.weight") else {
            throw VisionError.missingTensor(file: path, name: "mm.input_projection.weight")
        }
        guard proj.dimensions.count == 2, proj.dimensions[1] == d else {
            throw VisionError.badTensor(file: path, name: proj.name, "shape \(proj.dimensions), expected [text width, \(d)]")
        }
        guard proj.dimensions[0] == textWidth else {
            throw VisionError.mismatch(file: path, "the projection writes \(proj.dimensions[0])-wide vectors but the "
                                       + "text model is \(textWidth) wide (is this the mmproj of another model size?)")
        }
        let stored = try matrix(proj, rows: d, columns: textWidth)
        guard readData else {
            projection = Matrix(type: .f32, rows: textWidth, columns: d, base: unread)
            return
        }
        let transposed = arena.allocate(textWidth * d)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: textWidth)
        defer { row.deallocate() }
        for i in 0..<d {
            stored.dequantizeRow(i, into: row)
            for j in 0..<textWidth { transposed[j * d + i] = row[j] }
        }
        try Self.checkFinite(transposed, textWidth * d, file: path, name: proj.name)
        projection = Matrix(type: .f32, rows: textWidth, columns: d, base: transposed)
    }

    /// Bytes of the mapped tensors of the mmproj file (what encoding an image reads).
    public var mappedBytes: Int { file.tensors.reduce(0) { $0 + $1.byteCount } }
    private static func checkFinite(_ p: UnsafePointer<Float>, _ n: Int, file: String, name: String) throws {
        for i in 0..<n where !p[i].isFinite {
            throw VisionError.badTensor(file: file, name: name, "holds a non-finite value at \(i)")
        }
    }
}

/// Float buffers that live as long as their owner and are freed together.
final class FloatArena: @unchecked Sendable {
    private var buffers: [UnsafeMutablePointer<Float>] = []

    /// `n` floats, zeroed.
    func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
        p.initialize(repeating: 0, count: max(1, n))
        buffers.append(p)
        return p
    }

    deinit {
        for p in buffers { p.deallocate() }
    }
}
