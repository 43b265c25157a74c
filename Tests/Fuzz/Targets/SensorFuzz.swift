import Profiler

/// The profiler's sensor-file parsers on arbitrary file contents:
/// - `SysfsFile.parseInteger` (decimal and hex): a number it accepts prints back to itself;
/// - `SysfsFile.parseInteger(_:field:)` for the first fields (`/proc/self/statm`);
/// - RAPL: the lines as `max_energy_range_uj` then successive `energy_uj` readings, whose running
///   total must never go down or overflow;
/// - rails: pairs of lines as in mV and curr mA, and single lines as power in uW, whose watts must
///   be finite, non-negative and under the 100 kW sanity limit;
/// - `PMICPower.parse` (`vcgencmd pmic_read_adc`): finite, non-negative rails and total;
/// - `SystemSensors.peakResidentBytes(status:)` (`/proc/self/status`).
enum SensorFuzz {
    /// True when the input parsed as a sysfs integer, PMIC rails or a VmHWM line.
    static func run(_ data: [UInt8]) throws -> Bool {
        func fail(_ m: String) -> FuzzFinding { FuzzTarget.sensors.finding(m) }
        var accepted = false
        try data.withUnsafeBufferPointer { b in
            for hex in [false, true] {
                if case .success(let v) = SysfsFile.parseInteger(b, hex: hex) {
                    accepted = true
                    let text = hex ? String(v, radix: 16) : String(v)
                    guard case .success(v) = SysfsFile.parseInteger(text, hex: hex) else {
                        throw fail("\(v) parsed from \(Array(b)) does not parse back from \"\(text)\"")
                    }
                }
            }
            for field in 0..<3 { _ = SysfsFile.parseInteger(b, field: field) }
        }

        let text = String(decoding: data, as: UTF8.self)
        // Sysfs files are read one value per file; lines stand for successive reads here.
        let values: [Int64] = text.split(separator: "\n").compactMap {
            if case .success(let v) = SysfsFile.parseInteger(String($0)) { return v }
            return nil
        }
        if let range = values.first {
            var total: Int64 = 0
            var last: Int64?
            for raw in values.dropFirst() {
                guard let next = RaplPower.advance(total: total, last: last, raw: raw, range: range) else { continue }
                guard next >= total else { throw fail("the RAPL total went down from \(total) to \(next)") }
                total = next
                last = raw
            }
        }
        var i = 0
        while i + 1 < values.count {
            for result in [Rail.watts(volts: values[i], voltScale: 1e-3, amps: values[i + 1], ampScale: 1e-3),
                           Rail.watts(power: values[i], scale: 1e-6)] {
                if case .success(let w) = result, !(w.isFinite && w >= 0 && w < 100_000) {
                    throw fail("a rail read \(w) W")
                }
            }
            i += 2
        }

        let dump = PMICPower.parse(text)
        for (name, r) in dump.rails where !(r.volts.isFinite && r.amps.isFinite && r.volts >= 0 && r.amps >= 0) {
            throw fail("PMIC rail \(name) parsed as \(r.volts) V, \(r.amps) A")
        }
        guard dump.watts.isFinite, dump.watts >= 0 else { throw fail("the PMIC rails sum to \(dump.watts) W") }

        let peak = SystemSensors.peakResidentBytes(status: text)
        if let peak, !(peak.isFinite && peak >= 0) {
            throw fail("VmHWM parsed as \(peak) bytes")
        }
        return accepted || !dump.rails.isEmpty || peak != nil
    }
}
