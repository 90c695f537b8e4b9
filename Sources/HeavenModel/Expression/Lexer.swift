/// A token of the expression language.
struct Token: Equatable {
    enum Kind: Equatable {
        case int(Int)
        case double(Double)
        case string(String)
        case quantity(Quantity)
        case name(String)
        case symbol(String)
        case end
    }
    var kind: Kind
    var offset: Int
}

/// Splits expression text into tokens. Names may contain `-` between letters or
/// digits (`my-step`), so subtraction after a name needs spaces: `a - 1`.
struct Lexer {
    static let maximumLength = 10_000

    static func tokenize(_ text: String) throws(ExpressionError) -> [Token] {
        let s = Array(text.unicodeScalars)
        if s.count > maximumLength {
            throw ExpressionError("expression longer than \(maximumLength) characters", at: 0)
        }
        var tokens: [Token] = []
        var i = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
        }
        func isNameChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || (c >= "0" && c <= "9") }
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while i < s.count {
            let c = s[i]
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
                continue
            }
            let start = i
            if isDigit(c) {
                while i < s.count, isDigit(s[i]) { i += 1 }
                var isDouble = false
                if i + 1 < s.count, s[i] == ".", isDigit(s[i + 1]) {
                    isDouble = true
                    i += 1
                    while i < s.count, isDigit(s[i]) { i += 1 }
                }
                if i < s.count, s[i] == "e" || s[i] == "E",
                    i + 1 < s.count,
                    isDigit(s[i + 1]) || ((s[i + 1] == "-" || s[i + 1] == "+") && i + 2 < s.count && isDigit(s[i + 2]))
                {
                    isDouble = true
                    i += 2
                    while i < s.count, isDigit(s[i]) { i += 1 }
                }
                let numberText = String(String.UnicodeScalarView(s[start..<i]))
                if i < s.count, isNameStart(s[i]) {
                    let unitStart = i
                    while i < s.count, isNameChar(s[i]) { i += 1 }
                    let unit = String(String.UnicodeScalarView(s[unitStart..<i]))
                    guard let q = Quantity(parsing: numberText + unit) else {
                        throw ExpressionError(
                            """
                            unknown unit `\(unit)` (sizes: KiB, MiB, GiB, KB, MB, GB; durations: ms, s, m, h, d; \
                            bandwidth: Kbps, Mbps, Gbps)
                            """,
                            at: unitStart)
                    }
                    tokens.append(Token(kind: .quantity(q), offset: start))
                } else if isDouble {
                    guard let d = Double(numberText) else { throw ExpressionError("bad number", at: start) }
                    tokens.append(Token(kind: .double(d), offset: start))
                } else {
                    guard let n = Int(numberText) else {
                        throw ExpressionError("integer `\(numberText)` is too large", at: start)
                    }
                    tokens.append(Token(kind: .int(n), offset: start))
                }
                continue
            }
            if isNameStart(c) {
                while i < s.count,
                    isNameChar(s[i]) || (s[i] == "-" && i + 1 < s.count && isNameChar(s[i + 1]) && isNameChar(s[i - 1]))
                {
                    i += 1
                }
                tokens.append(Token(kind: .name(String(String.UnicodeScalarView(s[start..<i]))), offset: start))
                continue
            }
            if c == "\"" || c == "'" {
                i += 1
                var out = String.UnicodeScalarView()
                var closed = false
                while i < s.count {
                    let d = s[i]
                    if d == c {
                        closed = true
                        i += 1
                        break
                    }
                    if d == "\\" {
                        guard i + 1 < s.count else { break }
                        switch s[i + 1] {
                        case "n": out.append("\n")
                        case "t": out.append("\t")
                        case "\\": out.append("\\")
                        case "\"": out.append("\"")
                        case "'": out.append("'")
                        default:
                            throw ExpressionError("unknown escape `\\\(s[i + 1])` in string", at: i)
                        }
                        i += 2
                        continue
                    }
                    out.append(d)
                    i += 1
                }
                if !closed { throw ExpressionError("unterminated string", at: start) }
                tokens.append(Token(kind: .string(String(out)), offset: start))
                continue
            }
            let two = i + 1 < s.count ? String(String.UnicodeScalarView([c, s[i + 1]])) : ""
            if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
                tokens.append(Token(kind: .symbol(two), offset: start))
                i += 2
                continue
            }
            if "+-*/%<>!()[],.".unicodeScalars.contains(c) {
                tokens.append(Token(kind: .symbol(String(c)), offset: start))
                i += 1
                continue
            }
            if c == "=" {
                throw ExpressionError("`=` is not an operator: use `==` to compare", at: start)
            }
            if c == "&" || c == "|" {
                throw ExpressionError("`\(c)` is not an operator: use `\(c)\(c)`", at: start)
            }
            throw ExpressionError("unexpected character `\(c)`", at: start)
        }
        tokens.append(Token(kind: .end, offset: s.count))
        return tokens
    }
}
