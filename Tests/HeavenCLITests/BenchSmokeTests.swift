import Foundation
import Testing

@Suite("Benchmark smoke", .serialized, .timeLimit(.minutes(15)))
struct BenchSmokeTests {
    @Test("`heaven bench --quick` runs every workload and reports a figure for each (no timing is asserted)")
    func quick() throws {
        let h = try HeavenBinary()
        let doc = h.work + "/performance.md"
        try "# Performance\n\nbefore\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nafter\n".write(
            toFile: doc, atomically: true, encoding: .utf8)
        let r = try h.run("bench", "--quick", "--json", "--write", doc)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
        #expect(
            rows.map { $0["name"] as? String ?? "" }.filter { $0 != "W1-tmpfs" } == [
                "raw", "raw-1", "W1", "W1-bounded", "W2", "W3", "W4", "W5",
            ])
        #expect(rows.allSatisfy { !($0["figure"] as? String ?? "").isEmpty })
        let written = try String(contentsOfFile: doc, encoding: .utf8)
        #expect(written.hasPrefix("# Performance\n\nbefore\n<!-- bench:begin -->\nMeasured "))
        #expect(
            written.contains("| W5 |") && written.hasSuffix("<!-- bench:end -->\nafter\n") && !written.contains("old"))
    }

    @Test("`heaven bench --api --quick` submits and reads runs through a real server and writes its own section")
    func api() throws {
        let h = try HeavenBinary()
        let doc = h.work + "/performance.md"
        try """
        # Performance\n\n<!-- bench:begin -->\nkept\n<!-- bench:end -->\n<!-- api-bench:begin -->\nold\n<!-- \
        api-bench:end -->\n
        """
        .write(toFile: doc, atomically: true, encoding: .utf8)
        let r = try h.run("bench", "--api", "--quick", "--clients", "4", "--write", doc)
        #expect(r.status == 0, "\(r.stderr)")
        let written = try String(contentsOfFile: doc, encoding: .utf8)
        #expect(written.contains("kept") && !written.contains("old"))
        #expect(written.contains("| every submitted run finished | 40 of 40 succeeded"), "\(written)")
        #expect(written.contains("| status reads (`GET /v1/runs/ID`) while the runs execute | 200 in"))
    }

    @Test("`heaven bench --console --quick` serves a run's console pages and writes its own section")
    func console() throws {
        let h = try HeavenBinary()
        let doc = h.work + "/performance.md"
        try "# Performance\n\n<!-- console-bench:begin -->\nold\n<!-- console-bench:end -->\n".write(
            toFile: doc, atomically: true, encoding: .utf8)
        let r = try h.run("bench", "--console", "--quick", "--write", doc)
        #expect(r.status == 0, "\(r.stderr)")
        let written = try String(contentsOfFile: doc, encoding: .utf8)
        #expect(!written.contains("old") && written.contains("a run of 301 task instances"), "\(written)")
        // While the run goes on (its page, first and again, and the live refresh's fragments), and ended.
        for row in [
            "| while it runs: the run's page, first load", "| while it runs: the run's page (its foreach collapsed",
            "| while it runs: the live refresh's graph fragment", "| while it runs: the live refresh's Gantt fragment",
            "| ended: the run's page |", "| ended: the foreach expanded", "| the runs page |",
        ] {
            #expect(written.contains(row), "\(row)")
        }
    }
}
