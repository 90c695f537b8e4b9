import HeavenModel
import Testing

@Suite("Wording", .timeLimit(.minutes(15)))
struct WordingTests {
    @Test("the indefinite article fits the word; a count of one is singular")
    func articlesAndCounts() {
        #expect(Wording.a("integer") == "an integer")
        #expect(Wording.a("string") == "a string")
        #expect(Wording.a("if step") == "an if step")
        #expect(Wording.count(1, "core") == "1 core")
        #expect(Wording.count(4, "core") == "4 cores")
        #expect(Wording.count(0, "attempt") == "0 attempts")
        #expect(Wording.count(2, "machine", plural: "machines") == "2 machines")
    }
}
