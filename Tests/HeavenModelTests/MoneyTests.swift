import HeavenModel
import Testing

@Suite("Money and prices")
struct MoneyTests {
    @Test("amounts are read and written exactly, to the millionth; anything else is refused")
    func exact() {
        #expect(Money("3")?.micros == 3_000_000)
        #expect(Money("0.5")?.micros == 500_000)
        #expect(Money(".25")?.micros == 250_000)
        #expect(Money("-1.000001")?.micros == -1_000_001)
        #expect(Money("0.1")! + Money("0.2")! == Money("0.3")!)
        for bad in ["", ".", "1.", "1.2.3", "1e3", "abc", "0.0000001", "--1", "1,5", " "] {
            #expect(Money(bad) == nil, "`\(bad)` was read")
        }
        #expect(Money("12.500")!.description == "12.5")
        #expect(Money("-0.000001")!.description == "-0.000001")
        #expect(Money(units: 7).description == "7")
        #expect(Money("10")!.percent(12.5).description == "1.25")
        #expect(Money("0.000003")!.percent(50).micros == 1)  // rounded down: the fee never exceeds its share
    }

    @Test("a price is its fixed part plus each priced output by its elements or megabytes")
    func priceOfOutputs() {
        let loc = SourceLocation(file: "p.yaml", line: 1, column: 1)
        let price = Price(
            currency: "credits", run: Money("3")!,
            outputs: ["tiles": (.item, Money("0.5")!), "ndvi": (.megabyte, Money("0.02")!)], location: loc)
        let outputs: [String: Value] = [
            "tiles": .list([.int(1), .int(2), .int(3), .int(4)]), "ndvi": .file("/x/ndvi.tif"), "other": .int(9),
        ]
        let (total, parts) = price.of(outputs) { $0 == "/x/ndvi.tif" ? 2_500_000 : nil }
        #expect(parts["run"] == Money("3"))
        #expect(parts["tiles"] == Money("2"))
        #expect(parts["ndvi"] == Money("0.05"))
        #expect(total == Money("5.05"))
        // Nothing delivered for a priced output: that part is zero.
        #expect(price.of([:]) { _ in nil }.total == Money("3"))
    }
}
