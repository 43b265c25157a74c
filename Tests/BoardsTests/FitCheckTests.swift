import Boards
import Foundation
import GGUF
import Gemma3
import GemmaEdge
import TestSupport
import XCTest

/// The fit check's arithmetic against MemoryPlan and `inspect --memory`, and the refusal path.
final class FitCheckTests: BoardsTestCase {
    func memory(availableMiB: Int, totalMiB: Int = 4096) -> MemoryInfo {
        MemoryInfo(total: totalMiB << 20, available: availableMiB << 20)
    }

    func testEveryPromptCacheSlotIsCounted() throws {
        let file = try GGUFFile(path: tinyModel())
        let one = try MemoryPlan(file: file, context: 1024, batch: 32, threads: 1)
        let three = try MemoryPlan(file: file, context: 1024, batch: 32, threads: 1, sessions: 3)
        XCTAssertEqual(three.kvTotal, 3 * one.kvTotal)
        let logits = try Gemma3Config(file: file).vocabularySize * MemoryLayout<Float>.size
        XCTAssertEqual(three.total - one.total, 2 * (one.kvTotal + logits))
        let fit = try FitCheck.evaluate(file: file, context: 1024, batch: 32, memory: memory(availableMiB: 1000), threads: 1,
                                        sessions: 3)
        XCTAssertEqual(fit.needed, three.total)
    }

    /// Speculative decoding's verification batches and a draft model are counted, and the
    /// largest fitting context is found with them.
    func testSpeculativeDecodingIsCounted() throws {
        let file = try GGUFFile(path: tinyModel())
        let extras = MemoryPlan.Extras(maxDraft: 8, draft: file)
        let plain = try FitCheck.evaluate(file: file, context: 1024, batch: 32, memory: memory(availableMiB: 1000), threads: 1)
        let fit = try FitCheck.evaluate(file: file, context: 1024, batch: 32, memory: memory(availableMiB: 1000), threads: 1,
                                        extras: extras)
        let plan = try MemoryPlan(file: file, context: 1024, batch: 32, threads: 1, sessions: 1, extras: extras)
        XCTAssertEqual(fit.needed, plan.total)
        XCTAssertEqual(fit.speculative, plan.verification + plan.draftModel)
        XCTAssertEqual(plain.speculative, 0)
        XCTAssertGreaterThan(plan.draftModel, plan.weightsMapped, "the draft model's weights and its own KV and scratch")
        XCTAssertTrue(fit.summary.contains("draft model"), fit.summary)
        // Memory for the plain load but not the draft model: refused, with a context that fits.
        let budget = plain.needed + plain.margin
        let short = try FitCheck.evaluate(file: file, context: 1024, batch: 32,
                                          memory: MemoryInfo(total: 4096 << 20, available: budget), threads: 1, extras: extras)
        XCTAssertFalse(short.fits)
        XCTAssertTrue(plain.fits)
    }

    func testArithmeticMatchesMemoryPlan() throws {
        let file = try GGUFFile(path: tinyModel())
        let mem = memory(availableMiB: 1000)
        let fit = try FitCheck.evaluate(file: file, context: 1024, batch: 32, memory: mem)
        let plan = try MemoryPlan(file: file, context: 1024, batch: 32, threads: EngineOptions.defaultThreads)
        XCTAssertEqual(fit.needed, plan.total)
        XCTAssertEqual([fit.weightsMapped, fit.repackedArena, fit.localKv, fit.globalKv, fit.scratch],
                       [plan.weightsMapped, plan.repackedArena, plan.localKV, plan.globalKV, plan.scratch])
        XCTAssertEqual(fit.margin, max(128 << 20, (4096 << 20) / 20))
        XCTAssertEqual(fit.headroom, mem.available - plan.total - fit.margin)
        XCTAssertTrue(fit.fits)
        XCTAssertNil(fit.advice)
        // The margin: 5 % of the total, at least 128 MiB.
        XCTAssertEqual(FitCheck.margin(memoryTotal: 1 << 30), 128 << 20)
        XCTAssertEqual(FitCheck.margin(memoryTotal: 8 << 30), (8 << 30) / 20)
        // The default context is the engine's: min(4096, the model's).
        XCTAssertEqual(try FitCheck.evaluate(file: file, context: 0, batch: 32, memory: mem).context, 2048)
        XCTAssertThrowsError(try FitCheck.evaluate(file: file, context: 4096, batch: 32, memory: mem)) { e in
            XCTAssertEqual("\(e)", "--ctx 4096 exceeds the model's context of 2048")
        }
    }

