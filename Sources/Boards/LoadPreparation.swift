import Foundation
import GGUF
import GemmaEdge

/// What every model-loading command does before it maps a model: recognise the board, choose
/// threads and cores, and check that the model fits — refusing with a clear message when it
/// does not. `doctor` shows the same decisions.
public struct LoadPreparation: Sendable {
    /// Where /proc and /sys were read.
    public var root: SystemRoot
    /// The board recognised (or given with `--board`).
    public var board: DetectedBoard
    /// Threads and cores for the engine.
    public var threads: ThreadPlan
    /// Nil when the memory could not be read (a warning says why).
    public var fit: FitCheck?
    /// Messages for stderr: nothing here stops the load.
    public var warnings: [String]

    /// Detects, plans and checks. Throws when `--board`, `--cores` or `--threads` are invalid,
    /// when the model file cannot be parsed, and (unless `$GEMMA_EDGE_SKIP_FIT_CHECK` is 1)
    /// when the model does not fit.
    ///
    /// - Parameters:
    ///   - context: `--ctx` (0: the engine's default).
    ///   - threads: `--threads` (0: chosen from the board).
    ///   - cores: `--cores` text ("4-7"), nil when not given.
    ///   - board: `--board`, nil to detect.
    ///   - sessions: conversation states held at once (the server's `--cache-slots`), each with a KV cache.
    ///   - extras: what the load holds beside the text model (KV type, projector, speculative decoding).
    ///   - root: where /proc and /sys are read; nil means `$GEMMA_EDGE_SYSFS_ROOT` or `/`.
    public static func prepare(modelPath: String, context: Int, batch: Int, threads: Int, cores: String?, board: String?,
                               sessions: Int = 1, extras: MemoryPlan.Extras = .none, root: SystemRoot? = nil,
                               catalog: BoardCatalog? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LoadPreparation {
        try prepare(file: GGUFFile(path: modelPath), context: context, batch: batch, threads: threads, cores: cores,
                    board: board, sessions: sessions, extras: extras, root: root, catalog: catalog, environment: environment)
    }

    /// `prepare(modelPath:...)` of a file already parsed (the one the engine then loads).
    public static func prepare(file: GGUFFile, context: Int, batch: Int, threads: Int, cores: String?, board: String?,
                               sessions: Int = 1, extras: MemoryPlan.Extras = .none, root: SystemRoot? = nil,
                               catalog: BoardCatalog? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LoadPreparation {
        let root = try root ?? SystemRoot.fromEnvironment(environment)
        var warnings: [String] = []
        let catalog = try catalog ?? loadCatalog(required: board != nil, environment: environment, warnings: &warnings)
        var cpu: CPUInfo?
        do { cpu = try CPUInfo(root: root) } catch { warnings.append("\(error); big cores are taken from sysfs alone") }
        let detected = try BoardDetector.detect(root: root, cpu: cpu, catalog: catalog, override: board)
        warnings += detected.warnings
        let topology = CPUTopology(root: root, cpu: cpu)
        warnings += topology.notes
        let coreList = try cores.map { try CPUList.parse($0) }
        let plan = try ThreadPlan.choose(topology: topology, profile: detected.profile, threads: threads, cores: coreList)
        warnings += plan.warnings

        var fit: FitCheck?
        do {
            let memory = try MemoryInfo(root: root)
            if let n = memory.note { warnings.append(n) }
            fit = try FitCheck.evaluate(file: file, context: context, batch: batch, memory: memory, threads: plan.threads,
                                        sessions: sessions, extras: extras)
        } catch let e as BoardsError {
            switch e {
            case .unreadable, .garbage: warnings.append("cannot check that the model fits in memory: \(e)")
            default: throw e
            }
        }
        if let fit, !fit.fits {
            if environment["GEMMA_EDGE_SKIP_FIT_CHECK"] == "1" {
                warnings.append(fit.summary + " (loading anyway: GEMMA_EDGE_SKIP_FIT_CHECK=1)")
            } else {
                try fit.enforce()
            }
        }
        return LoadPreparation(root: root, board: detected, threads: plan, fit: fit, warnings: warnings)
    }

    /// The catalog, or an empty one with a warning when profiles are broken and not required.
    static func loadCatalog(required: Bool, environment: [String: String], warnings: inout [String]) throws -> BoardCatalog {
        do {
            return try BoardCatalog.discover(environment: environment)
        } catch {
            if required { throw error }
            warnings.append("\(error); continuing without board profiles")
            return BoardCatalog.empty
        }
    }

    /// Sets the thread count and pinning in `options`, and limits the calling thread (compute
    /// thread 0) to the chosen cores. Pinning applies only when the root is this machine: the
    /// CPU ids of a synthetic tree mean nothing here. Returns a warning when the calling thread
    /// could not be limited.
    public func apply(to options: inout EngineOptions) -> String? {
        options.threads = threads.threads
        guard root.isHost else { return nil }
        options.cpus = threads.engineCPUs
        let restrict = threads.pinned || threads.cpus.count < CPUTopology(root: root, cpu: nil).online.count
        return restrict ? Affinity.restrictCallingThread(to: threads.cpus) : nil
    }
}

extension BoardCatalog {
    /// A catalog with no profiles.
    public static var empty: BoardCatalog { BoardCatalog(profiles: [], searched: []) }
}
