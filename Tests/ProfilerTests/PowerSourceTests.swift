import Foundation
@testable import Profiler
import XCTest

/// Every power source read from synthetic kernel trees in their documented units.
final class PowerSourceTests: XCTestCase {
    func detector(_ t: SysfsTree, runner: CommandRunner = CannedRunner(output: nil)) -> PowerDetector {
        PowerDetector(root: t.sysfs, runner: runner)
    }

    func testINA226PowerFileInMicrowattsFoundByName() throws {
        let t = SysfsTree()
        t.otherHwmon(0, name: "nvme")
        t.ina226(3, microwatts: 2_500_000)
        let (s, probe) = detector(t).probe(.hwmon)
        let source = try XCTUnwrap(s, probe.detail)
        XCTAssertEqual(source.quality, .measured)
        XCTAssertTrue(source.device.contains("hwmon3"), source.device)
        XCTAssertEqual(source.read(at: 0).watts, 2.5)
    }

    func testINA219WithoutPowerFileIsVoltsTimesAmps() throws {
        let t = SysfsTree()
        t.write("/sys/class/hwmon/hwmon0/name", "ina219")
        t.write("/sys/class/hwmon/hwmon0/in0_input", "40")     // shunt mV: not the bus voltage
        t.write("/sys/class/hwmon/hwmon0/in1_input", "5100")   // mV
        t.write("/sys/class/hwmon/hwmon0/curr1_input", "600")  // mA
        let s = try XCTUnwrap(detector(t).probe(.hwmon).0)
        XCTAssertClose(s.read(at: 0).watts, 3.06)
    }

    func testHwmonWithoutAMonitorSaysWhatItFound() {
        let t = SysfsTree()
        t.otherHwmon(0, name: "k10temp")
        let (s, p) = detector(t).probe(.hwmon)
        XCTAssertNil(s)
        XCTAssertFalse(p.found)
        XCTAssertTrue(p.detail.contains("k10temp"), p.detail)
    }

    func testINA3221ChannelsSumVTimesIAndSkipShuntAndDisabled() throws {
        let t = SysfsTree()
        t.ina3221(1, [(nil, 5000, 400), (nil, 3300, 1000), (nil, 1800, 9999)])
        t.write("/sys/class/hwmon/hwmon1/in3_enable", "0")
        let s = try XCTUnwrap(detector(t).probe(.hwmon).0)
        XCTAssertEqual(s.quality, .measured)
        XCTAssertClose(s.read(at: 0).watts, 5.0 * 0.4 + 3.3 * 1.0)
    }

    func testJetsonUsesTheInputRailAloneWhenNamed() throws {
        let t = SysfsTree()
        t.ina3221(1, [("VDD_IN", 5080, 1200), ("VDD_CPU_GPU_CV", 5080, 400), ("VDD_SOC", 5080, 300)])
        let s = try XCTUnwrap(detector(t).probe(.jetson).0)
        XCTAssertEqual(s.kind, .jetson)
        XCTAssertEqual(s.quality, .measured)
        XCTAssertClose(s.read(at: 0).watts, 5.08 * 1.2)
        XCTAssertTrue(s.notes.joined().contains("VDD_SOC"), "\(s.notes)")
        // The generic hwmon source must not add the sub-rails to the input either.
        XCTAssertClose(detector(t).probe(.hwmon).0?.read(at: 0).watts, 5.08 * 1.2)
    }

    func testJetsonWithoutInputRailSumsAndSaysEstimated() throws {
        let t = SysfsTree()
        t.ina3221(0, [("VDD_GPU_SOC", 5000, 1000), ("VDD_CPU_CV", 5000, 500)])
        let s = try XCTUnwrap(detector(t).probe(.jetson).0)
        XCTAssertEqual(s.quality, .estimated)
        XCTAssertClose(s.read(at: 0).watts, 7.5)
    }

    func testJetsonLegacyIIORailsInMilliwatts() throws {
        let t = SysfsTree()
        let base = "/sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
        t.write(base + "/rail_name_0", "POM_5V_IN")
        t.write(base + "/in_power0_input", "3456")
        t.write(base + "/rail_name_1", "POM_5V_GPU")
        t.write(base + "/in_power1_input", "500")
        let s = try XCTUnwrap(detector(t).probe(.jetson).0)
        XCTAssertClose(s.read(at: 0).watts, 3.456)
        XCTAssertNil(detector(SysfsTree()).probe(.jetson).0)
    }

    func testBatteryPowerNowAndNegativeCurrent() throws {
        let t = SysfsTree()
        let b = "/sys/class/power_supply/BAT0"
        t.write(b + "/type", "Battery")
        t.write(b + "/status", "Discharging")
        t.write(b + "/voltage_now", "7600000")   // uV
        t.write(b + "/current_now", "-500000")   // uA, negative while discharging
        t.write(b + "/charge_full", "4000000")   // uAh
        t.write(b + "/voltage_min_design", "7400000")
        let s = try XCTUnwrap(detector(t).probe(.battery, requireDischarging: true).0 as? BatteryPower)
        XCTAssertClose(s.read(at: 0).watts, 3.8)
        XCTAssertClose(s.capacityWh, 4.0 * 7.4)
        t.write(b + "/power_now", "4200000")     // uW, preferred when present
        t.write(b + "/energy_full", "50000000")  // uWh
        let s2 = try XCTUnwrap(detector(t).probe(.battery).0 as? BatteryPower)
        XCTAssertClose(s2.read(at: 0).watts, 4.2)
        XCTAssertClose(s2.capacityWh, 50)
    }

