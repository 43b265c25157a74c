import Foundation

/// Power over time on the run clock, from the sampler or an external meter. NaN marks a sample
/// without a reading. When `joules` holds a cumulative counter (RAPL), energy comes from counter
/// differences; otherwise from the trapezoid rule over `watts`.
public struct PowerSeries: Sendable, Equatable {
    public var times: [Double]
    public var watts: [Double]
    public var joules: [Double]?

    /// Times in seconds (ascending), watts per time (NaN for none), and optionally a cumulative joule counter.
    public init(times: [Double], watts: [Double], joules: [Double]? = nil) {
        precondition(times.count == watts.count && (joules?.count ?? times.count) == times.count)
        self.times = times
        self.watts = watts
        self.joules = joules
    }

    /// The mean power over the interval from sample i to i + 1, or nil when unknown there.
    func intervalPower(_ i: Int) -> Double? {
        let dt = times[i + 1] - times[i]
        guard dt > 0 else { return nil }
        if let j = joules, j[i].isFinite, j[i + 1].isFinite { return (j[i + 1] - j[i]) / dt }
        let a = watts[i], b = watts[i + 1]
        guard a.isFinite, b.isFinite else { return nil }
        return (a + b) / 2
    }

    /// Energy over `[start, end]`: the known part, the time it covers, and a whole-window figure
    /// that fills uncovered time with the window's own mean power.
    public func energy(from start: Double, to end: Double) -> WindowEnergy {
        var known = 0.0, covered = 0.0
        guard end > start, times.count >= 2 else { return WindowEnergy(knownJoules: 0, coveredSeconds: 0, seconds: max(0, end - start)) }
        // Binary search for the first interval that can overlap.
        var lo = 0, hi = times.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid + 1] <= start { lo = mid + 1 } else { hi = mid }
        }
        var i = lo
        while i < times.count - 1, times[i] < end {
            let a = max(start, times[i]), b = min(end, times[i + 1])
            if b > a, let p = intervalPower(i) {
                known += p * (b - a)
                covered += b - a
            }
            i += 1
        }
        return WindowEnergy(knownJoules: known, coveredSeconds: covered, seconds: end - start)
    }

    /// The reading nearest in time to `t` within `tolerance` seconds (for merging into rows).
    public func watts(near t: Double, tolerance: Double) -> Double {
        guard !times.isEmpty else { return .nan }
        var lo = 0, hi = times.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        // Interpolate between the neighbours when both are close and valid.
        if lo > 0 {
            let t0 = times[lo - 1], t1 = times[lo], w0 = watts[lo - 1], w1 = watts[lo]
            if t >= t0, t <= t1, t1 - t0 <= 2 * tolerance, w0.isFinite, w1.isFinite, t1 > t0 {
                return w0 + (w1 - w0) * (t - t0) / (t1 - t0)
            }
        }
        var best = Double.nan, bestGap = Double.infinity
        for j in [lo - 1, lo] where j >= 0 && j < times.count {
            let g = abs(times[j] - t)
            if g < bestGap, watts[j].isFinite { best = watts[j]; bestGap = g }
        }
        return bestGap <= tolerance ? best : .nan
    }
}

/// Energy over a window of time.
public struct WindowEnergy: Sendable, Equatable {
    /// Joules over the parts of the window with readings.
    public var knownJoules: Double
    /// Seconds of the window with readings.
    public var coveredSeconds: Double
    /// The window's length.
    public var seconds: Double

    /// Fraction of the window with readings (0...1).
    public var coverage: Double { seconds > 0 ? min(1, coveredSeconds / seconds) : 0 }

    /// Mean power over the covered part, or nil when nothing is covered.
    public var meanWatts: Double? { coveredSeconds > 0 ? knownJoules / coveredSeconds : nil }

    /// The window's energy with gaps filled at the mean power, or nil when nothing is covered.
    public var joules: Double? { meanWatts.map { $0 * seconds } }

    /// The two windows taken together.
    public static func + (a: WindowEnergy, b: WindowEnergy) -> WindowEnergy {
        WindowEnergy(knownJoules: a.knownJoules + b.knownJoules, coveredSeconds: a.coveredSeconds + b.coveredSeconds,
                     seconds: a.seconds + b.seconds)
    }

    public static let zero = WindowEnergy(knownJoules: 0, coveredSeconds: 0, seconds: 0)
}

/// The "N conversations use x % of a battery" figure.
public enum BatteryShare {
    /// Percent of a `capacityWh` battery that `conversations` conversations of `joulesPerConversation`
    /// each would use.
    public static func percent(joulesPerConversation: Double, conversations: Int, capacityWh: Double) -> Double {
        precondition(capacityWh > 0)
        return joulesPerConversation * Double(conversations) / (capacityWh * 3600) * 100
    }
}
