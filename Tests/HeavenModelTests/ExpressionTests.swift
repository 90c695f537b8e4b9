import HeavenModel
import Testing

struct Case: CustomTestStringConvertible, Sendable {
    var source: String
    var expected: Value
    var testDescription: String { source }
}

struct Failure: CustomTestStringConvertible, Sendable {
    var source: String
    var message: String
    var offset: Int
    var testDescription: String { source }
}

let env = DictionaryEnvironment([
    "inputs": .map(["size": .int(512), "name": .string("tile.tif")]),
    "split": .map(["tiles": .list([.file("/w/a.tif"), .file("/w/b.tif")])]),
    "node": .map(["memory": .quantity(Quantity(4 * 1_073_741_824, .bytes)), "tags": .list([.string("cluster")])]),
    "arch": .string("x86_64"), "tags": .list([.string("cluster"), .string("gpu")]), "cores": .int(8),
])

@Suite("Expressions", .timeLimit(.minutes(15)))
struct ExpressionTests {
    @Test(
        "evaluate to typed values",
        arguments: [
            Case(source: "1 + 2 * 3", expected: .int(7)),
            Case(source: "(1 + 2) * 3", expected: .int(9)),
            Case(source: "7 / 2", expected: .double(3.5)),
            Case(source: "7 % 3", expected: .int(1)),
            Case(source: "-inputs.size + 1", expected: .int(-511)),
            Case(source: "inputs.size >= 512 && !false", expected: .bool(true)),
            Case(source: "'a' + \"b\"", expected: .string("ab")),
            Case(source: "len(split.tiles)", expected: .int(2)),
            Case(source: "basename(split.tiles[1])", expected: .string("b.tif")),
            Case(source: "split.tiles[-1] == '/w/b.tif'", expected: .bool(true)),
            Case(source: "'cluster' in tags && arch == \"x86_64\"", expected: .bool(true)),
            Case(source: "node.memory >= 2GiB", expected: .bool(true)),
            Case(source: "node.memory + 512MiB", expected: .quantity(Quantity(4.5 * 1_073_741_824, .bytes))),
            Case(source: "30s < 1m", expected: .bool(true)),
            Case(source: "1Gbps > 100Mbps", expected: .bool(true)),
            Case(source: "len(range(1000000000))", expected: .int(1_000_000_000)),
            Case(source: "999999 in range(0, 1000000)", expected: .bool(true)),
            Case(source: "range(0, 10, 3)", expected: .range(start: 0, end: 10, step: 3)),
            Case(source: "int('42') + int(2.9)", expected: .int(44)),
            Case(source: "float(1) / 4", expected: .double(0.25)),
            Case(source: "str(3) + 'x'", expected: .string("3x")),
            Case(source: "min([3, 1, 2]) + max(4, 9)", expected: .int(10)),
            Case(source: "sum([1, 2.5])", expected: .double(3.5)),
            Case(source: "join(['a', 'b'], ',')", expected: .string("a,b")),
            Case(source: "round(2.567, 2)", expected: .double(2.57)),
            Case(source: "if(cores > 4, 'big', missing.name)", expected: .string("big")),
            Case(source: "[1, 'a', [true]]", expected: .list([.int(1), .string("a"), .list([.bool(true)])])),
            Case(source: "1 == 1.0 && 'a' != 'b'", expected: .bool(true)),
            Case(source: "abs(-3)", expected: .int(3)),
        ])
    func evaluates(_ c: Case) throws {
        let e = try Expression(parsing: c.source)
        #expect(try e.evaluate(in: env) == c.expected)
    }