    func testBoundaryIsExact() throws {
        let file = try GGUFFile(path: tinyModel())
        let plan = try MemoryPlan(file: file, context: 512, batch: 64, threads: EngineOptions.defaultThreads)
        let total = 2 << 30
        let margin = FitCheck.margin(memoryTotal: total)
        let exact = MemoryInfo(total: total, available: plan.total + margin)
        XCTAssertTrue(try FitCheck.evaluate(file: file, context: 512, batch: 64, memory: exact).fits)
        let short = MemoryInfo(total: total, available: plan.total + margin - 1)
        let no = try FitCheck.evaluate(file: file, context: 512, batch: 64, memory: short)
        XCTAssertFalse(no.fits)
        XCTAssertEqual(no.headroom, -1)
        // The largest fitting context is the biggest one whose plan fits, on the 128 grid.
        let c = try XCTUnwrap(no.largestFittingContext)
        XCTAssertLessThan(c, 512)
        XCTAssertEqual(c % 128, 0)
        XCTAssertLessThanOrEqual(try MemoryPlan(file: file, context: c, batch: 64, threads: EngineOptions.defaultThreads).total + margin, short.available)
        XCTAssertTrue(no.advice!.hasPrefix("what to change: --ctx \(c) (needs "), no.advice!)
    }

    /// The real Gemma 3 270M: the fit check's figures are the ones `inspect --memory --json` prints.
    func testRealModelAgainstInspectMemory() throws {
        let path = try RealModel.require()
        let file = try GGUFFile(path: path)
        for ctx in [512, 4096, 32768] {
            let o = try run(["inspect", "--memory", "--json", "-m", path, "--ctx", "\(ctx)"])
            XCTAssertEqual(o.status, 0, o.stderr)
            let j = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as! [String: Any]
            let fit = try FitCheck.evaluate(file: file, context: ctx, batch: 64, memory: memory(availableMiB: 20000, totalMiB: 24000))
            XCTAssertEqual(fit.needed, j["total"] as? Int, "ctx \(ctx)")
            XCTAssertEqual(fit.weightsMapped, j["weights_mapped"] as? Int)
            XCTAssertEqual(fit.repackedArena, j["repacked_arena"] as? Int)
            XCTAssertEqual(fit.localKv, j["local_kv"] as? Int)
            XCTAssertEqual(fit.globalKv, j["global_kv"] as? Int)
            XCTAssertEqual(fit.scratch, j["scratch"] as? Int)
        }
    }

