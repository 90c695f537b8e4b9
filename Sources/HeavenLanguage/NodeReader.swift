import HeavenModel
import Yams

/// A key of a YAML mapping with its value and where the key is written.
struct Entry {
    var key: String
    var keyNode: Node
    var value: Node
}

/// Reads YAML nodes into typed values, reporting every problem with its location.
struct NodeReader {
    let file: String
    let sink: DiagnosticSink

    func location(_ node: Node) -> SourceLocation {
        let m = node.mark
        return SourceLocation(file: file, line: m?.line ?? 1, column: m?.column ?? 1)
    }

    func error(_ message: String, _ node: Node) {
        sink.error(message, at: location(node))
    }

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let s) = node else { return false }
        return s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// A mapping's entries, or nil (with an error) when the node is not a mapping.
    /// Duplicate keys are reported; the first wins.
    func mapping(_ node: Node, _ what: String) -> [Entry]? {
        guard case .mapping(let m) = node else {
            error("\(what) must be a mapping (`key: value` lines), not \(describe(node))", node)
            return nil
        }
        var seen: [String: Node] = [:]
        var out: [Entry] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                error("a key must be a plain name, not \(describe(k))", k)
                continue
            }
            if let first = seen[ks.string] {
                let l = location(first)
                error("duplicate key `\(ks.string)` (first at line \(l.line), column \(l.column))", k)
                continue
            }
            seen[ks.string] = k
            out.append(Entry(key: ks.string, keyNode: k, value: v))
        }
        return out
    }

    /// Reports keys not in `allowed`, with a suggestion.
    func checkKeys(_ entries: [Entry], allowed: [String], in context: String) {
        for e in entries where !allowed.contains(e.key) {
            if let s = Suggestion.closest(to: e.key, among: allowed) {
                error("unknown key `\(e.key)` in \(context) (did you mean `\(s)`?)", e.keyNode)
            } else {
                error(
                    "unknown key `\(e.key)` in \(context); expected one of: \(allowed.joined(separator: ", "))",
                    e.keyNode)
            }
        }
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if isNull(node) { return "an empty value" }
            return "`\(s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string)`"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func sequence(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let s) = node else {
            error("\(what) must be a list, not \(describe(node))", node)
            return nil
        }
        return Array(s)
    }

    func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let s) = node, !isNull(node) else {
            error("\(what) must be a text value, not \(describe(node))", node)
            return nil
        }
        return s.string
    }

    func name(_ node: Node, _ what: String) -> String? {
        guard let s = string(node, what) else { return nil }
        guard NodeReader.isValidName(s) else {
            error(
                "\(what) `\(s)` is not a valid name: use lowercase letters, digits and `-`, starting with a letter",
                node)
            return nil
        }
        return s
    }

    static func isValidName(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f >= "a" && f <= "z", s.unicodeScalars.count <= 63 else { return false }
        return s.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
            && !s.hasSuffix("-")
    }

    func int(_ node: Node, _ what: String, min: Int = Int.min, max: Int = Int.max) -> Int? {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any, let n = Int(s.string) else {
            error("\(what) must be an integer, not \(describe(node))", node)
            return nil
        }
        guard n >= min, n <= max else {
            if max == Int.max {
                error("\(what) must be at least \(min), not \(n)", node)
            } else {
                error("\(what) must be between \(min) and \(max), not \(n)", node)
            }
            return nil
        }
        return n
    }

    func number(_ node: Node, _ what: String, range: ClosedRange<Double>? = nil) -> Double? {
        guard case .scalar(let s) = node, s.style == .plain, let d = Double(s.string), d.isFinite else {
            error("\(what) must be a number, not \(describe(node))", node)
            return nil
        }
        if let r = range, !r.contains(d) {
            error("\(what) must be between \(format(r.lowerBound)) and \(format(r.upperBound)), not \(s.string)", node)
            return nil
        }
        return d
    }

    private func format(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    func bool(_ node: Node, _ what: String) -> Bool? {
        guard case .scalar(let s) = node, s.style == .plain else {
            error("\(what) must be `true` or `false`, not \(describe(node))", node)
            return nil
        }
        switch s.string {
        case "true", "True", "TRUE", "yes": return true
        case "false", "False", "FALSE", "no": return false
        default:
            error("\(what) must be `true` or `false`, not \(describe(node))", node)
            return nil
        }
    }

    func quantity(_ node: Node, _ what: String, _ dimension: Quantity.Dimension) -> Double? {
        guard case .scalar(let s) = node, !isNull(node) else {
            error(
                "\(what) must be \(Wording.a(dimension.noun)) such as \(example(dimension)), not \(describe(node))",
                node)
            return nil
        }
        switch Quantity.parse(s.string, as: dimension) {
        case .success(let q):
            if q.value < 0 {
                error("\(what) must not be negative", node)
                return nil
            }
            return q.value
        case .failure(let e):
            error("\(what): \(e)", node)
            return nil
        }
    }

    func example(_ d: Quantity.Dimension) -> String {
        switch d {
        case .bytes: "`512MiB` or `4GiB`"
        case .seconds: "`30s`, `5m` or `2h`"
        case .bitsPerSecond: "`100Mbps` or `1Gbps`"
        }
    }

    func stringList(_ node: Node, _ what: String) -> [String]? {
        if case .scalar = node, let s = string(node, what) { return [s] }
        guard let items = sequence(node, what) else { return nil }
        return items.compactMap { string($0, "an item of \(what)") }
    }

    /// Where the text of a scalar starts (after an opening quote).
    func textStart(_ node: Node) -> SourceLocation {
        let l = location(node)
        if case .scalar(let s) = node, s.style == .singleQuoted || s.style == .doubleQuoted {
            return l.advanced(by: 1)
        }
        return l
    }

    /// A string with `${ }` interpolations. Numbers and booleans are accepted as text.
    func template(_ node: Node, _ what: String) -> Template? {
        guard case .scalar(let s) = node else {
            error("\(what) must be a text value, not \(describe(node))", node)
            return nil
        }
        let start = textStart(node)
        do {
            return try Template.parse(s.string, at: start)
        } catch {
            sink.error(error.message, at: start.advanced(by: error.offset))
            return nil
        }
    }

    /// An expression field: bare (`a.b >= 6`) or wholly wrapped (`${split.tiles}`).
    func expression(_ node: Node, _ what: String) -> Expression? {
        guard case .scalar(let s) = node, !isNull(node) else {
            error("\(what) must be an expression, not \(describe(node))", node)
            return nil
        }
        var text = s.string
        var start = textStart(node)
        let trimmed = text.trimmingSpaces
        if trimmed.hasPrefix("${"), trimmed.hasSuffix("}") {
            let lead = text.unicodeScalars.count - text.drop(while: { $0 == " " }).unicodeScalars.count
            if let t = try? Template.parse(trimmed, at: start.advanced(by: lead)), let e = t.soleExpression {
                return e
            }
            text = String(trimmed.dropFirst(2).dropLast())
            start = start.advanced(by: lead + 2)
        }
        if s.style == .literal || s.style == .folded { start = location(node) }
        do {
            return try Expression(parsing: text, at: start)
        } catch {
            sink.error("\(what): \(error.message)", at: start.advanced(by: error.offset))
            return nil
        }
    }
}
