import GGUF
import Gemma3
import Kernels

/// A Gemma 3 vision projector (llama.cpp's `mmproj` GGUF) loaded for the text model it is paired
/// with: the config, the weights (checked against the text model's width), the encoder and its
/// scratch, and the buffer one preprocessed image is written to. Creating it maps the mmproj file
/// and allocates the encoder's scratch, so create it only when an image is given.
public final class VisionModel: @unchecked Sendable {
    public let file: GGUFFile
    public let config: VisionConfig
    public let weights: VisionWeights
    public let encoder: SigLIPEncoder
    /// What image files may be, and the background transparent pixels are composited over.
    public var limits = ImageLimits()
    /// Pan & Scan crops for images far from square; nil (the default) encodes the whole image only.
    public var panAndScan: PanAndScan?
    private let arena = FloatArena()
    private let input: UnsafeMutablePointer<Float>  // imageSize x imageSize x 3, normalised

    /// Maps and checks the mmproj at `path` against the text model's config.
    public init(path: String, textConfig: Gemma3Config, compute: Compute) throws {
        let file = try GGUFFile(path: path)
        self.file = file
        config = try VisionConfig(file: file)
        weights = try VisionWeights(file: file, config: config, textWidth: textConfig.embeddingLength)
        encoder = SigLIPEncoder(weights: weights, compute: compute)
        input = arena.allocate(config.imageSize * config.imageSize * 3)
    }

    /// The config of the mmproj at `path`, from its metadata alone (for sizing batches before the
    /// text model is loaded).
    public static func config(path: String) throws -> VisionConfig {
        try VisionConfig(file: GGUFFile(path: path))
    }

    /// Soft tokens each view of an image becomes.
    public var tokensPerImage: Int { config.tokensPerImage }
    /// Width of the soft tokens (the text model's embedding length).
    public var textWidth: Int { weights.textWidth }

    /// Reads an image file with this model's limits.
    public func load(path: String) throws -> RGBImage {
        try ImageDecoder.load(path: path, limits: limits)
    }

    /// The views an image is encoded as: the image itself, then its Pan & Scan crops when enabled.
    public func views(of image: RGBImage) -> [RGBImage] {
        [image] + (panAndScan?.apply(image) ?? [])
    }

    /// Encodes one view: preprocesses it as llama.cpp does for Gemma 3 and writes tokensPerImage
    /// rows of textWidth floats to `out`.
    public func encode(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let square = ImagePreprocessor.letterbox(image, size: config.imageSize)
        ImagePreprocessor.normalize(square, mean: config.imageMean, std: config.imageStd, into: input)
        encoder.encode(pixels: input, into: out)
    }

    /// Encodes one view into a new array of tokensPerImage * textWidth floats.
    public func encode(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: tokensPerImage * textWidth)
        out.withUnsafeMutableBufferPointer { encode(image, into: $0.baseAddress!) }
        return out
    }

    /// Bytes this model holds beyond the mapped file: copied vectors and the encoder's scratch.
    public var allocatedBytes: Int {
        Self.allocatedBytes(config: config, textWidth: textWidth, threads: encoder.compute.threads)
    }

    static func allocatedBytes(config c: VisionConfig, textWidth: Int, threads: Int) -> Int {
        let owned = (textWidth * c.embeddingLength + c.embeddingLength * (4 + c.blockCount * 9)
            + c.blockCount * c.feedForwardLength) * 4
        return owned + SigLIPEncoder.scratchBytes(config: c, textWidth: textWidth, threads: threads)
            + c.imageSize * c.imageSize * 3 * 4
    }

    /// The memory the mmproj at `path` needs, from its header alone (for `inspect --memory` and
    /// fit checks): its mapped tensors, and what loading it allocates (copied vectors, the
    /// transposed projection, the encoder's scratch and input) with `threads` compute threads.
    public static func memory(path: String, threads: Int) throws -> (mapped: Int, allocated: Int) {
        let file = try GGUFFile(path: path)
        let c = try VisionConfig(file: file)
        let width = file.tensor(named: "mm.input_projection.weight")?.dimensions.first ?? 0
        return (file.tensors.reduce(0) { $0 + $1.byteCount }, allocatedBytes(config: c, textWidth: width, threads: threads))
    }
}
