import Foundation
import HeavenLanguage
import HeavenModel
import HeavenTestSupport
import Testing

@Suite("Robustness of the reader", .timeLimit(.minutes(15)))
struct FuzzTests {
    static let examples = ["fan-out", "every-form", "pattern-search"]

    @Test(
        "thousands of mutated example files never crash the reader; every diagnostic has a real position",
        arguments: examples)
    func mutations(_ name: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let original = Array(
            try String(contentsOfFile: root.path + "/examples/\(name).yaml", encoding: .utf8).unicodeScalars)
        let alphabet = Array("${}[]:-'\"\\ \n\t#&*!|>%@`,.0123456789abcxyzé".unicodeScalars)
        var rng = SplitMix(state: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        var invalid = 0
        for round in 0..<700 {
            var text = original
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let at = Int.random(in: 0..<max(1, text.count), using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: text.insert(alphabet.randomElement(using: &rng)!, at: at)
                case 1: if !text.isEmpty { text.remove(at: at) }
                case 2: if !text.isEmpty { text[at] = alphabet.randomElement(using: &rng)! }
                default:
                    let end = min(text.count, at + Int.random(in: 1...40, using: &rng))
                    text.insert(contentsOf: text[at..<end], at: at)
                }
            }
            let yaml = String(String.UnicodeScalarView(text))
            let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).count
            let result = Loader.load(text: yaml, path: "m.yaml")
            if !result.isValid { invalid += 1 }
            for d in result.diagnostics {
                // Every diagnostic names the file it is about (this one: nothing else is read).
                #expect(d.location.file == "m.yaml", "round \(round): \(d)")
                #expect(d.location.line >= 1 && d.location.line <= lines + 1, "round \(round): \(d)")
                #expect(d.location.column >= 1, "round \(round): \(d)")
                #expect(!d.message.isEmpty)
            }
        }
        #expect(invalid > 100)
    }
}
