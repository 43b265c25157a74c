import Foundation
import GemmaEdge

/// Holds the engine once it is loaded. Loading runs on its own thread so the server can answer
/// `/health` with 503 meanwhile.
public final class ModelHost: @unchecked Sendable {
    /// Where loading stands.
    public enum State: Sendable {
        case idle
        case loading
        case ready(Engine)
        case failed(String)
    }

    private let lock = NSLock()
    private var _state: State = .idle
    private var waiters: [CheckedContinuation<State, Never>] = []
    private let loader: @Sendable () throws -> Engine
    private let onReady: @Sendable (Engine) -> Void

    /// - Parameters:
    ///   - loader: builds the engine (seconds for a real model); called once, off the caller's thread.
    ///   - onReady: called with the engine right after loading succeeds, before `state` says ready.
    public init(loader: @escaping @Sendable () throws -> Engine, onReady: @escaping @Sendable (Engine) -> Void = { _ in }) {
        self.loader = loader
        self.onReady = onReady
    }

    /// Where loading stands now.
    public var state: State { lock.withLock { _state } }

    /// The engine, once loaded.
    public var engine: Engine? {
        if case .ready(let e) = state { return e }
        return nil
    }

    /// Starts loading on a background thread; later calls do nothing.
    public func startLoading() {
        let start = lock.withLock { () -> Bool in
            guard case .idle = _state else { return false }
            _state = .loading
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in
            let result: State
            do {
                let engine = try loader()
                onReady(engine)
                result = .ready(engine)
            } catch {
                result = .failed("\(error)")
            }
            let toResume = lock.withLock { () -> [CheckedContinuation<State, Never>] in
                _state = result
                defer { waiters.removeAll() }
                return waiters
            }
            for w in toResume { w.resume(returning: result) }
        }
        thread.name = "gemma-edge-load"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Waits until loading has succeeded or failed and returns the outcome.
    public func waitUntilSettled() async -> State {
        await withCheckedContinuation { (c: CheckedContinuation<State, Never>) in
            let now = lock.withLock { () -> State? in
                switch _state {
                case .ready, .failed: return _state
                case .idle, .loading:
                    waiters.append(c)
                    return nil
                }
            }
            if let now { c.resume(returning: now) }
        }
    }
}
