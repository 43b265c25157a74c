import CFakeGPIOD
import CGPIOD
import XCTest
@testable import Watchdog

#if canImport(Glibc)
import Glibc
#endif

/// The real CGPIOD shim and LibgpiodChip against a fake libgpiod of each API (Tests/CFakeGPIOD):
/// what the LED and the button request, set and read must reach the library the same way
/// whether the board has libgpiod 1.6 (Debian 12) or 2.x (Debian 13).
final class LibgpiodShimTests: XCTestCase {
    override func tearDown() {
        _ = cgpiod_load_with(nil, nil)
        cfake_gpiod_reset()
        super.tearDown()
    }

    private func drive(api: Int32, lookup: @escaping @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutableRawPointer?,
                       pullUpBias: Int32, version: String) throws {
        cfake_gpiod_reset()
        let baseline = cfake_gpiod_live_objects()
        XCTAssertEqual(cgpiod_load_with(lookup, "fake"), api)
        XCTAssertNil(LibgpiodChip.unavailableReason)
        XCTAssertEqual(LibgpiodChip.libraryVersion, version)
        do {
            let chip = try LibgpiodChip("gpiochip0")
            XCTAssertEqual(chip.name, "gpiochip0")
            XCTAssertEqual(chip.label, "fake-pinctrl")
            XCTAssertEqual(chip.lineCount, 8)
            XCTAssertEqual(try LibgpiodChip("0").name, "gpiochip0")
            XCTAssertEqual(try LibgpiodChip("/dev/gpiochip0").name, "gpiochip0")

            let led = try chip.output(line: 3, activeLow: true, consumer: "gemma-edge-led")
            XCTAssertEqual(cfake_gpiod_requested(3), 1)
            XCTAssertEqual(cfake_gpiod_direction(3), 1)
            XCTAssertEqual(cfake_gpiod_active_low(3), 1)
            XCTAssertEqual(cfake_gpiod_value(3), 0)
            XCTAssertEqual(String(cString: cfake_gpiod_consumer(3)), "gemma-edge-led")
            try led.set(true)
            XCTAssertEqual(cfake_gpiod_value(3), 1)
            try led.set(false)
            XCTAssertEqual(cfake_gpiod_value(3), 0)
            XCTAssertThrowsError(try chip.output(line: 3, activeLow: false, consumer: "other")) { error in
                XCTAssertTrue("\(error)".contains("cannot use gpiochip0 line 3 as an output"), "\(error)")
            }
            led.release()
            XCTAssertEqual(cfake_gpiod_requested(3), 0)
            XCTAssertThrowsError(try led.set(true))

            let button = try chip.edges(line: 5, pullUp: true, consumer: "gemma-edge-button")
            XCTAssertEqual(cfake_gpiod_direction(5), 2)
            XCTAssertEqual(cfake_gpiod_bias(5), pullUpBias)
            XCTAssertNil(try button.waitEdge(timeout: 0.01))
            cfake_gpiod_push_edge(5, 1_500_000_123, 0)
            cfake_gpiod_push_edge(5, 1_600_000_000, 1)
            XCTAssertEqual(try button.waitEdge(timeout: 1), GPIOEdge(timestampNanoseconds: 1_500_000_123, rising: false))
            XCTAssertEqual(try button.waitEdge(timeout: 1), GPIOEdge(timestampNanoseconds: 1_600_000_000, rising: true))
            XCTAssertNil(try button.waitEdge(timeout: 0.01))
            button.release()
            XCTAssertEqual(cfake_gpiod_requested(5), 0)

            XCTAssertThrowsError(try chip.output(line: 8, activeLow: false, consumer: "x")) { error in
                XCTAssertTrue("\(error)".contains("line 8 does not exist on gpiochip0 (fake-pinctrl)"), "\(error)")
            }
            XCTAssertThrowsError(try LibgpiodChip("gpiochip7")) { error in
                XCTAssertTrue("\(error)".contains("cannot open GPIO chip `gpiochip7`"), "\(error)")
            }
        }
        XCTAssertEqual(cfake_gpiod_live_objects(), baseline, "every chip, request and buffer is freed")
    }

    func testTheShimSpeaksLibgpiod2() throws {
        try drive(api: 2, lookup: cfake_gpiod_lookup_v2, pullUpBias: 4, version: "2.2.1-fake")  // GPIOD_LINE_BIAS_PULL_UP
    }

    func testTheShimSpeaksLibgpiod16() throws {
        try drive(api: 1, lookup: cfake_gpiod_lookup_v1, pullUpBias: 1 << 5, version: "1.6.3-fake")  // FLAG_BIAS_PULL_UP
    }

    func testAMissingLibraryDisablesGPIOWithAClearMessage() {
        setenv("GEMMA_EDGE_LIBGPIOD", "/nonexistent/libgpiod.so.9", 1)
        defer { unsetenv("GEMMA_EDGE_LIBGPIOD") }
        _ = cgpiod_load_with(nil, nil)
        XCTAssertEqual(cgpiod_load(), 0)
        let reason = LibgpiodChip.unavailableReason ?? ""
        XCTAssertTrue(reason.contains("/nonexistent/libgpiod.so.9"), reason)
        XCTAssertTrue(reason.contains("libgpiod3") && reason.contains("libgpiod2"), reason)
        XCTAssertEqual(LibgpiodChip.libraryVersion, "")
        XCTAssertThrowsError(try LibgpiodChip("gpiochip0")) { error in
            XCTAssertTrue("\(error)".hasPrefix("GPIO is disabled: libgpiod is not installed"), "\(error)")
        }
        XCTAssertNil(cgpiod_chip_open("gpiochip0"))
        XCTAssertEqual(errno, ENOSYS)
    }

    func testALibraryOfNeitherAPIIsRefused() {
        let lookup: @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? = { _ in nil }
        XCTAssertEqual(cgpiod_load_with(lookup, "libnothing.so"), 0)
        XCTAssertEqual(LibgpiodChip.unavailableReason, "libnothing.so is neither libgpiod 1.6 nor 2.x")
    }
}
