import Foundation
import GGUF
import Gemma3
import Kernels
import Sampling
import Tokenizer
import Vision

#if canImport(Glibc)
import Glibc
#endif

/// How to load and run a model.
public struct EngineOptions: Sendable {
    /// Compute threads including the caller's; 0 picks a default for this machine.
    public var threads: Int = 0
    /// Kernel set by name ("scalar", "avx2", "neon", "neon-dotprod"); nil picks the best.
    public var kernels: String? = nil
    /// Longest sequence a session can hold (prompt plus generated tokens); 0 means the smaller of
    /// 4096 and the model's own context.
    public var context: Int = 0
    /// Prompt tokens evaluated per batch.
    public var batch: Int = 64
    /// How sessions store the keys and values of the global layers (local rings: `kvType.localRing`).
    public var kvType: KVType = .f16
    /// CPU ids to pin the compute threads to (thread i on cpus[i]; the calling thread is not
    /// moved); nil leaves placement to the kernel. Must hold at least `threads` ids.
    public var cpus: [Int32]? = nil
    /// A SentencePiece `tokenizer.model` to use instead of the GGUF vocabulary.
    public var tokenizerModel: String? = nil
    /// The vision projector paired with the model (llama.cpp's mmproj for Gemma 3 4B). It is
    /// checked at load but its weights are read only when the first image is encoded; the prompt
    /// batch is raised to hold one image's soft tokens and local KV rings grow by as much (so
    /// a session can cut back to before an image, see `KVCache(bidirectionalSpan:)`).
    public var mmproj: String? = nil
    /// Repack eligible weights into the kernels' own layout at load (mapped from a cache file on
    /// later starts; see `RepackedArena`). Also off when the environment sets
    /// GEMMA_EDGE_NO_REPACK=1.
    public var repack: Bool = true
    /// Also repack the types whose layouts were not measured to pay on this CPU's kernel set
    /// (q4_Kx8; see `ck_rp_kernels.pays`), for measuring them. Also set by GEMMA_EDGE_REPACK_ALL=1.
    public var repackAll: Bool = false
    /// Check the weights' values at load (`GGUFFile.verifyValues`: every block scale and float
    /// value finite); a one-pass scan of the file, about 45 ms for the 270M on x86.
    public var verifyValues: Bool = true

    public init() {}

    /// The default thread count: every online core, at most 8.
    public static var defaultThreads: Int {
        max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }
}

/// Why the engine refused a request.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case promptTooLong(tokens: Int, context: Int)
    case emptyPrompt

    public var description: String {
        switch self {
        case .invalidOption(let m): return m
        case .promptTooLong(let n, let c):
            return "the prompt is \(n) tokens but the context holds \(c); shorten it or raise --ctx"
        case .emptyPrompt: return "the prompt is empty"
        }
    }
}

/// A loaded model: the mapped file, the forward pass, the tokenizer and the compute threads.
public final class Engine: @unchecked Sendable {
    public let file: GGUFFile
    public let config: Gemma3Config
    public let model: Gemma3Model
    public let tokenizer: any Tokenizing
    public let options: EngineOptions
    /// Seconds spent loading.
    public let loadSeconds: Double
    /// The vision projector when `options.mmproj` was given (its weights are read at the first image).
    public let vision: VisionModel?
    /// `<start_of_image>` and `<end_of_image>` when the model has a vision projector.
    public let imageMarkers: (start: Int32, end: Int32)?
    /// The repacked weights, or nil when nothing was repacked (option off, or no eligible tensor).
    public let repacked: RepackedArena?
    /// Seconds of the load spent checking the weights' values (`GGUFFile.verifyValues`).
    public let valueCheckSeconds: Double
    private var identity: String?
    private let identityLock = NSLock()

