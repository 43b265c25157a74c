import Base
import ArgumentParser
import Foundation
import GemmaEdge
import Sampling
import Tokenizer
import Vision

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text after a prompt, streamed to stdout.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var vision: ImageOptions  // vision (issue 7): --mmproj, --image, --pan-and-scan
    @OptionGroup var output: GrammarOptions  // issue 16: --grammar, --json-schema, --json-output
    @OptionGroup var speculative: SpeculativeOptions

    @Option(help: "The prompt (tokenised with BOS; never parsed for special tokens).")
    var prompt: String

    @Option(help: "Most tokens to generate.") var maxTokens: Int = 128
    @Flag(help: "Wrap the prompt in the Gemma 3 chat template (for instruction-tuned models).") var chatTemplate = false
    @Flag(help: "Print {\"tokens\": [...], \"text\": ...} instead of streaming.") var json = false
    @Flag(help: "Print load time and speed to stderr.") var verbose = false
    @Option(help: "Session snapshot: restore it when it exists, reuse the prompt prefix it holds, and save the state after the prompt to it.")
    var session: String?

    func validate() throws {
        guard !prompt.isEmpty else { throw ValidationError("the prompt is empty") }
        guard maxTokens >= 0, maxTokens <= 1_000_000 else { throw ValidationError("--max-tokens must be 0...1000000") }
    }

    func run() throws {
        let params = try sampling.parameters()
        let engine = try vision.vision.load(model, speculative: speculative)
        let tok = engine.tokenizer
        let session = engine.makeSession()
        var pictures: [RGBImage] = []
        if let projector = engine.vision, !vision.images.isEmpty {
            pictures = try vision.images.map { try projector.load(path: $0) }
            if vision.imageBenchRuns > 0 { return try vision.bench(projector, pictures[0], engine: engine) }
        }
        // A text-only prompt is never searched for image markers.
        let content = pictures.isEmpty ? MultimodalPrompt(prompt) : try MultimodalPrompt(text: prompt, images: pictures)
        let items = try engine.items(for: content, chatTemplate: chatTemplate)
        let positions = engine.positions(of: items)
        let sampler = Sampler(parameters: params, vocabularySize: engine.config.vocabularySize)
        let constraint = try output.constraint(for: engine)
        sampler.constraint = constraint
        let t0 = monotonicSeconds()
        if let snapshot = self.session, FileManager.default.fileExists(atPath: snapshot) {
            try session.restore(from: snapshot)
        }
        let reused = try session.prefill(items)
        if let snapshot = self.session, reused < positions {
            // The snapshot only saves time next run: failing to write it is a warning, not a failure.
            do { try session.save(to: snapshot) } catch {
                FileHandle.standardError.write(Data("gemma-edge: warning: the session was not saved: \(error)\n".utf8))
            }
        }
        let t1 = monotonicSeconds()
        var generated: [Int32] = []
        generated.reserveCapacity(maxTokens)
        var decoder = StreamingDecoder(vocabulary: tok.vocabulary)
        var text = ""
        if maxTokens > 0 {
            try session.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: engine.stopTokens) { id in
                generated.append(id)
                let piece = decoder.append(id)
                if json { text += piece } else if !piece.isEmpty { emit(piece) }
                return true
            }
        }
        let tail = decoder.flush()
        let t2 = monotonicSeconds()
        if json {
            var out: [String: Any] = ["tokens": generated.map(Int.init), "text": text + tail, "prompt_tokens": positions]
            if !pictures.isEmpty {
                out["images"] = pictures.count
                out["image_views"] = session.encodedViews
            }
            try printJSON(out)
        } else {
            emit(tail + "\n")
        }
        if verbose {
            let decoded = max(0, generated.count - 1)
            let images = pictures.isEmpty ? "" : String(format: "%d images (%d views) encoded in %.2f s; ", pictures.count,
                                                        session.encodedViews, session.encodeSeconds)
            FileHandle.standardError.write(Data(String(
                format: "load %.2f s, kernels %@, threads %d; %@prompt %d positions (%d reused) in %.2f s (%.1f pos/s); %d tokens in %.2f s (%.1f tok/s)\n",
                engine.loadSeconds, engine.model.compute.kernels.name, engine.options.threads, images, positions, reused,
                t1 - t0, Double(positions - reused) / (t1 - t0), decoded, t2 - t1,
                decoded > 0 ? Double(decoded) / (t2 - t1) : 0).utf8))
            if !pictures.isEmpty, let projector = engine.vision {
                FileHandle.standardError.write(Data("vision-stages (last view): \(projector.lastEncodeStages)\n".utf8))
            }
            if let line = SpeculativeOptions.summary(engine) { FileHandle.standardError.write(Data(line.utf8)) }
            if let c = constraint {
                FileHandle.standardError.write(Data(String(format: "grammar: %d masks, %.1f us each; %@\n", c.maskCount,
                    c.maskSeconds / Double(max(1, c.maskCount)) * 1e6, c.finished ? "complete" : "incomplete").utf8))
            }
        }
    }
}
