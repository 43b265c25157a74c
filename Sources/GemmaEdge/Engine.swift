import GGUF
import Gemma3
import Kernels
import Sampling
import Tokenizer

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
    /// CPU ids to pin the compute threads to (thread i on cpus[i]; the calling thread is not
    /// moved); nil leaves placement to the kernel. Must hold at least `threads` ids.
    public var cpus: [Int32]? = nil
    /// A SentencePiece `tokenizer.model` to use instead of the GGUF vocabulary.
    public var tokenizerModel: String? = nil
    /// Repack eligible weights into the kernels' own layout at load (mapped from a cache file on
    /// later starts; see `RepackedArena`). Also off when the environment sets
    /// GEMMA_EDGE_NO_REPACK=1.
    public var repack: Bool = true

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
    /// The repacked weights, or nil when nothing was repacked (option off, or no eligible tensor).
    public let repacked: RepackedArena?

    public init(modelPath: String, options: EngineOptions = EngineOptions()) throws {
        let t0 = monotonicSeconds()
        var options = options
        if options.threads == 0 { options.threads = EngineOptions.defaultThreads }
        guard options.threads >= 1, options.threads <= 256 else {
            throw EngineError.invalidOption("--threads must be between 1 and 256")
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
        if options.context == 0 { options.context = min(4096, config.contextLength) }
        guard options.context <= config.contextLength else {
            throw EngineError.invalidOption("--ctx \(options.context) exceeds the model's context of \(config.contextLength)")
        }
        self.config = config
        if let cpus = options.cpus, cpus.count < options.threads {
            throw EngineError.invalidOption("\(options.threads) threads need \(options.threads) cpu ids, got \(cpus.count)")
        }
        let compute = try Compute(kernels: kernels, threads: options.threads, cpus: options.cpus)
        let noRepack = getenv("GEMMA_EDGE_NO_REPACK").map { String(cString: $0) == "1" } ?? false
        repacked = options.repack && !noRepack
            ? RepackedArena.load(file: file, names: Gemma3Weights.matmulTensorNames(file: file, config: config),
                                 kernels: kernels)
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
        self.options = options
        loadSeconds = monotonicSeconds() - t0
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
public final class Session: @unchecked Sendable {
    public let engine: Engine
    public let cache: KVCache
    /// Every token evaluated so far, in order. Reserved to the context at creation.
    public private(set) var tokens: [Int32]
    /// Logits after the last evaluated token (vocabulary size).
    public let logits: UnsafeMutableBufferPointer<Float>

    init(engine: Engine, context: Int) {
        self.engine = engine
        cache = KVCache(config: engine.config, context: context)
        tokens = []
        tokens.reserveCapacity(context)
        logits = .allocate(capacity: engine.config.vocabularySize)
        logits.initialize(repeating: 0)
    }

    deinit { logits.deallocate() }

    public var context: Int { cache.context }
    public var remaining: Int { context - cache.length }

    /// Forgets everything (a fresh conversation).
    public func reset() {
        cache.reset()
        tokens.removeAll(keepingCapacity: true)
    }

    /// Evaluates `ids` in batches and leaves the logits of the last one in `logits`.
    public func append(_ ids: [Int32]) throws {
        guard !ids.isEmpty else { throw EngineError.emptyPrompt }
        guard ids.count <= remaining else {
            throw EngineError.promptTooLong(tokens: cache.length + ids.count, context: context)
        }
        let model = engine.model
        try ids.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count {
                let n = min(model.maxBatch, all.count - i)
                try model.evaluate(UnsafeBufferPointer(rebasing: all[i..<(i + n)]), cache: cache)
                i += n
            }
        }
        tokens.append(contentsOf: ids)
        model.lastLogits(into: logits.baseAddress!)
    }

    /// Saves the whole state (KV cache, tokens, last logits) to `path`, atomically.
    public func save(to path: String) throws {
        try cache.saveSnapshot(to: path, tokens: tokens, logits: UnsafeBufferPointer(logits), model: engine.file.identity)
    }

    /// Replaces this session's state with a snapshot saved by `save(to:)` from the same model
    /// and context.
    public func restore(from path: String) throws {
        let restored = try cache.restoreSnapshot(from: path, logits: logits, model: engine.file.identity)
        tokens.removeAll(keepingCapacity: true)
        tokens.append(contentsOf: restored)
    }

    /// Makes the session hold `ids`, reusing the longest prefix it already holds and evaluating
    /// only the rest (a kiosk's fixed system prompt is evaluated once). Returns how many tokens
    /// were reused.
    @discardableResult
    public func prefill(_ ids: [Int32]) throws -> Int {
        guard !ids.isEmpty else { throw EngineError.emptyPrompt }
        var common = zip(tokens, ids).prefix { $0 == $1 }.count
        if common == ids.count, common == tokens.count { return common }  // logits are already those of ids.last
        // The logits of the last prompt token are needed, so at least one token is evaluated.
        common = min(common, ids.count - 1)
        if !cache.canTruncate(to: common) { common = 0 }
        cache.truncate(to: common)
        tokens.removeSubrange(common...)
        try append(Array(ids[common...]))
        return common
    }

    /// Evaluates one token (the decode step). Allocates nothing.
    public func append(token: Int32) throws {
        guard remaining >= 1 else { throw EngineError.promptTooLong(tokens: cache.length + 1, context: context) }
        var t = token
        try withUnsafePointer(to: &t) { try engine.model.evaluate(UnsafeBufferPointer(start: $0, count: 1), cache: cache) }
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