    public init(modelPath: String, options: EngineOptions = EngineOptions()) throws {
        let t0 = monotonicSeconds()
        var options = options
        if options.threads == 0 { options.threads = EngineOptions.defaultThreads }
        guard options.threads >= 1, options.threads <= 256 else {
            throw EngineError.invalidOption("--threads must be between 1 and 256")
        }
        if let mmproj = options.mmproj {
            // An image's soft tokens are one bidirectional batch: the prompt batch must hold them.
            options.batch = max(options.batch, try VisionModel.config(path: mmproj).tokensPerImage)
        }
        guard options.batch >= 1, options.batch <= 4096 else {
            throw EngineError.invalidOption("--batch must be between 1 and 4096")
        }
        guard options.context >= 0 else { throw EngineError.invalidOption("--ctx must be at least 1") }

        let kernels: KernelSet
        if let name = options.kernels {
            guard let k = KernelSet.named(name) else {
                throw EngineError.invalidOption("kernel set '\(name)' is not available on this CPU (available: "
                    + KernelSet.available.map(\.name).joined(separator: ", ") + ")")
            }
            kernels = k
        } else {
            kernels = .best()
        }
        file = try GGUFFile(path: modelPath)
        let config = try Gemma3Config(file: file)
        let checkStart = monotonicSeconds()
        if options.verifyValues { try file.verifyValues() }   // before anything is built from the weights
        valueCheckSeconds = monotonicSeconds() - checkStart
        if options.context == 0 { options.context = min(4096, config.contextLength) }
        guard options.context <= config.contextLength else {
            throw EngineError.invalidOption("--ctx \(options.context) exceeds the model's context of \(config.contextLength)")
        }
        self.config = config
        guard options.kvType.fits(headDim: config.headDim) else {
            throw EngineError.invalidOption("--kv-type q8 needs a head size that is a multiple of 32; this model's is \(config.headDim)")
        }
        if let cpus = options.cpus, cpus.count < options.threads {
            throw EngineError.invalidOption("\(options.threads) threads need \(options.threads) cpu ids, got \(cpus.count)")
        }
        let compute = try Compute(kernels: kernels, threads: options.threads, cpus: options.cpus)
        func environmentFlag(_ name: String) -> Bool { getenv(name).map { String(cString: $0) == "1" } ?? false }
        let repackAll = options.repackAll || environmentFlag("GEMMA_EDGE_REPACK_ALL")
        repacked = options.repack && !environmentFlag("GEMMA_EDGE_NO_REPACK")
            ? RepackedArena.load(file: file, names: Gemma3Weights.matmulTensorNames(file: file, config: config),
                                 kernels: kernels, everyLayout: repackAll)
            : nil
        model = try Gemma3Model(file: file, compute: compute, maxBatch: options.batch, maxContext: options.context,
                                repacked: repacked)
        repacked?.releaseNativePages()   // after the model has read its norms from the file
        let vocabulary = try Vocabulary(gguf: file)
        guard vocabulary.count == config.vocabularySize else {
            throw EngineError.invalidOption("the vocabulary has \(vocabulary.count) pieces, the model \(config.vocabularySize) rows")
        }
        if let spm = options.tokenizerModel {
            let sp = try SentencePieceTokenizer(modelFile: spm)
            guard sp.vocabulary.count == config.vocabularySize else {
                throw EngineError.invalidOption("\(spm) has \(sp.vocabulary.count) pieces but the model has \(config.vocabularySize)")
            }
            tokenizer = sp
        } else {
            tokenizer = BPETokenizer(vocabulary: vocabulary)
        }
        if let mmproj = options.mmproj {
            guard let soi = vocabulary.id(of: "<start_of_image>"), let eoi = vocabulary.id(of: "<end_of_image>") else {
                throw EngineError.invalidOption("the text model's vocabulary has no <start_of_image> / <end_of_image> "
                                                + "pieces: it is not a Gemma 3 vision model, so --mmproj cannot be used")
            }
            imageMarkers = (soi, eoi)
            vision = try VisionModel(path: mmproj, textConfig: config, compute: model.compute)
        } else {
            imageMarkers = nil
            vision = nil
        }
        self.options = options
        loadSeconds = monotonicSeconds() - t0
    }

