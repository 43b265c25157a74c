import Base
import ArgumentParser
import Boards
import Foundation
import GemmaEdge
import Gemma3
import Sampling

/// Speed in the way llama-bench measures it, so the two can be put side by side: prefill of
/// `-p` random tokens as one prompt, then `-n` tokens decoded one at a time from a fresh state,
/// each repeated `-r` times after a warm-up, reporting the mean.
///
/// With `--depth D` decode is measured behind a filled cache instead (what a long conversation
/// costs): D random tokens are prefilled once, untimed, then the warm-up and the `-r` timed rounds
/// of `-n` tokens each continue from there, so the rounds decode positions D ..< D + (r + 1) * n.
/// Benchmarks/peer/peer_bench.c measures llama.cpp the same way.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure prefill and decode speed (llama-bench's method).")

    @Option(name: [.customShort("m"), .long], help: "GGUF model file.") var model: String?
    @Option(name: [.customShort("p"), .long], help: "Prompt tokens to prefill (0 skips prefill).") var prompt: Int = 512
    @Option(name: [.customShort("n"), .long], help: "Tokens to decode (0 skips decode).") var generate: Int = 128
    @Option(name: [.customShort("t"), .long], help: "Threads.") var threads: Int = 0
    @Option(name: [.customShort("r"), .long], help: "Repetitions.") var repetitions: Int = 5
    @Option(help: "Prompt batch size.") var batch: Int = 512
    @Option(help: "Kernel set (default: the best for this CPU).") var kernels: String?
    @Option(help: "Context length (default: just enough for the run).") var ctx: Int = 0
    @Option(name: [.customShort("d"), .long], help: "Decode behind this many cached tokens (prefilled once, untimed).") var depth: Int = 0
    @Option(help: "KV cache type of the global layers (f16, q8, f32).") var kvType: KVType = .f16
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Read the GGUF's own blocks; do not repack weights (or map the repacked cache).") var noRepack = false
    @Flag(help: "Also repack the types whose layouts are not measured to pay on this CPU (q4_K), to measure them.")
    var repackAll = false
    @Option(help: OutputType.help) var outputType: OutputType?
    @OptionGroup var speculation: SpeculativeOptions
    @Option(help: "With --speculative: a prompt (text, chat template applied) to decode greedily, plainly and speculatively, alternating.")
    var promptFile: String?
    @Option(help: "Measure verifying k = 0...K drafts in one batch against a decode step (behind --depth, default 128, cached positions).")
    var verifyMax: Int = 0

    func validate() throws {
        guard prompt >= 0, generate >= 0, prompt + generate > 0 else { throw ValidationError("-p and -n must be >= 0, not both 0") }
        guard repetitions >= 1, repetitions <= 1000 else { throw ValidationError("-r must be 1...1000") }
        guard depth >= 0, ctx >= 0 else { throw ValidationError("--depth and --ctx must be >= 0") }
        guard verifyMax >= 0, verifyMax < Speculation.maxDraftLimit else {
            throw ValidationError("--verify-max must be 0...\(Speculation.maxDraftLimit - 1)")
        }
        if speculation.speculative != .off, promptFile == nil {
            throw ValidationError("--speculative needs --prompt-file FILE (a text to decode)")
        }
        guard ctx == 0 || ctx >= needed else {
            throw ValidationError("--ctx \(ctx) is too short: the run needs \(needed) positions")
        }
    }

    /// Positions the run fills: the prompt, or the depth and every decode round after it.
    var needed: Int {
        if verifyMax > 0 { return (depth > 0 ? depth : 128) + verifyMax + 1 }
        if promptFile != nil { return 4096 }
        return max(prompt, depth > 0 ? depth + (repetitions + 1) * generate : generate) + 1
    }

    func run() throws {
        var o = EngineOptions()
        o.threads = threads
        o.batch = min(batch, max(prompt, depth, 1))
        o.kernels = kernels
        o.repack = !noRepack
        o.repackAll = repackAll
        o.outputType = outputType?.tensorType
        o.context = ctx > 0 ? ctx : needed
        o.kvType = kvType
        if verifyMax > 0 { o.maxDraft = verifyMax + 1 }  // the rollback of k + 1 positions
        if speculation.speculative != .off {
            o.maxDraft = speculation.draftMax
            o.batch = max(o.batch, 64)
        }
        let path = ModelOptionsPath.resolve(model)
        // The same board, thread and fit decisions as every loading command; the load time counts
        // from the parse of the file they read.
        let t0 = monotonicSeconds()
        let file = try prepareLoad(modelPath: path, options: &o, cores: nil, board: nil)
        let engine = try Engine(file: file, options: o)
        let loadMs = (monotonicSeconds() - t0) * 1000
        if verifyMax > 0 { return try benchVerification(engine: engine, depth: depth > 0 ? depth : 128, maxK: verifyMax) }
        if let promptFile {
            let text = try String(contentsOfFile: promptFile, encoding: .utf8)
            switch speculation.speculative {
            case .off: break
            case .lookup: return try benchSpeculative(engine: engine, text: text, drafter: PromptLookup())
            case .draft:
                var d = o
                d.threads = speculation.draftThreads > 0 ? speculation.draftThreads : engine.options.threads
                let draft = try Engine(modelPath: speculation.draftModel!, options: d)
                return try benchSpeculative(engine: engine, text: text, drafter: try DraftModel(engine: draft, target: engine))
            }
        }
        let vocab = engine.config.vocabularySize
        var rng = Xoshiro256(seed: 1234)
        let promptTokens = (0..<prompt).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
        let session = engine.makeSession()

        func timed(_ body: () throws -> Void) rethrows -> Double {
            let s = monotonicSeconds()
            try body()
            return monotonicSeconds() - s
        }
        var pp: [Double] = [], tg: [Double] = []
        for rep in 0...repetitions {  // rep 0 warms up and is not counted
            if prompt > 0 {
                session.reset()
                let s = try timed { try session.append(promptTokens) }
                if rep > 0 { pp.append(Double(prompt) / s) }
            }
            if generate > 0 && depth > 0 {
                if rep == 0 {
                    session.reset()
                    let fill = (0..<depth).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
                    try session.append(fill)
                }
                var next = Sampler.argmax(UnsafeBufferPointer(session.logits))
                let s = try timed {
                    for _ in 0..<generate {
                        try session.append(token: next)
                        next = Sampler.argmax(UnsafeBufferPointer(session.logits))
                    }
                }
                if rep > 0 { tg.append(Double(generate) / s) }
            } else if generate > 0 {
                session.reset()
                var next = Int32(truncatingIfNeeded: rng.next() % UInt64(vocab))
                let s = try timed {
                    for _ in 0..<generate {
                        try session.append(token: next)
                        next = Sampler.argmax(UnsafeBufferPointer(session.logits))
                    }
                }
                if rep > 0 { tg.append(Double(generate) / s) }
            }
        }
        let rss = peakRSSMiB()
        func mean(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count) }
        func sd(_ x: [Double]) -> Double {
            guard x.count > 1 else { return 0 }
            let m = mean(x)
            return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)).squareRoot()
        }
        if json {
            try printJSON(["pp_tok_s": mean(pp), "tg_tok_s": mean(tg), "load_ms": loadMs, "peak_rss_mb": rss,
                           "pp_sd": sd(pp), "tg_sd": sd(tg), "threads": engine.options.threads,
                           "kernels": engine.model.compute.kernels.name, "p": prompt, "n": generate, "r": repetitions,
                           "repack": engine.repacked?.source.rawValue ?? "off",
                           "repack_mb": Double(engine.repacked?.byteCount ?? 0) / 1_048_576,
                           "ctx": engine.options.context, "depth": depth, "kv_type": kvType.rawValue])
        } else {
            emit(String(format: "kernels %@, threads %d, load %.0f ms, peak RSS %.1f MiB\n",
                        engine.model.compute.kernels.name, engine.options.threads, loadMs, rss))
            if let r = engine.repacked {
                emit(String(format: "repacked %d tensors (%.1f MiB, %@) %@ %@\n", r.count, Double(r.byteCount) / 1_048_576,
                            r.layouts.joined(separator: ", "), r.source == .cache ? "mapped from" : "built; cache",
                            r.cachePath ?? "not written"))
            }
            if prompt > 0 { emit(String(format: "pp%d: %.2f ± %.2f tok/s\n", prompt, mean(pp), sd(pp))) }
            if generate > 0 { emit(String(format: "tg%d: %.2f ± %.2f tok/s\n", generate, mean(tg), sd(tg))) }
        }
    }
}

/// Peak resident set size of this process (VmHWM), in MiB.
func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}
