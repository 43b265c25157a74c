import GGUF

/// Gemma 3 hyper-parameters, read from a GGUF file's `gemma3.*` metadata. Nothing here is
/// hard-coded per model size: the 270M, 1B and 4B files differ only in these numbers.
public struct Gemma3Config: Sendable, Equatable {
    public var blockCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var valueDim: Int
    public var slidingWindow: Int
    /// Every `slidingWindowPattern`-th layer (the last of each group) is global.
    public var slidingWindowPattern: Int
    public var ropeBaseGlobal: Float
    public var ropeBaseLocal: Float
    /// Linear RoPE scaling factor of the global layers (1 when none).
    public var ropeScaleGlobal: Float
    public var rmsEpsilon: Float
    public var contextLength: Int
    public var vocabularySize: Int
    /// Scale applied to attention scores: 1 / sqrt(headDim).
    public var attentionScale: Float

    /// The architecture name this config reads.
    public static let architecture = "gemma3"

    /// Layer `i` is global (attends to the whole context) or local (a sliding window).
    public func isGlobal(layer i: Int) -> Bool { i % slidingWindowPattern == slidingWindowPattern - 1 }

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }

    public init(blockCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int, kvHeadCount: Int,
                headDim: Int, slidingWindow: Int, slidingWindowPattern: Int = 6, ropeBaseGlobal: Float = 1e6,
                ropeBaseLocal: Float = 1e4, ropeScaleGlobal: Float = 1, rmsEpsilon: Float = 1e-6,
                contextLength: Int, vocabularySize: Int) {
        self.blockCount = blockCount
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.valueDim = headDim
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.ropeBaseGlobal = ropeBaseGlobal
        self.ropeBaseLocal = ropeBaseLocal
        self.ropeScaleGlobal = ropeScaleGlobal
        self.rmsEpsilon = rmsEpsilon
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
        self.attentionScale = 1 / Float(headDim).squareRoot()
    }

    /// Reads and checks the config of a Gemma 3 file.
    public init(file: GGUFFile) throws {
        let arch = try file.string("general.architecture")
        guard arch == Self.architecture else {
            throw ModelError.unsupportedArchitecture(file: file.path, found: arch)
        }
        func int(_ key: String) throws -> Int { Int(try file.uint32("\(arch).\(key)")) }
        func optionalInt(_ key: String) throws -> Int? { try file.optionalUInt32("\(arch).\(key)").map(Int.init) }

        let heads = try int("attention.head_count")
        let embd = try int("embedding_length")
        let keyLength = try optionalInt("attention.key_length") ?? (heads > 0 ? embd / heads : 0)
        let tokens = try file.value("tokenizer.ggml.tokens")
        guard case .array(let vocab) = tokens else {
            throw ModelError.invalidConfig(file: file.path, "tokenizer.ggml.tokens is not an array")
        }
        self.init(blockCount: try int("block_count"), embeddingLength: embd,
                  feedForwardLength: try int("feed_forward_length"), headCount: heads,
                  kvHeadCount: try optionalInt("attention.head_count_kv") ?? heads, headDim: keyLength,
                  slidingWindow: try int("attention.sliding_window"),
                  slidingWindowPattern: try optionalInt("attention.sliding_window_pattern") ?? 6,
                  ropeBaseGlobal: try file.optionalFloat32("\(arch).rope.freq_base") ?? 1e6,
                  ropeBaseLocal: try file.optionalFloat32("\(arch).rope.freq_base_swa") ?? 1e4,
                  ropeScaleGlobal: 1,
                  rmsEpsilon: try file.optionalFloat32("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-6,
                  contextLength: try int("context_length"), vocabularySize: vocab.count)
        valueDim = try optionalInt("attention.value_length") ?? keyLength
        if let type = try file.optionalString("\(arch).rope.scaling.type"), type != "none" {
            guard type == "linear" else {
                throw ModelError.invalidConfig(file: file.path, "RoPE scaling type '\(type)' is not supported (only linear)")
            }
            ropeScaleGlobal = try file.float32("\(arch).rope.scaling.factor")
        }
        try validate(file: file.path)
    }

    /// Checks the numbers are usable before any buffer is sized from them.
    public func validate(file: String) throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw ModelError.invalidConfig(file: file, what) }
        }
        try check(blockCount >= 1 && blockCount <= 1024, "block_count \(blockCount) out of range")
        try check(embeddingLength >= 1 && embeddingLength <= 65536, "embedding_length \(embeddingLength) out of range")
        try check(feedForwardLength >= 1 && feedForwardLength <= 262144, "feed_forward_length out of range")
        try check(headCount >= 1 && headCount <= 256, "head_count \(headCount) out of range")
        try check(kvHeadCount >= 1 && headCount % kvHeadCount == 0,
                  "head_count \(headCount) is not a multiple of head_count_kv \(kvHeadCount)")
        try check(headDim >= 2 && headDim % 2 == 0 && headDim <= 1024, "key_length \(headDim) must be even and <= 1024")
        try check(valueDim == headDim, "value_length \(valueDim) differs from key_length \(headDim)")
        try check(slidingWindow >= 1, "sliding_window must be >= 1")
        try check(slidingWindowPattern >= 1, "sliding_window_pattern must be >= 1")
        try check(contextLength >= 1, "context_length must be >= 1")
        try check(vocabularySize >= 1, "empty vocabulary")
        // The floats the forward pass computes with: finite, and in ranges real models use (a
        // base of 1 would give every rotary pair the same frequency; an epsilon of 0 divides by 0).
        let arch = Self.architecture
        for (key, value, range) in [("\(arch).rope.freq_base", ropeBaseGlobal, Self.ropeBaseRange),
                                    ("\(arch).rope.freq_base_swa", ropeBaseLocal, Self.ropeBaseRange),
                                    ("\(arch).rope.scaling.factor", ropeScaleGlobal, Self.ropeScaleRange),
                                    ("\(arch).attention.layer_norm_rms_epsilon", rmsEpsilon, Self.rmsEpsilonRange)] {
            try check(value.isFinite && range.contains(value) && value != range.lowerBound,
                      "\(key) is \(value); it must be a finite number above \(range.lowerBound) and at most \(range.upperBound)")
        }
    }

    /// Accepted values (lower bound excluded) of the metadata floats.
    static let ropeBaseRange: ClosedRange<Float> = 1...1e12
    static let ropeScaleRange: ClosedRange<Float> = 0...1024
    static let rmsEpsilonRange: ClosedRange<Float> = 0...0.1
}

/// Why a model could not be loaded or run.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(file: String, found: String)
    case invalidConfig(file: String, String)
    case missingTensor(file: String, name: String)
    case badTensorShape(file: String, name: String, expected: [Int], found: [Int])
    case contextFull(needed: Int, context: Int)
    case emptyInput
    /// Infinite or NaN values where the forward pass expects numbers (the string says where).
    case nonFinite(String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let f, let a):
            return "\(f): architecture '\(a)' is not supported (this runtime runs '\(Gemma3Config.architecture)')"
        case .invalidConfig(let f, let m): return "\(f): invalid model config: \(m)"
        case .missingTensor(let f, let n): return "\(f): missing tensor '\(n)'"
        case .badTensorShape(let f, let n, let e, let g): return "\(f): tensor '\(n)' has shape \(g), expected \(e)"
        case .contextFull(let n, let c):
            return "the input needs \(n) positions but the context holds \(c) (raise --ctx or shorten the prompt)"
        case .emptyInput: return "no tokens to evaluate"
        case .nonFinite(let m):
            return "\(m) are not finite numbers: the weights or the restored state are corrupt, so generation "
                + "stopped (the session was reset)"
        }
    }
}
