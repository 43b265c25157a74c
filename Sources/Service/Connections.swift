import Base
import Foundation
import GemmaEdge
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Every open connection, shared by all event loops: enforces the connection limit the way nginx
/// treats keep-alive connections, as reusable. When a new connection would pass the limit, the
/// connection that has waited longest for a request (a fresh one that sent nothing yet, or a
/// keep-alive one between requests) is closed to make room, so a health probe or a real client
/// still gets in during a flood of idle sockets. When every connection is busy with a request the
/// new one is closed instead.
final class ConnectionRegistry: @unchecked Sendable {
    /// The most connections asked for.
    let requested: Int
    /// The most connections open at once: `requested`, lowered to stay below the descriptor limit
    /// in force now.
    var limit: Int { Self.effectiveLimit(requested: requested) }
    let metrics: ServiceMetrics
    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    private struct Entry {
        let channel: any Channel
        /// Monotonic seconds since it waits for a request; nil while a request is in progress.
        var idleSince: Double?
        /// Called once when the connection closes (the request in progress gives up).
        var onClose: (@Sendable () -> Void)?
    }

    init(requested: Int, metrics: ServiceMetrics) {
        self.requested = requested
        self.metrics = metrics
    }

    /// Connections open now.
    var count: Int { lock.withLock { entries.count } }
    /// Connections accepted since start.
    var accepted: Int { lock.withLock { acceptedTotal } }
    private var acceptedTotal = 0

    /// Records a new connection; returns the connection to close to stay within the limit (an
    /// idle one, or `channel` itself when none is idle), or nil.
    func opened(_ channel: any Channel) -> (any Channel)? {
        let id = ObjectIdentifier(channel)
        let limit = self.limit
        let (victim, open) = lock.withLock { () -> ((any Channel)?, Int) in
            entries[id] = Entry(channel: channel, idleSince: monotonicSeconds())
            acceptedTotal += 1
            guard entries.count > limit else { return (nil, entries.count) }
            let idle = entries.filter { $0.key != id && $0.value.idleSince != nil }
            guard let oldest = idle.min(by: { $0.value.idleSince! < $1.value.idleSince! }) else {
                entries[id] = nil
                return (channel, entries.count)
            }
            entries[oldest.key] = nil
            return (oldest.value.channel, entries.count)
        }
        metrics.connectionsOpen.set(Double(open))
        if let victim { metrics.countConnectionClosed(victim === channel ? "limit_all_busy" : "limit_idle_dropped") }
        return victim
    }

    /// A request head arrived: the connection is no longer a candidate to drop.
    func started(_ channel: any Channel) { setIdle(channel, nil) }

    /// A response ended: the connection waits for its next request.
    func finished(_ channel: any Channel) { setIdle(channel, monotonicSeconds()) }

    private func setIdle(_ channel: any Channel, _ since: Double?) {
        lock.withLock { entries[ObjectIdentifier(channel)]?.idleSince = since }
    }

    /// The connection closed (for whatever reason).
    func closed(_ channel: any Channel) {
        let (open, onClose) = lock.withLock { () -> (Int, (@Sendable () -> Void)?) in
            let entry = entries.removeValue(forKey: ObjectIdentifier(channel))
            return (entries.count, entry?.onClose)
        }
        metrics.connectionsOpen.set(Double(open))
        onClose?()
    }

    /// Calls `onClose` when `channel` closes, until `unwatch`. A channel the registry does not
    /// know (already closed, or the router tests' stand-in) is not watched: a request whose client
    /// left that early learns it when its answer cannot be written.
    func watch(_ channel: any Channel, _ onClose: @escaping @Sendable () -> Void) {
        lock.withLock { entries[ObjectIdentifier(channel)]?.onClose = onClose }
    }

    /// The client closed its side (it sends nothing more): HTTP clients do that when they leave,
    /// so the request in progress gives up.
    func inputClosed(_ channel: any Channel) {
        let onClose = lock.withLock { () -> (@Sendable () -> Void)? in
            defer { entries[ObjectIdentifier(channel)]?.onClose = nil }
            return entries[ObjectIdentifier(channel)]?.onClose
        }
        onClose?()
    }

    /// Stops watching `channel` for the request in progress.
    func unwatch(_ channel: any Channel) {
        lock.withLock { entries[ObjectIdentifier(channel)]?.onClose = nil }
    }

