import Base
import CKernels
import Foundation
import GGUF

/// A tiny random Gemma 3 4B-shaped pair written with the project's GGUF writer: a text model
/// (8 query heads over 4 KV heads, local/global layer pattern, linear RoPE scaling 8 on the global
/// layers, as the 4B) and a matching mmproj in llama.cpp's layout (architecture `clip`, projector
/// `gemma3`, SigLIP tower with patch 14, pooling by `scale_factor`). Everything is small so
/// llama.cpp and GemmaEdge both run it in milliseconds; Benchmarks/peer/vision records llama.cpp's
/// outputs on exactly these bytes (the recorded manifest holds their FNV-1a hashes).
public struct TinyVision {
    /// The text side (TinyGemma's vocabulary holds `<start_of_image>` and `<end_of_image>`).
    public var text: TinyGemma = {
        var t = TinyGemma()
        t.blocks = 7            // layers 0-4 and 6 local, layer 5 global
        t.embedding = 64
        t.feedForward = 128
        t.heads = 8
        t.kvHeads = 4
        t.headDim = 16
        t.window = 8            // shorter than an image's soft tokens: the span crosses the window
        t.context = 256
        t.embeddingScale = 0.5
        t.untiedOutput = true   // a tied tiny model repeats its last token; greedy runs say more untied
        t.seed = 31
        return t
    }()
    /// Linear RoPE scaling factor of the global layers (the 4B has 8).
    public var ropeScaleGlobal: Float = 8

    public var imageSize = 112
    public var patchSize = 14
    public var visionWidth = 64
    public var visionFeedForward = 128
    public var visionBlocks = 3
    public var visionHeads = 4
    /// `clip.vision.projector.scale_factor`: 8 x 8 patches pool to 4 x 4 = 16 soft tokens.
    public var poolingKernel = 2
    /// Type of the block matrices, the projection and (when f32 or f16) the patch embedding.
    public var visionMatrixType: TensorType = .f32
    public var seed: UInt64 = 7

    public init() {}

    /// The pairs the golden fixtures were recorded on: "f32" (every tensor f32) and "f16" (the
    /// projector's matrices f16, as in the mmproj files users download).
    public static let variants = ["f32", "f16"]

    public static func variant(_ name: String) -> TinyVision {
        var v = TinyVision()
        precondition(variants.contains(name), "unknown tiny vision variant \(name)")
        if name == "f16" { v.visionMatrixType = .f16 }
        return v
    }

    public var tokensPerImage: Int { let s = imageSize / patchSize / poolingKernel; return s * s }

    /// The text model's bytes: TinyGemma's, plus the RoPE scaling keys of the 4B.
    public func textBytes() throws -> [UInt8] {
        let tmp = NSTemporaryDirectory() + "/tiny-vision-text-\(UUID().uuidString).gguf"
        try AtomicFile.write(text.serialize(), to: tmp)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let file = try GGUFFile(path: tmp)
        var w = GGUFWriter()
        for key in file.keys { w.set(key, file.metadata[key]!) }
        w.set("gemma3.rope.scaling.type", .string("linear"))
        w.set("gemma3.rope.scaling.factor", .float32(ropeScaleGlobal))
        for t in file.tensors {
            w.addTensor(name: t.name, dimensions: t.dimensions, type: t.type, data: [UInt8](file.data(of: t)))
        }
        return w.serialize()
    }

    /// For timing, not for parity: the vision tower at the real Gemma 3 4B width (896 x 896 input,
    /// patch 14, 1152 wide, 16 heads, MLP 4304, 4 x 4 pooling to 256 soft tokens, f16 matrices)
    /// with `blocks` of its 27 blocks (27: the real 4B projector's shapes), and a one-block text
    /// model 2560 wide to pair it with.
    public static func benchmark4BWidth(blocks: Int = 2) -> TinyVision {
        var v = TinyVision()
        v.imageSize = 896
        v.visionWidth = 1152
        v.visionFeedForward = 4304
        v.visionHeads = 16
        v.visionBlocks = blocks
        v.poolingKernel = 4
        v.visionMatrixType = .f16
        v.text.blocks = 1
        v.text.embedding = 2560
        v.text.feedForward = 256
        v.text.headDim = 32
        v.text.context = 512
        return v
    }

    /// The mmproj's bytes.
    public func mmprojBytes() -> [UInt8] { mmprojWriter().serialize() }