    func testChargingBatteryIsSkippedByAutoButTakenWhenAsked() throws {
        let t = SysfsTree()
        t.write("/sys/class/power_supply/hidpp_battery_0/type", "Battery")
        t.write("/sys/class/power_supply/hidpp_battery_0/scope", "Device")   // a mouse
        t.write("/sys/class/power_supply/hidpp_battery_0/power_now", "1")
        t.write("/sys/class/power_supply/BAT1/type", "Battery")
        t.write("/sys/class/power_supply/BAT1/status", "Charging")
        t.write("/sys/class/power_supply/BAT1/power_now", "15000000")
        t.write("/sys/class/power_supply/AC/type", "Mains")
        let (auto, probes) = detector(t).resolve(.auto)
        XCTAssertNil(auto)
        let battery = try XCTUnwrap(probes.first { $0.source == "battery" })
        XCTAssertTrue(battery.detail.contains("Charging"), battery.detail)
        let (explicit, _) = detector(t).resolve(.source(.battery))
        let s = try XCTUnwrap(explicit)
        XCTAssertTrue(s.device.contains("BAT1"))
        XCTAssertTrue(s.notes.joined().contains("Charging"))
    }

    func raplTree(_ t: SysfsTree, energy: Int, range: Int = 262_143_328_850) {
        t.write("/sys/class/powercap/intel-rapl:0/name", "package-0")
        t.write("/sys/class/powercap/intel-rapl:0/energy_uj", String(energy))
        t.write("/sys/class/powercap/intel-rapl:0/max_energy_range_uj", String(range))
        t.write("/sys/class/powercap/intel-rapl:0:0/name", "core")
        t.write("/sys/class/powercap/intel-rapl:0:0/energy_uj", "5")
        t.write("/sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", String(range))
    }

    func testRaplCounterWrapsAtItsRange() throws {
        let t = SysfsTree()
        raplTree(t, energy: 999_000, range: 1_000_000)
        let s = try XCTUnwrap(detector(t).probe(.rapl).0)
        XCTAssertTrue(s.scope.contains("CPU packages only"), s.scope)
        let r0 = s.read(at: 0)
        XCTAssertTrue(r0.watts.isNaN)          // no rate from one reading
        XCTAssertEqual(r0.joules, 0)
        t.write("/sys/class/powercap/intel-rapl:0/energy_uj", "1000")  // wrapped: 1000 + 1e6 - 999000 = 2000 uJ
        let r1 = s.read(at: 0.5)
        XCTAssertClose(r1.joules, 0.002)
        XCTAssertClose(r1.watts, 0.004)
        t.write("/sys/class/powercap/intel-rapl:0/energy_uj", "501000")
        XCTAssertClose(s.read(at: 1.0).joules, 0.502)
        XCTAssertEqual(RaplPower.unwrap(last: 10, raw: 4, range: 10), 4)
    }

    func testRaplPrefersPsysAndAddsDram() throws {
        let t = SysfsTree()
        raplTree(t, energy: 1_000_000)
        t.write("/sys/class/powercap/intel-rapl:0:1/name", "dram")
        t.write("/sys/class/powercap/intel-rapl:0:1/energy_uj", "7")
        t.write("/sys/class/powercap/intel-rapl:0:1/max_energy_range_uj", "65532610987")
        XCTAssertTrue(try XCTUnwrap(detector(t).probe(.rapl).0).scope.contains("DRAM"))
        t.write("/sys/class/powercap/intel-rapl:1/name", "psys")
        t.write("/sys/class/powercap/intel-rapl:1/energy_uj", "7")
        t.write("/sys/class/powercap/intel-rapl:1/max_energy_range_uj", "65532610987")
        let s = try XCTUnwrap(detector(t).probe(.rapl).0)
        XCTAssertTrue(s.scope.contains("psys"), s.scope)
    }

    func testRaplUnreadableCounterIsAClearMiss() {
        let t = SysfsTree()
        raplTree(t, energy: 1)
        t.makeUnreadable("/sys/class/powercap/intel-rapl:0/energy_uj")
        let (s, p) = detector(t).probe(.rapl)
        XCTAssertNil(s)
        XCTAssertTrue(p.detail.contains("not readable"), p.detail)
    }