    /// The connection limit for `requested` under the process's descriptor limit: `reserve`
    /// descriptors stay free for the model file, snapshots, event loops and the listening socket.
    static func effectiveLimit(requested: Int, reserve: Int = 64) -> Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max else { return requested }
        return max(1, min(requested, Int(rl.rlim_cur) - reserve))
    }

    /// Raises the soft descriptor limit to the hard one (at most `cap`), as servers do at start-up;
    /// returns the soft limit in force afterwards.
    @discardableResult
    static func raiseDescriptorLimit(cap: Int = 65_536) -> Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
        let target = rl.rlim_max == rlim_t.max ? rlim_t(cap) : min(rl.rlim_max, rlim_t(cap))
        if rl.rlim_cur < target {
            var raised = rl
            raised.rlim_cur = target
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { rl = raised }
        }
        return Int(rl.rlim_cur)
    }
}

/// One connection's guard, in the pipeline after the HTTP decoder: registers the connection with
/// the registry (which may close it or an idle one), and closes it when
/// - no complete request head arrives within `headerTimeout` of connecting (slow or silent
///   clients hold no descriptor for long),
/// - a request's body does not arrive whole within `bodyTimeout` of its head,
/// - a keep-alive connection waits more than `idleTimeout` for its next request,
/// - the server has half-closed it (after a `Connection: close` answer or a malformed request)
///   and the client has not closed its side within `lingerTimeout` (a client that stopped reading
///   would otherwise leave the socket in FIN-WAIT-2 for good).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Timeouts: Sendable {
        var header: Double
        var body: Double
        var idle: Double
        var linger: Double
    }

    let registry: ConnectionRegistry
    let timeouts: Timeouts
    private var timer: Scheduled<Void>?
    private var registered = false
    /// The request in progress asked to close the connection after its answer.
    private var closeRequested = false

    init(registry: ConnectionRegistry, timeouts: Timeouts) {
        self.registry = registry
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { register(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        register(context)
        context.fireChannelActive()
    }

    private func register(_ context: ChannelHandlerContext) {
        guard !registered else { return }
        registered = true
        arm(context, seconds: timeouts.header, reason: "header_timeout")
        if let victim = registry.opened(context.channel) {
            victim.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if registered { registry.closed(context.channel) }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { registry.inputClosed(context.channel) }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            closeRequested = head.headerFields[.connection]?.lowercased().contains("close") ?? false
            registry.started(context.channel)
            arm(context, seconds: timeouts.body, reason: "body_timeout")
        case .body:
            break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where closeRequested:
            // Hummingbird closes after this answer: say so.
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        case .end:
            registry.finished(context.channel)
            arm(context, seconds: closeRequested ? timeouts.linger : timeouts.idle,
                reason: closeRequested ? "linger_timeout" : "idle_timeout")
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output {
            arm(context, seconds: timeouts.linger, reason: "linger_timeout")
        }
        context.close(mode: mode, promise: promise)
    }

    /// Closes the connection in `seconds` unless re-armed or cancelled first.
    private func arm(_ context: ChannelHandlerContext, seconds: Double, reason: String) {
        timer?.cancel()
        let channel = context.channel
        let registry = registry
        timer = context.eventLoop.scheduleTask(in: .milliseconds(Int64((seconds * 1000).rounded()))) {
            registry.metrics.countConnectionClosed(reason)
            channel.close(promise: nil)
        }
    }
}

/// Hummingbird's HTTP/1.1 server with a `ConnectionGuard` in each connection's pipeline.
extension HTTPServerBuilder {
    static func guarded(registry: ConnectionRegistry, timeouts: ConnectionGuard.Timeouts,
                        maxHeaderBytes: Int) -> HTTPServerBuilder {
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuard(registry: registry, timeouts: timeouts)],
            httpDecoderConfiguration: .init(maxHeaderFieldSize: maxHeaderBytes, maxHeaderListSize: maxHeaderBytes,
                                            maxHeaderFieldCount: 100))
        return .http1(configuration: configuration)
    }
}

/// The request context: Hummingbird's basics plus the connection, so a handler learns when its
/// client hangs up (the connection closes) without consuming the inbound stream, which would
/// end keep-alive.
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
