import HeavenModel
import Testing

@Suite("Money and prices", .timeLimit(.minutes(15)))
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

    @Test("no amount, price or quantity from outside can overflow: too large is refused, arithmetic saturates")
    func neverTraps() {
        // The exploit's price: the largest 64-bit number of micros, times two items.
        #expect(Money("9223372036854.775807") == nil)
        #expect(Money("9999999999999") == nil)
        #expect(Money("1000000000000") == Money.maximum)
        #expect(Money("1000000000000.000001") == nil)
        #expect(Money(value: 9.3e12) == nil)
        #expect(Money(value: 1e12) == Money.maximum)
        let big = Money(micros: .max)
        #expect(big.times(2).micros == .max)
        #expect((-big).times(2).micros == .min + 1 || (-big).times(2).micros == .min)
        #expect((big + big).micros == .max)
        #expect((Money(micros: .min) - Money(micros: 1)).micros == .min)
        #expect(big.times(1e300).micros == .max)
        #expect(big.times(Double.nan) == .zero)
        #expect((-Money(micros: .min)).micros == .max)
        let loc = SourceLocation(file: "p.yaml", line: 1, column: 1)
        let price = Price(currency: "credits", run: .maximum, outputs: ["items": (.item, .maximum)], location: loc)
        let (total, _) = price.of(["items": .list((0..<100).map { Value.int($0) })]) { _ in nil }
        #expect(total > Money.maximum)
    }

    @Test("a quantity beyond what Heaven counts is refused, saying the bound")
    func quantityBounds() {
        guard case .failure(let e) = Quantity.parse("9999999999TiB", as: .bytes) else {
            Issue.record("a size of ten billion TiB was accepted")
            return
        }
        #expect(e.description.contains("is larger than any size Heaven counts"), "\(e)")
        if case .success = Quantity.parse("100000000000h", as: .seconds) {
            Issue.record("a huge duration was accepted")
        }
        if case .failure = Quantity.parse("512GiB", as: .bytes) { Issue.record("512GiB was refused") }
    }
}
