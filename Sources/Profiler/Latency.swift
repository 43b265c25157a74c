import Histogram

/// Latency percentiles in milliseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: Int
    public var meanMs: Double
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var maxMs: Double
    public var minMs: Double
}

/// Records latencies into an HdrHistogram (microsecond units, 3 significant digits, up to ten
/// minutes) and reads percentiles from it. The exact maximum and mean are kept beside it.
public struct LatencyRecorder: Sendable {
    private var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000,
                                              numberOfSignificantValueDigits: .three)
    private var sum = 0.0
    private var maxSeconds = 0.0
    private var minSeconds = Double.infinity
    /// Values too large to record (over ten minutes) or negative.
    public private(set) var rejected = 0

    public init() {}

    public var count: Int { Int(histogram.totalCount) }

    /// Records one latency in seconds.
    public mutating func record(seconds: Double) {
        guard seconds.isFinite, seconds >= 0, histogram.record(UInt64((seconds * 1e6).rounded())) else {
            rejected += 1
            return
        }
        sum += seconds
        maxSeconds = max(maxSeconds, seconds)
        minSeconds = min(minSeconds, seconds)
    }

    /// Adds everything another recorder holds.
    public mutating func add(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
        sum += other.sum
        maxSeconds = max(maxSeconds, other.maxSeconds)
        minSeconds = min(minSeconds, other.minSeconds)
        rejected += other.rejected
    }

    /// The value at `percentile` (0...100) in seconds, to the histogram's resolution.
    public func seconds(atPercentile percentile: Double) -> Double {
        Double(histogram.valueAtPercentile(percentile)) * 1e-6
    }

    /// The summary, or nil when nothing was recorded.
    public var summary: LatencySummary? {
        guard count > 0 else { return nil }
        // The histogram reports the top of a value's bucket; never above the true maximum.
        func p(_ q: Double) -> Double { min(seconds(atPercentile: q), maxSeconds) * 1000 }
        return LatencySummary(count: count, meanMs: sum / Double(count) * 1000, p50Ms: p(50), p90Ms: p(90), p99Ms: p(99),
                              maxMs: maxSeconds * 1000, minMs: minSeconds * 1000)
    }

    /// The exact nearest-rank percentile of `values` (for checking the histogram).
    public static func exactPercentile(_ values: [Double], _ percentile: Double) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