    /// The identity of the model file for session snapshots (`GGUFFile.identity`): computed at
    /// the first save or restore, which reads the whole file once.
    public var modelIdentity: String {
        identityLock.lock()
        defer { identityLock.unlock() }
        if let identity { return identity }
        let computed = file.identity
        repacked?.releaseNativePages()   // reading the file mapped the repacked tensors' pages again
        identity = computed
        return computed
    }

    /// A new conversation state with its own KV cache.
    public func makeSession(context: Int? = nil) -> Session {
        Session(engine: self, context: min(context ?? options.context, options.context))
    }

    /// Ids that end generation: `<end_of_turn>` and `<eos>`.
    public var stopTokens: [Int32] {
        [tokenizer.specialTokens.eos, tokenizer.specialTokens.endOfTurn].compactMap { $0 }
    }
}

/// One sequence: its KV cache, its tokens so far and the logits of its last token.
///
/// On an engine with a vision projector a session also takes images (Session+Images.swift): each
/// view's soft tokens are one bidirectional batch, recorded in `tokens` as `imagePlaceholder` and
/// in `imageSpans` with a key of what was encoded, so prefix reuse and snapshots cover them.
public final class Session: @unchecked Sendable {
    /// The id recorded in `tokens` for each soft token of an image.
    public static let imagePlaceholder: Int32 = -1

    public let engine: Engine
    public let cache: KVCache
    /// Every position evaluated so far, in order: token ids, and `imagePlaceholder` for image soft
    /// tokens. Reserved to the context at creation.
    public internal(set) var tokens: [Int32]
    /// Logits after the last evaluated token (vocabulary size).
    public let logits: UnsafeMutableBufferPointer<Float>
    /// The image views the cache holds, in order: first position, soft tokens and key.
    public internal(set) var imageSpans: [SnapshotSpan] = []
    /// Seconds spent in the vision encoder so far, and the views encoded.
    public internal(set) var encodeSeconds: Double = 0
    public internal(set) var encodedViews = 0
    /// One view's soft tokens (tokensPerImage x width), allocated at the first image.
    var embeddings: UnsafeMutablePointer<Float>?

    init(engine: Engine, context: Int) {
        self.engine = engine
        cache = KVCache(config: engine.config, context: context,
                        bidirectionalSpan: engine.vision?.tokensPerImage ?? 0, kvType: engine.options.kvType)
        tokens = []
        tokens.reserveCapacity(context)
        logits = .allocate(capacity: engine.config.vocabularySize)
        logits.initialize(repeating: 0)
    }

    deinit {
        logits.deallocate()
        embeddings?.deallocate()
    }

    public var context: Int { cache.context }
    public var remaining: Int { context - cache.length }

    /// Forgets everything (a fresh conversation).
    public func reset() {
        cache.reset()
        tokens.removeAll(keepingCapacity: true)
        imageSpans.removeAll(keepingCapacity: true)
    }

    /// Evaluates `ids` in batches and leaves the logits of the last one in `logits`.
    public func append(_ ids: [Int32]) throws { try append(ids, logits: true) }

    /// Evaluates `ids`; the logits (the output projection, a whole vocabulary) only when `wanted`.
    func append(_ ids: [Int32], logits wanted: Bool) throws {
        guard !ids.isEmpty else { throw EngineError.emptyPrompt }
        guard ids.count <= remaining else {
            throw EngineError.promptTooLong(tokens: cache.length + ids.count, context: context)
        }
        let model = engine.model
        try resettingOnBrokenState {
            try ids.withUnsafeBufferPointer { all in
                var i = 0
                while i < all.count {
                    let n = min(model.maxBatch, all.count - i)
                    try model.evaluate(UnsafeBufferPointer(rebasing: all[i..<(i + n)]), cache: cache)
                    i += n
                }
            }
        }
        tokens.append(contentsOf: ids)
        if wanted { model.lastLogits(into: logits.baseAddress!) }
    }

