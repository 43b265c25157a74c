import Foundation
import GemmaEdge
import Logging

/// The generation worker's warm conversation states: a few sessions (`--cache-slots`), each
/// holding the KV cache of the last prompt it served. A request goes to the slot that already
/// holds the longest prefix of its prompt (a kiosk's fixed system prompt, or the earlier turns of
/// a conversation), else to the least recently used one, and `Session.prefill` evaluates only the
/// positions after that prefix: the same prompt path the CLI's `--session` uses.
///
/// A session cannot always be cut back to a shared prefix: once it holds more positions than the
/// sliding-window layers keep (512 on Gemma 3), the window has dropped what the prefix needs. So a
/// slot whose prompt was mostly new is checkpointed right after its prompt is evaluated, as a
/// session snapshot (written atomically, checked on restore), and a later request whose prefix the
/// checkpoint holds better than the live session restores it instead of evaluating the prompt
/// again. Checkpoints go to `--cache-dir` when given, where start-up restores every one that
/// matches the model and context (the first request after a reboot is warm too); otherwise to a
/// private temporary directory removed at exit. A slot that only extended a prefix it already
/// saved is not rewritten (storage on boards is flash). Used only from the worker thread.
final class PromptCache {
    final class Slot {
        let index: Int
        let session: Session
        /// A use counter value (larger is more recent).
        var lastUsed: UInt64 = 0
        /// The positions of its checkpoint on disk (empty when there is none).
        var saved: [Int32] = []

        init(index: Int, session: Session) {
            self.index = index
            self.session = session
        }
    }

    let slots: [Slot]
    /// Where checkpoints are written; nil when no directory could be made (then only the live
    /// sessions are reused).
    let directory: String?
    /// Whether `directory` is private to this process (removed by `close()`).
    let temporary: Bool
    let logger: Logger
    private var clock: UInt64 = 0

    init(engine: Engine, slots count: Int, directory: String?, logger: Logger) {
        slots = (0..<max(1, count)).map { Slot(index: $0, session: engine.makeSession()) }
        self.logger = logger
        let dir = directory ?? NSTemporaryDirectory() + "gemma-edge-prompt-cache-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        temporary = directory == nil
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            self.directory = dir
        } catch {
            logger.warning("cannot create the prompt cache directory", metadata: ["path": "\(dir)", "error": "\(error)"])
            self.directory = nil
        }
        if !temporary { restore() }
    }

    /// Removes a private checkpoint directory.
    func close() {
        if temporary, let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Where slot `index` is checkpointed.
    func path(_ index: Int) -> String? {
        directory.map { ($0 as NSString).appendingPathComponent("slot-\(index).session") }
    }

    /// The slot to evaluate `items` in, made ready: the one that can reuse the longest prefix of
    /// them (live or from its checkpoint) when that is at least a tenth of the prompt, else the
    /// least recently used (so a prompt sharing only `<bos><start_of_turn>user` with a warm slot
    /// does not evict it). Restores the slot's checkpoint when it holds more of the prefix than
    /// the live session can keep.
    func slot(for items: [Session.Item]) -> Slot {
        clock += 1
        var best = slots.min(by: { $0.lastUsed < $1.lastUsed })!
        var bestReuse = reusable(best, items)
        let threshold = (slots[0].session.engine.positions(of: items) + 9) / 10
        for slot in slots {
            let reuse = reusable(slot, items)
            let n = max(reuse.live, reuse.saved)
            if n >= threshold && n > max(bestReuse.live, bestReuse.saved) { (best, bestReuse) = (slot, reuse) }
        }
        best.lastUsed = clock
        if bestReuse.saved > bestReuse.live, let path = path(best.index) {
            do {
                try best.session.restore(from: path)
            } catch {
                best.session.reset()
                best.saved = []
                logger.warning("prompt cache checkpoint not used", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        return best
    }

    /// Positions of `items` the slot's live session could keep (it can be cut back there) and
    /// its checkpoint holds.
    func reusable(_ slot: Slot, _ items: [Session.Item]) -> (live: Int, saved: Int) {
        let session = slot.session
        var live = Self.commonPrefix(session.tokens, items)
        if live > 0 && live + 1 < session.tokens.count && !session.cache.canTruncate(to: live) { live = 0 }
        return (live, Self.commonPrefix(slot.saved, items))
    }

    /// Leading token ids `held` shares with `items` (text only: matching stops at the first
    /// image, which `Session.prefill` matches exactly).
    static func commonPrefix(_ held: [Int32], _ items: [Session.Item]) -> Int {
        var n = 0
        for item in items {
            guard case .tokens(let ids) = item else { return n }
            for id in ids {
                guard n < held.count, held[n] == id else { return n }
                n += 1
            }
        }
        return n
    }

    /// Makes `slot` hold `items` through `Session.prefill` (reusing the longest prefix it holds),
    /// calling `between` after every evaluated batch (progress for the stall detector; false
    /// stops, when the request was cancelled). Returns the positions reused, or nil when stopped.
    ///
    /// When the session shares a prefix with the prompt but cannot be cut back to it (the
    /// sliding window has moved past it), that prefix is evaluated on its own first and
    /// checkpointed, so the next prompt that shares it finds a checkpoint holding exactly it.
    func prefill(_ slot: Slot, _ items: [Session.Item], between: @escaping () -> Bool) throws -> Int? {
        let session = slot.session
        let progress: Session.Progress = { _ in between() }
        do {
            if items.count == 1, case .tokens(let ids) = items[0] {
                let shared = Self.commonPrefix(session.tokens, items)
                let keepable = shared + 1 >= session.tokens.count || session.cache.canTruncate(to: shared)
                if !keepable && shared >= Self.minimumSharedPrefix && shared < ids.count {
                    try session.prefill([.tokens(Array(ids[..<shared]))], progress: progress)
                    checkpoint(slot, force: true)
                    try session.prefill(items, progress: progress)
                    return 0
                }
            }
            return try session.prefill(items, progress: progress)
        } catch EngineError.cancelled {
            return nil
        }
    }

    /// A shared prefix shorter than this (the chat template's first tokens) is not worth a
    /// checkpoint of its own.
    static let minimumSharedPrefix = 16

    /// Checkpoints `slot` right after its prompt was evaluated, when its checkpoint does not
    /// already hold most of that prompt. Failures are logged, never fatal.
    func checkpoint(_ slot: Slot, force: Bool = false) {
        guard let path = path(slot.index) else { return }
        let held = slot.session.tokens
        guard force || Self.commonPrefix(slot.saved, [.tokens(held)]) * 2 < held.count else { return }
        do {
            try slot.session.save(to: path)
            slot.saved = held
        } catch {
            logger.warning("cannot save the prompt cache", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    private func restore() {
        for slot in slots {
            guard let path = path(slot.index), FileManager.default.fileExists(atPath: path) else { continue }
            do {
                try slot.session.restore(from: path)
                slot.saved = slot.session.tokens
                logger.info("prompt cache restored", metadata: ["slot": "\(slot.index)", "positions": "\(slot.saved.count)"])
            } catch {
                // Another model or context, or a damaged file: start cold and let it be rewritten.
                slot.session.reset()
                logger.warning("prompt cache snapshot not used", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }
}
