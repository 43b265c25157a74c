import Foundation
import GGUF
import GemmaEdge

/// Everything `gemma-edge doctor` reports: the board, the CPU and the kernel path that will run,
/// the threads, memory, the model's storage speed and fit, clocks and temperatures, and advice.
/// Encoded as JSON with snake_case keys by `json()`; printed for people by `text()`.
public struct DoctorReport: Codable, Sendable {
    /// The root /proc and /sys were read from ("/" for this machine).
    public var root: String
    public var board: Board
    public var cpu: CPU
    public var threads: ThreadPlan
    /// Nil when /proc/meminfo could not be read (see `problems`).
    public var memory: MemoryInfo?
    /// Nil when no model was given and the default one is absent.
    public var model: Model?
    public var health: SystemHealth
    /// The whole profile that applies, nil when none does.
    public var profile: BoardProfile?
    /// What to do, most important first.
    public var advice: [String]
    /// Things that look wrong but did not stop the report.
    public var warnings: [String]
    /// Files that could not be read or parsed.
    public var problems: [String]

    /// Which board, how it was recognised, and where the profiles came from.
    public struct Board: Codable, Sendable {
        /// The profile name ("rk3588"), or "unknown".
        public var name: String
        public var displayName: String?
        /// See `DetectedBoard.matchedBy`.
        public var matchedBy: String
        public var deviceTreeModel: String?
        public var profilesDirectory: String?
    }

    /// The online cores, which are big, and the kernel set that runs.
    public struct CPU: Codable, Sendable {
        /// "aarch64", "x86_64", "armv7" or "unknown".
        public var architecture: String
        public var cores: [CoreInfo]
        public var bigCores: [Int]
        public var littleCores: [Int]
        /// "cpu_capacity", "cpu part" or "uniform".
        public var bigCoresFrom: String
        public var kernel: KernelDecision
    }

    /// The model file: storage speed, fit, and the decode ceiling the board's bandwidth allows.
    public struct Model: Codable, Sendable {
        public var path: String
        public var fileBytes: Int
        /// Nil when the timed read failed (see `problems`).
        public var storageRead: StorageReadSpeed?
        /// Nil when /proc/meminfo could not be read.
        public var fit: FitCheck?
        /// Bytes the decode step reads per token (all weights, minus the input embedding when
        /// the output projection is a separate tensor).
        public var bytesPerToken: Int?
        /// Decode ceiling from the profile's measured bandwidth, [low, high] tokens/s.
        public var decodeCeilingTokensPerSecond: [Double]?
    }

    /// What `doctor` was asked.
    public struct Request: Sendable {
        /// `--sysfs-root` (the host by default).
        public var root: SystemRoot = .host
        /// `--board`, nil to detect.
        public var board: String?
        /// `-m`, nil to skip the model sections.
        public var modelPath: String?
        /// `--ctx` (0: the engine's default).
        public var context: Int = 0
        /// `--batch`.
        public var batch: Int = 64
        /// `--threads` (0: chosen from the board).
        public var threads: Int = 0
        /// `--cores` text, nil when not given.
        public var cores: String?
        /// `--cold-read`: drop the file's cached pages before timing the read.
        public var coldRead = false
        /// Most bytes of the model to read when timing storage.
        public var readLimit = 1 << 30
        /// A request for the host with every default.
        public init() {}
    }

