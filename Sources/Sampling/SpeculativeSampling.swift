/// Speculative sampling with a drafter that samples (a draft model at a temperature): the draft
/// distribution q of each drafted token is recorded as it is drawn, and the verifying sampler
/// accepts the token x with probability min(1, p(x) / q(x)), otherwise draws from the normalised
/// max(0, p - q) (Leviathan et al. 2023, Chen et al. 2023). The token returned is distributed as
/// plain sampling from p whatever q is, so q may be anything the drafter really drew from; the
/// closer it is to p, the more drafts are kept.

/// The distributions a drafter drew its tokens from, one per drafted position: up to `capacity`
/// candidates each, ids in increasing order with their probabilities (summing to 1). Allocated
/// once; nothing is allocated per draft.
public final class DraftDistributions {
    public let positions: Int
    public let capacity: Int
    let ids: UnsafeMutablePointer<Int32>           // [positions][capacity]
    let probabilities: UnsafeMutablePointer<Float>  // [positions][capacity]
    let counts: UnsafeMutablePointer<Int>           // [positions]

    /// Candidates kept per position by default: top-k's default (40) fits, so q is the draft's
    /// whole sampling distribution unless top-k is off or larger.
    public static let defaultCapacity = 64

    public init(positions: Int, capacity: Int = DraftDistributions.defaultCapacity) {
        precondition(positions >= 1 && capacity >= 1)
        self.positions = positions
        self.capacity = capacity
        ids = .allocate(capacity: positions * capacity)
        ids.initialize(repeating: 0, count: positions * capacity)
        probabilities = .allocate(capacity: positions * capacity)
        probabilities.initialize(repeating: 0, count: positions * capacity)
        counts = .allocate(capacity: positions)
        counts.initialize(repeating: 0, count: positions)
    }

    /// What `init(positions:capacity:)` allocates.
    public static func bytes(positions: Int, capacity: Int = DraftDistributions.defaultCapacity) -> Int {
        positions * (capacity * (MemoryLayout<Int32>.size + MemoryLayout<Float>.size) + MemoryLayout<Int>.size)
    }

    deinit {
        ids.deallocate()
        probabilities.deallocate()
        counts.deallocate()
    }

    /// Candidates recorded at `position`.
    public func count(at position: Int) -> Int { counts[position] }

    /// q(token) at `position` (0 when the token was not a candidate).
    public func probability(of token: Int32, at position: Int) -> Float {
        let base = position * capacity
        var lo = 0, hi = counts[position]  // binary search over the ids, kept in increasing order
        while lo < hi {
            let mid = (lo + hi) / 2
            let id = ids[base + mid]
            if id == token { return probabilities[base + mid] }
            if id < token { lo = mid + 1 } else { hi = mid }
        }
        return 0
    }

    /// Records a point mass on `token` at `position` (a greedy draft).
    func recordPointMass(_ token: Int32, at position: Int) {
        ids[position * capacity] = token
        probabilities[position * capacity] = 1
        counts[position] = 1
    }

    /// Records `n` candidates at `position` from `id` and `weight` (any order, weights summing to
    /// `total`), sorted by id (an insertion sort: n is at most `capacity`).
    func record(n: Int, id: (Int) -> Int32, weight: (Int) -> Float, total: Float, at position: Int) {
        let base = position * capacity
        for j in 0..<n {
            let t = id(j), p = weight(j) / total
            var k = j
            while k > 0, ids[base + k - 1] > t {
                ids[base + k] = ids[base + k - 1]
                probabilities[base + k] = probabilities[base + k - 1]
                k -= 1
            }
            ids[base + k] = t
            probabilities[base + k] = p
        }
        counts[position] = n
    }
}
