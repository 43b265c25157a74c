import Base
import Foundation
import GGUF
import Gemma3
import Grammar
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
    /// How the projector reads images (file and size limits, the colour under transparent pixels).
    public var imageLimits = ImageLimits()
    /// Pan & Scan for images far from square (extra crops, each its own soft tokens); nil: off.
    public var panAndScan: PanAndScan? = nil
    /// Repack eligible weights into the kernels' own layout at load (mapped from a cache file on
    /// later starts; see `RepackedArena`). Also off when the environment sets
    /// GEMMA_EDGE_NO_REPACK=1.
    public var repack: Bool = true
    /// Also repack the types whose layouts were not measured to pay on this CPU's kernel set
    /// (q4_Kx8; see `ck_rp_kernels.pays`), for measuring them. Also set by GEMMA_EDGE_REPACK_ALL=1.
    public var repackAll: Bool = false
    /// Hold the output projection (the tied embedding's product with the hidden state, the largest
    /// read of a decode step) in this type instead of the file's: requantised once at load and
    /// cached with the repacked weights; the embedding lookup keeps the file's rows. Fewer bytes
    /// per decoded token for a small loss (see README, "A narrower output projection"). nil: as
    /// the file has it.
    public var outputType: TensorType? = nil
    /// Check the weights' values at load (`GGUFFile.verifyValues`: every block scale and float
    /// value finite); a one-pass scan of the file, about 45 ms for the 270M on x86.
    public var verifyValues: Bool = true
    /// Speculative decoding: the most draft tokens one verification batch holds (0: off). Sessions'
    /// local KV rings grow by as many slots less one, so rejected drafts can always be dropped, and
    /// the batch holds at least the last token and the drafts (`Session.generate(drafter:)`).
    public var maxDraft: Int = 0
    /// Speculative decoding for every `Session.generate` of this engine (off, prompt lookup or a
    /// draft model); on, `maxDraft` 0 means `Speculation.defaultMaxDraft`.
    public var speculative: SpeculativeMode = .off
    /// The draft model of `speculative == .draft`: a GGUF with this model's vocabulary (the
    /// 270M for the 1B), loaded with its own KV cache, run state and `draftThreads` threads.
    public var draftModel: String? = nil
    /// Compute threads of the draft model; 0: as many as the model's.
    public var draftThreads: Int = 0

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
    /// A progress callback asked to stop.
    case cancelled

    public var description: String {
        switch self {
        case .invalidOption(let m): return m
        case .promptTooLong(let n, let c):
            return "the prompt is \(n) tokens but the context holds \(c); shorten it or raise --ctx"
        case .emptyPrompt: return "the prompt is empty"
        case .cancelled: return "cancelled"
        }
    }
}

/// A loaded model: the mapped file, the forward pass, the tokenizer and the compute threads.
public final class Engine: @unchecked Sendable {
    public let file: GGUFFile
    public let config: Gemma3Config
    public let model: Gemma3Model
    /// The forward pass's activations and scratch, shared by this engine's sessions (an engine
    /// runs one evaluation at a time).
    public let state: Gemma3RunState
    public let tokenizer: any Tokenizing
    public let options: EngineOptions
    /// Seconds spent loading (the draft model's load included).
    public private(set) var loadSeconds: Double
    /// The vision projector when `options.mmproj` was given (its weights are read at the first image).
    public let vision: VisionModel?
    /// `<start_of_image>` and `<end_of_image>` when the model has a vision projector.
    public let imageMarkers: (start: Int32, end: Int32)?
    /// The repacked weights, or nil when nothing was repacked (option off, or no eligible tensor).
    public let repacked: RepackedArena?
    /// Seconds of the load spent checking the weights' values (`GGUFFile.verifyValues`).
    public let valueCheckSeconds: Double
    /// Speculative decoding's drafter and its running figures, when `options.speculative` is on.
    public private(set) var speculator: Speculator?
    /// Constrained output: the vocabulary as bytes (built at the first grammar) and the mask
    /// caches of the grammars used most recently, shared by every generation on this engine.
    public let grammars: GrammarStore
    private var identity: String?
    private let identityLock = NSLock()

    /// Maps and loads the model at `modelPath`.
    public convenience init(modelPath: String, options: EngineOptions = EngineOptions()) throws {
        let t0 = monotonicSeconds()
        try self.init(file: GGUFFile(path: modelPath), options: options, started: t0)
    }

    /// Loads the model of an already parsed file (the one the fit check read, so the header is
    /// parsed once).
    public convenience init(file: GGUFFile, options: EngineOptions = EngineOptions()) throws {
        try self.init(file: file, options: options, started: monotonicSeconds())
    }

