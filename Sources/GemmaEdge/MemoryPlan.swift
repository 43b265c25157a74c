import GGUF
import Gemma3
import Vision

/// The memory a model needs at a given context, by component, computed from the file alone
/// (nothing is loaded): what `inspect --memory` prints and what the fit check compares with the
/// memory available.
public struct MemoryPlan: Sendable, Equatable {
    /// Weight tensors, mapped from the file (page cache, shared, evictable).
    public var weightsMapped: Int
    /// The repacked weight arena (0 while weights are read in their file layout).
    public var repackedArena: Int
    /// Local-layer KV rings: the same for every context length above the window.
    public var localKV: Int
    /// Global-layer KV cache: grows with the context.
    public var globalKV: Int
    /// Activations, quantised inputs, attention scores and the logits of one step.
    public var scratch: Int
    /// Vision projector tensors: mapped at load but not read (so not resident) until the first
    /// image; 0 without a projector.
    public var visionMapped: Int
    /// What the first image allocates: the projector's copied vectors and transposed projection,
    /// the encoder's scratch and input, one image's soft tokens; 0 without a projector.
    public var visionAllocated: Int
    /// Speculative decoding's verification batches: the drafted tokens and their logits (k + 1
    /// rows of the vocabulary) of every session; 0 when off.
    public var verification: Int
    /// The draft model of `--speculative draft`: its own whole plan (weights, KV, scratch, one
    /// session) and what it samples drafts with; 0 without one.
    public var draftModel: Int

    public var kvTotal: Int { localKV + globalKV }
    /// Everything, once an image has been encoded.
    public var total: Int { totalWithoutImages + visionMapped + visionAllocated }
    /// What a run that never sees an image holds (the projector stays mapped but unread).
    public var totalWithoutImages: Int {
        weightsMapped + repackedArena + localKV + globalKV + scratch + verification + draftModel
    }

    public init(weightsMapped: Int, repackedArena: Int, localKV: Int, globalKV: Int, scratch: Int,
                visionMapped: Int = 0, visionAllocated: Int = 0, verification: Int = 0, draftModel: Int = 0) {
        self.weightsMapped = weightsMapped
        self.repackedArena = repackedArena
        self.localKV = localKV
        self.globalKV = globalKV
        self.scratch = scratch
        self.visionMapped = visionMapped
        self.visionAllocated = visionAllocated
        self.verification = verification
        self.draftModel = draftModel
    }

