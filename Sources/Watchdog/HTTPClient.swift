import Base
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where an HTTP server listens: a TCP host and port, or a Unix domain socket.
public enum HTTPEndpoint: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses `http://HOST:PORT` (IPv4 or a name that resolves) or `unix:/path/to.sock`.
    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, path.utf8.count <= 107 else {
                throw HTTPClientError.badEndpoint("`\(text)`: a Unix socket path of 1 to 107 bytes is needed")
            }
            self = .unix(path: path)
            return
        }
        guard text.hasPrefix("http://") else {
            throw HTTPClientError.badEndpoint("`\(text)` must start with http:// or unix:")
        }
        var rest = text.dropFirst(7)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (1...65535).contains(port), colon > rest.startIndex else {
            throw HTTPClientError.badEndpoint("`\(text)` needs a host and a port, e.g. http://127.0.0.1:8080")
        }
        self = .tcp(host: String(rest[..<colon]), port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let h, let p): return "http://\(h):\(p)"
        case .unix(let p): return "unix:\(p)"
        }
    }
}

/// Why an HTTP exchange failed.
public enum HTTPClientError: Error, Equatable, CustomStringConvertible {
    case badEndpoint(String)
    /// The server could not be reached (nothing listening, refused, unreachable).
    case connect(String)
    /// No answer within the time allowed: the server may be hung.
    case timeout(String)
    /// The connection closed before a whole response arrived.
    case closed
    case malformed(String)

    public var description: String {
        switch self {
        case .badEndpoint(let m), .malformed(let m): return m
        case .connect(let m): return "cannot connect: \(m)"
        case .timeout(let m): return "timed out \(m)"
        case .closed: return "the connection closed before the response was complete"
        }
    }
}

/// A parsed HTTP response.
public struct HTTPReply: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: [UInt8]
    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking HTTP/1.1 client connection with a deadline on every step (poll-based), small
/// enough to probe a server that may be hung without ever blocking for longer than asked.
public final class HTTPConnection {
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// Monotonic deadline for every read and write.
    public var deadline: Double

    /// Connects within `timeout` seconds.
    public init(_ endpoint: HTTPEndpoint, timeout: Double) throws {
        deadline = monotonicSeconds() + timeout
        switch endpoint {
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw HTTPClientError.connect(String(cString: strerror(errno))) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
            }
            try connectNonBlocking(&addr, MemoryLayout<sockaddr_un>.size, what: endpoint.description)
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &list)
            guard rc == 0, let first = list else {
                throw HTTPClientError.connect("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(list) }
            fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw HTTPClientError.connect(String(cString: strerror(errno))) }
            try connectNonBlocking(first.pointee.ai_addr, Int(first.pointee.ai_addrlen), what: endpoint.description)
        }
    }

    deinit { close() }

    private func connectNonBlocking<T>(_ addr: UnsafeMutablePointer<T>, _ length: Int, what: String) throws {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let rc = addr.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(length)) }
        if rc != 0 {
            guard errno == EINPROGRESS || errno == EAGAIN else {
                let message = String(cString: strerror(errno))
                close()
                throw HTTPClientError.connect("\(what): \(message)")
            }
            try wait(POLLOUT, "connecting to \(what)")
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else {
                close()
                throw HTTPClientError.connect("\(what): \(String(cString: strerror(err)))")
            }
        }
    }

    /// Waits until the socket is ready for `events` or the deadline passes.
    private func wait(_ events: Int32, _ what: String) throws {
        while true {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { throw HTTPClientError.timeout(what) }
            var p = pollfd(fd: fd, events: Int16(events), revents: 0)
            let rc = poll(&p, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if rc > 0 { return }
            if rc < 0 && errno != EINTR { throw HTTPClientError.connect(String(cString: strerror(errno))) }
        }
    }

    /// Sends all of `bytes`.
    public func send(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw HTTPClientError.closed }
        var done = 0
        while done < bytes.count {
            try wait(POLLOUT, "sending the request")
            let n = bytes[done...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw HTTPClientError.connect(String(cString: strerror(errno)))
            }
            done += n
        }
    }

    /// Sends a request (with `Content-Length` when there is a body).
    public func sendRequest(method: String, path: String, headers: [String: String] = [:], body: [UInt8]? = nil) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + (body ?? []))
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        guard fd >= 0 else { throw HTTPClientError.closed }
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            try wait(POLLIN, "waiting for the response")
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw HTTPClientError.connect(String(cString: strerror(errno)))
            }
            if n == 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard buffer.count < 64 * 1024 else { throw HTTPClientError.malformed("a header line is longer than 64 KiB") }
            guard try fill() else { throw HTTPClientError.closed }
        }
    }

    private var chunked = false
    private var remaining: Int? = nil
    private var finished = false

    /// Reads the status line and headers.
    public func readHead() throws -> (status: Int, headers: [String: String]) {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HTTPClientError.malformed("not an HTTP response: \(statusLine.prefix(80))")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw HTTPClientError.malformed("bad header line") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") ?? false
        remaining = headers["content-length"].flatMap { Int($0) }
        finished = !chunked && remaining == 0
        return (status, headers)
    }

    /// The next piece of the body as it arrives (one chunk of a chunked body), or nil at its end.
    public func readBodyPart() throws -> [UInt8]? {
        guard !finished else { return nil }
        if chunked {
            let sizeLine = try readLine()
            guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16),
                  size >= 0 else { throw HTTPClientError.malformed("bad chunk size") }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailers
                finished = true
                return nil
            }
            while buffer.count < size + 2 { guard try fill() else { throw HTTPClientError.closed } }
            let data = Array(buffer[..<size])
            buffer.removeFirst(size + 2)
            return data
        }
        if buffer.isEmpty {
            guard try fill() else {
                finished = true
                if remaining != nil { throw HTTPClientError.closed }
                return nil
            }
        }
        var take = buffer.count
        if let r = remaining { take = min(take, r); remaining = r - take; if remaining == 0 { finished = true } }
        let data = Array(buffer[..<take])
        buffer.removeFirst(take)
        return data
    }

    /// Closes the socket (idempotent).
    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// One whole exchange on a fresh connection, within `timeout` seconds overall.
    public static func request(_ endpoint: HTTPEndpoint, method: String = "GET", path: String,
                               headers: [String: String] = [:], body: [UInt8]? = nil,
                               timeout: Double) throws -> HTTPReply {
        let c = try HTTPConnection(endpoint, timeout: timeout)
        defer { c.close() }
        var h = headers
        h["Connection"] = "close"
        try c.sendRequest(method: method, path: path, headers: h, body: body)
        let (status, responseHeaders) = try c.readHead()
        var data: [UInt8] = []
        while let part = try c.readBodyPart() {
            data += part
            guard data.count <= 16 << 20 else { throw HTTPClientError.malformed("the response body is over 16 MiB") }
        }
        return HTTPReply(status: status, headers: responseHeaders, body: data)
    }
}
