/// A parsed expression with its text and where that text starts in a file.
public struct Expression: Sendable, Hashable {
    /// The expression's text, without any `${ }` around it.
    public var source: String
    /// The syntax tree.
    public var tree: Expr
    /// Where `source` starts in its file (nil when unknown).
    public var location: SourceLocation?

    /// Parses `source`; the error's offset is relative to `source`.
    public init(parsing source: String, at location: SourceLocation? = nil) throws(ExpressionError) {
        self.source = source
        self.tree = try ExpressionParser.parse(source)
        self.location = location
    }

    /// The location of an offset in `source` (exact for single-line text).
    public func location(ofOffset offset: Int) -> SourceLocation? {
        location?.advanced(by: offset)
    }

    /// Evaluates the expression.
    public func evaluate(in env: some ExpressionEnvironment) throws(ExpressionError) -> Value {
        try Evaluator.evaluate(tree, in: env)
    }
}

/// A string in which `${EXPR}` interpolates; a string that is exactly one `${ }`
/// keeps the value's type. `$${` writes a literal `${`.
public struct Template: Sendable, Hashable {
    /// A piece of the template.
    public enum Part: Sendable, Hashable {
        case text(String)
        case expression(Expression)
    }

    /// The pieces, in order.
    public var parts: [Part]
    /// Where the template's text starts.
    public var location: SourceLocation?

    /// Creates a template from pieces.
    public init(parts: [Part], location: SourceLocation? = nil) {
        self.parts = parts
        self.location = location
    }

    /// A template of plain text.
    public init(literal: String) {
        self.parts = literal.isEmpty ? [] : [.text(literal)]
    }

    /// The one expression when the whole template is a single `${ }`.
    public var soleExpression: Expression? {
        if parts.count == 1, case .expression(let e) = parts[0] { return e }
        return nil
    }

    /// Every expression in the template.
    public var expressions: [Expression] {
        parts.compactMap { if case .expression(let e) = $0 { e } else { nil } }
    }

    /// The plain text when the template has no expression.
    public var literalText: String? {
        var s = ""
        for p in parts {
            guard case .text(let t) = p else { return nil }
            s += t
        }
        return s
    }

    /// Parses text with `${ }` interpolations. `columnShift` maps an offset in `text`
    /// to a column offset in the file (e.g. +1 for an opening quote).
    public static func parse(_ text: String, at location: SourceLocation?) throws(ExpressionError) -> Template {
        let s = Array(text.unicodeScalars)
        var parts: [Part] = []
        var literal = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            if s[i] == "$", i + 2 < s.count, s[i + 1] == "$", s[i + 2] == "{" {
                literal.append(contentsOf: "${".unicodeScalars)
                i += 3
                continue
            }
            if s[i] == "$", i + 1 < s.count, s[i + 1] == "{" {
                let start = i + 2
                var j = start
                var quote: Unicode.Scalar?
                while j < s.count {
                    let c = s[j]
                    if let q = quote {
                        if c == "\\" {
                            j += 2
                            continue
                        }
                        if c == q { quote = nil }
                    } else if c == "\"" || c == "'" {
                        quote = c
                    } else if c == "}" {
                        break
                    }
                    j += 1
                }
                guard j < s.count else {
                    throw ExpressionError("`${` without a closing `}`", at: i)
                }
                let inner = String(String.UnicodeScalarView(s[start..<j]))
                let expression: Expression
                do {
                    expression = try Expression(parsing: inner, at: location?.advanced(by: start))
                } catch {
                    let shellLike =
                        error.message.hasPrefix("unexpected character") || error.message.hasPrefix("expected a value")
                    throw ExpressionError(
                        error.message + (shellLike ? " (for a literal `${`, write `$${`)" : ""),
                        at: start + error.offset)
                }
                if !literal.isEmpty {
                    parts.append(.text(String(literal)))
                    literal = String.UnicodeScalarView()
                }
                parts.append(.expression(expression))
                i = j + 1
                continue
            }
            literal.append(s[i])
            i += 1
        }
        if !literal.isEmpty { parts.append(.text(String(literal))) }
        return Template(parts: parts, location: location)
    }

    /// Renders the template: the value itself for a sole `${ }`, otherwise a string.
    public func evaluate(in env: some ExpressionEnvironment) throws(ExpressionError) -> Value {
        if let e = soleExpression { return try e.evaluate(in: env) }
        var out = ""
        var offset = 0
        for p in parts {
            switch p {
            case .text(let t):
                out += t
                offset += t.unicodeScalars.count
            case .expression(let e):
                let v: Value
                do { v = try e.evaluate(in: env) } catch {
                    throw ExpressionError(error.message, at: offset + 2 + error.offset)
                }
                switch v {
                case .list, .range, .map:
                    throw ExpressionError(
                        """
                        \(Wording.a(v.typeName)) cannot be embedded in text; use it as a whole argument or \
                        `join(...)`
                        """,
                        at: offset)
                default: out += v.argumentText
                }
                offset += e.source.unicodeScalars.count + 3
            }
        }
        return .string(out)
    }
}

extension Expression: Codable {
    private enum Keys: String, CodingKey { case source, location }

    /// Reads an expression stored as its text (parsed again).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let source = try c.decode(String.self, forKey: .source)
        let location = try c.decodeIfPresent(SourceLocation.self, forKey: .location)
        do {
            try self.init(parsing: source, at: location)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .source, in: c, debugDescription: error.message)
        }
    }

    /// Stores the expression as its text.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(source, forKey: .source)
        try c.encodeIfPresent(location, forKey: .location)
    }
}