    func testRefusalNamesNeedFreeAndFix() throws {
        let path = try RealModel.require()
        let file = try GGUFFile(path: path)
        // 400 MiB available on a 1 GiB board: the weights fit, 32K of context does not.
        let fit = try FitCheck.evaluate(file: file, context: 32768, batch: 64, memory: memory(availableMiB: 400, totalMiB: 1024))
        XCTAssertFalse(fit.fits)
        XCTAssertThrowsError(try fit.enforce()) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("does not fit at --ctx 32768: it needs \(formatBytes(fit.needed))"), m)
            XCTAssertTrue(m.contains("but only 400.0 MiB is available (MemAvailable, of 1.00 GiB total)"), m)
            XCTAssertTrue(m.contains("what to change: --ctx \(fit.largestFittingContext!) (needs"), m)
            XCTAssertTrue(m.contains("a smaller quant or model"), m)
            XCTAssertTrue(m.contains("GEMMA_EDGE_SKIP_FIT_CHECK=1"), m)
        }
        // 100 MiB: not even the weights; no context suggestion, the quant advice remains.
        let tiny = try FitCheck.evaluate(file: file, context: 4096, batch: 64, memory: memory(availableMiB: 100, totalMiB: 1024))
        XCTAssertNil(tiny.largestFittingContext)
        XCTAssertTrue(tiny.advice!.hasPrefix("what to change: a smaller quant or model"), tiny.advice!)
    }

    func testPrepareRefusesBeforeLoading() throws {
        let model = try tinyModel()
        let low = try tree(copying: "raspberry-pi-4", totalKB: 1_000_000, availableKB: 50_000)
        XCTAssertThrowsError(try LoadPreparation.prepare(modelPath: model, context: 0, batch: 64, threads: 0, cores: nil, board: nil,
                                                         root: SystemRoot(path: low), catalog: Repo.catalog(), environment: [:])) { e in
            guard case BoardsError.doesNotFit(let m) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("48.8 MiB is available"), m)
        }
        // The escape hatch loads anyway, with a warning.
        let prep = try LoadPreparation.prepare(modelPath: model, context: 0, batch: 64, threads: 0, cores: nil, board: nil,
                                               root: SystemRoot(path: low), catalog: Repo.catalog(),
                                               environment: ["GEMMA_EDGE_SKIP_FIT_CHECK": "1"])
        XCTAssertEqual(prep.fit?.fits, false)
        XCTAssertTrue(prep.warnings.contains { $0.contains("loading anyway") }, "\(prep.warnings)")
    }

    func testPrepareWithUnreadableMeminfoWarns() throws {
        let copy = try tree(copying: "raspberry-pi-5", totalKB: 1, availableKB: 1)
        try write("MemTotal: lots\n", to: "proc/meminfo", under: copy)
        let prep = try LoadPreparation.prepare(modelPath: tinyModel(), context: 0, batch: 64, threads: 0, cores: nil, board: nil,
                                               root: SystemRoot(path: copy), catalog: Repo.catalog(), environment: [:])
        XCTAssertNil(prep.fit)
        XCTAssertTrue(prep.warnings.contains { $0.contains("cannot check that the model fits") && $0.contains("MemTotal must be a number of kB") },
                      "\(prep.warnings)")
    }

    func testMeminfoParsing() throws {
        let m = try MemoryInfo(text: "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nSwapTotal: 0 kB\n")
        XCTAssertEqual(m.total, 1000 * 1024)
        XCTAssertEqual(m.available, 600 * 1024)
        let old = try MemoryInfo(text: "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n")
        XCTAssertEqual(old.available, 310 * 1024)
        XCTAssertNotNil(old.note)
        for bad in ["", "MemAvailable: 5 kB\n", "MemTotal: 10 kB\nMemAvailable: 20 kB\n", "MemTotal: -1 kB\n", "MemTotal: 1 MB\n"] {
            XCTAssertThrowsError(try MemoryInfo(text: bad, source: "/m"), bad) { e in
                XCTAssertTrue("\(e)".hasPrefix("unexpected contents in /m"), "\(e)")
            }
        }
    }

    // MARK: the binary

    /// `generate` with a model that cannot fit is refused before the model is loaded.
    func testGenerateIsRefusedBeforeLoading() throws {
        // 376 MiB: ctx 4096 needs 259 MiB with the f16 KV default plus the 128 MiB margin; a
        // context of a few hundred tokens still fits, so the advice names --ctx.
        let low = try tree(copying: "raspberry-pi-4", totalKB: 1_000_000, availableKB: 385_000)
        let o = try run(["generate", "-m", try RealModel.require(), "--prompt", "hello", "--max-tokens", "4", "--verbose"],
                        env: ["GEMMA_EDGE_SYSFS_ROOT": low])
        XCTAssertEqual(o.status, 1, o.stderr)
        XCTAssertFalse(o.signaled)
        XCTAssertTrue(o.stderr.contains("does not fit at --ctx 4096"), o.stderr)
        XCTAssertTrue(o.stderr.contains("376.0 MiB is available"), o.stderr)
        XCTAssertTrue(o.stderr.contains("what to change: --ctx"), o.stderr)
        XCTAssertEqual(o.stdout, "", "nothing generated")
        XCTAssertFalse(o.stderr.contains(", kernels "), "no load-time line: \(o.stderr)")
        // Proof of order: a model the engine cannot load (a tensor is missing) is refused by the
        // fit check when memory is short, and fails in the engine only when memory is plentiful.
        let broken = try modelWithoutATensor()
        let tiny = try tree(copying: "raspberry-pi-4", totalKB: 1_000_000, availableKB: 1_000)
        let refused = try run(["generate", "-m", broken, "--prompt", "hello"], env: ["GEMMA_EDGE_SYSFS_ROOT": tiny])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("does not fit"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains("missing tensor"), refused.stderr)
        let ok = try tree(copying: "raspberry-pi-4", totalKB: 4_000_000, availableKB: 3_000_000)
        let loaded = try run(["generate", "-m", broken, "--prompt", "hello"], env: ["GEMMA_EDGE_SYSFS_ROOT": ok])
        XCTAssertEqual(loaded.status, 1)
        XCTAssertTrue(loaded.stderr.contains("missing tensor 'blk.1.ffn_up.weight'"), loaded.stderr)
        // A model that fits runs.
        let good = try run(["generate", "-m", try tinyModel(), "--prompt", "hello", "--max-tokens", "2", "--temperature", "0"],
                           env: ["GEMMA_EDGE_SYSFS_ROOT": ok])
        XCTAssertEqual(good.status, 0, good.stderr)
    }

    /// A tiny model with one block tensor left out: parses, but the engine refuses to load it.
    func modelWithoutATensor() throws -> String {
        let file = try GGUFFile(path: tinyModel())
        var w = GGUFWriter()
        for k in file.keys { w.set(k, file.metadata[k]!) }
        for t in file.tensors where t.name != "blk.1.ffn_up.weight" {
            w.addTensor(name: t.name, dimensions: t.dimensions, type: t.type, data: Array(file.data(of: t)))
        }
        let path = dir + "/missing-tensor.gguf"
        try Data(w.serialize()).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testBadCoresAndBoardOnTheCommandLine() throws {
        let m = try tinyModel()
        var o = try run(["generate", "-m", m, "--prompt", "x", "--cores", "0-4096"])
        XCTAssertEqual(o.status, 1)
        XCTAssertTrue(o.stderr.contains("is not N or N-M"), o.stderr)
        o = try run(["generate", "-m", m, "--prompt", "x", "--board", "pi9"])
        XCTAssertEqual(o.status, 1)
        XCTAssertTrue(o.stderr.contains("--board pi9 is not a known board"), o.stderr)
        o = try run(["generate", "-m", m, "--prompt", "x", "--max-tokens", "1", "--cores", "0", "--temperature", "0"])
        XCTAssertEqual(o.status, 0, o.stderr)
    }
}
