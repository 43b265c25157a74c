#if canImport(Glibc)
import Glibc
#endif

/// The operations the watchdog driver needs from a device file, so tests can use a fake one.
public protocol WatchdogDeviceIO: AnyObject {
    /// `ioctl(fd, request, &value)`; returns 0 or an errno value.
    func control(_ request: UInt, _ value: inout Int32) -> Int32
    func write(_ bytes: [UInt8]) throws
    func close()
}

/// A Linux hardware watchdog (`/dev/watchdog`): opening it arms it, every keep-alive restarts its
/// countdown, and writing `V` just before closing disarms it (the "magic close", ignored by
/// kernels built with `nowayout`). If the supervisor dies or hangs, the board reboots.
public final class HardwareWatchdog {
    // Request numbers from <linux/watchdog.h> with the generic _IOR/_IOWR encoding used on
    // x86-64 and arm64: dir << 30 | size << 16 | 'W' << 8 | nr, with size = sizeof(int) = 4.
    static let getBootStatus: UInt = 0x8004_5702  // _IOR('W', 2, int)
    static let keepAliveRequest: UInt = 0x8004_5705  // _IOR('W', 5, int)
    static let setTimeoutRequest: UInt = 0xC004_5706  // _IOWR('W', 6, int)
    /// WDIOF_CARDRESET: the last reboot was the watchdog's.
    static let cardReset: Int32 = 0x0020

    private let io: WatchdogDeviceIO
    private var open = true
    /// The device path (for messages).
    public let name: String
    /// The timeout the driver actually applied, in seconds (it may round the one asked for).
    public private(set) var timeout: Int
    /// Whether the last reboot was caused by this watchdog (nil when the driver does not say).
    public private(set) var lastRebootByWatchdog: Bool?

    /// Arms the device behind `io` with `timeout` seconds.
    public init(io: WatchdogDeviceIO, name: String, timeout: Int) throws {
        self.io = io
        self.name = name
        var t = Int32(timeout)
        let rc = io.control(Self.setTimeoutRequest, &t)
        guard rc == 0 else {
            // Leave it armed rather than disarm a real device we could not configure; for a file
            // that is not a watchdog this just closes it.
            io.close()
            throw WatchdogDeviceError("\(name) is not a usable watchdog: WDIOC_SETTIMEOUT failed: \(String(cString: strerror(rc)))")
        }
        self.timeout = Int(t)
        var status: Int32 = 0
        lastRebootByWatchdog = io.control(Self.getBootStatus, &status) == 0 ? (status & Self.cardReset) != 0 : nil
    }

    /// Opens (and so arms) a device file.
    public static func open(path: String, timeout: Int) throws -> HardwareWatchdog {
        try HardwareWatchdog(io: try FileWatchdogIO(path: path), name: path, timeout: timeout)
    }

    /// Restarts the countdown.
    public func keepAlive() throws {
        guard open else { return }
        var unused: Int32 = 0
        let rc = io.control(Self.keepAliveRequest, &unused)
        guard rc == 0 else { throw WatchdogDeviceError("\(name): WDIOC_KEEPALIVE failed: \(String(cString: strerror(rc)))") }
    }

    /// Closes the device; with `disarm` (a clean exit) writes the magic `V` first.
    public func close(disarm: Bool) {
        guard open else { return }
        open = false
        if disarm { try? io.write([UInt8(ascii: "V")]) }
        io.close()
    }
}

/// A real device file.
final class FileWatchdogIO: WatchdogDeviceIO {
    private var fd: Int32

    init(path: String) throws {
        fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WatchdogDeviceError("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    func control(_ request: UInt, _ value: inout Int32) -> Int32 {
        ioctl(fd, request, &value) == 0 ? 0 : errno
    }

    func write(_ bytes: [UInt8]) throws {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw WatchdogDeviceError("write failed: \(String(cString: strerror(errno)))") }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}

/// The watchdog device could not be used.
public struct WatchdogDeviceError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
