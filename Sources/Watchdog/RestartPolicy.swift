/// When to restart a failed child: exponential back-off, reset after a stable run, and a
/// crash-loop limit that ends in the safe state instead of restarting forever.
public struct RestartPolicy: Sendable {
    public let initial: Double
    public let maximum: Double
    public let multiplier: Double
    public let stableAfter: Double
    public let loopRestarts: Int
    public let loopWindow: Double
    /// Failures since the last stable run.
    public private(set) var consecutive = 0
    /// Times of recent failures (within the window).
    public private(set) var recent: [Double] = []

    /// What follows a failure.
    public enum Decision: Equatable, Sendable {
        /// Start again after this many seconds.
        case restart(after: Double)
        /// Too many failures in the window: stop trying.
        case safeState(failures: Int, window: Double)
    }

    /// The policy the config describes (`backoff_*`, `stable_after`, `crash_loop_*`).
    public init(config: WatchdogConfig) {
        initial = config.backoffInitial
        maximum = config.backoffMax
        multiplier = config.backoffMultiplier
        stableAfter = config.stableAfter
        loopRestarts = config.crashLoopRestarts
        loopWindow = config.crashLoopWindow
    }

    /// Records a failure at `now` and decides what follows. A failure that is not `counted`
    /// (the child ran but did not answer) grows the back-off but never leads to the safe state.
    public mutating func failed(at now: Double, counted: Bool = true) -> Decision {
        recent = recent.filter { now - $0 < loopWindow } + (counted ? [now] : [])
        if counted && recent.count >= loopRestarts { return .safeState(failures: recent.count, window: loopWindow) }
        consecutive += 1
        return .restart(after: delay(forFailure: consecutive))
    }

    /// The back-off before restart number `n` (1-based): initial × multiplierⁿ⁻¹, capped.
    public func delay(forFailure n: Int) -> Double {
        var d = initial
        for _ in 1..<max(1, n) {
            d *= multiplier
            if d >= maximum { return maximum }
        }
        return min(d, maximum)
    }

    /// Called while the child is healthy: after `stableAfter` seconds of health the back-off
    /// starts from the beginning again.
    public mutating func healthy(since: Double, now: Double) {
        if consecutive > 0 && now - since >= stableAfter { consecutive = 0 }
    }

    /// Forgets everything (a manual restart out of the safe state).
    public mutating func reset() {
        consecutive = 0
        recent = []
    }
}
