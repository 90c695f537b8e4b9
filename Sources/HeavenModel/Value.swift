/// A typed value of the description language: what inputs, task outputs and
/// expressions produce.
///
/// `range` is a lazy list (start, end exclusive, step) so that
/// `foreach: ${range(1000000)}` never materialises its items.
public enum Value: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// A file, by absolute path.
    case file(String)
    case list([Value])
    case range(start: Int, end: Int, step: Int)
    case map([String: Value])
    case quantity(Quantity)

    /// The type's name in messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .file: "file"
        case .list, .range: "list"
        case .map: "object"
        case .quantity(let q): q.dimension.noun
        }
    }

    /// The number of items of a list or range, nil for other values.
    public var count: Int? {
        switch self {
        case .list(let items): return items.count
        case .range(let start, let end, let step):
            if step > 0 { return end > start ? (end - start + step - 1) / step : 0 }
            return start > end ? (start - end - step - 1) / -step : 0
        default: return nil
        }
    }

    /// The item at `index` of a list or range.
    public func item(at index: Int) -> Value? {
        switch self {
        case .list(let items): return items.indices.contains(index) ? items[index] : nil
        case .range(let start, _, let step):
            guard let n = count, index >= 0, index < n else { return nil }
            return .int(start + index * step)
        default: return nil
        }
    }

    /// The items of a list or range (materialises a range: use `item(at:)` for large ones).
    public var items: [Value]? {
        switch self {
        case .list(let items): return items
        case .range:
            guard let n = count else { return nil }
            return (0..<n).compactMap { item(at: $0) }
        default: return nil
        }
    }

    /// The text an argument gets from this value.
    public var argumentText: String {
        switch self {
        case .null: ""
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): Value.format(d)
        case .string(let s): s
        case .file(let p): p
        case .quantity(let q): q.description
        case .list, .range, .map: jsonText
        }
    }

    static func format(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return String(d)
    }

    /// Whether the value is a number (integer or not).
    public var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
}

extension Value: CustomStringConvertible {
    /// The value as the language would write it.
    public var description: String {
        switch self {
        case .string(let s): return "\"" + s + "\""
        case .file(let p): return "file(\"\(p)\")"
        case .range(let s, let e, let st): return st == 1 ? "range(\(s), \(e))" : "range(\(s), \(e), \(st))"
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .map(let m):
            return "{" + m.keys.sorted().map { "\($0): \(m[$0]!.description)" }.joined(separator: ", ") + "}"
        default: return argumentText
        }
    }
}
