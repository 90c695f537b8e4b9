/// An amount of money, exactly: millionths of a unit of its currency (no rounding
/// error however many are added up; up to about nine trillion units).
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Millionths of a unit.
    public var micros: Int64

    public static let scale: Int64 = 1_000_000
    public static let zero = Money(micros: 0)

    public init(micros: Int64) { self.micros = micros }

    /// Whole units.
    public init(units: Int) { self.micros = Int64(units) * Money.scale }

    /// Reads `12`, `0.5`, `-3.25` exactly (at most six decimal places); nil otherwise.
    public init?(_ text: String) {
        var s = Substring(text.trimmingSpaces)
        var negative = false
        if s.hasPrefix("-") {
            negative = true
            s = s.dropFirst()
        } else if s.hasPrefix("+") {
            s = s.dropFirst()
        }
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        var fraction = parts.count == 2 ? parts[1] : ""
        func digits(_ t: Substring) -> Bool { t.allSatisfy { $0.isASCII && $0.isNumber } }
        guard digits(whole), digits(fraction), whole.count <= 13, fraction.count <= 6,
            !(whole.isEmpty && fraction.isEmpty), parts.count == 1 || !fraction.isEmpty
        else { return nil }
        while fraction.count < 6 { fraction += "0" }
        guard let w = Int64(whole.isEmpty ? "0" : String(whole)), let f = Int64(fraction) else { return nil }
        micros = (w * Money.scale + f) * (negative ? -1 : 1)
    }

    /// The amount as a number (for JSON).
    public var value: Double { Double(micros) / Double(Money.scale) }

    /// From a JSON number, to the nearest millionth.
    public init?(value: Double) {
        guard value.isFinite, abs(value) < 9e12 else { return nil }
        micros = Int64((value * Double(Money.scale)).rounded())
    }

    /// `12`, `0.5`, `-3.25`: no trailing zeros.
    public var description: String {
        let sign = micros < 0 ? "-" : ""
        let m = micros.magnitude
        let whole = m / UInt64(Money.scale)
        var fraction = String(m % UInt64(Money.scale))
        if fraction == "0" { return sign + String(whole) }
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(sign)\(whole).\(fraction)"
    }

    public static func < (a: Money, b: Money) -> Bool { a.micros < b.micros }
    public static func + (a: Money, b: Money) -> Money { Money(micros: a.micros + b.micros) }
    public static func - (a: Money, b: Money) -> Money { Money(micros: a.micros - b.micros) }
    public static prefix func - (a: Money) -> Money { Money(micros: -a.micros) }
    public static func += (a: inout Money, b: Money) { a.micros += b.micros }

    /// This amount times a quantity, to the nearest millionth (half away from zero).
    public func times(_ quantity: Double) -> Money {
        Money(micros: Int64((Double(micros) * quantity).rounded()))
    }

    /// This amount times a whole number.
    public func times(_ n: Int) -> Money { Money(micros: micros * Int64(n)) }

    /// This share of the amount (a percent), rounded down to the millionth.
    public func percent(_ p: Double) -> Money {
        Money(micros: Int64((Double(micros) * p / 100).rounded(.down)))
    }
}

/// What a published process costs its user, set by its publisher in the workflow:
/// a fixed part per successful execution, and parts per element of a list output or
/// per megabyte (10⁶ bytes) of a file output, computed from what was delivered.
public struct Price: Sendable, Hashable {
    /// What a part of the price is counted by.
    public enum Unit: String, Sendable, Hashable, CaseIterable {
        case item, megabyte
    }

    /// `credits`, or an ISO 4217 code (`EUR`).
    public var currency: String
    /// Per successful execution.
    public var run: Money
    /// Per output: its unit and the amount per unit.
    public var outputs: [String: (unit: Unit, amount: Money)]
    public var location: SourceLocation

    public init(
        currency: String, run: Money, outputs: [String: (unit: Unit, amount: Money)] = [:], location: SourceLocation
    ) {
        self.currency = currency
        self.run = run
        self.outputs = outputs
        self.location = location
    }

    public static func == (a: Price, b: Price) -> Bool {
        a.currency == b.currency && a.run == b.run && a.location == b.location
            && a.outputs.keys == b.outputs.keys
            && a.outputs.allSatisfy { k, v in b.outputs[k].map { $0.unit == v.unit && $0.amount == v.amount } ?? false }
    }

    public func hash(into h: inout Hasher) {
        h.combine(currency)
        h.combine(run)
        for k in outputs.keys.sorted() {
            h.combine(k)
            h.combine(outputs[k]!.unit)
            h.combine(outputs[k]!.amount)
        }
    }

    /// Whether `code` names a currency: `credits`, or three capital letters (ISO 4217).
    public static func isCurrency(_ code: String) -> Bool {
        code == "credits" || (code.count == 3 && code.unicodeScalars.allSatisfy { $0 >= "A" && $0 <= "Z" })
    }

    /// The price of what a job delivered: the fixed part, then each priced output by
    /// its count of elements or its megabytes (`size` gives a file's bytes). Each
    /// part, by name.
    public func of(_ outputs: [String: Value], size: (String) -> Int64?) -> (total: Money, parts: [String: Money]) {
        var parts: [String: Money] = ["run": run]
        for (name, (unit, amount)) in self.outputs {
            guard let v = outputs[name] else { continue }
            switch unit {
            case .item:
                let n: Int =
                    switch v {
                    case .list(let items): items.count
                    case .null: 0
                    default: 1
                    }
                parts[name] = amount.times(n)
            case .megabyte:
                var bytes: Int64 = 0
                func add(_ v: Value) {
                    switch v {
                    case .file(let p): bytes += size(p) ?? 0
                    case .list(let items): items.forEach(add)
                    default: break
                    }
                }
                add(v)
                parts[name] = amount.times(Double(bytes) / 1_000_000)
            }
        }
        return (parts.values.reduce(Money.zero, +), parts)
    }
}
