import Foundation

/// Where an expression finds the values of names (`inputs`, step names, loop and
/// foreach variables, node attributes).
public protocol ExpressionEnvironment {
    /// The value bound to `name`, or nil when the name is unknown here.
    func lookup(_ name: String) -> Value?
}

/// A fixed dictionary of names, for tests and simple uses.
public struct DictionaryEnvironment: ExpressionEnvironment, Sendable {
    /// The bindings.
    public var values: [String: Value]
    /// Creates an environment.
    public init(_ values: [String: Value]) { self.values = values }
    public func lookup(_ name: String) -> Value? { values[name] }
}

/// Evaluates expressions. Pure and bounded: no I/O, results limited in size.
public enum Evaluator {
    /// The largest string or materialised list an expression may build.
    public static let maximumSize = 1 << 20

    /// Evaluates `expr` against `env`.
    public static func evaluate(_ expr: Expr, in env: some ExpressionEnvironment) throws(ExpressionError) -> Value {
        switch expr {
        case .literal(let v, _):
            return v
        case .name(let n, let o):
            guard let v = env.lookup(n) else { throw ExpressionError("unknown name `\(n)`", at: o) }
            return v
        case .member(let base, let m, let o):
            let b = try evaluate(base, in: env)
            guard case .map(let map) = b else {
                throw ExpressionError("`.\(m)`: a \(b.typeName) has no fields", at: o)
            }
            guard let v = map[m] else {
                let hint = Suggestion.closest(to: m, among: map.keys).map { " (did you mean `\($0)`?)" } ?? ""
                throw ExpressionError("no field `\(m)`\(hint)", at: o)
            }
            return v
        case .index(let base, let index, let o):
            let b = try evaluate(base, in: env)
            let i = try evaluate(index, in: env)
            switch (b, i) {
            case (.map(let m), .string(let k)):
                guard let v = m[k] else { throw ExpressionError("no field `\(k)`", at: o) }
                return v
            case (_, .int(let n)) where b.count != nil:
                let count = b.count!
                let k = n < 0 ? count + n : n
                guard let v = b.item(at: k) else {
                    throw ExpressionError("index \(n) out of range (the list has \(count) items)", at: o)
                }
                return v
            case (.string(let s), .int(let n)):
                let chars = Array(s)
                let k = n < 0 ? chars.count + n : n
                guard chars.indices.contains(k) else {
                    throw ExpressionError("index \(n) out of range (the string has \(chars.count) characters)", at: o)
                }
                return .string(String(chars[k]))
            default:
                throw ExpressionError("cannot index a \(b.typeName) with a \(i.typeName)", at: o)
            }
        case .list(let items, let o):
            if items.count > maximumSize { throw ExpressionError("list too long", at: o) }
            var out: [Value] = []
            out.reserveCapacity(items.count)
            for e in items { out.append(try evaluate(e, in: env)) }
            return .list(out)
        case .unary(let op, let e, let o):
            let v = try evaluate(e, in: env)
            switch (op, v) {
            case (.not, .bool(let b)): return .bool(!b)
            case (.negate, .int(let n)):
                guard n != Int.min else { throw ExpressionError("integer overflow", at: o) }
                return .int(-n)
            case (.negate, .double(let d)): return .double(-d)
            case (.negate, .quantity(let q)): return .quantity(Quantity(-q.value, q.dimension))
            default: throw ExpressionError("`\(op.rawValue)` does not apply to a \(v.typeName)", at: o)
            }
        case .binary(let op, let l, let r, let o):
            if op == .and || op == .or {
                let a = try evaluate(l, in: env)
                guard case .bool(let x) = a else {
                    throw ExpressionError("`\(op.rawValue)` needs booleans, got a \(a.typeName)", at: l.offset)
                }
                if op == .and && !x { return .bool(false) }
                if op == .or && x { return .bool(true) }
                let b = try evaluate(r, in: env)
                guard case .bool(let y) = b else {
                    throw ExpressionError("`\(op.rawValue)` needs booleans, got a \(b.typeName)", at: r.offset)
                }
                return .bool(y)
            }
            return try binary(op, try evaluate(l, in: env), try evaluate(r, in: env), at: o)
        case .call("if", let args, let o):
            // Lazy: only the chosen branch is evaluated.
            guard args.count == 3 else {
                throw ExpressionError("`if` takes 3 arguments (condition, then, else), got \(args.count)", at: o)
            }
            return try evaluate(try condition(args[0], in: env) ? args[1] : args[2], in: env)
        case .call(let name, let args, let o):
            var values: [Value] = []
            for a in args { values.append(try evaluate(a, in: env)) }
            return try Functions.call(name, values, at: o)
        }
    }

    /// Evaluates a condition, which must be a boolean.
    public static func condition(_ expr: Expr, in env: some ExpressionEnvironment) throws(ExpressionError) -> Bool {
        let v = try evaluate(expr, in: env)
        guard case .bool(let b) = v else {
            throw ExpressionError("a condition must be a boolean, got a \(v.typeName) (\(v))", at: expr.offset)
        }
        return b
    }