    /// Builds the report. Only invalid requests throw (an unknown `--board`, bad `--cores`, an
    /// unparsable model); unreadable system files become `problems`.
    public static func make(_ request: Request, catalog: BoardCatalog) throws -> DoctorReport {
        let root = request.root
        var problems: [String] = [], warnings: [String] = [], advice: [String] = []
        var cpuInfo: CPUInfo?
        do { cpuInfo = try CPUInfo(root: root) } catch { problems.append("\(error)") }
        let detected = try BoardDetector.detect(root: root, cpu: cpuInfo, catalog: catalog, override: request.board)
        warnings += detected.warnings
        let topology = CPUTopology(root: root, cpu: cpuInfo)
        problems += topology.notes
        let plan = try ThreadPlan.choose(topology: topology, profile: detected.profile, threads: request.threads,
                                         cores: request.cores.map { try CPUList.parse($0) })
        warnings += plan.warnings
        let kernel = KernelPath.decide(root: root, cpu: cpuInfo)
        let profile = detected.profile
        if let p = profile, !p.match.cpuParts.isEmpty, p.cpu.kernelPath != kernel.path,
           p.arch == (cpuInfo?.architecture ?? .current).rawValue {
            warnings.append("the \(p.name) profile expects the \(p.cpu.kernelPath) kernels but this CPU gets \(kernel.path)")
        }
        var memory: MemoryInfo?
        do {
            memory = try MemoryInfo(root: root)
            if let n = memory?.note { warnings.append(n) }
        } catch { problems.append("\(error)") }

        var model: Model?
        if let path = request.modelPath {
            model = try modelSection(path: path, request: request, memory: memory, profile: profile, problems: &problems)
        }
        let health = SystemHealth(root: root, profile: profile)
        problems += health.notes

        // Advice: what stops a run first, then speed, then the profile's own notes.
        if let fit = model?.fit, !fit.fits, let a = fit.advice { advice.append(fit.summary + "; " + a) }
        advice += health.advice(profile: profile)
        if let s = model?.storageRead, s.cachedBefore < 0.5, s.megabytesPerSecond < 60 {
            advice.append(String(format: "the model's storage reads at %.0f MB/s: the first start maps %@ in about %.0f s; "
                + "an SSD or NVMe drive (or USB 3 storage) starts far faster than an SD card",
                s.megabytesPerSecond, formatBytes(model!.fileBytes), Double(model!.fileBytes) / 1e6 / s.megabytesPerSecond))
        }
        if let p = profile {
            var rec = "recommended on \(p.displayName): \(p.recommended.model) \(p.recommended.quant) at --ctx \(p.recommended.context)"
            if let c = model?.decodeCeilingTokensPerSecond {
                rec += String(format: "; this model's decode is bounded at about %.0f-%.0f tokens/s by memory bandwidth", c[0], c[1])
            }
            advice.append(rec)
            advice += p.advice
        }
        return DoctorReport(
            root: root.path,
            board: Board(name: detected.name, displayName: profile?.displayName, matchedBy: detected.matchedBy,
                         deviceTreeModel: detected.deviceTreeModel, profilesDirectory: catalog.directory),
            cpu: CPU(architecture: (cpuInfo?.architecture ?? (root.isHost ? .current : .unknown)).rawValue,
                     cores: topology.cores, bigCores: topology.big, littleCores: topology.little,
                     bigCoresFrom: topology.bigCoresFrom, kernel: kernel),
            threads: plan, memory: memory, model: model, health: health, profile: profile,
            advice: advice, warnings: warnings, problems: problems)
    }

    static func modelSection(path: String, request: Request, memory: MemoryInfo?, profile: BoardProfile?,
                             problems: inout [String]) throws -> Model {
        // Time the read before GGUFFile maps the file (its read-ahead would warm the cache).
        var speed: StorageReadSpeed?
        do {
            speed = try StorageReadSpeed.measure(path: path, limit: request.readLimit, dropCache: request.coldRead)
        } catch { problems.append("storage read: \(error)") }
        let file = try GGUFFile(path: path)
        var fit: FitCheck?
        if let memory {
            fit = try FitCheck.evaluate(file: file, context: request.context, batch: request.batch, memory: memory)
        } else {
            problems.append("the fit check needs /proc/meminfo")
        }
        let weights = file.tensors.reduce(0) { $0 + $1.byteCount }
        let embedding = file.tensor(named: "token_embd.weight")?.byteCount ?? 0
        let perToken = file.tensor(named: "output.weight") != nil ? weights - embedding : weights
        var ceiling: [Double]?
        if let bw = profile?.memory.bandwidthMeasuredGbs, perToken > 0 {
            ceiling = bw.map { $0 * 1e9 / Double(perToken) }
        }
        return Model(path: path, fileBytes: file.mapping.size, storageRead: speed, fit: fit, bytesPerToken: perToken,
                     decodeCeilingTokensPerSecond: ceiling)
    }

    /// The report as JSON (snake_case keys, sorted, one trailing newline).
    public func json() throws -> String {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try e.encode(self), as: UTF8.self) + "\n"
    }
}
