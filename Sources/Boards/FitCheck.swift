import Foundation
import GGUF
import Gemma3
import GemmaEdge

/// Whether a model fits in the memory available at a given context, with a safety margin, and
/// what to change when it does not. Every command that loads a model runs it first (through
/// `LoadPreparation`), and `doctor` prints it; both use `evaluate`.
///
/// Needed is `MemoryPlan.total` — mapped weights + repacked arena + local and global KV + scratch,
/// the figures `gemma-edge inspect --memory` prints — plus the margin; it is compared with
/// `MemAvailable`. Swap is never counted: a model that only fits by swapping is refused.
public struct FitCheck: Codable, Sendable, Equatable {
    /// The context checked (the engine's default when 0 was asked for).
    public var context: Int
    /// Prompt tokens per batch.
    public var batch: Int
    /// `MemoryPlan.weightsMapped`: weight tensors mapped from the file.
    public var weightsMapped: Int
    /// `MemoryPlan.repackedArena`.
    public var repackedArena: Int
    /// `MemoryPlan.localKV`: the sliding-window layers' KV rings.
    public var localKv: Int
    /// `MemoryPlan.globalKV`: the global layers' KV cache.
    public var globalKv: Int
    /// `MemoryPlan.scratch`: activations, scores and logits.
    public var scratch: Int
    /// `MemoryPlan.visionMapped + visionAllocated`: the projector and what the first image
    /// allocates (0 without `--mmproj`).
    public var vision: Int
    /// `MemoryPlan.verification + draftModel`: speculative decoding's verification batches and
    /// the draft model's whole plan (0 when off).
    public var speculative: Int
    /// `MemoryPlan.total`.
    public var needed: Int
    /// Memory kept free for the rest of the system and this process's own allocations.
    public var margin: Int
    /// `MemAvailable`.
    public var available: Int
    /// `MemTotal`.
    public var memoryTotal: Int
    /// `needed + margin <= available`.
    public var fits: Bool
    /// `available - needed - margin` (negative when it does not fit).
    public var headroom: Int
    /// The largest context (at most the one asked for) that fits; nil when not even 128 tokens do.
    public var largestFittingContext: Int?
    /// One sentence: the verdict and the figures.
    public var summary: String
    /// What to change when it does not fit (nil when it fits).
    public var advice: String?

    /// The margin for a machine with `memoryTotal` bytes: 5 % of it, at least 128 MiB.
    public static func margin(memoryTotal: Int) -> Int { max(128 << 20, memoryTotal / 20) }

    /// The context the engine uses for `requested` (0 means the smaller of 4096 and the model's).
    public static func resolveContext(_ requested: Int, config: Gemma3Config) throws -> Int {
        let c = requested == 0 ? min(4096, config.contextLength) : requested
        guard c >= 1 else { throw BoardsError.badOption("--ctx must be at least 1") }
        guard c <= config.contextLength else {
            throw BoardsError.badOption("--ctx \(c) exceeds the model's context of \(config.contextLength)")
        }
        return c
    }

