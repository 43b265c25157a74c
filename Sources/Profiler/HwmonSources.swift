import Foundation

/// One hwmon device: its folder and the chip name from its `name` file (the folder's number can
/// change between boots; the name does not).
public struct HwmonDevice: Sendable, Equatable {
    /// The path under the root, e.g. "/sys/class/hwmon/hwmon2".
    public let path: String
    public let name: String

    /// Every device under `/sys/class/hwmon` with a readable `name`.
    public static func all(root: SysfsRoot) -> [HwmonDevice] {
        root.list("/sys/class/hwmon").compactMap { entry in
            let p = "/sys/class/hwmon/" + entry
            guard let name = root.text(p + "/name"), !name.isEmpty else { return nil }
            return HwmonDevice(path: p, name: name)
        }
    }
}

/// hwmon power monitors: INA219/INA226 and relatives (`ina2xx` driver: `power1_input` uW, or
/// bus voltage `in1_input` mV x `curr1_input` mA) and INA3221 (three channels, no power file:
/// `in[1-3]_input` mV x `curr[1-3]_input` mA; `in[4-6]` are shunt voltages and are not used).
public enum HwmonPower {
    /// Chip names the `ina2xx`, `ina238` and `ina260`-style drivers register.
    public static let ina2xxNames: Set<String> = [
        "ina209", "ina219", "ina220", "ina226", "ina230", "ina231", "ina233", "ina237", "ina238", "ina260", "ina2xx",
    ]

    static func find(root: SysfsRoot) -> Result<PowerSource, ProbeMiss> {
        let devices = HwmonDevice.all(root: root)
        if devices.isEmpty { return .failure(ProbeMiss("no hwmon devices under \(root.path("/sys/class/hwmon"))")) }
        var skipped: [String] = []
        // The first INA2xx with a usable channel, then an INA3221.
        for d in devices where ina2xxNames.contains(d.name) {
            if let rail = ina2xxRail(root: root, device: d) {
                let others = devices.filter { ina2xxNames.contains($0.name) && $0 != d }.map { "\($0.name) at \($0.path)" }
                var notes = ["rail \(rail.label)"]
                if !others.isEmpty { notes.append("other INA2xx monitors not summed (their rails may overlap): " + others.joined(separator: ", ")) }
                return .success(RailSumSource(kind: .hwmon, device: "\(d.name) at \(d.path)", scope: "the rail this monitor sits on",
                                              quality: .measured, rails: [rail], notes: notes))
            }
            skipped.append("\(d.name) at \(d.path) has neither power1_input nor in1_input+curr1_input")
        }
        for d in devices where d.name == "ina3221" {
            let channels = INA3221.channels(root: root, device: d)
            if channels.isEmpty {
                skipped.append("ina3221 at \(d.path) has no enabled channel with in/curr files")
                continue
            }
            let choice = INA3221.choose(channels)
            return .success(RailSumSource(kind: .hwmon, device: "ina3221 at \(d.path)", scope: choice.scope,
                                          quality: choice.quality, rails: choice.rails, notes: choice.notes))
        }
        let names = devices.map(\.name).joined(separator: ", ")
        return .failure(ProbeMiss("no INA2xx/INA3221 power monitor among hwmon devices (\(names))"
            + (skipped.isEmpty ? "" : "; " + skipped.joined(separator: "; "))))
    }

    static func ina2xxRail(root: SysfsRoot, device d: HwmonDevice) -> Rail? {
        let label = root.text(d.path + "/power1_label") ?? d.name
        if root.exists(d.path + "/power1_input") {
            return Rail(label: label, power: root.path(d.path + "/power1_input"), scale: 1e-6)
        }
        if root.exists(d.path + "/in1_input"), root.exists(d.path + "/curr1_input") {
            return Rail(label: label, volts: root.path(d.path + "/in1_input"), voltScale: 1e-3,
                        amps: root.path(d.path + "/curr1_input"), ampScale: 1e-3)
        }
        return nil
    }
}

/// INA3221 channel handling shared by the hwmon and Jetson sources.
enum INA3221 {
    /// Rail names that carry a Jetson module's or board's whole input.
    static let inputRailNames: Set<String> = ["VDD_IN", "POM_5V_IN"]

    struct Channel {
        let label: String?
        let rail: Rail
    }