    private init(file: GGUFFile, options: EngineOptions, started t0: Double) throws {
        var options = options
        if options.threads == 0 { options.threads = EngineOptions.defaultThreads }
        guard options.threads >= 1, options.threads <= 256 else {
            throw EngineError.invalidOption("--threads must be between 1 and 256")
        }
        if let mmproj = options.mmproj {
            // An image's soft tokens are one bidirectional batch: the prompt batch must hold them.
            options.batch = max(options.batch, try VisionModel.config(path: mmproj).tokensPerImage)
        }
        if options.speculative != .off, options.maxDraft == 0 { options.maxDraft = Speculation.defaultMaxDraft }
        guard (options.speculative == .draft) == (options.draftModel != nil) else {
            throw EngineError.invalidOption(options.speculative == .draft ? "--speculative draft needs --draft-model FILE"
                                                                          : "--draft-model needs --speculative draft")
        }
        guard options.maxDraft >= 0, options.maxDraft <= Speculation.maxDraftLimit else {
            throw EngineError.invalidOption("the draft length must be between 0 and \(Speculation.maxDraftLimit)")
        }
        options.batch = max(options.batch, options.maxDraft + 1)
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
        self.file = file
        let config = try Gemma3Config(file: file)
        let checkStart = monotonicSeconds()
        if options.verifyValues {
            try file.verifyValues()   // before anything is built from the weights
            // The check read every page; give them back, so only what the model uses stays
            // resident (a repacked tensor's native pages would otherwise add to the peak).
            file.mapping.releaseResidentPages()
        }
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
        var requantise: [String: TensorType] = [:]
        if let type = options.outputType {
            guard RepackedArena.canRequantise(to: type, columns: config.embeddingLength) else {
                let name = "\(type)".lowercased()
                throw EngineError.invalidOption("--output-type \(name): the output projection's rows of \(config.embeddingLength) "
                                                + "elements cannot be held in \(name) (blocks of \(type.blockElements))")
            }
            requantise[Gemma3Weights.outputProjectionName(file)] = type
        }
        let repack = options.repack && !environmentFlag("GEMMA_EDGE_NO_REPACK")
        repacked = repack || !requantise.isEmpty
            ? RepackedArena.load(file: file, names: repack ? Gemma3Weights.matmulTensorNames(file: file, config: config) : [],
                                 requantise: requantise, kernels: kernels, everyLayout: repackAll)
            : nil
        model = try Gemma3Model(file: file, compute: compute, repacked: repacked)
        state = model.makeRunState(maxBatch: options.batch, maxContext: options.context)
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
            let projector = try VisionModel(path: mmproj, textConfig: config, compute: model.compute)
            projector.limits = options.imageLimits
            projector.panAndScan = options.panAndScan
            vision = projector
        } else {
            imageMarkers = nil
            vision = nil
        }
        self.options = options
        let stops = Self.stopTokens(of: tokenizer)
        let pieces = tokenizer.vocabulary
        grammars = GrammarStore {
            TokenVocabulary(tokens: (0..<pieces.count).map { pieces.decodedBytes(Int32($0)) }, stopTokens: stops)
        }
        loadSeconds = monotonicSeconds() - t0
        switch options.speculative {
        case .off: break
        case .lookup: speculator = Speculator(drafter: .lookup(PromptLookup()), maxDraft: options.maxDraft)
        case .draft:
            var o = options
            o.speculative = .off
            o.draftModel = nil
            o.mmproj = nil
            o.tokenizerModel = nil
            o.threads = options.draftThreads == 0 ? options.threads : options.draftThreads
            guard let path = options.draftModel, FileManager.default.fileExists(atPath: path) else {
                throw EngineError.invalidOption("draft model not found: \(options.draftModel ?? "")")
            }
            let draft = try Engine(modelPath: path, options: o)
            speculator = Speculator(drafter: .model(try DraftModel(engine: draft, target: self)), maxDraft: options.maxDraft)
            loadSeconds = monotonicSeconds() - t0
        }
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

    /// Maps and checks the projector at `path` for this engine's text model, apart from
    /// `options.mmproj` (for encoding images outside a session, and for tests of bad files).
    public func loadVision(path: String) throws -> VisionModel {
        try VisionModel(path: path, textConfig: config, compute: model.compute)
    }

    /// Ids that end generation: `<end_of_turn>` and `<eos>`.
    public var stopTokens: [Int32] { Self.stopTokens(of: tokenizer) }

    private static func stopTokens(of tokenizer: any Tokenizing) -> [Int32] {
        [tokenizer.specialTokens.eos, tokenizer.specialTokens.endOfTurn].compactMap { $0 }
    }
}