    func testSensorDisappearsMidRunAndComesBack() throws {
        let t = SysfsTree()
        t.ina226(0, microwatts: 2_000_000)
        let s = try XCTUnwrap(detector(t).probe(.hwmon).0)
        XCTAssertEqual(s.read(at: 0.1).watts, 2)
        t.remove("/sys/class/hwmon/hwmon0")
        XCTAssertTrue(s.read(at: 0.2).watts.isNaN)
        XCTAssertTrue(s.read(at: 0.3).watts.isNaN)
        t.ina226(0, microwatts: 3_000_000)
        XCTAssertEqual(s.read(at: 0.4).watts, 3)
        let summary = try XCTUnwrap(s.health.summary)
        XCTAssertTrue(summary.contains("2 of 4 reads failed"), summary)
        XCTAssertTrue(summary.contains("missing from 0.20 s") && summary.contains("back at 0.40 s"), summary)
    }

    func testGarbageValuesAreFaultsNotNumbers() throws {
        let t = SysfsTree()
        t.ina226(0, microwatts: 1)
        let s = try XCTUnwrap(detector(t).probe(.hwmon).0)
        for junk in ["N/A", "12abc", "1.5", "", "99999999999999999999999", "-"] {
            t.write("/sys/class/hwmon/hwmon0/power1_input", junk)
            XCTAssertTrue(s.read(at: 0).watts.isNaN, "'\(junk)' was read as a number")
        }
        t.write("/sys/class/hwmon/hwmon0/power1_input", "900000000000")  // 900 kW: a misread
        XCTAssertTrue(s.read(at: 0).watts.isNaN)
        XCTAssertEqual(s.health.failures, 7)
        XCTAssertTrue(s.health.summary!.contains("garbage"))
    }

    static let pmicText = """
         3V7_WL_SW_A current(0)=0.10000000A
          VDD_CORE_A current(7)=2.00000000A
           DDR_VDDQ_A current(4)=0.00000000A
         3V7_WL_SW_V volt(8)=3.70000000V
          VDD_CORE_V volt(15)=0.80000000V
          DDR_VDDQ_V volt(12)=0.60000000V
             EXT5V_V volt(24)=5.10000000V
              BATT_V volt(25)=nanV
        garbage line here
        """

    func testPMICParsePairsRailsByName() {
        let d = PMICPower.parse(Self.pmicText)
        XCTAssertEqual(d.rails.count, 3)
        XCTAssertEqual(d.voltagesOnly, ["EXT5V": 5.1])
        XCTAssertEqual(d.badLines, 2)   // nanV and the garbage line
        XCTAssertClose(d.watts, 0.37 + 1.6)
        XCTAssertTrue(PMICPower.parse("error=1 error_msg=\"Command not registered\"").rails.isEmpty)
    }

    func testPMICSourceIsAnEstimateAndSurvivesAFailedCall() throws {
        let runner = ScriptedRunner([Self.pmicText, Self.pmicText, nil, "nonsense", Self.pmicText])
        let s = try XCTUnwrap(detector(SysfsTree(), runner: runner).probe(.pi5PMIC).0)  // uses output 1
        XCTAssertEqual(s.quality, .estimated)
        XCTAssertTrue(s.notes.joined().contains("EXT5V 5.100 V"), "\(s.notes)")
        XCTAssertClose(s.read(at: 0).watts, 1.97)
        XCTAssertTrue(s.read(at: 1).watts.isNaN)   // the command failed
        XCTAssertTrue(s.read(at: 2).watts.isNaN)   // it printed no rails
        XCTAssertClose(s.read(at: 3).watts, 1.97)
        XCTAssertEqual(s.health.failures, 2)
        let (none, p) = detector(SysfsTree(), runner: CannedRunner(output: "error=1 error_msg=\"Command not registered\"")).probe(.pi5PMIC)
        XCTAssertNil(none)
        XCTAssertTrue(p.detail.contains("Command not registered"), p.detail)
    }

    func testAutoPrefersABoardMonitorOverRaplAndListsEveryProbe() throws {
        let t = SysfsTree()
        raplTree(t, energy: 1000)
        t.ina226(2, microwatts: 2_500_000)
        let (s, probes) = detector(t).resolve(.auto)
        XCTAssertEqual(s?.kind, .hwmon)
        XCTAssertEqual(probes.map(\.source), ["jetson", "hwmon", "battery", "pi5-pmic", "rapl"])
        XCTAssertEqual(probes.filter(\.found).map(\.source), ["hwmon", "rapl"])
        let (nothing, none) = detector(SysfsTree()).resolve(.auto)
        XCTAssertNil(nothing)
        XCTAssertTrue(none.allSatisfy { !$0.found && !$0.detail.isEmpty })
    }

    func testPowerSelectionParsing() throws {
        XCTAssertEqual(try PowerSelection(parsing: "auto"), .auto)
        XCTAssertEqual(try PowerSelection(parsing: "pi5-pmic"), .source(.pi5PMIC))
        XCTAssertEqual(try PowerSelection(parsing: "csv:/tmp/m.csv"), .csv(path: "/tmp/m.csv"))
        XCTAssertEqual(try PowerSelection(parsing: "none"), .none)
        for bad in ["csv:", "csv", "watts", "RAPL"] {
            XCTAssertThrowsError(try PowerSelection(parsing: bad), bad) { e in
                XCTAssertTrue("\(e)".contains("csv") || "\(e)".contains("unknown"), "\(e)")
            }
        }
    }
}
