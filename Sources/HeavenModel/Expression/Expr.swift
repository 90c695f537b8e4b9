/// The syntax tree of an expression. Offsets count Unicode scalars from the start
/// of the expression's text, so diagnostics can point at the exact column.
public indirect enum Expr: Sendable, Hashable {
    case literal(Value, offset: Int)
    case name(String, offset: Int)
    case member(Expr, String, offset: Int)
    case index(Expr, Expr, offset: Int)
    case list([Expr], offset: Int)
    case unary(UnaryOperator, Expr, offset: Int)
    case binary(BinaryOperator, Expr, Expr, offset: Int)
    case call(String, [Expr], offset: Int)

    /// Where the node starts in the expression's text.
    public var offset: Int {
        switch self {
        case .literal(_, let o), .name(_, let o), .member(_, _, let o), .index(_, _, let o), .list(_, let o),
            .unary(_, _, let o), .binary(_, _, _, let o), .call(_, _, let o):
            o
        }
    }

    /// Every `NAME` and `NAME.MEMBER` reference in the tree, with offsets, for
    /// static checks (the member is nil for a bare name).
    public var references: [(name: String, member: String?, offset: Int, memberOffset: Int)] {
        var out: [(String, String?, Int, Int)] = []
        func walk(_ e: Expr) {
            switch e {
            case .literal: break
            case .name(let n, let o): out.append((n, nil, o, o))
            case .member(.name(let n, let o), let m, let mo): out.append((n, m, o, mo))
            case .member(let base, _, _): walk(base)
            case .index(let a, let b, _):
                walk(a)
                walk(b)
            case .list(let items, _): items.forEach(walk)
            case .unary(_, let a, _): walk(a)
            case .binary(_, let a, let b, _):
                walk(a)
                walk(b)
            case .call(_, let args, _): args.forEach(walk)
            }
        }
        walk(self)
        return out
    }
}

/// `!` and `-`.
public enum UnaryOperator: String, Sendable, Hashable {
    case not = "!"
    case negate = "-"
}

/// The binary operators, from loosest to tightest binding.
public enum BinaryOperator: String, Sendable, Hashable {
    case or = "||"
    case and = "&&"
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessEqual = "<="
    case greater = ">"
    case greaterEqual = ">="
    case `in` = "in"
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"

    var precedence: Int {
        switch self {
        case .or: 1
        case .and: 2
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual, .in: 3
        case .add, .subtract: 4
        case .multiply, .divide, .remainder: 5
        }
    }
}

/// An error in an expression, at an offset of its text.
public struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// Where, in Unicode scalars from the start of the expression.
    public var offset: Int

    /// Creates an error.
    public init(_ message: String, at offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { message }
}