    /// The plan for `file` with a context of `context` tokens, prompt batches of `batch` and KV rows
    /// of `kvType` (the bytes the cache really allocates for that type). With
    /// a vision projector (`mmproj`, its encoder on `threads` threads) the batch is raised to one
    /// image's soft tokens and the local KV rings grow to take them, as `Engine` does.
    /// `sessions` conversation states are held at once (the server's prompt-cache slots): each has
    /// its own KV cache and logits.
    /// Speculative decoding (`maxDraft` > 0, `EngineOptions.maxDraft`) raises the batch to k + 1,
    /// grows the local rings by k - 1 slots and gives every session a verification batch; a draft
    /// model (`draft`, on `draftThreads` threads, 0: `threads`) adds its own plan at the same
    /// context with one session, as `Engine` loads it.
    public init(file: GGUFFile, context: Int, batch: Int = 64, kvType: KVType = .f16, mmproj: GGUFFile? = nil,
                threads: Int = 1, sessions: Int = 1, maxDraft: Int = 0, draft: GGUFFile? = nil,
                draftThreads: Int = 0) throws {
        let config = try Gemma3Config(file: file)
        let sessions = max(1, sessions)
        var batch = batch, span = 0, vision = (mapped: 0, allocated: 0)
        if let mmproj {
            let tokens = try VisionConfig(file: mmproj).tokensPerImage
            batch = max(batch, tokens)
            span = tokens
            vision = try VisionModel.memory(file: mmproj, threads: threads)
            vision.allocated += tokens * config.embeddingLength * MemoryLayout<Float>.size
        }
        batch = max(batch, maxDraft + 1)
        var draftBytes = 0
        if let draft {
            // The draft engine: the target's options without speculation, images or the draft
            // itself, but with the rollback of `maxDraft` (so no verification batch of its own).
            var plan = try MemoryPlan(file: draft, context: context, batch: batch, kvType: kvType,
                                      threads: draftThreads > 0 ? draftThreads : threads, maxDraft: maxDraft)
            plan.verification = 0
            draftBytes = plan.total + DraftModel.bytes(vocabulary: try Gemma3Config(file: draft).vocabularySize,
                                                       maxDraft: maxDraft)
        }
        let kv = KVCache.bytes(config: config, context: context, bidirectionalSpan: max(span, maxDraft), kvType: kvType)
        let verification = maxDraft > 0
            ? sessions * Verification.bytes(capacity: maxDraft + 1, vocabulary: config.vocabularySize) : 0
        self.init(weightsMapped: file.tensors.reduce(0) { $0 + $1.byteCount }, repackedArena: 0,
                  localKV: kv.local * sessions, globalKV: kv.global * sessions,
                  scratch: Gemma3RunState.scratchBytes(config: config, maxBatch: batch, maxContext: context, threads: threads)
                      + sessions * config.vocabularySize * MemoryLayout<Float>.size,
                  visionMapped: vision.mapped, visionAllocated: vision.allocated,
                  verification: verification, draftModel: draftBytes)
    }

    /// What a cache giving every layer the whole context would take (the design without rings).
    public static func kvWithoutRings(file: GGUFFile, context: Int, kvType: KVType = .f16) throws -> Int {
        let b = KVCache.bytes(config: try Gemma3Config(file: file), context: context, localRing: false, kvType: kvType)
        return b.local + b.global
    }

    /// The figures by name, in bytes (for JSON).
    public var components: [(String, Int)] {
        var c = [("weights_mapped", weightsMapped), ("repacked_arena", repackedArena), ("local_kv", localKV),
                 ("global_kv", globalKV), ("scratch", scratch)]
        if verification > 0 { c.append(("verification", verification)) }
        if draftModel > 0 { c.append(("draft_model", draftModel)) }
        if visionMapped > 0 {
            c += [("vision_mapped", visionMapped), ("vision_allocated", visionAllocated),
                  ("total_without_images", totalWithoutImages)]
        }
        return c + [("total", total)]
    }
}

extension MemoryPlan {
    /// What a load holds beside the text model at its context, batch, threads and sessions: the
    /// KV type, a vision projector and speculative decoding (the parameters of
    /// `init(file:context:batch:kvType:mmproj:threads:sessions:maxDraft:draft:draftThreads:)`),
    /// as the fit check passes them on.
    public struct Extras: Sendable {
        public var kvType: KVType
        public var mmproj: GGUFFile?
        public var maxDraft: Int
        public var draft: GGUFFile?
        public var draftThreads: Int

        public init(kvType: KVType = .f16, mmproj: GGUFFile? = nil, maxDraft: Int = 0, draft: GGUFFile? = nil,
                    draftThreads: Int = 0) {
            self.kvType = kvType
            self.mmproj = mmproj
            self.maxDraft = maxDraft
            self.draft = draft
            self.draftThreads = draftThreads
        }

        /// Nothing beside the text model.
        public static let none = Extras()
    }

    /// The plan of a load with `extras`.
    public init(file: GGUFFile, context: Int, batch: Int, threads: Int, sessions: Int, extras: Extras) throws {
        try self.init(file: file, context: context, batch: batch, kvType: extras.kvType, mmproj: extras.mmproj,
                      threads: threads, sessions: sessions, maxDraft: extras.maxDraft, draft: extras.draft,
                      draftThreads: extras.draftThreads)
    }
}