    /// Saves the whole state (KV cache, tokens, image spans, last logits) to `path`, atomically.
    public func save(to path: String) throws {
        try cache.saveSnapshot(to: path, tokens: tokens, logits: UnsafeBufferPointer(logits), model: engine.modelIdentity,
                               spans: imageSpans)
    }

    /// Replaces this session's state with a snapshot saved by `save(to:)` from the same model
    /// and context (and, when it holds images, a session that takes images).
    public func restore(from path: String) throws {
        let restored = try cache.restoreSnapshotState(from: path, logits: logits, model: engine.modelIdentity)
        // Every image position must belong to a span and every span hold only image positions.
        var inSpan = 0
        for span in restored.spans {
            inSpan += span.count
            guard restored.tokens[span.start..<(span.start + span.count)].allSatisfy({ $0 == Self.imagePlaceholder }) else {
                reset()
                throw SnapshotError("\(path): an image span covers token ids")
            }
        }
        guard restored.tokens.lazy.filter({ $0 == Self.imagePlaceholder }).count == inSpan else {
            reset()
            throw SnapshotError("\(path): image positions outside the recorded spans")
        }
        tokens.removeAll(keepingCapacity: true)
        tokens.append(contentsOf: restored.tokens)
        imageSpans = restored.spans
    }

    /// Makes the session hold `ids`, reusing the longest prefix it already holds and evaluating
    /// only the rest (a kiosk's fixed system prompt is evaluated once). Returns how many tokens
    /// were reused. `prefill(_ items:)` does the same for prompts with images.
    @discardableResult
    public func prefill(_ ids: [Int32]) throws -> Int {
        guard !ids.isEmpty else { throw EngineError.emptyPrompt }
        return try prefill([Item.tokens(ids)])
    }

    /// Evaluates one token (the decode step). Allocates nothing.
    public func append(token: Int32) throws {
        guard remaining >= 1 else { throw EngineError.promptTooLong(tokens: cache.length + 1, context: context) }
        var t = token
        try resettingOnBrokenState {
            try withUnsafePointer(to: &t) { try engine.model.evaluate(UnsafeBufferPointer(start: $0, count: 1), cache: cache) }
        }
        tokens.append(token)
        engine.model.lastLogits(into: logits.baseAddress!)
    }

    /// Samples up to `maxTokens` tokens after what the session holds, calling `onToken` with each
    /// (return false to stop). Stops at a stop token (which is reported but not evaluated), at
    /// `maxTokens`, or when the context is full. Returns why it stopped.
    @discardableResult
    public func generate(maxTokens: Int, sampler: Sampler, stopTokens: [Int32],
                         onToken: (Int32) throws -> Bool) throws -> StopReason {
        precondition(!tokens.isEmpty, "append a prompt first")
        var produced = 0
        while produced < maxTokens {
            // Never sample from numbers that are not numbers: the sampler's choice among NaNs
            // would be arbitrary, and the state that produced them is broken.
            if let bad = NonFinite.firstIndex(UnsafeBufferPointer(logits)) {
                let problem = ModelError.nonFinite("the logits after position \(cache.length) (token \(bad) is \(logits[bad]))")
                reset()
                throw problem
            }
            let next = tokens.withUnsafeBufferPointer { sampler.sample(logits, recent: $0) }
            produced += 1
            let isStop = stopTokens.contains(next)
            guard try onToken(next) else { return .callback }
            if isStop { return .stopToken }
            if produced == maxTokens { return .maxTokens }
            guard remaining >= 1 else { return .contextFull }
            try append(token: next)
        }
        return .maxTokens
    }

    /// Runs `body`; when it finds non-finite activations the cache holds a half-written batch, so
    /// the session starts over (`reset`) before the error goes on.
    func resettingOnBrokenState(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as ModelError {
            if case .nonFinite = e { reset() }
            throw e
        }
    }

    public enum StopReason: String, Sendable {
        case stopToken = "stop", maxTokens = "length", contextFull = "context", callback = "cancelled"
    }
}

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
