import ArgumentParser
import Foundation
import Gemma3
import GGUF
import GemmaEdge

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a GGUF file's metadata and tensor table.")

    @Option(name: [.customShort("m"), .long], help: "GGUF file.") var model: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print the memory the model needs at --ctx, by component, instead of the tensor table.") var memory = false
    @Option(help: "Context length for --memory (default: 4096, or the model's context if smaller).") var ctx: Int?
    @Option(help: "Prompt batch for --memory.") var batch: Int = 64
    @Option(help: "KV cache type for --memory (f16, q8, f32; see `generate --help`).") var kvType: KVType = .f16
    @Option(help: "With --memory: also count this vision projector (mapped at load, read and allocated at the first image).")
    var mmproj: String?
    @Option(help: "With --memory and --mmproj: the encoder's compute threads (default: as generate picks).") var threads: Int?

    func run() throws {
        let file = try GGUFFile(path: ModelOptionsPath.resolve(model))
        if memory { return try printMemory(file) }
        let config = try? Gemma3Config(file: file)
        if json {
            var meta: [String: Any] = [:]
            for k in file.keys { meta[k] = file.metadata[k]!.summary }
            try printJSON([
                "path": file.path, "version": Int(file.version), "alignment": file.alignment,
                "metadata": meta,
                "tensors": file.tensors.map {
                    ["name": $0.name, "type": $0.type.description, "shape": $0.dimensions, "offset": $0.fileOffset,
                     "bytes": $0.byteCount] as [String: Any]
                },
            ])
            return
        }
        emit("\(file.path): GGUF v\(file.version), \(file.keys.count) metadata keys, \(file.tensors.count) tensors, "
             + "alignment \(file.alignment)\n\n")
        for k in file.keys { emit("  \(k) = \(file.metadata[k]!.summary)\n") }
        emit("\n")
        var byType: [String: (Int, Int)] = [:]
        for t in file.tensors {
            emit("  \(t.name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(t.type.description.padding(toLength: 5, withPad: " ", startingAt: 0)) \(t.dimensions)\n")
            let e = byType[t.type.description] ?? (0, 0)
            byType[t.type.description] = (e.0 + 1, e.1 + t.byteCount)
        }
        emit("\n")
        for (type, (n, bytes)) in byType.sorted(by: { $0.key < $1.key }) {
            emit("  \(type): \(n) tensors, \(bytes) bytes\n")
        }
        if let c = config {
            emit("\nGemma 3: \(c.blockCount) blocks, width \(c.embeddingLength), FFN \(c.feedForwardLength), "
                 + "\(c.headCount) heads / \(c.kvHeadCount) KV heads x \(c.headDim), window \(c.slidingWindow), "
                 + "global layers \((0..<c.blockCount).filter { c.isGlobal(layer: $0) }), vocab \(c.vocabularySize)\n")
        }
    }
}

extension Inspect {
    func printMemory(_ file: GGUFFile) throws {
        let config = try Gemma3Config(file: file)
        let context = ctx ?? min(4096, config.contextLength)
        guard context >= 1, context <= config.contextLength else {
            throw CLIError("--ctx must be between 1 and the model's context of \(config.contextLength)")
        }
        guard batch >= 1, batch <= 4096 else { throw CLIError("--batch must be between 1 and 4096") }
        guard kvType.fits(headDim: config.headDim) else {
            throw CLIError("--kv-type q8 needs a head size that is a multiple of 32; this model's is \(config.headDim)")
        }
        let projector = try mmproj.map { try GGUFFile(path: $0, readAhead: false) }
        let plan = try MemoryPlan(file: file, context: context, batch: batch, kvType: kvType, mmproj: projector,
                                  threads: threads ?? EngineOptions.defaultThreads)
        let noRings = try MemoryPlan.kvWithoutRings(file: file, context: context, kvType: kvType)
        // The KV bytes of every type that fits the model, for comparison.
        let byType = KVType.allCases.filter { $0.fits(headDim: config.headDim) }.map { t in
            (t, KVCache.bytes(config: config, context: context, kvType: t))
        }
        if json {
            var o: [String: Any] = ["ctx": context, "batch": batch, "kv_without_rings": noRings, "kv_type": kvType.rawValue,
                                    "kv_local_type": kvType.localRing.rawValue]
            for (k, v) in plan.components { o[k] = v }
            o["kv_by_type"] = Dictionary(uniqueKeysWithValues: byType.map {
                ($0.0.rawValue, ["local_kv": $0.1.local, "global_kv": $0.1.global, "total": $0.1.local + $0.1.global])
            })
            try printJSON(o)
            return
        }
        func mib(_ b: Int) -> String { String(format: "%10.1f MiB", Double(b) / 1048576) }
        emit("memory for \(file.path) at ctx \(context), batch \(batch), KV \(kvType.rawValue) "
             + "(local rings \(kvType.localRing.rawValue)):\n")
        for (k, v) in plan.components { emit("  \(k.padding(toLength: 20, withPad: " ", startingAt: 0)) \(mib(v))  (\(v) bytes)\n") }
        if plan.visionMapped > 0 {
            emit("  (vision_mapped is mapped at load but read only at the first image; vision_allocated is allocated then;\n"
                 + "   local_kv and scratch include room for one image's soft tokens)\n")
        }
        emit(String(format: "  KV is %.1f %% of a cache giving every layer the whole context (%@)\n",
                    100 * Double(plan.kvTotal) / Double(noRings), mib(noRings).trimmingCharacters(in: .whitespaces)))
        for (t, b) in byType {
            emit("  KV as \(t.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0)) local \(mib(b.local))  global \(mib(b.global))  "
                 + "total \(mib(b.local + b.global))\n")
        }
    }
}