    @Test(
        "report errors at the offset of the fault",
        arguments: [
            Failure(source: "1 +", message: "expression ends where a value was expected", offset: 3),
            Failure(source: "a = 1", message: "`=` is not an operator: use `==` to compare", offset: 2),
            Failure(source: "(1 + 2", message: "missing `)`", offset: 6),
            Failure(source: "1 2", message: "unexpected `2` after the end of the expression", offset: 2),
            Failure(source: "'abc", message: "unterminated string", offset: 0),
            Failure(source: "3 GB", message: "unexpected `GB` after the end of the expression", offset: 2),
            Failure(source: "3xb", message: "unknown unit `xb`", offset: 1),
            Failure(source: "a & b", message: "`&` is not an operator: use `&&`", offset: 2),
            Failure(source: "nope(1)", message: "unknown function `nope`", offset: 0),
            Failure(source: "@", message: "unexpected character `@`", offset: 0),
            Failure(source: "99999999999999999999", message: "integer `99999999999999999999` is too large", offset: 0),
        ])
    func parseErrors(_ f: Failure) {
        #expect {
            _ = try Expression(parsing: f.source)
        } throws: { error in
            guard let e = error as? ExpressionError else { return false }
            return e.message.contains(f.message) && e.offset == f.offset
        }
    }

    @Test(
        "evaluation errors are typed, not crashes",
        arguments: [
            ("1 + 'a'", "`+` does not apply to a integer and a string"),
            ("1 / 0", "division by zero"),
            ("9223372036854775807 + 1", "integer overflow"),
            ("split.tilez", "no field `tilez` (did you mean `tiles`?)"),
            ("unknown", "unknown name `unknown`"),
            ("split.tiles[5]", "index 5 out of range (the list has 2 items)"),
            ("1GiB < 1s", "cannot compare a size with a duration"),
            ("len(1)", "`len` does not accept a integer"),
            ("range(1, 2, 0)", "`range` step must not be 0"),
            ("min([])", "`min` of an empty list"),
        ])
    func evaluationErrors(_ source: String, _ message: String) throws {
        let e = try Expression(parsing: source)
        #expect {
            _ = try e.evaluate(in: env)
        } throws: { error in
            (error as? ExpressionError)?.message.contains(message) == true
        }
    }

    @Test("nesting is bounded: deep expressions are refused, not a stack overflow")
    func deepNesting() {
        let deep = String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
        #expect(throws: ExpressionError.self) { _ = try Expression(parsing: deep) }
        let unary = String(repeating: "!", count: 10_000) + "true"
        #expect(throws: ExpressionError.self) { _ = try Expression(parsing: unary) }
    }

    @Test("templates interpolate; a sole ${ } keeps its type; $${ is a literal")
    func templates() throws {
        #expect(try Template.parse("${inputs.size}", at: nil).evaluate(in: env) == .int(512))
        #expect(
            try Template.parse("-ps ${inputs.size}x${inputs.size}", at: nil).evaluate(in: env) == .string("-ps 512x512")
        )
        #expect(try Template.parse("cost $${HOME}", at: nil).evaluate(in: env) == .string("cost ${HOME}"))
        #expect(try Template.parse("${'}'}", at: nil).evaluate(in: env) == .string("}"))
        #expect(throws: ExpressionError.self) { _ = try Template.parse("a ${b", at: nil) }
    }
}

@Suite("Quantities", .timeLimit(.minutes(15)))
struct QuantityTests {
    @Test(
        "parse with their units",
        arguments: [
            ("512MiB", 536_870_912.0, Quantity.Dimension.bytes), ("2GB", 2e9, .bytes),
            ("1.5GiB", 1_610_612_736, .bytes),
            ("30s", 30, .seconds), ("5m", 300, .seconds), ("2h", 7200, .seconds), ("10ms", 0.01, .seconds),
            ("100Mbps", 1e8, .bitsPerSecond), ("1Gbps", 1e9, .bitsPerSecond),
        ])
    func parse(_ text: String, _ value: Double, _ d: Quantity.Dimension) {
        #expect(Quantity(parsing: text) == Quantity(value, d))
    }

    @Test("refuse malformed text", arguments: ["", "GiB", "5", "5 GiB", "1..2s", ".5s", "5x", "-3s", "1e3s"])
    func refuse(_ text: String) {
        #expect(Quantity(parsing: text) == nil)
    }

    @Test("print in the largest fitting unit")
    func describe() {
        #expect(Quantity(4 * 1_073_741_824, .bytes).description == "4GiB")
        #expect(Quantity(90, .seconds).description == "90s")
        #expect(Quantity(0.25, .seconds).description == "250ms")
        #expect(Quantity(1e9, .bitsPerSecond).description == "1Gbps")
    }

    @Test("values round-trip through tagged JSON")
    func json() throws {
        let v = Value.map([
            "f": .file("/x"), "q": .quantity(Quantity(3, .seconds)), "r": .range(start: 0, end: 5, step: 1),
            "l": .list([.int(1), .double(1.5), .bool(true), .null, .string("s")]),
        ])
        #expect(try Value(json: v.jsonText) == v)
    }
}
