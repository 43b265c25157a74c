/// How the OpenAI-compatible server listens and what it allows per request.
public struct ServerOptions: Sendable, Equatable {
    /// Where the server listens.
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        /// A TCP host and port; port 0 picks a free port (tests).
        case tcp(host: String, port: Int)
        /// A Unix domain socket path.
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
            case .unix(let path): return "unix:\(path)"
            }
        }

        /// Whether only this machine can connect (a loopback host or a Unix socket).
        public var isLocalOnly: Bool {
            switch self {
            case .unix: return true
            case .tcp(let host, _):
                return host == "localhost" || host == "::1" || host.hasPrefix("127.")
            }
        }
    }

    /// Loopback by default: the board is not exposed unless `--host` says so.
    public var address: Address = .tcp(host: "127.0.0.1", port: 8080)
    /// When set, `/v1/*` and `/metrics` need `Authorization: Bearer <key>`; `/health` stays open.
    public var apiKey: String? = nil
    /// The most tokens one request may generate; larger `max_tokens` values are lowered to it.
    public var maxTokensCap: Int = 512
    /// Requests allowed to wait while one generates; one more gets 503 with `Retry-After`.
    public var queueCapacity: Int = 8
    /// Seconds from arrival to the end of generation (queue wait included) before a request is
    /// stopped.
    public var requestTimeout: Double = 120
    /// Largest request body accepted, in bytes (413 above).
    public var maxBodyBytes: Int = 1 << 20
    /// Vision: the largest PNG one `image_url` part may hold, in bytes (413 above).
    public var maxImageBytes: Int = 4 << 20
    /// Vision: the most images one request may hold (400 above).
    public var maxImages: Int = 4
    /// The id `/v1/models` reports and responses carry.
    public var modelName: String = "gemma-3"

    public init() {}

    /// Checks every field's range; returns a message naming the bad one.
    public func validate() -> String? {
        switch address {
        case .tcp(let host, let port):
            if host.isEmpty { return "--host must not be empty" }
            if !(0...65535).contains(port) { return "--port must be between 0 and 65535" }
        case .unix(let path):
            if path.isEmpty { return "--unix needs a socket path" }
            if path.utf8.count > 107 { return "--unix path is longer than the 107 bytes a socket address holds" }
        }
        if let key = apiKey, key.isEmpty { return "--api-key must not be empty" }
        if !(1...1_000_000).contains(maxTokensCap) { return "--max-tokens-cap must be between 1 and 1000000" }
        if !(0...10_000).contains(queueCapacity) { return "--queue must be between 0 and 10000" }
        if !(requestTimeout.isFinite && requestTimeout > 0 && requestTimeout <= 86_400) {
            return "--timeout must be between 0 and 86400 seconds"
        }
        if !(1_024...(256 << 20)).contains(maxBodyBytes) { return "the body limit must be between 1 KiB and 256 MiB" }
        if !(1_024...(64 << 20)).contains(maxImageBytes) { return "--max-image-bytes must be between 1 KiB and 64 MiB" }
        if !(0...64).contains(maxImages) { return "--max-images must be between 0 and 64" }
        if modelName.isEmpty { return "the model name must not be empty" }
        return nil
    }
}
