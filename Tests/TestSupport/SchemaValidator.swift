import Foundation

/// A JSON Schema validator for the tests of constrained output, written apart from the grammar
/// module (it shares no code with the schema-to-grammar conversion, so a wrong grammar cannot
/// pass by agreeing with itself). It knows the keywords the tests' schemas use: `type`,
/// `properties`, `required`, `additionalProperties: false`, `enum`, `const`, `items`,
/// `minItems` / `maxItems`, `minimum` / `maximum`, `minLength` / `maxLength`, `pattern`, and the
/// formats date, time, date-time and uuid.
public enum SchemaValidator {
    /// The problems of `json` (JSON text) against `schema` (JSON Schema text); empty when it is valid.
    public static func problems(_ json: String, schema: String) -> [String] {
        guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else {
            return ["not JSON: \(json)"]
        }
        guard let s = try? JSONSerialization.jsonObject(with: Data(schema.utf8)) as? [String: Any] else {
            return ["the schema is not a JSON object"]
        }
        var out: [String] = []
        check(value, s, "$", &out)
        return out
    }

    /// JSONSerialization gives numbers and booleans as NSNumber; a boolean's type code is "c".
    private static func isBool(_ v: Any) -> Bool {
        guard let n = v as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    private static func isNumber(_ v: Any) -> Bool { v is NSNumber && !isBool(v) }

    private static func matches(_ s: String, _ pattern: String) -> Bool {
        s.range(of: "^(?:" + pattern + ")$", options: .regularExpression) != nil
    }

    private static func check(_ v: Any, _ schema: [String: Any], _ path: String, _ out: inout [String]) {
        if let type = schema["type"] as? String {
            let ok: Bool
            switch type {
            case "object": ok = v is [String: Any]
            case "array": ok = v is [Any]
            case "string": ok = v is String
            case "boolean": ok = isBool(v)
            case "null": ok = v is NSNull
            case "number": ok = isNumber(v)
            case "integer": ok = isNumber(v) && (v as! NSNumber).doubleValue.rounded() == (v as! NSNumber).doubleValue
            default: ok = false
            }
            if !ok { return out.append("\(path): not of type \(type)") }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { same($0, v) }) {
            out.append("\(path): not one of the enum")
        }
        if let c = schema["const"], !same(c, v) { out.append("\(path): not the const") }
        if let o = v as? [String: Any] {
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for r in schema["required"] as? [String] ?? [] where o[r] == nil { out.append("\(path): misses \(r)") }
            for (k, x) in o {
                if let p = properties[k] {
                    check(x, p, path + "." + k, &out)
                } else if (schema["additionalProperties"] as? Bool) == false {
                    out.append("\(path): has the extra property \(k)")
                }
            }
        }
        if let a = v as? [Any] {
            if let lo = schema["minItems"] as? Int, a.count < lo { out.append("\(path): fewer than \(lo) items") }
            if let hi = schema["maxItems"] as? Int, a.count > hi { out.append("\(path): more than \(hi) items") }
            if let items = schema["items"] as? [String: Any] {
                for (i, x) in a.enumerated() { check(x, items, "\(path)[\(i)]", &out) }
            }
        }
        if isNumber(v) {
            let d = (v as! NSNumber).doubleValue
            if let lo = (schema["minimum"] as? NSNumber)?.doubleValue, d < lo { out.append("\(path): below \(lo)") }
            if let hi = (schema["maximum"] as? NSNumber)?.doubleValue, d > hi { out.append("\(path): above \(hi)") }
        }
        if let s = v as? String {
            let n = s.unicodeScalars.count
            if let lo = schema["minLength"] as? Int, n < lo { out.append("\(path): shorter than \(lo)") }
            if let hi = schema["maxLength"] as? Int, n > hi { out.append("\(path): longer than \(hi)") }
            if let p = schema["pattern"] as? String, !matches(s, p) { out.append("\(path): does not match \(p)") }
            let formats = [
                "date": #"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"#,
                "time": #"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"#,
                "uuid": #"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"#,
            ]
            if let f = schema["format"] as? String {
                let pattern = f == "date-time" ? formats["date"]! + "T" + formats["time"]! : formats[f]
                if let pattern, !matches(s, pattern) { out.append("\(path): not a \(f)") }
            }
        }
    }

    private static func same(_ a: Any, _ b: Any) -> Bool {
        (a as? NSObject)?.isEqual(b) ?? false
    }
}
