import GemmaEdge
import Logging
import ServiceLifecycle

extension GemmaServer {
    /// Serves until SIGTERM or SIGINT (then shuts down gracefully), or fails when the model
    /// cannot be loaded or the address cannot be bound.
    public func run() async throws {
        let descriptors = ConnectionRegistry.raiseDescriptorLimit()
        if connections.limit < connections.requested {
            logger.warning("the descriptor limit (\(descriptors)) allows \(connections.limit) connections, not the \(connections.requested) asked for")
        }
        if !options.address.isLocalOnly {
            let keyless = options.apiKey == nil ? " and without an API key" : ""
            logger.warning("listening on \(options.address): reachable from other machines\(keyless)")
        }
        let group = ServiceGroup(configuration: .init(
            services: [makeApplication(), LoadWatcher(host: host)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Ends the server with the loader's error when the model fails to load (so a supervisor sees
/// the exit), and otherwise waits for shutdown.
struct LoadWatcher: Service {
    let host: ModelHost

    struct LoadFailed: Error, CustomStringConvertible {
        let description: String
    }

    func run() async throws {
        while true {
            switch host.state {
            case .failed(let message): throw LoadFailed(description: "cannot load the model: \(message)")
            case .ready:
                try? await gracefulShutdown()
                return
            case .idle, .loading:
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

/// Sends every logger's output to standard error at `level` (trace, debug, info, notice, warning,
/// error, critical). Call once per process, before any logger is made.
public func bootstrapLogging(level: String) throws {
    guard let l = Logger.Level(rawValue: level) else {
        throw LoggingLevelError(description: "unknown log level `\(level)`; use one of "
                                + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
    }
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = l
        return handler
    }
}

/// A log level name that does not exist.
public struct LoggingLevelError: Error, CustomStringConvertible {
    public let description: String
}
