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
    /// Most connections open at once (lowered to stay 64 below the descriptor limit). At the limit
    /// a new connection closes the one that has waited longest for a request.
    public var maxConnections: Int = 512
    /// Seconds a new connection has to send a complete request head.
    public var headerTimeout: Double = 10
    /// Seconds a request's body has to arrive whole after its head.
    public var bodyTimeout: Double = 30
    /// Seconds a keep-alive connection may wait for its next request.
    public var idleTimeout: Double = 60
    /// Seconds a half-closed connection (after `Connection: close` or a malformed request) waits
    /// for the client to close its side before it is closed outright.
    public var lingerTimeout: Double = 2
    /// Largest request head (request line and headers) in bytes; 431/400 above.
    public var maxHeaderBytes: Int = 16 << 10
    /// Conversation states kept warm between requests (prompt cache slots), least recently used
    /// replaced first. Each holds a KV cache for the whole context.
    public var cacheSlots: Int = 1
    /// When set, warm states are saved here as session snapshots and restored at start-up.
    public var cacheDirectory: String? = nil

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
        if !(1...1_000_000).contains(maxConnections) { return "--max-connections must be between 1 and 1000000" }
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout),
                              ("--idle-timeout", idleTimeout), ("the linger timeout", lingerTimeout)]
        where !(value.isFinite && value > 0 && value <= 3_600) {
            return "\(name) must be between 0 and 3600 seconds"
        }
        if !(1_024...(1 << 20)).contains(maxHeaderBytes) { return "the header limit must be between 1 KiB and 1 MiB" }
        if !(1...64).contains(cacheSlots) { return "--cache-slots must be between 1 and 64" }
        if let dir = cacheDirectory, dir.isEmpty { return "--cache-dir must not be empty" }
        return nil
    }
}
