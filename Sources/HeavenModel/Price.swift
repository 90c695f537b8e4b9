/// An amount of money, exactly: millionths of a unit of its currency (no rounding
/// error however many are added up). An amount given from outside (a price, a budget,
/// a credit) is at most `maximum` (a trillion units); arithmetic never traps: past the
/// 64-bit range it saturates (a price that large is beyond any budget, so the job is
/// refused or withheld, never charged a wrong amount).
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Millionths of a unit.
    public var micros: Int64

    public static let scale: Int64 = 1_000_000
    public static let zero = Money(micros: 0)

    public init(micros: Int64) { self.micros = micros }

    /// The largest amount read from outside: a trillion units.
    public static let maximum = Money(micros: 1_000_000_000_000 * 1_000_000)

    /// Whether the amount is within ±`maximum` (what a price, budget or credit may be).
    public var isRepresentable: Bool { micros.magnitude <= Money.maximum.micros.magnitude }

    /// `micros`, clamped to the 64-bit range (never a trap).
    static func saturating(_ r: (partialValue: Int64, overflow: Bool), sign: Bool) -> Money {
        r.overflow ? Money(micros: sign ? .max : .min) : Money(micros: r.partialValue)
    }

    /// `Double` micros rounded as `rule`, clamped to the 64-bit range.
    static func saturating(_ x: Double, _ rule: FloatingPointRoundingRule) -> Money {
        let r = x.rounded(rule)
        guard r.isFinite else { return Money(micros: r.isNaN ? 0 : (r > 0 ? .max : .min)) }
        // 2⁶³ is exact as a Double; Int64 holds everything below it.
        if r >= 9_223_372_036_854_775_808.0 { return Money(micros: .max) }
        if r < -9_223_372_036_854_775_808.0 { return Money(micros: .min) }
        return Money(micros: Int64(r))
    }

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
        let scaled = w.multipliedReportingOverflow(by: Money.scale)
        guard !scaled.overflow, case let total = scaled.partialValue.addingReportingOverflow(f), !total.overflow
        else { return nil }
        micros = total.partialValue * (negative ? -1 : 1)
        guard isRepresentable else { return nil }
    }

    /// The amount as a number (for JSON).
    public var value: Double { Double(micros) / Double(Money.scale) }

    /// From a JSON number, to the nearest millionth.
    public init?(value: Double) {
        guard value.isFinite, abs(value) <= Double(Money.maximum.micros / Money.scale) else { return nil }
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
    public static func + (a: Money, b: Money) -> Money {
        saturating(a.micros.addingReportingOverflow(b.micros), sign: b.micros > 0)
    }
    public static func - (a: Money, b: Money) -> Money {
        saturating(a.micros.subtractingReportingOverflow(b.micros), sign: b.micros < 0)
    }
    public static prefix func - (a: Money) -> Money {
        a.micros == .min ? Money(micros: .max) : Money(micros: -a.micros)
    }
    public static func += (a: inout Money, b: Money) { a = a + b }

    /// This amount times a quantity, to the nearest millionth (half away from zero).
    public func times(_ quantity: Double) -> Money {
        Money.saturating(Double(micros) * quantity, .toNearestOrAwayFromZero)
    }

    /// This amount times a whole number.
    public func times(_ n: Int) -> Money {
        Money.saturating(micros.multipliedReportingOverflow(by: Int64(n)), sign: (micros < 0) == (n < 0))
    }

    /// This share of the amount (a percent), rounded down to the millionth.
    public func percent(_ p: Double) -> Money { Money.saturating(Double(micros) * p / 100, .down) }
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
