import ArgumentParser
import Boards
import Foundation
import GemmaEdge
import Gemma3
import GGUF
import Kernels
import Sampling
import Tokenizer
import Vision

@main
struct GemmaEdgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemma-edge",
        abstract: "Gemma 3 inference for ARM single-board computers.",
        subcommands: [Generate.self, Chat.self, Tokenize.self, Perplexity.self, Inspect.self, Bench.self, Doctor.self, Profile.self, Serve.self, WatchdogCommand.self, ChartCommand.self])
}

/// The model and engine options every model-loading command takes.
struct ModelOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .long], help: "GGUF model file (default: the cached Gemma 3 270M, or $GEMMA_EDGE_MODEL).")
    var model: String?

    @Option(help: "Compute threads (default: the big cores on big.LITTLE chips, else all cores, at most 8).")
    var threads: Int = 0

    @Option(help: "CPUs to run the compute threads on, pinned in order, e.g. 4-7 or 0,2.")
    var cores: String?

    @Option(help: "Board profile to use instead of detecting one (see `gemma-edge doctor`).")
    var board: String?

    @Option(help: "Context length in tokens (default: 4096, or the model's context if smaller).")
    var ctx: Int = 0

    @Option(help: "Prompt tokens per batch.")
    var batch: Int = 64

    @Option(help: "Kernel set to use instead of the best for this CPU (scalar, avx2, neon, neon-dotprod).")
    var kernels: String?

    @Option(help: "KV cache rows of the global layers: f16 (default, as llama.cpp), q8 (int8 blocks of 32 with an f16 scale, about half of f16) or f32. Local rings are f16, or f32 with f32.")
    var kvType: KVType = .f16
    @Flag(help: "Read the GGUF's own blocks; do not repack weights into the kernels' layout (or map its cache).")
    var noRepack = false

    @Option(help: OutputType.help)
    var outputType: OutputType?

    @Option(help: "A SentencePiece tokenizer.model to use instead of the GGUF vocabulary.")
    var tokenizerModel: String?

    @Flag(help: "Skip the load-time value checks (every block scale and float weight finite; one pass over the file, about 45 ms for the 270M).")
    var noVerify = false

    var modelPath: String {
        if let model { return model }
        if let env = ProcessInfo.processInfo.environment["GEMMA_EDGE_MODEL"], !env.isEmpty { return env }
        let cache = ProcessInfo.processInfo.environment["GEMMA_EDGE_CACHE"]
            ?? (NSHomeDirectory() + "/.cache/gemma-edge")
        return cache + "/models/gemma-3-270m-q4_k_m.gguf"
    }

    func load() throws -> Engine { try prepare().load() }

    /// The parsed model file and the engine options for it on this board: threads and cores
    /// chosen by `Boards`, and the fit check run first (a model that does not fit is refused
    /// here, before loading). Commands that adjust the options before loading use this instead
    /// of `load()`. `sessions` is how many conversation states (each with its own KV cache) the
    /// command holds at once; `adjust` sets the options the fit check must count too (a vision
    /// projector, speculative decoding) before it runs.
    func prepare(sessions: Int = 1, adjust: (inout EngineOptions) throws -> Void = { _ in }) throws -> PreparedModel {
        var o = EngineOptions()
        o.threads = threads
        o.context = ctx
        o.batch = batch
        o.kernels = kernels
        o.kvType = kvType
        o.repack = !noRepack
        o.outputType = outputType?.tensorType
        o.tokenizerModel = tokenizerModel
        o.verifyValues = !noVerify
        try adjust(&o)
        let file = try prepareLoad(modelPath: modelPath, options: &o, cores: cores, board: board, sessions: sessions)
        return PreparedModel(file: file, options: o)
    }
}

/// A model file parsed once, for the fit check and then the engine, with the options to load it.
struct PreparedModel: Sendable {
    let file: GGUFFile
    var options: EngineOptions

    func load() throws -> Engine { try Engine(file: file, options: options) }
}

/// Parses the model file, then picks threads and cores for this board and runs the fit check on
/// `o` (a model that does not fit is refused here, before anything is loaded), printing the
/// warnings. Every command that loads a model goes through here; the file it returns is the one
/// the engine loads. `sessions`: conversation states held at once (the server's cache slots).
func prepareLoad(modelPath path: String, options o: inout EngineOptions, cores: String?, board: String?,
                 sessions: Int = 1) throws -> GGUFFile {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError("model file not found: \(path) (run `make model` to fetch the Gemma 3 270M, or pass -m FILE)")
    }
    let file = try GGUFFile(path: path)
    let prep = try LoadPreparation.prepare(file: file, context: o.context, batch: o.batch, threads: o.threads,
                                           cores: cores, board: board, sessions: sessions, extras: planExtras(o))
    for w in prep.warnings + [prep.apply(to: &o)].compactMap({ $0 }) {
        FileHandle.standardError.write(Data("gemma-edge: \(w)\n".utf8))
    }
    return file
}

/// What the fit check counts beside the model for the options `o`: the KV type, the projector and
/// speculative decoding (its verification batches and the draft model). A projector or draft
/// model that cannot be read as one is left out here: loading it then fails with the engine's
/// own message.
func planExtras(_ o: EngineOptions) -> MemoryPlan.Extras {
    let projector = o.mmproj.flatMap { try? GGUFFile(path: $0, readAhead: false) }
    let draft = o.draftModel.flatMap { try? GGUFFile(path: $0, readAhead: false) }
    return MemoryPlan.Extras(kvType: o.kvType,
                             mmproj: projector.flatMap { (try? VisionConfig(file: $0)) == nil ? nil : $0 },
                             maxDraft: o.maxDraft,
                             draft: draft.flatMap { (try? Gemma3Config(file: $0)) == nil ? nil : $0 },
                             draftThreads: o.draftThreads)
}

/// Sampling flags shared by generate and chat.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(help: "Top-k (0 keeps all).") var topK: Int = 40
    @Option(help: "Top-p.") var topP: Float = 0.95
    @Option(help: "Min-p.") var minP: Float = 0.05
    @Option(help: "Repetition penalty (1 is off).") var repeatPenalty: Float = 1.0
    @Option(help: "Tokens the repetition penalty looks back over.") var repeatLastN: Int = 64
    @Option(help: "Random seed for reproducible sampling.") var seed: UInt64 = 0x5EED

    func parameters() throws -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature
        p.topK = topK
        p.topP = topP
        p.minP = minP
        p.repetitionPenalty = repeatPenalty
        p.repetitionWindow = repeatLastN
        p.seed = seed
        if let problem = p.validate() { throw ValidationError(problem) }
        return p
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Writes to stdout without buffering surprises (streamed tokens appear as they come).
func emit(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}

func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
    return String(decoding: data, as: UTF8.self)
}

extension KVType: ExpressibleByArgument {}

/// `--output-type`: the type the output projection is held in (`EngineOptions.outputType`).
enum OutputType: String, ExpressibleByArgument, CaseIterable {
    case q8_0, q5_0, q4_0

    var tensorType: TensorType {
        switch self {
        case .q8_0: return .q8_0
        case .q5_0: return .q5_0
        case .q4_0: return .q4_0
        }
    }

    static let help: ArgumentHelp = """
        Hold the output projection in this type (q8_0, q5_0, q4_0) instead of the file's: fewer bytes \
        read per decoded token for a small perplexity cost (the 270M: q5_0 about 25 % fewer); requantised \
        once and cached with the repacked weights. The embedding lookup keeps the file's rows.
        """
}
