import Base
import Foundation

/// What the status LED shows.
public enum LEDPattern: String, Sendable, CaseIterable {
    case off
    /// Slow blink (1 Hz): starting, loading, or waiting to restart.
    case loading
    /// Steady on: healthy and idle.
    case ready
    /// Fast flicker (5 Hz): generating.
    case busy
    /// Two short flashes then a pause: safe state, thermal pause, or a failing child.
    case fault

    /// The repeating (level, milliseconds) steps.
    public var steps: [(on: Bool, ms: Int)] {
        switch self {
        case .off: return [(false, 1000)]
        case .loading: return [(true, 500), (false, 500)]
        case .ready: return [(true, 1000)]
        case .busy: return [(true, 100), (false, 100)]
        case .fault: return [(true, 150), (false, 150), (true, 150), (false, 1050)]
        }
    }

    /// The level `ms` milliseconds after the pattern started.
    public func isOn(atMilliseconds ms: Int) -> Bool {
        let period = steps.reduce(0) { $0 + $1.ms }
        var t = ((ms % period) + period) % period
        for step in steps {
            if t < step.ms { return step.on }
            t -= step.ms
        }
        return false
    }
}

/// Drives an LED line with a pattern; only level changes are written to the line.
public final class StatusLED: @unchecked Sendable {
    private let line: any GPIOOutputLine
    private let lock = NSLock()
    private var pattern: LEDPattern = .off
    private var patternStart = 0.0
    private var level: Bool?
    private var thread: Thread?
    private var running = false

    /// An LED on `line`, off until `show` and `update` (or `start`).
    public init(line: any GPIOOutputLine) {
        self.line = line
    }

    /// The pattern shown now.
    public var current: LEDPattern { lock.withLock { pattern } }

    /// Switches to `newPattern` (from its first step) unless it is already shown.
    public func show(_ newPattern: LEDPattern, now: Double = monotonicSeconds()) {
        lock.withLock {
            guard newPattern != pattern else { return }
            pattern = newPattern
            patternStart = now
        }
    }

    /// Sets the line to the level the pattern has at `now`.
    public func update(now: Double = monotonicSeconds()) throws {
        let (p, start, last) = lock.withLock { (pattern, patternStart, level) }
        let on = p.isOn(atMilliseconds: Int(((now - start) * 1000).rounded(.down)))
        guard on != last else { return }
        try line.set(on)
        lock.withLock { level = on }
    }

    /// Updates the LED every 25 ms on its own thread until `stop()`.
    public func start() {
        lock.withLock { running = true }
        let t = Thread { [self] in
            while lock.withLock({ running }) {
                try? update()
                usleep(25_000)
            }
        }
        t.name = "gemma-edge-led"
        thread = t
        t.start()
    }

    /// Stops the thread and turns the LED off.
    public func stop() {
        lock.withLock { running = false }
        usleep(30_000)
        try? line.set(false)
        line.release()
    }
}

/// Software debounce from edge timestamps (libgpiod 1.6 has none): an edge counts only when the
/// line was quiet for the whole window before it, so the burst of edges a contact makes when it
/// closes counts once.
public struct Debouncer: Sendable {
    public let windowNanoseconds: Int64
    /// Which edge is a press: falling for a button to ground with a pull-up (active low).
    public let pressIsRising: Bool
    private var lastEdge: Int64?

    /// - Parameter activeLow: the button pulls the line low when pressed (a falling edge is a press).
    public init(windowMilliseconds: Int, activeLow: Bool) {
        windowNanoseconds = Int64(windowMilliseconds) * 1_000_000
        pressIsRising = !activeLow
    }

    /// Feeds one raw edge; true when it is a press that counts.
    public mutating func accept(_ edge: GPIOEdge) -> Bool {
        defer { lastEdge = edge.timestampNanoseconds }
        if let last = lastEdge, edge.timestampNanoseconds - last < windowNanoseconds { return false }
        return edge.rising == pressIsRising
    }
}

/// Watches a button line on its own thread and calls `onPress` for each debounced press.
public final class ButtonMonitor: @unchecked Sendable {
    private let line: any GPIOEdgeLine
    private var debouncer: Debouncer
    private let lock = NSLock()
    private var running = false

    /// A monitor for `line`; nothing is read until `start`.
    public init(line: any GPIOEdgeLine, debouncer: Debouncer) {
        self.line = line
        self.debouncer = debouncer
    }

    /// Starts the watching thread; `onError` gets read failures (retried once a second).
    public func start(onPress: @escaping @Sendable () -> Void, onError: @escaping @Sendable (String) -> Void = { _ in }) {
        lock.withLock { running = true }
        let t = Thread { [self] in
            while lock.withLock({ running }) {
                do {
                    if let edge = try line.waitEdge(timeout: 0.1), debouncer.accept(edge) { onPress() }
                } catch {
                    onError("\(error)")
                    usleep(1_000_000)
                }
            }
            line.release()
        }
        t.name = "gemma-edge-button"
        t.start()
    }

    /// Stops watching (within about 0.1 s) and releases the line.
    public func stop() { lock.withLock { running = false } }
}
