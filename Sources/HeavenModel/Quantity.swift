/// A physical amount with a unit: memory or disk (bytes), durations and latencies
/// (seconds), bandwidth (bits per second).
public struct Quantity: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What the amount measures.
    public enum Dimension: String, Sendable, Hashable, Codable {
        case bytes, seconds, bitsPerSecond
    }

    /// The measured dimension.
    public var dimension: Dimension
    /// The amount in the dimension's base unit (bytes, seconds, bits/s).
    public var value: Double

    /// Creates a quantity.
    public init(_ value: Double, _ dimension: Dimension) {
        self.value = value
        self.dimension = dimension
    }

    static let units: [(suffix: String, factor: Double, dimension: Dimension)] = [
        ("KiB", 1024, .bytes), ("MiB", 1_048_576, .bytes), ("GiB", 1_073_741_824, .bytes),
        ("TiB", 1_099_511_627_776, .bytes), ("PiB", 1_125_899_906_842_624, .bytes),
        ("KB", 1e3, .bytes), ("MB", 1e6, .bytes), ("GB", 1e9, .bytes), ("TB", 1e12, .bytes),
        ("PB", 1e15, .bytes), ("B", 1, .bytes),
        ("Kbps", 1e3, .bitsPerSecond), ("Mbps", 1e6, .bitsPerSecond), ("Gbps", 1e9, .bitsPerSecond),
        ("Tbps", 1e12, .bitsPerSecond), ("bps", 1, .bitsPerSecond),
        ("ms", 1e-3, .seconds), ("us", 1e-6, .seconds), ("s", 1, .seconds), ("m", 60, .seconds),
        ("h", 3600, .seconds), ("d", 86400, .seconds),
    ]

    /// The units a quantity literal may end with, for messages.
    public static func unitNames(of dimension: Dimension) -> String {
        units.filter { $0.dimension == dimension }.map(\.suffix).joined(separator: ", ")
    }

    /// Parses `512MiB`, `1.5GB`, `30s`, `100ms`, `1Gbps`; nil when the text is not a quantity.
    public init?(parsing text: String) {
        guard let unitStart = text.firstIndex(where: { $0.isLetter }), unitStart != text.startIndex else {
            return nil
        }
        let number = text[..<unitStart]
        let unit = text[unitStart...]
        guard number.allSatisfy({ $0.isNumber || $0 == "." }), number.filter({ $0 == "." }).count <= 1,
            number.first != ".", number.last != ".",
            let amount = Double(number), amount.isFinite,
            let match = Quantity.units.first(where: { $0.suffix == unit })
        else { return nil }
        self.init(amount * match.factor, match.dimension)
    }

    /// The largest quantity of each dimension Heaven counts (1 EiB, ten years, 1 Pbit/s):
    /// beyond, a quantity is refused, never converted into a count that overflows.
    public static func maximum(_ d: Dimension) -> Double {
        switch d {
        case .bytes: 1_152_921_504_606_846_976
        case .seconds: 315_576_000
        case .bitsPerSecond: 1e15
        }
    }

    /// Parses a quantity of a required dimension, or explains what is wrong.
    public static func parse(_ text: String, as dimension: Dimension) -> Result<Quantity, QuantityError> {
        guard let q = Quantity(parsing: text.trimmingSpaces) else {
            return .failure(.malformed(text, expected: dimension))
        }
        guard q.dimension == dimension else { return .failure(.wrongDimension(text, expected: dimension)) }
        guard q.value <= Quantity.maximum(dimension) else { return .failure(.tooLarge(text, expected: dimension)) }
        return .success(q)
    }

    /// A readable form with the largest fitting binary or decimal unit.
    public var description: String {
        func fmt(_ v: Double) -> String {
            v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format3(v))
        }
        switch dimension {
        case .bytes:
            for (s, f) in [("TiB", 1_099_511_627_776.0), ("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024)]
            where value >= f && (value / f) == (value / f).rounded() {
                return fmt(value / f) + s
            }
            return fmt(value) + "B"
        case .seconds:
            if value >= 3600, value.truncatingRemainder(dividingBy: 3600) == 0 { return fmt(value / 3600) + "h" }
            if value >= 60, value.truncatingRemainder(dividingBy: 60) == 0 { return fmt(value / 60) + "m" }
            if value < 1, value > 0 { return fmt(value * 1000) + "ms" }
            return fmt(value) + "s"
        case .bitsPerSecond:
            for (s, f) in [("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6), ("Kbps", 1e3)] where value >= f {
                return fmt(value / f) + s
            }
            return fmt(value) + "bps"
        }
    }
}

/// Why a quantity could not be read.
public enum QuantityError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String, expected: Quantity.Dimension)
    case wrongDimension(String, expected: Quantity.Dimension)
    case tooLarge(String, expected: Quantity.Dimension)

    public var description: String {
        switch self {
        case .tooLarge(let text, let d):
            return "`\(text)` is larger than any \(d.noun) Heaven counts (at most \(Quantity(Quantity.maximum(d), d)))"
        case .malformed(let text, let d):
            return "`\(text)` is not \(Wording.a(d.noun)): expected a number and a unit (\(Quantity.unitNames(of: d)))"
        case .wrongDimension(let text, let d):
            return "`\(text)` is not \(Wording.a(d.noun)): expected a unit among \(Quantity.unitNames(of: d))"
        }
    }
}

extension Quantity.Dimension {
    /// The dimension's name in messages.
    public var noun: String {
        switch self {
        case .bytes: "size"
        case .seconds: "duration"
        case .bitsPerSecond: "bandwidth"
        }
    }
}

func format3(_ v: Double) -> String {
    var s = String((v * 1000).rounded() / 1000)
    if s.hasSuffix(".0") { s.removeLast(2) }
    return s
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    public var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
