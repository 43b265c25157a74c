import Foundation
import Gemma3
import GemmaEdge
import GGUF
import Sampling
import TestSupport
import XCTest

/// Proposes the plain run's own continuation with one token changed at a position that depends on
/// where it drafts (or none), so verifications accept every depth from nothing to everything.
struct ScriptedDrafter: Drafter {
    let truth: [Int32]  // the prompt and the plain run's tokens
    let vocab: Int

    func draft(history: UnsafeBufferPointer<Int32>, next: Int32, into out: UnsafeMutableBufferPointer<Int32>) -> Int {
        let at = history.count + 1
        let n = min(out.count, truth.count - at)
        guard n > 0 else { return 0 }
        let wrong = (at * 7 + 3) % (n + 2)  // n or n + 1: nothing is wrong
        for i in 0..<n {
            out[i] = i == wrong ? Int32((Int(truth[at + i]) + 1 + at % 5) % vocab) : truth[at + i]
        }
        return n
    }
}

final class SpeculativeTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/speculative-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A tiny model with 8-position windows (the rings wrap within a few verifications).
    func model(_ name: String = "m", seed: UInt64 = 1, blocks: Int = 7, overrides: [Int: String] = [:]) throws -> String {
        var m = ForwardTests.tiny(.q8_0)
        m.seed = seed
        m.blocks = blocks
        m.context = 1024
        m.embeddingScale = 1.0  // peaked logits: greedy runs are not decided by rounding
        m.pieceOverrides = overrides
        let sub = dir + "/" + name
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return try m.write(directory: sub)
    }

    func engine(_ path: String, maxDraft: Int, context: Int = 512) throws -> Engine {
        var o = EngineOptions()
        o.threads = 2
        o.context = context
        o.batch = 16
        o.maxDraft = maxDraft
        return try Engine(modelPath: path, options: o)
    }

    struct Run: Equatable {
        var reported: [Int32] = []
        var tokens: [Int32] = []
        var logits: [Float] = []
        var length = 0
        var evaluated = 0
        var reason: Session.StopReason? = nil
    }

    func plain(_ e: Engine, prompt: [Int32], maxTokens: Int, params: SamplingParameters = .greedy,
               stop: [Int32] = []) throws -> Run {
        let s = e.makeSession()
        try s.append(prompt)
        var r = Run()
        let sampler = Sampler(parameters: params, vocabularySize: e.config.vocabularySize)
        r.reason = try s.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: stop,
                                  onToken: { r.reported.append($0); return true }, onEvaluated: { r.evaluated += 1 })
        r.tokens = s.tokens
        r.logits = Array(s.logits)
        r.length = s.cache.length
        return r
    }

    func speculative<D: Drafter>(_ e: Engine, prompt: [Int32], maxTokens: Int, drafter: D, params: SamplingParameters = .greedy,
                                 stop: [Int32] = [], snapshot: String? = nil, stats: inout SpeculationStats) throws -> Run {
        let s = e.makeSession()
        if let snapshot { try s.restore(from: snapshot) } else { try s.append(prompt) }
        var r = Run()
        let sampler = Sampler(parameters: params, vocabularySize: e.config.vocabularySize)
        var length = DraftLength(limit: e.options.maxDraft)
        r.reason = try s.generate(maxTokens: maxTokens, sampler: sampler, stopTokens: stop, drafter: drafter, length: &length,
                                  stats: &stats, onToken: { r.reported.append($0); return true },
                                  onEvaluated: { r.evaluated += 1 })
        r.tokens = s.tokens
        r.logits = Array(s.logits)
        r.length = s.cache.length
        return r
    }

    /// A snapshot moves between a plain session's rings and a speculative one's (longer by
    /// maxDraft - 1 slots) both ways: decoding after the restore, with rejections rolling back,
    /// gives the plain run's tokens; after a restore from smaller rings, no cut reaches back past
    /// what they held.
    func testSnapshotsMoveBetweenPlainAndSpeculativeRings() throws {
        let path = try model()
        let plainEngine = try engine(path, maxDraft: 0), specEngine = try engine(path, maxDraft: 6)
        let prompt = ForwardTests.tokens(40, vocab: 300, seed: 9)  // window 8: every ring wrapped
        let reference = try plain(plainEngine, prompt: prompt, maxTokens: 30)
        let file = dir + "/moved.snap"
        for (from, to) in [(specEngine, plainEngine), (plainEngine, specEngine)] {
            let a = from.makeSession()
            try a.append(prompt)
            try a.save(to: file)
            let b = to.makeSession()
            try b.restore(from: file)
            XCTAssertEqual(b.tokens, prompt)
            XCTAssertEqual(Array(b.logits), Array(a.logits))
            XCTAssertEqual(b.cache.canTruncate(to: 39), true)
            if to === specEngine {
                // Rings of 13 slots, but the snapshot's held 8 positions (32..<40): a cut to 38
                // would need position 31 for the window of position 38.
                XCTAssertEqual(b.cache.ringFloor, 32)
                XCTAssertFalse(b.cache.canTruncate(to: 38))
                XCTAssertTrue(b.cache.canTruncate(to: 0))
                var stats = SpeculationStats()
                let truth = prompt + reference.reported
                let run = try speculative(to, prompt: prompt, maxTokens: 30,
                                          drafter: ScriptedDrafter(truth: truth, vocab: to.config.vocabularySize),
                                          snapshot: file, stats: &stats)
                XCTAssertEqual(run.reported, reference.reported)
                XCTAssertLessThan(stats.accepted, stats.drafted, "some drafts were rejected and rolled back")
            } else {
                var r: [Int32] = []
                let sampler = Sampler(parameters: .greedy, vocabularySize: to.config.vocabularySize)
                _ = try b.generate(maxTokens: 30, sampler: sampler, stopTokens: [], onToken: { r.append($0); return true },
                                   onEvaluated: {})
                XCTAssertEqual(r, reference.reported)
            }
        }
    }

    func testRollbackSlotsLetRejectedDraftsGoAfterTheRingWrapped() throws {
        let e = try engine(try model(), maxDraft: 5)
        let s = e.makeSession()
        try s.append(ForwardTests.tokens(40, vocab: e.config.vocabularySize))  // window 8: wrapped
        XCTAssertTrue(s.cache.canTruncate(to: 35), "5 drafts can be dropped")
        XCTAssertFalse(s.cache.canTruncate(to: 34), "6 positions are more than the rings keep")
        let plainEngine = try engine(try model(), maxDraft: 0)
        let p = plainEngine.makeSession()
        try p.append(ForwardTests.tokens(40, vocab: e.config.vocabularySize))
        XCTAssertTrue(p.cache.canTruncate(to: 39))
        XCTAssertFalse(p.cache.canTruncate(to: 38))
    }

    /// Rejections at every depth, the rings wrapping all along: the same tokens, the same state.
    func testGreedyVerificationMatchesPlainDecodingAtEveryRejectionDepth() throws {
        let path = try model()
        let prompt = ForwardTests.tokens(12, vocab: 300, seed: 3)
        for maxDraft in [1, 3, 7] {
            let e = try engine(path, maxDraft: maxDraft)
            let reference = try plain(e, prompt: prompt, maxTokens: 80)
            var stats = SpeculationStats()
            let drafter = ScriptedDrafter(truth: prompt + reference.reported, vocab: e.config.vocabularySize)
            let run = try speculative(e, prompt: prompt, maxTokens: 80, drafter: drafter, stats: &stats)
            XCTAssertEqual(run.reported, reference.reported, "maxDraft \(maxDraft): \(run.reported.count) vs \(reference.reported.count)")
            XCTAssertEqual(run.tokens, reference.tokens)
            XCTAssertEqual(run.length, reference.length)
            XCTAssertEqual(run.evaluated, reference.evaluated)
            XCTAssertEqual(run.reason, reference.reason)
            let worst = zip(run.logits, reference.logits).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-3, "the logits left behind")
            XCTAssertGreaterThan(stats.accepted, 0)
            XCTAssertLessThan(stats.accepted, stats.drafted, "some drafts must be rejected")
        }
    }

    func testStopTokensInsideAnAcceptedDraftEndTheRunThere() throws {
        let path = try model()
        let e = try engine(path, maxDraft: 6)
        let prompt = ForwardTests.tokens(10, vocab: 300, seed: 9)
        let free = try plain(e, prompt: prompt, maxTokens: 40)
        let stop = free.reported[17]
        let reference = try plain(e, prompt: prompt, maxTokens: 40, stop: [stop])
        var stats = SpeculationStats()
        let drafter = ScriptedDrafter(truth: prompt + free.reported, vocab: e.config.vocabularySize)
        let run = try speculative(e, prompt: prompt, maxTokens: 40, drafter: drafter, stop: [stop], stats: &stats)
        XCTAssertEqual(run.reported, reference.reported)
        XCTAssertEqual(run.tokens, reference.tokens)
        XCTAssertEqual(run.length, reference.length)
        XCTAssertEqual(run.reason, .stopToken)
    }

    func testPromptLookupDraftsTheContinuationOfTheLatestMatch() {
        let lookup = PromptLookup(ngram: 2...3)
        let history: [Int32] = [5, 6, 7, 8, 9, 1, 6, 7, 3, 4, 2, 5, 6]
        var out = [Int32](repeating: 0, count: 4)
        let n = history.withUnsafeBufferPointer { h in
            out.withUnsafeMutableBufferPointer { lookup.draft(history: h, next: 7, into: $0) }
        }
        // "5 6 7" (3-gram) matches at 0 and wins over the later "6 7" at 6.
        XCTAssertEqual(Array(out[..<n]), [8, 9, 1, 6])
        let none = history.withUnsafeBufferPointer { h in
            out.withUnsafeMutableBufferPointer { lookup.draft(history: h, next: 99, into: $0) }
        }
        XCTAssertEqual(none, 0)
        // Image positions are never proposed.
        let image: [Int32] = [3, 4, -1, -1, 3]
        let k = image.withUnsafeBufferPointer { h in out.withUnsafeMutableBufferPointer { lookup.draft(history: h, next: 4, into: $0) } }
        XCTAssertEqual(k, 0)
    }

    func testGreedyPromptLookupMatchesPlainDecoding() throws {
        let path = try model()
        let e = try engine(path, maxDraft: 6)
        // A prompt that repeats itself, and a model whose greedy output loops: lookup finds both.
        let piece = ForwardTests.tokens(9, vocab: 300, seed: 11)
        let prompt = piece + piece + piece
        let reference = try plain(e, prompt: prompt, maxTokens: 100)
        var stats = SpeculationStats()
        let run = try speculative(e, prompt: prompt, maxTokens: 100, drafter: PromptLookup(), stats: &stats)
        XCTAssertEqual(run, Run(reported: reference.reported, tokens: reference.tokens, logits: run.logits,
                                length: reference.length, evaluated: reference.evaluated, reason: reference.reason))
        XCTAssertGreaterThan(stats.verifications, 0)
        XCTAssertGreaterThan(stats.accepted, 0)
    }

    func testDraftModelWithTheSameVocabularyKeepsGreedyOutput() throws {
        let target = try engine(try model("target", seed: 1), maxDraft: 5)
        for (name, seed, blocks) in [("same", UInt64(1), 7), ("small", UInt64(2), 2)] {
            let draftEngine = try engine(try model(name, seed: seed, blocks: blocks), maxDraft: 5)
            let drafter = try DraftModel(engine: draftEngine, target: target)
            let prompt = ForwardTests.tokens(14, vocab: 300, seed: 5)
            let reference = try plain(target, prompt: prompt, maxTokens: 60)
            var stats = SpeculationStats()
            let run = try speculative(target, prompt: prompt, maxTokens: 60, drafter: drafter, stats: &stats)
            XCTAssertEqual(run.reported, reference.reported, name)
            XCTAssertEqual(run.tokens, reference.tokens, name)
            XCTAssertEqual(run.length, reference.length, name)
            XCTAssertGreaterThan(stats.verifications, 0, name)
            if name == "same" {  // the same weights draft exactly what the model chooses
                XCTAssertEqual(stats.accepted, stats.drafted)
            }
            // A second run on the same drafter: it catches up from what its session holds.
            var again = SpeculationStats()
            let second = try speculative(target, prompt: prompt + [7], maxTokens: 30, drafter: drafter, stats: &again)
            XCTAssertEqual(second.reported, try plain(target, prompt: prompt + [7], maxTokens: 30).reported, name)
        }
    }

    /// The memory plan (what the fit check counts) of a speculative load is what the engine holds:
    /// the target's rings grown for the rollback, a verification batch per session, and the draft
    /// model's own plan with its rings grown too.
    func testMemoryPlanCountsVerificationAndTheDraftModel() throws {
        let targetPath = try model("target"), draftPath = try model("draft", seed: 2, blocks: 2)
        var o = EngineOptions()
        o.threads = 2
        o.context = 256
        o.batch = 4
        o.speculative = .draft
        o.draftModel = draftPath
        o.maxDraft = 6
        let target = try Engine(modelPath: targetPath, options: o)
        let file = try GGUFFile(path: targetPath), draft = try GGUFFile(path: draftPath)
        let plan = try MemoryPlan(file: file, context: 256, batch: 4, threads: 2, sessions: 2,
                                  extras: .init(maxDraft: 6, draft: draft))
        let plain = try MemoryPlan(file: file, context: 256, batch: 4, threads: 2, sessions: 2)
        let session = target.makeSession()
        XCTAssertEqual(plan.localKV, 2 * session.cache.bytes.local)
        XCTAssertEqual(plan.globalKV, 2 * session.cache.bytes.global)
        XCTAssertGreaterThan(plan.localKV, plain.localKV, "the rings grow by maxDraft - 1 slots")
        let vocab = target.config.vocabularySize
        XCTAssertEqual(plan.verification, 2 * 7 * (4 + 4 * vocab))
        guard case .model(let drafter)? = target.speculator?.drafter else { return XCTFail("no draft model") }
        let draftPlan = try MemoryPlan(file: draft, context: 256, batch: 7, threads: 2, maxDraft: 6)
        XCTAssertEqual(draftPlan.localKV, drafter.session.cache.bytes.local)
        XCTAssertEqual(draftPlan.globalKV, drafter.session.cache.bytes.global)
        XCTAssertEqual(plan.draftModel, draftPlan.total - draftPlan.verification + 4 * vocab + 6 * (64 * 8 + 8),
                       "its engine's plan, the logits it samples from and 6 drafts' distributions")
        XCTAssertEqual(plan.total, plain.total + (plan.localKV - plain.localKV) + (plan.scratch - plain.scratch)
                                   + plan.verification + plan.draftModel)
        XCTAssertEqual(Set(plan.components.map(\.0)).intersection(["verification", "draft_model"]).count, 2)
    }

    func testDraftModelWithAnotherVocabularyIsRefused() throws {
        let target = try engine(try model("target"), maxDraft: 4)
        let other = try engine(try model("other", overrides: [300: "zz"]), maxDraft: 4)
        XCTAssertThrowsError(try DraftModel(engine: other, target: target)) { error in
            XCTAssertTrue("\(error)".contains("vocabulary"), "\(error)")
        }
        let short = try engine(try model("short"), maxDraft: 4, context: 128)
        XCTAssertThrowsError(try DraftModel(engine: short, target: target))
    }

    /// The distribution of the tokens after drafted positions is plain sampling's: total variation
    /// between the empirical distributions of many seeded runs stays within what sampling noise
    /// gives. The temperature is the one that puts the drafted token's probability nearest 1/2,
    /// so acceptance and rejection are both common.
    func testSampledOutputKeepsPlainSamplingsDistribution() throws {
        let e = try engine(try model(), maxDraft: 3)
        let prompt = ForwardTests.tokens(6, vocab: 300, seed: 21)
        let greedy = try plain(e, prompt: prompt, maxTokens: 4)
        let s = e.makeSession()
        try s.append(prompt + [greedy.reported[0]])
        let params = Self.pureSoftmax(temperature: Self.temperature(Array(s.logits), giving: 0.5, to: greedy.reported[1]))
        let drafter = ScriptedDrafter(truth: prompt + greedy.reported, vocab: 10_000_000)  // never corrupts
        let runs = 1500
        var stats = SpeculationStats()
        let (plainCounts, specCounts) = try Self.counts(e, prompt: prompt, params: params, runs: runs, drafter: drafter,
                                                        stats: &stats)
        let share = Double(specCounts[1][greedy.reported[1]] ?? 0) / Double(runs)
        XCTAssertGreaterThan(share, 0.15, "the drafted token must be likely enough to test the rule")
        XCTAssertLessThan(share, 0.85)
        for i in 0..<3 {
            let d = Self.totalVariation(plainCounts[i], specCounts[i], runs: runs)
            print("speculative sampling, token \(i): total variation \(d) (drafted token's share \(share))")
            XCTAssertLessThan(d, 0.06, "token \(i)")
        }
    }

    /// The acceptance rule on one set of logits against plain sampling, and a wrong rule (a
    /// rejection drawing again from all of p, the draft included) that the same bound catches.
    func testTheAcceptanceRuleIsExactAndAWrongRuleIsCaught() throws {
        let e = try engine(try model(), maxDraft: 3)
        let s = e.makeSession()
        try s.append(ForwardTests.tokens(7, vocab: 300, seed: 21))
        let logits = Array(s.logits)
        let draft = Sampler.argmax(UnsafeBufferPointer(s.logits))
        var params = Self.pureSoftmax(temperature: Self.temperature(logits, giving: 0.4, to: draft))
        let runs = 20_000
        var exact: [Int32: Int] = [:], wrong: [Int32: Int] = [:], reference: [Int32: Int] = [:]
        let none = UnsafeBufferPointer<Int32>(start: nil, count: 0)
        params.seed = 1
        let rule = Sampler(parameters: params, vocabularySize: logits.count)
        params.seed = 2
        let again = Sampler(parameters: params, vocabularySize: logits.count)
        params.seed = 3
        let plainSampler = Sampler(parameters: params, vocabularySize: logits.count)
        for _ in 0..<runs {
            var l = logits
            let a = l.withUnsafeMutableBufferPointer { rule.sample($0, recent: none, draft: draft) }
            exact[a, default: 0] += 1
            l = logits
            let b = a == draft ? a : l.withUnsafeMutableBufferPointer { again.sample($0, recent: none) }
            wrong[b, default: 0] += 1
            l = logits
            reference[l.withUnsafeMutableBufferPointer { plainSampler.sample($0, recent: none) }, default: 0] += 1
        }
        let right = Self.totalVariation(exact, reference, runs: runs), bad = Self.totalVariation(wrong, reference, runs: runs)
        print("acceptance rule: total variation \(right) against plain sampling; wrong rule \(bad)")
        XCTAssertLessThan(right, 0.02)
        XCTAssertGreaterThan(bad, 0.1, "the bound must catch a wrong rule")
    }

    /// The rule against a sampled draft: the draft drawn from q (the same logits at twice the
    /// temperature, top-k 8: another distribution than p), accepted with min(1, p/q), otherwise a
    /// draw from max(0, p - q), gives plain sampling's distribution and keeps more drafts than the
    /// point-mass rule (exact for any draft, accepting with p(x) only); a wrong residual (drawing
    /// again from all of p after a rejection) is caught by the same bound.
    func testTheAcceptanceRuleAgainstASampledDraftIsExact() throws {
        let e = try engine(try model(), maxDraft: 3)
        let s = e.makeSession()
        try s.append(ForwardTests.tokens(7, vocab: 300, seed: 21))
        let logits = Array(s.logits)
        let top = Sampler.argmax(UnsafeBufferPointer(s.logits))
        var params = Self.pureSoftmax(temperature: Self.temperature(logits, giving: 0.4, to: top))
        var draftParams = params
        draftParams.temperature *= 2
        draftParams.topK = 8
        let runs = 20_000
        var exact: [Int32: Int] = [:], wrong: [Int32: Int] = [:], reference: [Int32: Int] = [:]
        let none = UnsafeBufferPointer<Int32>(start: nil, count: 0)
        draftParams.seed = 7
        let drafter = Sampler(parameters: draftParams, vocabularySize: logits.count)
        let q = DraftDistributions(positions: 1)
        params.seed = 1
        let rule = Sampler(parameters: params, vocabularySize: logits.count)
        params.seed = 2
        let pointMassRule = Sampler(parameters: params, vocabularySize: logits.count)
        params.seed = 4
        let again = Sampler(parameters: params, vocabularySize: logits.count)
        params.seed = 3
        let plainSampler = Sampler(parameters: params, vocabularySize: logits.count)
        var accepted = 0, pointMassAccepted = 0
        for _ in 0..<runs {
            var l = logits
            let x = l.withUnsafeMutableBufferPointer { drafter.sample($0, recent: none, recordingInto: q, at: 0) }
            XCTAssertGreaterThan(q.probability(of: x, at: 0), 0)
            l = logits
            let a = l.withUnsafeMutableBufferPointer { rule.sample($0, recent: none, draft: x, drawnFrom: q, at: 0) }
            if a == x { accepted += 1 }
            exact[a, default: 0] += 1
            l = logits
            let b = l.withUnsafeMutableBufferPointer { pointMassRule.sample($0, recent: none, draft: x) }
            if b == x { pointMassAccepted += 1 }
            l = logits
            wrong[a == x ? x : l.withUnsafeMutableBufferPointer { again.sample($0, recent: none) }, default: 0] += 1
            l = logits
            reference[l.withUnsafeMutableBufferPointer { plainSampler.sample($0, recent: none) }, default: 0] += 1
        }
        XCTAssertEqual(q.count(at: 0), 8)
        let right = Self.totalVariation(exact, reference, runs: runs), bad = Self.totalVariation(wrong, reference, runs: runs)
        print("sampled draft: total variation \(right) against plain sampling, \(accepted) of \(runs) accepted "
              + "(point-mass rule: \(pointMassAccepted)); wrong residual \(bad)")
        XCTAssertLessThan(right, 0.02)
        XCTAssertGreaterThan(bad, 0.05, "the bound must catch a wrong residual")
        XCTAssertGreaterThan(accepted, pointMassAccepted + runs / 20, "min(1, p/q) keeps more than p(x)")
    }

    /// A draft model that samples: the output keeps plain sampling's distribution (another
    /// model's weights draft, so q is not p), and it keeps more drafts than the same model
    /// drafting greedily at a temperature where the choice is open.
    func testSampledDraftModelKeepsTheDistribution() throws {
        let e = try engine(try model("target"), maxDraft: 3)
        let draftEngine = try engine(try model("draft", seed: 2, blocks: 2), maxDraft: 3)
        let drafter = try DraftModel(engine: draftEngine, target: e)
        let prompt = ForwardTests.tokens(6, vocab: 300, seed: 21)
        let greedy = try plain(e, prompt: prompt, maxTokens: 2)
        let probe = e.makeSession()
        try probe.append(prompt + [greedy.reported[0]])
        var params = Self.pureSoftmax(temperature: Self.temperature(Array(probe.logits), giving: 0.4, to: greedy.reported[1]))
        let runs = 1200
        var stats = SpeculationStats()
        let (plainCounts, specCounts) = try Self.counts(e, prompt: prompt, params: params, runs: runs, drafter: drafter,
                                                        stats: &stats)
        XCTAssertGreaterThan(stats.drafted, runs, "drafts were verified")
        XCTAssertGreaterThan(stats.accepted, 0)
        XCTAssertLessThan(stats.accepted, stats.drafted, "and some rejected")
        for i in 0..<3 {
            let d = Self.totalVariation(plainCounts[i], specCounts[i], runs: runs)
            print("sampled draft model, token \(i): total variation \(d); \(stats.accepted) of \(stats.drafted) drafts kept")
            XCTAssertLessThan(d, 0.07, "token \(i)")
        }
        // The same pair with the draft forced greedy (a deterministic drafter's point masses).
        struct Greedy: Drafter {
            let model: DraftModel
            func draft(history: UnsafeBufferPointer<Int32>, next: Int32, into out: UnsafeMutableBufferPointer<Int32>) throws -> Int {
                model.begin(sampling: .greedy)
                return try model.draft(history: history, next: next, into: out)
            }
        }
        var greedyStats = SpeculationStats()
        let session = e.makeSession()
        for seed in 0..<300 {
            params.seed = UInt64(seed)
            try session.prefill(prompt)
            var length = DraftLength(limit: 3)
            try session.generate(maxTokens: 3, sampler: Sampler(parameters: params, vocabularySize: e.config.vocabularySize),
                                 stopTokens: [], drafter: Greedy(model: drafter), length: &length, stats: &greedyStats,
                                 onToken: { _ in true })
        }
        print("acceptance: sampled drafts \(stats.acceptanceRate), greedy drafts \(greedyStats.acceptanceRate)")
    }

    /// The first 3 tokens of `runs` seeded generations after `prompt`, plainly and with `drafter`
    /// (other seeds), counted per position.
    static func counts<D: Drafter>(_ e: Engine, prompt: [Int32], params: SamplingParameters, runs: Int, drafter: D,
                                   stats: inout SpeculationStats) throws -> (plain: [[Int32: Int]], speculative: [[Int32: Int]]) {
        var counts: [[[Int32: Int]]] = Array(repeating: Array(repeating: [:], count: 3), count: 2)
        var params = params
        let session = e.makeSession()
        for seed in 0..<runs {
            for speculative in [false, true] {
                params.seed = UInt64(seed) &+ (speculative ? 1_000_003 : 0)
                let sampler = Sampler(parameters: params, vocabularySize: e.config.vocabularySize)
                try session.prefill(prompt)  // reuses all but the last prompt token
                var out: [Int32] = []
                var length = DraftLength(limit: 3)
                if speculative {
                    try session.generate(maxTokens: 3, sampler: sampler, stopTokens: [], drafter: drafter, length: &length,
                                         stats: &stats, onToken: { out.append($0); return true })
                } else {
                    try session.generate(maxTokens: 3, sampler: sampler, stopTokens: []) { out.append($0); return true }
                }
                for i in 0..<3 { counts[speculative ? 1 : 0][i][out[i], default: 0] += 1 }
            }
        }
        return (counts[0], counts[1])
    }

    /// Plain softmax sampling at `temperature` (no top-k, top-p or min-p).
    static func pureSoftmax(temperature: Float) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature
        p.topK = 0
        p.topP = 1
        p.minP = 0
        return p
    }

    /// The temperature, among a few, whose softmax gives `token` the probability nearest `target`.
    static func temperature(_ logits: [Float], giving target: Double, to token: Int32) -> Float {
        let candidates: [Float] = [0.25, 0.35, 0.5, 0.7, 1, 1.4, 2, 2.8, 4]
        func p(_ t: Float) -> Double {
            let m = logits.max()!
            let sum = logits.reduce(0.0) { $0 + exp(Double(($1 - m) / t)) }
            return exp(Double((logits[Int(token)] - m) / t)) / sum
        }
        return candidates.min { abs(p($0) - target) < abs(p($1) - target) }!
    }

    /// Total variation between two sets of `runs` draws over the six most frequent tokens and the
    /// rest as one bucket (over the whole vocabulary the noise of a few thousand draws would hide
    /// any difference).
    static func totalVariation(_ a: [Int32: Int], _ b: [Int32: Int], runs: Int) -> Double {
        let top = Set(a.keys).union(b.keys).sorted { (a[$0] ?? 0) + (b[$0] ?? 0) > (a[$1] ?? 0) + (b[$1] ?? 0) }.prefix(6)
        var d = 0.0, restA = runs, restB = runs
        for t in top {
            d += abs(Double(a[t] ?? 0) - Double(b[t] ?? 0))
            restA -= a[t] ?? 0
            restB -= b[t] ?? 0
        }
        return (d + abs(Double(restA - restB))) / Double(2 * runs)
    }

    /// The real 270M, greedy, on a copy-heavy prompt: prompt lookup keeps plain decoding's tokens.
    func testRealModelGreedyPromptLookupMatchesPlainDecoding() throws {
        var o = EngineOptions()
        o.threads = 2
        o.context = 512
        o.maxDraft = 8
        let e = try Engine(modelPath: try RealModel.require(), options: o)
        let paragraph = "The Raspberry Pi 5 has a quad-core Arm Cortex-A76 processor running at 2.4 GHz, "
            + "up to 16 GB of memory, two micro HDMI ports and a PCIe 2.0 interface for fast storage."
        let text = "<start_of_turn>user\nRepeat this text exactly: \(paragraph)<end_of_turn>\n<start_of_turn>model\n"
        let prompt = try e.tokenizer.encode(text, addBOS: true)
        let reference = try plain(e, prompt: prompt, maxTokens: 32, stop: e.stopTokens)
        var stats = SpeculationStats()
        let run = try speculative(e, prompt: prompt, maxTokens: 32, drafter: PromptLookup(), stop: e.stopTokens, stats: &stats)
        XCTAssertEqual(run.reported, reference.reported,
                       "\(e.tokenizer.decode(run.reported)) vs \(e.tokenizer.decode(reference.reported))")
        XCTAssertEqual(run.tokens, reference.tokens)
        XCTAssertGreaterThan(stats.accepted, 10, "a copy task must accept drafts")
    }
}