    /// Equality as the language sees it: integers equal numbers of the same value,
    /// files equal strings of their path.
    public static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.file(let x), .string(let y)), (.string(let y), .file(let x)): return x == y
        case (.range, _), (_, .range), (.list, .list):
            guard let xs = a.items, let ys = b.items, xs.count == ys.count else { return false }
            return zip(xs, ys).allSatisfy { equal($0, $1) }
        case (.map(let x), .map(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { equal(v, $0) } ?? false }
        default: return a == b
        }
    }

    static func compare(_ a: Value, _ b: Value, at o: Int) throws(ExpressionError) -> Int {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.string(let x), .string(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.quantity(let x), .quantity(let y)) where x.dimension == y.dimension:
            return x.value < y.value ? -1 : (x.value > y.value ? 1 : 0)
        default:
            if let x = a.number, let y = b.number { return x < y ? -1 : (x > y ? 1 : 0) }
            throw ExpressionError("cannot compare a \(a.typeName) with a \(b.typeName)", at: o)
        }
    }

    static func binary(_ op: BinaryOperator, _ a: Value, _ b: Value, at o: Int) throws(ExpressionError) -> Value {
        switch op {
        case .equal: return .bool(equal(a, b))
        case .notEqual: return .bool(!equal(a, b))
        case .less: return .bool(try compare(a, b, at: o) < 0)
        case .lessEqual: return .bool(try compare(a, b, at: o) <= 0)
        case .greater: return .bool(try compare(a, b, at: o) > 0)
        case .greaterEqual: return .bool(try compare(a, b, at: o) >= 0)
        case .in:
            switch b {
            case .range(let s, _, let st):
                guard case .int(let x) = a, let n = b.count else { return .bool(false) }
                let k = (x - s) / st
                return .bool((x - s) % st == 0 && k >= 0 && k < n)
            case .list(let items): return .bool(items.contains { equal(a, $0) })
            case .string(let s):
                guard case .string(let x) = a else {
                    throw ExpressionError("`in` a string needs a string on the left, got a \(a.typeName)", at: o)
                }
                return .bool(s.contains(x))
            case .map(let m):
                guard case .string(let x) = a else {
                    throw ExpressionError("`in` an object needs a string on the left, got a \(a.typeName)", at: o)
                }
                return .bool(m[x] != nil)
            default:
                throw ExpressionError("`in` needs a list, string or object on the right, got a \(b.typeName)", at: o)
            }
        case .add, .subtract, .multiply, .divide, .remainder:
            return try arithmetic(op, a, b, at: o)
        case .and, .or:
            throw ExpressionError("internal: short-circuit operator", at: o)
        }
    }

    static func arithmetic(_ op: BinaryOperator, _ a: Value, _ b: Value, at o: Int) throws(ExpressionError) -> Value {
        switch (op, a, b) {
        case (_, .int(let x), .int(let y)):
            let r: (Int, Bool)
            switch op {
            case .add: r = x.addingReportingOverflow(y)
            case .subtract: r = x.subtractingReportingOverflow(y)
            case .multiply: r = x.multipliedReportingOverflow(by: y)
            case .divide:
                guard y != 0 else { throw ExpressionError("division by zero", at: o) }
                return .double(Double(x) / Double(y))
            default:
                guard y != 0 else { throw ExpressionError("remainder by zero", at: o) }
                r = x.remainderReportingOverflow(dividingBy: y)
            }
            if r.1 { throw ExpressionError("integer overflow", at: o) }
            return .int(r.0)
        case (.add, .string(let x), .string(let y)):
            guard x.utf8.count + y.utf8.count <= maximumSize else { throw ExpressionError("string too long", at: o) }
            return .string(x + y)
        case (.add, .list, .list), (.add, .range, .list), (.add, .list, .range), (.add, .range, .range):
            guard let x = a.items, let y = b.items, x.count + y.count <= maximumSize else {
                throw ExpressionError("list too long", at: o)
            }
            return .list(x + y)
        case (.add, .quantity(let x), .quantity(let y)) where x.dimension == y.dimension:
            return .quantity(Quantity(x.value + y.value, x.dimension))
        case (.subtract, .quantity(let x), .quantity(let y)) where x.dimension == y.dimension:
            return .quantity(Quantity(x.value - y.value, x.dimension))
        case (.multiply, .quantity(let x), _) where b.number != nil:
            return .quantity(Quantity(x.value * b.number!, x.dimension))
        case (.multiply, _, .quantity(let y)) where a.number != nil:
            return .quantity(Quantity(y.value * a.number!, y.dimension))
        case (.divide, .quantity(let x), _) where b.number != nil:
            guard b.number! != 0 else { throw ExpressionError("division by zero", at: o) }
            return .quantity(Quantity(x.value / b.number!, x.dimension))
        case (.divide, .quantity(let x), .quantity(let y)) where x.dimension == y.dimension:
            guard y.value != 0 else { throw ExpressionError("division by zero", at: o) }
            return .double(x.value / y.value)
        default:
            guard let x = a.number, let y = b.number else {
                throw ExpressionError(
                    "`\(op.rawValue)` does not apply to a \(a.typeName) and a \(b.typeName)", at: o)
            }
            switch op {
            case .add: return .double(x + y)
            case .subtract: return .double(x - y)
            case .multiply: return .double(x * y)
            case .divide:
                guard y != 0 else { throw ExpressionError("division by zero", at: o) }
                return .double(x / y)
            default:
                guard y != 0 else { throw ExpressionError("remainder by zero", at: o) }
                return .double(x.truncatingRemainder(dividingBy: y))
            }
        }
    }
}
