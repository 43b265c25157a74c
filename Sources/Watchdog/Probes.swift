import Foundation

/// What one probe of the child found.
enum ProbeOutcome: Equatable, Sendable {
    /// `/health` said 200 (or a one-token generation worked); `busy` while it generates, and
    /// `stalled` seconds since the engine last made progress (0 when idle or not reported).
    case healthy(busy: Bool, stalled: Double)
    /// `/health` said 503 while loading, or a generation was refused because the queue is full.
    case loading
    /// Nothing listens yet (connection refused).
    case notListening(String)
    /// No answer in time, a wrong answer, or a model that failed to load.
    case failed(String)
    /// `/health` took no connection or gave no answer in time while the child runs: a hang, or
    /// a flood of clients. Replacing the child is right, but it is no crash.
    case unresponsive(String)
}

/// The probes: blocking calls with deadlines, run off the supervision loop by `BackgroundProbe`.
enum Probes {
    static func headers(_ apiKey: String?) -> [String: String] {
        apiKey.map { ["Authorization": "Bearer \($0)"] } ?? [:]
    }

    /// `GET /health`.
    static func health(_ endpoint: HTTPEndpoint, apiKey: String?, timeout: Double) -> ProbeOutcome {
        do {
            let r = try HTTPConnection.request(endpoint, path: "/health", headers: headers(apiKey), timeout: timeout)
            let json = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
            switch r.status {
            case 200:
                return .healthy(busy: json?["busy"] as? Bool ?? false,
                                stalled: (json?["stalled_seconds"] as? NSNumber)?.doubleValue ?? 0)
            case 503:
                if json?["status"] as? String == "error" {
                    return .failed("the model failed to load: \(json?["error"] as? String ?? "unknown error")")
                }
                return .loading
            default: return .failed("/health answered HTTP \(r.status)")
            }
        } catch let error as HTTPClientError {
            if case .connect(let m) = error { return .notListening(m) }
            if case .timeout = error { return .unresponsive("/health: \(error)") }
            return .failed("/health: \(error)")
        } catch {
            return .failed("/health: \(error)")
        }
    }

    /// `POST /v1/completions` for one greedy token: proves the engine still generates.
    static func generation(_ endpoint: HTTPEndpoint, apiKey: String?, timeout: Double) -> ProbeOutcome {
        let body = Array(#"{"prompt":"Hello","max_tokens":1,"temperature":0}"#.utf8)
        var h = headers(apiKey)
        h["Content-Type"] = "application/json"
        do {
            let r = try HTTPConnection.request(endpoint, method: "POST", path: "/v1/completions", headers: h, body: body,
                                               timeout: timeout)
            switch r.status {
            case 200:
                let json = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
                guard let choices = json?["choices"] as? [Any], !choices.isEmpty else {
                    return .failed("the generation probe got a 200 without choices")
                }
                return .healthy(busy: false, stalled: 0)
            case 503: return .loading  // busy (queue full) or loading: not a failure
            default: return .failed("the generation probe got HTTP \(r.status): \(r.text.prefix(200))")
            }
        } catch let error as HTTPClientError {
            if case .timeout = error { return .failed("a one-token generation did not finish within \(timeout) s") }
            if case .connect(let m) = error { return .notListening(m) }
            return .failed("generation probe: \(error)")
        } catch {
            return .failed("generation probe: \(error)")
        }
    }

    /// Degrees Celsius from a sysfs file in millidegrees (`/sys/class/thermal/thermal_zone0/temp`).
    static func temperature(_ path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let milli = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return milli / 1000
    }
}

/// Runs one probe on its own thread; the loop polls `outcome` at each tick, so a hung child
/// never stalls the loop (and with it the keep-alives).
final class BackgroundProbe: @unchecked Sendable {
    let generation: Bool
    private let lock = NSLock()
    private var result: ProbeOutcome?

    init(generation: Bool, _ work: @escaping @Sendable () -> ProbeOutcome) {
        self.generation = generation
        let t = Thread { [self] in
            let r = work()
            lock.withLock { result = r }
        }
        t.name = "gemma-edge-probe"
        t.start()
    }

    var outcome: ProbeOutcome? { lock.withLock { result } }
}
