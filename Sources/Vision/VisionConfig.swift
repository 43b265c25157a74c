// The Gemma 3 vision tower's hyper-parameters, read from llama.cpp's projector file (`mmproj`,
// architecture `clip`, projector `gemma3`). Key names and defaults follow llama.cpp's
// tools/mtmd/clip.cpp (load_hparams), which wrote and reads these files.
import GGUF

/// The activation of the SigLIP MLP, as llama.cpp chooses it from `clip.use_gelu` / `clip.use_silu`.
public enum VisionActivation: String, Sendable {
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (`clip.use_gelu = true`, every Gemma 3 file).
    case geluTanh
    /// x * sigmoid(1.702 x) (neither key set).
    case geluQuick
}

/// Hyper-parameters of a SigLIP encoder plus the Gemma 3 projector.
public struct VisionConfig: Sendable, Equatable {
    public var imageSize: Int
    public var patchSize: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var blockCount: Int
    public var headCount: Int
    public var headDim: Int
    public var layerNormEpsilon: Float
    /// Side of the average-pooling window over the patch grid (`clip.vision.projector.scale_factor`,
    /// 4 in real files).
    public var poolingKernel: Int
    public var imageMean: [Float]
    public var imageStd: [Float]
    public var activation: VisionActivation

    /// The architecture and projector type this reader accepts.
    public static let architecture = "clip"
    public static let projectorType = "gemma3"

    /// Patches along one side of the (square) input.
    public var patchesPerSide: Int { imageSize / patchSize }
    public var patchCount: Int { patchesPerSide * patchesPerSide }
    /// Soft tokens one image becomes in the text model.
    public var tokensPerImage: Int { (patchesPerSide / poolingKernel) * (patchesPerSide / poolingKernel) }
    /// Floats in one patch: 3 channels of patchSize x patchSize.
    public var patchElements: Int { 3 * patchSize * patchSize }

    public init(imageSize: Int, patchSize: Int, embeddingLength: Int, feedForwardLength: Int, blockCount: Int,
                headCount: Int, headDim: Int? = nil, layerNormEpsilon: Float = 1e-6, poolingKernel: Int = 4,
                imageMean: [Float] = [0.5, 0.5, 0.5], imageStd: [Float] = [0.5, 0.5, 0.5],
                activation: VisionActivation = .geluTanh) {
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.blockCount = blockCount
        self.headCount = headCount
        self.headDim = headDim ?? (headCount > 0 ? embeddingLength / headCount : 0)
        self.layerNormEpsilon = layerNormEpsilon
        self.poolingKernel = poolingKernel
        self.imageMean = imageMean
        self.imageStd = imageStd
        self.activation = activation
    }

    /// Reads and checks the config of an mmproj file. Only metadata is read: no tensor is touched.
    public init(file: GGUFFile) throws {
        let path = file.path
        let arch = try file.string("general.architecture")
        guard arch == Self.architecture else {
            throw VisionError.unsupportedProjector(file: path, "architecture '\(arch)', expected '\(Self.architecture)'")
        }
        if let hasVision = try file.optionalBool("clip.has_vision_encoder"), !hasVision {
            throw VisionError.unsupportedProjector(file: path, "the file has no vision encoder")
        }
        let projector = try file.optionalString("clip.projector_type") ?? file.optionalString("clip.vision.projector_type")
        guard projector == Self.projectorType else {
            throw VisionError.unsupportedProjector(
                file: path, "projector type '\(projector ?? "none")', expected '\(Self.projectorType)' (Gemma 3)")
        }
        func int(_ key: String) throws -> Int { Int(try file.uint32(key)) }
        let heads = try int("clip.vision.attention.head_count")
        if let kv = try file.optionalUInt32("clip.vision.attention.head_count_kv"), Int(kv) != heads {
            throw VisionError.invalidConfig(file: path, "head_count_kv \(kv) differs from head_count \(heads)")
        }
        let useGelu = try file.optionalBool("clip.use_gelu") ?? false
        if try file.optionalBool("clip.use_silu") ?? false {
            throw VisionError.invalidConfig(file: path, "clip.use_silu is set: a Gemma 3 projector uses GELU")
        }
        let mean = try file.float32Array("clip.vision.image_mean")
        let std = try file.float32Array("clip.vision.image_std")
        self.init(imageSize: try int("clip.vision.image_size"), patchSize: try int("clip.vision.patch_size"),
                  embeddingLength: try int("clip.vision.embedding_length"),
                  feedForwardLength: try int("clip.vision.feed_forward_length"),
                  blockCount: try int("clip.vision.block_count"), headCount: heads,
                  headDim: try file.optionalUInt32("clip.vision.attention.head_dim").map(Int.init),
                  layerNormEpsilon: try file.float32("clip.vision.attention.layer_norm_epsilon"),
                  poolingKernel: try file.optionalUInt32("clip.vision.projector.scale_factor").map(Int.init) ?? 4,
                  imageMean: mean, imageStd: std, activation: useGelu ? .geluTanh : .geluQuick)
        try validate(file: path)
    }

    /// Checks the numbers are usable before any buffer is sized from them.
    public func validate(file: String) throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw VisionError.invalidConfig(file: file, what) }
        }
        try check(patchSize >= 1 && patchSize <= 64, "patch_size \(patchSize) out of range")
        try check(imageSize >= patchSize && imageSize <= 4096, "image_size \(imageSize) out of range")
        try check(imageSize % patchSize == 0, "image_size \(imageSize) is not a multiple of patch_size \(patchSize)")
        try check(poolingKernel >= 1 && patchesPerSide % poolingKernel == 0,
                  "scale_factor \(poolingKernel) does not divide the \(patchesPerSide) patches per side")
        try check(embeddingLength >= 1 && embeddingLength <= 16384, "embedding_length \(embeddingLength) out of range")
        try check(feedForwardLength >= 1 && feedForwardLength <= 65536, "feed_forward_length out of range")
        try check(blockCount >= 1 && blockCount <= 256, "block_count \(blockCount) out of range")
        try check(headCount >= 1 && headDim >= 1 && headCount * headDim == embeddingLength,
                  "head_count \(headCount) x head_dim \(headDim) must equal embedding_length \(embeddingLength)")
        try check(layerNormEpsilon > 0 && layerNormEpsilon.isFinite, "layer_norm_epsilon must be > 0")
        try check(imageMean.count >= 3 && imageStd.count >= 3, "image_mean and image_std need 3 values each")
        try check(imageMean.prefix(3).allSatisfy(\.isFinite) && imageStd.prefix(3).allSatisfy { $0.isFinite && $0 != 0 },
                  "image_mean must be finite and image_std finite and non-zero")
    }
}
