import ArgumentParser
import Foundation
import Gemma3
import GGUF

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a GGUF file's metadata and tensor table.")

    @Option(name: [.customShort("m"), .long], help: "GGUF file.") var model: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let file = try GGUFFile(path: ModelOptionsPath.resolve(model))
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
