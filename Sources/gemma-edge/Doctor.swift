import ArgumentParser
import Boards
import Foundation

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this board: CPU and kernel path, threads, memory, the model's fit and storage speed, clocks and heat.",
        discussion: """
            Reads /proc and /sys (or a copy of them under --sysfs-root, for a board this is not running on), \
            recognises the board from its profile in Platforms/boards (or $GEMMA_EDGE_BOARDS), and checks the \
            model at --ctx with the same fit check every model-loading command runs first.
            """)

    @Option(name: [.customShort("m"), .long], help: "GGUF model file (default: the cached Gemma 3 270M, or $GEMMA_EDGE_MODEL; skipped when absent).")
    var model: String?
    @Option(help: "Context length for the fit check (default: 4096, or the model's context if smaller).") var ctx: Int = 0
    @Option(help: "Prompt batch for the fit check.") var batch: Int = 64
    @Option(help: "Compute threads to plan for (default: chosen from the board).") var threads: Int = 0
    @Option(help: "CPUs to run on, e.g. 4-7 (default: the big cores on big.LITTLE chips).") var cores: String?
    @Option(help: "Board profile to use instead of detecting one.") var board: String?
    @Option(help: "Directory standing for / when reading /proc and /sys (a synthetic or copied tree).") var sysfsRoot: String?
    @Flag(help: "Drop the model file's cached pages before timing the read (measures the storage, not the page cache).") var coldRead = false
    @Option(help: "Most MiB of the model to read when timing storage.") var readMib: Int = 1024
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard ctx >= 0 else { throw ValidationError("--ctx must be at least 1") }
        guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be between 1 and 4096") }
        guard threads >= 0, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard readMib >= 1, readMib <= 1 << 20 else { throw ValidationError("--read-mib must be at least 1") }
    }

    func run() throws {
        var r = DoctorReport.Request()
        if let sysfsRoot { r.root = try SystemRoot(path: sysfsRoot) } else { r.root = try SystemRoot.fromEnvironment() }
        r.board = board
        let path = ModelOptionsPath.resolve(model)
        if model != nil || FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError("model file not found: \(path)") }
            r.modelPath = path
        }
        r.context = ctx
        r.batch = batch
        r.threads = threads
        r.cores = cores
        r.coldRead = coldRead
        r.readLimit = readMib << 20
        let catalog: BoardCatalog
        do {
            catalog = try BoardCatalog.discover()
        } catch {
            // A broken profile is reported, not fatal, unless --board needs the catalog.
            if board != nil { throw error }
            FileHandle.standardError.write(Data("gemma-edge doctor: \(error)\n".utf8))
            catalog = .empty
        }
        let report = try DoctorReport.make(r, catalog: catalog)
        emit(json ? try report.json() : report.text())
    }
}
