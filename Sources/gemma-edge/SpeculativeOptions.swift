import ArgumentParser
import Foundation
import GemmaEdge

extension SpeculativeMode: ExpressibleByArgument {}

/// Speculative decoding for `generate`, `chat`, `serve` and `bench`: a drafter proposes the next
/// tokens and the model checks them in one batch (README, "Speculative decoding").
struct SpeculativeOptions: ParsableArguments {
    @Option(help: "Speculative decoding: off, lookup (drafts copied from the prompt and output so far) or draft (a smaller model with the same vocabulary, --draft-model). Greedy output is unchanged; sampled output keeps its distribution.")
    var speculative: SpeculativeMode = .off
    @Option(help: "The draft model of --speculative draft (e.g. the Gemma 3 270M for the 1B), loaded with this model's context, kernels, --kv-type and --output-type (a narrower draft output changes only which tokens are proposed, never the output); the fit check counts it.")
    var draftModel: String?
    @Option(help: "Most tokens drafted per step (1...\(Speculation.maxDraftLimit)); the length is adapted to the acceptance rate below it.")
    var draftMax: Int = Speculation.defaultMaxDraft
    @Option(help: "Compute threads of the draft model (default: the model's).") var draftThreads: Int = 0

    func validate() throws {
        guard draftMax >= 1, draftMax <= Speculation.maxDraftLimit else {
            throw ValidationError("--draft-max must be 1...\(Speculation.maxDraftLimit)")
        }
        guard draftThreads >= 0, draftThreads <= 256 else { throw ValidationError("--draft-threads must be 0...256") }
        if speculative == .draft, draftModel == nil { throw ValidationError("--speculative draft needs --draft-model FILE") }
        if speculative != .draft, draftModel != nil { throw ValidationError("--draft-model needs --speculative draft") }
        if let path = draftModel, !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("draft model not found: \(path)")
        }
    }

    /// `options` with speculative decoding set.
    func apply(to options: inout EngineOptions) {
        options.speculative = speculative
        options.draftModel = draftModel
        options.maxDraft = speculative == .off ? 0 : draftMax
        options.draftThreads = draftThreads
    }

    /// A line for --verbose: what the drafter did.
    static func summary(_ engine: Engine) -> String? {
        guard let s = engine.speculator?.stats else { return nil }
        return String(format: "speculative %@: %d verifications, %d plain steps, %d of %d drafted tokens accepted (%.1f %%)\n",
                      engine.options.speculative.rawValue, s.verifications, s.plainSteps, s.accepted, s.drafted,
                      s.acceptanceRate * 100)
    }
}
