import Base
import Foundation
import GemmaEdge

#if canImport(Glibc)
import Glibc
#endif

/// The run clock: seconds since the profile started, on the monotonic clock the engine's token
/// timestamps also use, plus the Unix time at its zero (for external meters' timestamps).
public struct RunClock: Sendable {
    /// `monotonicSeconds()` at zero.
    public let origin: Double
    /// Unix time at zero.
    public let epoch: Double

    public init() {
        origin = monotonicSeconds()
        epoch = Date().timeIntervalSince1970
    }

    /// A clock with a given zero (for tests and replays).
    public init(origin: Double, epoch: Double) {
        self.origin = origin
        self.epoch = epoch
    }

    /// Seconds since zero.
    @inline(__always) public func now() -> Double { monotonicSeconds() - origin }
}

/// A preallocated ring of fixed-width rows of doubles. When full, the oldest rows are
/// overwritten and counted. One writer (the sampler thread); read only after it stops.
public final class SampleRing: @unchecked Sendable {
    public let width: Int
    public let capacity: Int
    private let storage: UnsafeMutableBufferPointer<Double>
    /// Rows ever written (those beyond `capacity` overwrote older ones).
    public private(set) var written = 0

    /// A ring of `capacity` rows of `width` doubles, all NaN.
    public init(width: Int, capacity: Int) {
        precondition(width > 0 && capacity > 0)
        self.width = width
        self.capacity = capacity
        storage = .allocate(capacity: width * capacity)
        storage.initialize(repeating: .nan)
    }

    deinit { storage.deallocate() }

    /// The next row to fill; `commit()` makes it count.
    @inline(__always) public func nextRow() -> UnsafeMutablePointer<Double> {
        storage.baseAddress! + (written % capacity) * width
    }

    @inline(__always) public func commit() { written += 1 }

    /// Rows lost to overwriting.
    public var overwritten: Int { max(0, written - capacity) }

    /// The rows still held, oldest first.
    public func rows() -> [[Double]] {
        let n = min(written, capacity)
        let first = written - n
        return (0..<n).map { k in
            let base = ((first + k) % capacity) * width
            return Array(storage[base..<(base + width)])
        }
    }
}

/// Samples power and system sensors on its own thread at a fixed rate into a `SampleRing`, and
/// takes an extra sample when asked (`mark()`, at phase boundaries) so short phases get readings
/// at both ends. It measures its own cost: wall time per sample and its thread's CPU time.
public final class SensorSampler: @unchecked Sendable {
    /// Fixed columns before the sensor columns.
    public enum Fixed: Int, CaseIterable {
        case time = 0, mark, watts, joules, rssBytes, cost
    }
    public static let fixedNames = ["t_s", "mark", "power_w", "energy_j", "rss_bytes", "sample_cost_s"]

    public let hz: Double
    public let clock: RunClock
    public let power: PowerSource?
    public let sensors: SystemSensors
    public let ring: SampleRing
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread: pthread_t?
    private var stopping = false
    private var markPending = false
    /// Ticks that came too late to be taken on time and were skipped.
    public private(set) var missedTicks = 0
    /// CPU seconds the sampler thread used.
    public private(set) var cpuSeconds = 0.0
    /// Run-clock times the thread started and stopped sampling.
    public private(set) var startedAt = 0.0, stoppedAt = 0.0

    /// - Parameter capacity: rows kept; the default keeps an hour (at most 64 MiB of rows).
    public init(hz: Double, clock: RunClock, power: PowerSource?, sensors: SystemSensors, capacity: Int? = nil) {
        precondition(hz > 0 && hz <= 1000)
        self.hz = hz
        self.clock = clock
        self.power = power
        self.sensors = sensors
        let width = Fixed.allCases.count + sensors.columns.count
        // An hour at the chosen rate, but never more than 64 MiB of rows.
        ring = SampleRing(width: width, capacity: capacity ?? max(1024, min(Int(hz * 3600), (64 << 20) / (width * 8))))
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    /// Takes one sample now on the calling thread (the thread uses this; tests may too).
    public func sampleOnce(mark: Bool) {
        let t0 = monotonicSeconds()
        let row = ring.nextRow()
        row[Fixed.time.rawValue] = t0 - clock.origin
        row[Fixed.mark.rawValue] = mark ? 1 : 0
        let reading = power?.read(at: t0 - clock.origin) ?? .unavailable
        row[Fixed.watts.rawValue] = reading.watts
        row[Fixed.joules.rawValue] = reading.joules
        row[Fixed.rssBytes.rawValue] = sensors.residentBytes()
        sensors.read(into: row + Fixed.allCases.count, at: t0 - clock.origin)
        row[Fixed.cost.rawValue] = monotonicSeconds() - t0
        ring.commit()
    }

    /// Starts the thread; the first sample is taken at once.
    public func start() throws {
        precondition(thread == nil, "already started")
        stopping = false
        let context = Unmanaged.passRetained(self).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            let sampler = Unmanaged<SensorSampler>.fromOpaque(raw!).takeRetainedValue()
            sampler.loop()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<SensorSampler>.fromOpaque(context).release()
            throw ProfilerError.io("cannot start the sampler thread (error \(rc))")
        }
        thread = t
    }

    /// Asks for an extra sample as soon as possible (cheap: a lock and a signal).
    public func mark() {
        pthread_mutex_lock(mutex)
        markPending = true
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }

    /// Takes a last sample and joins the thread.
    public func stop() {
        guard let t = thread else { return }
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
        pthread_join(t, nil)
        thread = nil
    }

    private func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private func loop() {
        let cpu0 = threadCPU()
        startedAt = clock.now()
        let period = 1 / hz
        var next = monotonicSeconds()
        pthread_mutex_lock(mutex)
        while !stopping {
            let now = monotonicSeconds()
            if markPending || now >= next {
                let onTime = now >= next, asked = markPending
                markPending = false
                pthread_mutex_unlock(mutex)
                sampleOnce(mark: asked)
                pthread_mutex_lock(mutex)
                if onTime {
                    next += period
                    let after = monotonicSeconds()
                    if after > next {  // fell behind: skip the ticks that were missed
                        let skip = ((after - next) / period).rounded(.up)
                        missedTicks += Int(skip)
                        next += skip * period
                    }
                }
                continue
            }
            var deadline = timespec()
            let whole = next.rounded(.down)
            deadline.tv_sec = Int(whole)
            deadline.tv_nsec = Int((next - whole) * 1e9)
            pthread_cond_timedwait(cond, mutex, &deadline)
        }
        pthread_mutex_unlock(mutex)
        sampleOnce(mark: true)
        stoppedAt = clock.now()
        cpuSeconds = threadCPU() - cpu0
    }

    /// Names of every column, fixed then sensors.
    public var columnNames: [String] {
        Self.fixedNames + sensors.columns.map { c in
            switch c.group {
            case .cpufreq: return "\(c.name)_mhz"
            case .temperature: return "temp_\(c.name)_c"
            case .cooling: return "cooling_\(c.name)"
            case .throttle: return "throttle_\(c.name)"
            }
        }
    }
}
