import GGUF
import Gemma3
import Kernels

#if canImport(Glibc)
import Glibc
#endif

/// A Gemma 3 vision projector (llama.cpp's `mmproj` GGUF) paired with a text model.
///
/// Creating it maps the mmproj file without read-ahead and checks everything its header tells
/// (config, tensor names and shapes, the projection's width against the text model) without
/// reading a tensor: a kiosk that never sees an image never reads the projector's pages. The first
/// `encode` (or `prepare()`) reads the weights (copies the vectors, transposes the projection) and
/// allocates the encoder's scratch.
public final class VisionModel: @unchecked Sendable {
    public let file: GGUFFile
    public let config: VisionConfig
    /// Width of the soft tokens (the text model's embedding length).
    public let textWidth: Int
    /// What image files may be, and the background transparent pixels are composited over.
    public var limits = ImageLimits()
    /// Pan & Scan crops for images far from square; nil (the default) encodes the whole image only.
    public var panAndScan: PanAndScan?
    private let compute: Compute
    private var loaded: (weights: VisionWeights, encoder: SigLIPEncoder, input: UnsafeMutablePointer<Float>)?
    private let arena = FloatArena()
    private var _identity: String?

    /// Maps and checks the mmproj at `path` against the text model's config; reads no tensor data.
    public init(path: String, textConfig: Gemma3Config, compute: Compute) throws {
        let file = try GGUFFile(path: path, readAhead: false)
        self.file = file
        config = try VisionConfig(file: file)
        textWidth = textConfig.embeddingLength
        self.compute = compute
        try VisionWeights.validate(file: file, config: config, textWidth: textWidth)
    }

    /// Whether the weights have been read and the encoder's scratch allocated (the first image).
    public var isPrepared: Bool { loaded != nil }

    /// Reads the weights and allocates the encoder (done by the first `encode`; later calls do
    /// nothing). Fails on a tensor holding a non-finite value.
    public func prepare() throws {
        guard loaded == nil else { return }
        // The file was mapped for single-page reads; the weights are now read front to back.
        let mapping = UnsafeMutableRawPointer(mutating: file.mapping.bytes.baseAddress!)
        _ = madvise(mapping, file.mapping.bytes.count, MADV_NORMAL)
        _ = madvise(mapping, file.mapping.bytes.count, MADV_WILLNEED)
        let weights = try VisionWeights(file: file, config: config, textWidth: textWidth)
        loaded = (weights, SigLIPEncoder(weights: weights, compute: compute),
                  arena.allocate(config.imageSize * config.imageSize * 3))
    }

    /// The weights, read on first use.
    public var weights: VisionWeights {
        get throws { try prepare(); return loaded!.weights }
    }

    /// The encoder, allocated on first use.
    public var encoder: SigLIPEncoder {
        get throws { try prepare(); return loaded!.encoder }
    }

    /// Seconds the last `encode` spent in the encoder (0 before the first image).
    public var lastEncodeSeconds: Double { loaded?.encoder.lastSeconds ?? 0 }

    /// Where the last `encode` spent them, by stage (all zero before the first image).
    public var lastEncodeStages: EncoderStages { loaded?.encoder.lastStages ?? EncoderStages() }

    /// Bytes of the projector's mapped tensors resident in memory now (0 until an image is encoded,
    /// unless the file was already in the page cache).
    public var residentBytes: Int {
        let first = file.tensors.map(\.fileOffset).min() ?? file.mapping.bytes.count
        return file.mapping.residentBytes(offset: first)
    }

    /// A short identity of the projector (see `GGUFFile.identity`). It reads the first bytes of
    /// every tensor, so it is computed on first use, which is when an image is given.
    public var identity: String {
        if let i = _identity { return i }
        let i = file.identity
        _identity = i
        return i
    }

    /// The config of the mmproj at `path`, from its metadata alone (for sizing batches before the
    /// text model is loaded).
    public static func config(path: String) throws -> VisionConfig {
        try VisionConfig(file: GGUFFile(path: path, readAhead: false))
    }

    /// Soft tokens each view of an image becomes.
    public var tokensPerImage: Int { config.tokensPerImage }

    /// Reads an image file with this model's limits.
    public func load(path: String) throws -> RGBImage {
        try ImageDecoder.load(path: path, limits: limits)
    }

    /// The views an image is encoded as: the image itself, then its Pan & Scan crops when enabled.
    public func views(of image: RGBImage) -> [RGBImage] {
        [image] + (panAndScan?.apply(image) ?? [])
    }

    /// Encodes one view: preprocesses it as llama.cpp does for Gemma 3 and writes tokensPerImage
    /// rows of textWidth floats to `out`. The first call reads the weights (see `prepare()`).
    public func encode(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) throws {
        try prepare()
        let (_, encoder, input) = loaded!
        let square = ImagePreprocessor.letterbox(image, size: config.imageSize)
        ImagePreprocessor.normalize(square, mean: config.imageMean, std: config.imageStd, into: input)
        encoder.encode(pixels: input, into: out)
    }

    /// Encodes one view into a new array of tokensPerImage * textWidth floats.
    public func encode(_ image: RGBImage) throws -> [Float] {
        var out = [Float](repeating: 0, count: tokensPerImage * textWidth)
        try out.withUnsafeMutableBufferPointer { try encode(image, into: $0.baseAddress!) }
        return out
    }

    /// Bytes this model holds beyond the mapped file once prepared: copied vectors and the
    /// encoder's scratch (0 before the first image).
    public var allocatedBytes: Int {
        isPrepared ? Self.allocatedBytes(config: config, textWidth: textWidth, threads: compute.threads) : 0
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
        try memory(file: GGUFFile(path: path, readAhead: false), threads: threads)
    }

    /// `memory(path:threads:)` for an open file.
    public static func memory(file: GGUFFile, threads: Int) throws -> (mapped: Int, allocated: Int) {
        let c = try VisionConfig(file: file)
        let width = file.tensor(named: "mm.input_projection.weight")?.dimensions.first ?? 0
        return (file.tensors.reduce(0) { $0 + $1.byteCount }, allocatedBytes(config: c, textWidth: width, threads: threads))
    }
}