    /// The mmproj before serialisation (tests edit it to make bad files).
    public func mmprojWriter() -> GGUFWriter {
        var rng = SplitMix(seed: seed)
        var w = GGUFWriter()
        let d = visionWidth, ff = visionFeedForward, p = patchSize
        let patches = (imageSize / patchSize) * (imageSize / patchSize)
        w.set("general.architecture", .string("clip"))
        w.set("general.name", .string("tiny-gemma3-mmproj"))
        w.set("clip.has_vision_encoder", .bool(true))
        w.set("clip.projector_type", .string("gemma3"))
        w.set("clip.use_gelu", .bool(true))
        w.set("clip.vision.image_size", .uint32(UInt32(imageSize)))
        w.set("clip.vision.patch_size", .uint32(UInt32(patchSize)))
        w.set("clip.vision.embedding_length", .uint32(UInt32(d)))
        w.set("clip.vision.feed_forward_length", .uint32(UInt32(ff)))
        w.set("clip.vision.block_count", .uint32(UInt32(visionBlocks)))
        w.set("clip.vision.projection_dim", .uint32(UInt32(text.embedding)))
        w.set("clip.vision.attention.head_count", .uint32(UInt32(visionHeads)))
        w.set("clip.vision.attention.layer_norm_epsilon", .float32(1e-6))
        w.set("clip.vision.image_mean", .array(.float32([0.5, 0.5, 0.5])))
        w.set("clip.vision.image_std", .array(.float32([0.5, 0.5, 0.5])))
        w.set("clip.vision.projector.scale_factor", .uint32(UInt32(poolingKernel)))

        func add(_ name: String, _ dims: [Int], _ type: TensorType, scale: Float, offset: Float = 0) {
            let values = (0..<dims.reduce(1, *)).map { _ in offset + scale * rng.nextSigned() }
            w.addTensor(name: name, dimensions: dims, type: type, data: TinyGemma.encode(values, type))
        }
        let m = visionMatrixType
        // A patch row (3 x 14 x 14 = 588 values) is not whole 32-value blocks: llama-quantize keeps
        // the patch embedding f16 in quantised projectors, and so does this one.
        add("v.patch_embd.weight", [p, p, 3, d], m == .f32 || m == .f16 ? m : .f16, scale: 0.1)
        add("v.patch_embd.bias", [d], .f32, scale: 0.1)
        add("v.position_embd.weight", [d, patches], .f32, scale: 0.5)
        for i in 0..<visionBlocks {
            let b = "v.blk.\(i)."
            add(b + "ln1.weight", [d], .f32, scale: 0.2, offset: 1)
            add(b + "ln1.bias", [d], .f32, scale: 0.1)
            for name in ["attn_q", "attn_k", "attn_v", "attn_out"] {
                add(b + name + ".weight", [d, d], m, scale: 0.15)
                add(b + name + ".bias", [d], .f32, scale: 0.1)
            }
            add(b + "ln2.weight", [d], .f32, scale: 0.2, offset: 1)
            add(b + "ln2.bias", [d], .f32, scale: 0.1)
            add(b + "ffn_up.weight", [d, ff], m, scale: 0.15)
            add(b + "ffn_up.bias", [ff], .f32, scale: 0.1)
            add(b + "ffn_down.weight", [ff, d], m, scale: 0.1)
            add(b + "ffn_down.bias", [d], .f32, scale: 0.1)
        }
        add("v.post_ln.weight", [d], .f32, scale: 0.2, offset: 1)
        add("v.post_ln.bias", [d], .f32, scale: 0.1)
        add("mm.soft_emb_norm.weight", [d], .f32, scale: 0.2, offset: 1)
        add("mm.input_projection.weight", [text.embedding, d], m, scale: 0.3)
        return w
    }

    /// Writes both files into `directory` (named after `name`) and returns their paths.
    public func write(directory: String = NSTemporaryDirectory(), name: String? = nil) throws -> (text: String, mmproj: String) {
        let base = directory + "/" + (name ?? "tiny-vision-\(UUID().uuidString)")
        try AtomicFile.write(try textBytes(), to: base + "-text.gguf")
        try AtomicFile.write(mmprojBytes(), to: base + "-mmproj.gguf")
        return (base + "-text.gguf", base + "-mmproj.gguf")
    }

    /// 64-bit FNV-1a of `bytes` as 16 hex digits (the recording script computes the same).
    public static func fnv1a64(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return String(h, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
