import ArgumentParser
import Foundation
import Service
import Watchdog

struct WatchdogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watchdog",
        abstract: "Supervise a command (normally `gemma-edge serve`) and keep it healthy.",
        discussion: """
            Probes the child's /health and a one-token generation, replaces it when it crashes, hangs, uses too \
            much memory or overheats (or pauses it, as configured), backs off between restarts and stops in a \
            safe state after too many. Under systemd (Type=notify) it reports READY=1 once the child is healthy, \
            STATUS= lines and WATCHDOG=1 keep-alives; it can also keep /dev/watchdog alive and drive a status \
            LED and a restart button over GPIO. Example:
              gemma-edge watchdog --config /etc/gemma-edge/watchdog.conf -- gemma-edge serve -m model.gguf
            """)

    @Option(help: "Config file of `key = value` lines (see Platforms/systemd/watchdog.conf); defaults otherwise.")
    var config: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Argument(parsing: .postTerminator, help: "The command to supervise, after `--`.") var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the command to supervise after `--`") }
    }

    func run() throws {
        let settings = try config.map { try WatchdogConfig(parsing: readText($0), name: $0) } ?? WatchdogConfig()
        try bootstrapLogging(level: logLevel)
        let notifier = try SystemdNotifier()
        // Open the GPIO chip before arming the hardware watchdog, so a missing chip cannot leave
        // an armed watchdog behind.
        // A configured chip that is missing is an error; a board without libgpiod only loses GPIO.
        var chip: LibgpiodChip?
        if let name = settings.gpioChip {
            if let reason = LibgpiodChip.unavailableReason {
                FileHandle.standardError.write(Data("gemma-edge watchdog: GPIO disabled (no status LED or button): \(reason)\n".utf8))
            } else {
                chip = try LibgpiodChip(name)
            }
        }
        let hardware = try settings.hardwareWatchdog.map {
            try HardwareWatchdog.open(path: $0, timeout: settings.hardwareWatchdogTimeout)
        }
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(command: command, config: settings, notifier: notifier, hardwareWatchdog: hardware,
                                        gpio: chip)
        } catch {
            hardware?.close(disarm: true)
            throw error
        }
        try blockOn { try await supervisor.runService() }
    }
}
