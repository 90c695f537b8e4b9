import Foundation

/// The built-in functions of the expression language.
enum Functions {
    static let names = [
        "if", "len", "int", "float", "str", "basename", "range", "min", "max", "sum", "abs", "round", "join",
    ]

    static func call(_ name: String, _ args: [Value], at o: Int) throws(ExpressionError) -> Value {
        func arity(_ n: ClosedRange<Int>) throws(ExpressionError) {
            guard n.contains(args.count) else {
                let expected = n.lowerBound == n.upperBound ? "\(n.lowerBound)" : "\(n.lowerBound) to \(n.upperBound)"
                throw ExpressionError(
                    "`\(name)` takes \(expected) argument\(n.upperBound == 1 ? "" : "s"), got \(args.count)", at: o)
            }
        }
        func bad(_ v: Value) -> ExpressionError {
            ExpressionError("`\(name)` does not accept a \(v.typeName) (\(v))", at: o)
        }
        switch name {
        case "len":
            try arity(1...1)
            switch args[0] {
            case .string(let s): return .int(s.count)
            case .map(let m): return .int(m.count)
            default:
                guard let n = args[0].count else { throw bad(args[0]) }
                return .int(n)
            }
        case "int":
            try arity(1...1)
            switch args[0] {
            case .int: return args[0]
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { throw bad(args[0]) }
                return .int(Int(d))
            case .bool(let b): return .int(b ? 1 : 0)
            case .string(let s):
                if let n = Int(s.trimmingSpaces) { return .int(n) }
                if let d = Double(s.trimmingSpaces), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
                throw ExpressionError("`int`: \"\(s)\" is not a number", at: o)
            default: throw bad(args[0])
            }
        case "float":
            try arity(1...1)
            switch args[0] {
            case .int(let n): return .double(Double(n))
            case .double: return args[0]
            case .string(let s):
                guard let d = Double(s.trimmingSpaces) else {
                    throw ExpressionError("`float`: \"\(s)\" is not a number", at: o)
                }
                return .double(d)
            case .quantity(let q): return .double(q.value)
            default: throw bad(args[0])
            }
        case "str":
            try arity(1...1)
            return .string(args[0].argumentText)
        case "basename":
            try arity(1...1)
            switch args[0] {
            case .string(let p), .file(let p):
                return .string(p.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? p)
            default: throw bad(args[0])
            }
        case "range":
            try arity(1...3)
            var ints: [Int] = []
            for a in args {
                guard case .int(let n) = a else { throw bad(a) }
                ints.append(n)
            }
            let (s, e, st) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard st != 0 else { throw ExpressionError("`range` step must not be 0", at: o) }
            return .range(start: s, end: e, step: st)
        case "min", "max", "sum":
            let items: [Value]
            if args.count == 1, let xs = args[0].items {
                guard xs.count <= Evaluator.maximumSize else { throw ExpressionError("list too long", at: o) }
                items = xs
            } else {
                items = args
            }
            if name == "sum" {
                var acc: Value = .int(0)
                for x in items { acc = try Evaluator.arithmetic(.add, acc, x, at: o) }
                return acc
            }
            guard var best = items.first else { throw ExpressionError("`\(name)` of an empty list", at: o) }
            for x in items.dropFirst() {
                let c = try Evaluator.compare(x, best, at: o)
                if (name == "min" && c < 0) || (name == "max" && c > 0) { best = x }
            }
            return best
        case "abs":
            try arity(1...1)
            switch args[0] {
            case .int(let n):
                guard n != Int.min else { throw ExpressionError("integer overflow", at: o) }
                return .int(abs(n))
            case .double(let d): return .double(abs(d))
            case .quantity(let q): return .quantity(Quantity(abs(q.value), q.dimension))
            default: throw bad(args[0])
            }
        case "round":
            try arity(1...2)
            guard let x = args[0].number else { throw bad(args[0]) }
            if args.count == 2 {
                guard case .int(let digits) = args[1], (0...15).contains(digits) else { throw bad(args[1]) }
                let f = pow(10.0, Double(digits))
                return .double((x * f).rounded() / f)
            }
            guard x.isFinite, abs(x) < 9.2e18 else { throw bad(args[0]) }
            return .int(Int(x.rounded()))
        case "join":
            try arity(1...2)
            guard let xs = args[0].items else { throw bad(args[0]) }
            var sep = " "
            if args.count == 2 {
                guard case .string(let s) = args[1] else { throw bad(args[1]) }
                sep = s
            }
            let text = xs.map(\.argumentText).joined(separator: sep)
            guard text.utf8.count <= Evaluator.maximumSize else { throw ExpressionError("string too long", at: o) }
            return .string(text)
        default:
            throw ExpressionError("unknown function `\(name)`", at: o)
        }
    }
}