    /// Enabled channels of a hwmon INA3221 (channels with `inN_enable` = 0 are skipped).
    static func channels(root: SysfsRoot, device d: HwmonDevice) -> [Channel] {
        (1...3).compactMap { c in
            let base = d.path + "/"
            guard root.exists(base + "in\(c)_input"), root.exists(base + "curr\(c)_input") else { return nil }
            if let enable = root.text(base + "in\(c)_enable"), enable == "0" { return nil }
            let label = root.text(base + "in\(c)_label").flatMap { $0.isEmpty ? nil : $0 }
            let rail = Rail(label: label ?? "channel \(c)", volts: root.path(base + "in\(c)_input"), voltScale: 1e-3,
                            amps: root.path(base + "curr\(c)_input"), ampScale: 1e-3)
            return Channel(label: label, rail: rail)
        }
    }

    /// The input rail alone when one is named (summing it with its sub-rails would count power
    /// twice); otherwise the sum of every channel.
    static func choose(_ channels: [Channel]) -> (rails: [Rail], scope: String, quality: PowerQuality, notes: [String]) {
        if let input = channels.first(where: { $0.label.map(inputRailNames.contains) ?? false }) {
            let others = channels.filter { $0.rail !== input.rail }.map(\.rail.label)
            return ([input.rail], "input rail \(input.rail.label) (V x I)", .measured,
                    ["rail \(input.rail.label) = in mV x curr mA"]
                        + (others.isEmpty ? [] : ["sub-rails not added (already inside the input): " + others.joined(separator: ", ")]))
        }
        let labelled = channels.contains { $0.label != nil }
        let names = channels.map(\.rail.label).joined(separator: ", ")
        if labelled {
            return (channels.map(\.rail), "sum of rails \(names); no input rail is named, so this is not the board total",
                    .estimated, ["rails summed as in mV x curr mA"])
        }
        return (channels.map(\.rail), "sum of INA3221 channels \(names)", .measured, ["channels summed as in mV x curr mA"])
    }
}

/// NVIDIA Jetson power rails: INA3221 monitors with rail names, either as hwmon (`in1_label` =
/// "VDD_IN", in mV x curr mA; L4T 32.6 and later) or the older `ina3221x` IIO driver
/// (`rail_name_N`, `in_powerN_input` mW).
public enum JetsonPower {
    static func find(root: SysfsRoot) -> Result<PowerSource, ProbeMiss> {
        // Newer kernels: hwmon ina3221 with labels. Orin AGX has two such chips: gather all.
        var channels: [INA3221.Channel] = []
        var devices: [String] = []
        for d in HwmonDevice.all(root: root) where d.name == "ina3221" {
            let cs = INA3221.channels(root: root, device: d).filter { $0.label != nil }
            if !cs.isEmpty {
                channels += cs
                devices.append(d.path)
            }
        }
        if !channels.isEmpty {
            let c = INA3221.choose(channels)
            return .success(RailSumSource(kind: .jetson, device: "ina3221 rails at " + devices.joined(separator: ", "),
                                          scope: c.scope, quality: c.quality, rails: c.rails, notes: c.notes))
        }
        // Older L4T: /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device<N>/.
        let driver = "/sys/bus/i2c/drivers/ina3221x"
        var legacy: [INA3221.Channel] = []
        var legacyDevices: [String] = []
        for bus in root.list(driver) {
            for iio in root.list(driver + "/" + bus) where iio.hasPrefix("iio:device") {
                let base = driver + "/" + bus + "/" + iio
                for c in 0..<3 {
                    guard let name = root.text(base + "/rail_name_\(c)"), !name.isEmpty,
                          root.exists(base + "/in_power\(c)_input") else { continue }
                    legacy.append(INA3221.Channel(label: name, rail: Rail(label: name, power: root.path(base + "/in_power\(c)_input"), scale: 1e-3)))
                }
                if !legacy.isEmpty { legacyDevices.append(base) }
            }
        }
        if !legacy.isEmpty {
            let c = INA3221.choose(legacy)
            return .success(RailSumSource(kind: .jetson, device: "ina3221x rails at " + legacyDevices.joined(separator: ", "),
                                          scope: c.scope.replacingOccurrences(of: "(V x I)", with: "(power, mW)"),
                                          quality: c.quality, rails: c.rails, notes: ["rails read from in_powerN_input (mW)"]))
        }
        return .failure(ProbeMiss("no INA3221 with rail names (hwmon in*_label or \(driver))"))
    }
}
