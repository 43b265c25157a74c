import CGPIOD
#if canImport(Glibc)
import Glibc
#endif

/// A GPIO chip as the status LED and the button need it. `LibgpiodChip` is the real one; tests
/// use a fake that records levels and plays edges.
public protocol GPIOChip: AnyObject {
    var name: String { get }
    /// Requests `line` as an output, initially off.
    func output(line: Int, activeLow: Bool, consumer: String) throws -> any GPIOOutputLine
    /// Requests `line` for edge events, pulled up (button to ground) or down.
    func edges(line: Int, pullUp: Bool, consumer: String) throws -> any GPIOEdgeLine
}

/// An output line (the LED).
public protocol GPIOOutputLine: AnyObject {
    func set(_ on: Bool) throws
    func release()
}

/// One edge on an input line, with the kernel's timestamp.
public struct GPIOEdge: Equatable, Sendable {
    public var timestampNanoseconds: Int64
    public var rising: Bool

    public init(timestampNanoseconds: Int64, rising: Bool) {
        self.timestampNanoseconds = timestampNanoseconds
        self.rising = rising
    }
}

/// An input line watched for edges (the button).
public protocol GPIOEdgeLine: AnyObject {
    /// The next edge, or nil when none came within `timeout` seconds.
    func waitEdge(timeout: Double) throws -> GPIOEdge?
    func release()
}

/// A GPIO chip or line that could not be used.
public struct GPIOError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ d: String) { description = d }
}

/// A chip through libgpiod, 1.6 (Debian 12) or 2.x (Debian 13), loaded at run time.
public final class LibgpiodChip: GPIOChip {
    private let chip: OpaquePointer
    public let name: String
    public let label: String
    public let lineCount: Int

    /// Opens a chip by name (`gpiochip0`), path, number or label. A missing chip is an error that
    /// says so, not a crash: build machines and containers have none.
    public init(_ description: String) throws {
        if let reason = LibgpiodChip.unavailableReason { throw GPIOError("GPIO is disabled: \(reason)") }
        guard let chip = cgpiod_chip_open(description) else {
            let reason = String(cString: strerror(errno))
            throw GPIOError("cannot open GPIO chip `\(description)`: \(reason) "
                            + "(list the chips with `gpiodetect`; the service user needs access to /dev/gpiochip*)")
        }
        self.chip = chip
        name = String(cString: cgpiod_chip_name(chip))
        label = String(cString: cgpiod_chip_label(chip))
        lineCount = Int(cgpiod_chip_num_lines(chip))
    }

    deinit { cgpiod_chip_close(chip) }

    /// The libgpiod version in use ("" when none could be loaded).
    public static var libraryVersion: String {
        _ = cgpiod_load()
        return String(cString: cgpiod_version())
    }

    /// Why GPIO cannot be used on this system (no libgpiod, or an unknown one), or nil when a
    /// libgpiod 1.6 or 2.x is loaded. Loads the library on first use.
    public static var unavailableReason: String? {
        cgpiod_load() == 0 ? String(cString: cgpiod_load_error()) : nil
    }

    private func check(_ line: Int) throws {
        guard line >= 0 && line < lineCount else {
            throw GPIOError("line \(line) does not exist on \(name) (\(label)), which has lines 0..<\(lineCount)")
        }
    }

    public func output(line: Int, activeLow: Bool, consumer: String) throws -> any GPIOOutputLine {
        try check(line)
        guard let l = cgpiod_request_output(chip, UInt32(line), consumer, activeLow ? 1 : 0, 0) else {
            throw GPIOError("cannot use \(name) line \(line) as an output: \(String(cString: strerror(errno)))")
        }
        return LibgpiodOutput(line: l, chip: self)
    }

    public func edges(line: Int, pullUp: Bool, consumer: String) throws -> any GPIOEdgeLine {
        try check(line)
        let bias = Int32(pullUp ? CGPIOD_BIAS_PULL_UP.rawValue : CGPIOD_BIAS_PULL_DOWN.rawValue)
        guard let l = cgpiod_request_edges(chip, UInt32(line), consumer, bias) else {
            throw GPIOError("cannot watch \(name) line \(line) for edges: \(String(cString: strerror(errno)))"
                            + " (bias needs Linux 5.5 or later)")
        }
        return LibgpiodEdges(line: l, chip: self)
    }
}

final class LibgpiodOutput: GPIOOutputLine {
    private var line: OpaquePointer?
    private let chip: LibgpiodChip  // keeps the chip open while the line is used

    init(line: OpaquePointer, chip: LibgpiodChip) {
        self.line = line
        self.chip = chip
    }

    deinit { release() }

    func set(_ on: Bool) throws {
        guard let line else { throw GPIOError("the LED line was released") }
        guard cgpiod_set_value(line, on ? 1 : 0) == 0 else {
            throw GPIOError("cannot set the LED line: \(String(cString: strerror(errno)))")
        }
    }

    func release() {
        if let line { cgpiod_line_release(line) }
        line = nil
    }
}

final class LibgpiodEdges: GPIOEdgeLine {
    private var line: OpaquePointer?
    private let chip: LibgpiodChip

    init(line: OpaquePointer, chip: LibgpiodChip) {
        self.line = line
        self.chip = chip
    }

    deinit { release() }

    func waitEdge(timeout: Double) throws -> GPIOEdge? {
        guard let line else { throw GPIOError("the button line was released") }
        var ts: Int64 = 0
        var rising: Int32 = 0
        switch cgpiod_wait_edge(line, Int64(max(0, timeout) * 1e9), &ts, &rising) {
        case 1: return GPIOEdge(timestampNanoseconds: ts, rising: rising != 0)
        case 0: return nil
        default: throw GPIOError("reading button events failed: \(String(cString: strerror(errno)))")
        }
    }

    func release() {
        if let line { cgpiod_line_release(line) }
        line = nil
    }
}
