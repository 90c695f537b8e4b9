/// Parses expression text into an `Expr` (precedence climbing, bounded nesting).
public struct ExpressionParser {
    static let maximumDepth = 64
    private var tokens: [Token]
    private var position = 0
    private var depth = 0

    /// Parses a whole expression; the error's offset points at the fault.
    public static func parse(_ text: String) throws(ExpressionError) -> Expr {
        var parser = ExpressionParser(tokens: try Lexer.tokenize(text))
        if case .end = parser.peek.kind {
            throw ExpressionError("empty expression", at: 0)
        }
        let expr = try parser.parseBinary(minPrecedence: 1)
        if case .end = parser.peek.kind { return expr }
        throw ExpressionError(
            "unexpected \(parser.peek.kind.text) after the end of the expression", at: parser.peek.offset)
    }

    private init(tokens: [Token]) { self.tokens = tokens }

    private var peek: Token { tokens[position] }

    private mutating func advance() -> Token {
        let t = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return t
    }

    private func binaryOperator(_ t: Token) -> BinaryOperator? {
        switch t.kind {
        case .symbol(let s): BinaryOperator(rawValue: s)
        case .name("in"): .in
        default: nil
        }
    }

    private mutating func parseBinary(minPrecedence: Int) throws(ExpressionError) -> Expr {
        depth += 1
        defer { depth -= 1 }
        if depth > ExpressionParser.maximumDepth {
            throw ExpressionError("expression nested too deeply", at: peek.offset)
        }
        var left = try parseUnary()
        while let op = binaryOperator(peek), op.precedence >= minPrecedence {
            let opToken = advance()
            let right = try parseBinary(minPrecedence: op.precedence + 1)
            left = .binary(op, left, right, offset: opToken.offset)
        }
        return left
    }

    private mutating func parseUnary() throws(ExpressionError) -> Expr {
        if case .symbol(let s) = peek.kind, s == "!" || s == "-" {
            let t = advance()
            depth += 1
            defer { depth -= 1 }
            if depth > ExpressionParser.maximumDepth {
                throw ExpressionError("expression nested too deeply", at: t.offset)
            }
            let operand = try parseUnary()
            return .unary(s == "!" ? .not : .negate, operand, offset: t.offset)
        }
        return try parsePostfix()
    }

    private mutating func parsePostfix() throws(ExpressionError) -> Expr {
        var e = try parsePrimary()
        while true {
            if case .symbol(".") = peek.kind {
                let dot = advance()
                guard case .name(let n) = peek.kind else {
                    throw ExpressionError("expected a name after `.`", at: peek.offset)
                }
                _ = advance()
                e = .member(e, n, offset: dot.offset + 1)
            } else if case .symbol("[") = peek.kind {
                let open = advance()
                let index = try parseBinary(minPrecedence: 1)
                try expect("]", closing: open)
                e = .index(e, index, offset: open.offset)
            } else {
                return e
            }
        }
    }

    private mutating func expect(_ symbol: String, closing open: Token) throws(ExpressionError) {
        guard case .symbol(symbol) = peek.kind else {
            if case .end = peek.kind {
                throw ExpressionError(
                    "missing `\(symbol)` to close the one at column offset \(open.offset + 1)", at: peek.offset)
            }
            throw ExpressionError("expected `\(symbol)`, found \(peek.kind.text)", at: peek.offset)
        }
        _ = advance()
    }

    private mutating func parsePrimary() throws(ExpressionError) -> Expr {
        let t = advance()
        switch t.kind {
        case .int(let n): return .literal(.int(n), offset: t.offset)
        case .double(let d): return .literal(.double(d), offset: t.offset)
        case .string(let s): return .literal(.string(s), offset: t.offset)
        case .quantity(let q): return .literal(.quantity(q), offset: t.offset)
        case .name("true"): return .literal(.bool(true), offset: t.offset)
        case .name("false"): return .literal(.bool(false), offset: t.offset)
        case .name("null"): return .literal(.null, offset: t.offset)
        case .name("in"): throw ExpressionError("expected a value, found `in`", at: t.offset)
        case .name(let n):
            if case .symbol("(") = peek.kind {
                let open = advance()
                guard Functions.names.contains(n) else {
                    let hint =
                        Suggestion.closest(to: n, among: Functions.names).map { " (did you mean `\($0)`?)" } ?? ""
                    throw ExpressionError("unknown function `\(n)`\(hint)", at: t.offset)
                }
                var args: [Expr] = []
                if case .symbol(")") = peek.kind {
                    _ = advance()
                } else {
                    while true {
                        args.append(try parseBinary(minPrecedence: 1))
                        if case .symbol(",") = peek.kind {
                            _ = advance()
                            continue
                        }
                        try expect(")", closing: open)
                        break
                    }
                }
                return .call(n, args, offset: t.offset)
            }
            return .name(n, offset: t.offset)
        case .symbol("("):
            let e = try parseBinary(minPrecedence: 1)
            try expect(")", closing: t)
            return e
        case .symbol("["):
            var items: [Expr] = []
            if case .symbol("]") = peek.kind {
                _ = advance()
                return .list([], offset: t.offset)
            }
            while true {
                items.append(try parseBinary(minPrecedence: 1))
                if case .symbol(",") = peek.kind {
                    _ = advance()
                    if case .symbol("]") = peek.kind {
                        _ = advance()
                        break
                    }
                    continue
                }
                try expect("]", closing: t)
                break
            }
            return .list(items, offset: t.offset)
        case .end:
            throw ExpressionError("expression ends where a value was expected", at: t.offset)
        default:
            throw ExpressionError("expected a value, found \(t.kind.text)", at: t.offset)
        }
    }
}

extension Token.Kind {
    var text: String {
        switch self {
        case .int(let n): "`\(n)`"
        case .double(let d): "`\(d)`"
        case .string(let s): "string \"\(s)\""
        case .quantity(let q): "`\(q)`"
        case .name(let n): "`\(n)`"
        case .symbol(let s): "`\(s)`"
        case .end: "the end"
        }
    }
}