    /// Checks `file` at `context` (0: the engine's default), prompt batch `batch` and `threads`
    /// compute threads (each has its own attention scratch) against `memory`.
    /// `sessions` conversation states (the server's `--cache-slots`) each hold a KV cache;
    /// `extras` are what the load holds beside (KV type, projector, speculative decoding).
    public static func evaluate(file: GGUFFile, context requested: Int, batch: Int, memory: MemoryInfo,
                                threads: Int = EngineOptions.defaultThreads, sessions: Int = 1,
                                extras: MemoryPlan.Extras = .none) throws -> FitCheck {
        let config = try Gemma3Config(file: file)
        let context = try resolveContext(requested, config: config)
        func planAt(_ c: Int) throws -> MemoryPlan {
            try MemoryPlan(file: file, context: c, batch: batch, threads: threads, sessions: sessions, extras: extras)
        }
        let plan = try planAt(context)
        let margin = margin(memoryTotal: memory.total)
        let fits = plan.total + margin <= memory.available
        let largest = try largestContext(upTo: context, budget: memory.available - margin) { try planAt($0).total }
        let name = URL(fileURLWithPath: file.path).lastPathComponent
        var check = FitCheck(
            context: context, batch: batch, weightsMapped: plan.weightsMapped, repackedArena: plan.repackedArena,
            localKv: plan.localKV, globalKv: plan.globalKV, scratch: plan.scratch,
            vision: plan.visionMapped + plan.visionAllocated, speculative: plan.verification + plan.draftModel,
            needed: plan.total, margin: margin,
            available: memory.available, memoryTotal: memory.total, fits: fits,
            headroom: memory.available - plan.total - margin, largestFittingContext: largest, summary: "", advice: nil)
        var shares = ["weights \(formatBytes(plan.weightsMapped))"]
        if plan.repackedArena > 0 { shares.append("repacked \(formatBytes(plan.repackedArena))") }
        shares.append("KV \(formatBytes(plan.kvTotal))")
        shares.append("scratch \(formatBytes(plan.scratch))")
        if check.vision > 0 { shares.append("vision \(formatBytes(check.vision))") }
        if plan.draftModel > 0 { shares.append("draft model \(formatBytes(plan.draftModel))") }
        if plan.verification > 0 { shares.append("verification \(formatBytes(plan.verification))") }
        let parts = shares.joined(separator: ", ")
        let free = "\(formatBytes(memory.available)) is available (MemAvailable, of \(formatBytes(memory.total)) total)"
        if fits {
            check.summary = "\(name) fits at --ctx \(context): it needs \(formatBytes(plan.total)) (\(parts)) "
                + "plus a \(formatBytes(margin)) margin; \(free), leaving \(formatBytes(check.headroom)) spare"
            return check
        }
        check.summary = "\(name) does not fit at --ctx \(context): it needs \(formatBytes(plan.total)) (\(parts)) "
            + "plus a \(formatBytes(margin)) safety margin, but only \(free); loading it would push the system into swap"
        var options: [String] = []
        if let largest, largest < context {
            options.append("--ctx \(largest) (needs \(formatBytes(try planAt(largest).total)))")
        }
        let small = min(context, 512)
        let minimal = try planAt(small)
        let weightBudget = memory.available - margin - (minimal.total - minimal.weightsMapped)
        if let largest, largest < context {
            options.append("a smaller quant or model to keep --ctx \(context) (the weights, now \(formatBytes(plan.weightsMapped)), "
                + "would have to shrink by \(formatBytes(-check.headroom)))")
        } else if weightBudget > 0 {
            options.append("a smaller quant or model: even at --ctx \(small) the weights (now \(formatBytes(plan.weightsMapped))) "
                + "must fit in about \(formatBytes(weightBudget)); use a Q4_0 file, the smallest type the kernels run, or a smaller Gemma 3")
        } else {
            options.append("a smaller quant or model together with more free memory (even the KV cache and scratch at "
                + "--ctx \(small) do not fit beside the margin)")
        }
        if check.speculative > 0 {
            options.append("without speculative decoding, or --speculative lookup in place of a draft model (they take "
                + "\(formatBytes(check.speculative)) of it)")
        }
        options.append("more free memory: stop other programs until MemAvailable reaches \(formatBytes(plan.total + margin))")
        check.advice = "what to change: " + options.joined(separator: "; or ")
        return check
    }

    /// The largest context in 1...`upTo` whose plan (`needed(context)` bytes) fits in `budget`
    /// bytes, rounded down to a multiple of 128 above 128; nil when not even 128 tokens (or
    /// `upTo`, if smaller) fit.
    static func largestContext(upTo: Int, budget: Int, needed: (Int) throws -> Int) throws -> Int? {
        func fits(_ c: Int) throws -> Bool { try needed(c) <= budget }
        let floor = min(128, upTo)
        guard try fits(floor) else { return nil }
        if try fits(upTo) { return upTo }
        var lo = floor, hi = upTo          // fits(lo), !fits(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if try fits(mid) { lo = mid } else { hi = mid }
        }
        return lo > 128 ? lo / 128 * 128 : lo
    }

    /// Throws `.doesNotFit` with the summary and advice when the model does not fit.
    public func enforce() throws {
        guard !fits else { return }
        throw BoardsError.doesNotFit(summary + ".\n" + (advice ?? "")
            + ".\n(set GEMMA_EDGE_SKIP_FIT_CHECK=1 to load anyway and risk swapping)")
    }
}
