import Foundation
import HeavenCore
import HeavenEngine
import HeavenServer
import HeavenStore

/// `heaven-bench --console`: the web console's pages of a run of 100,000 tasks (a
/// foreach of /bin/true, as W1, then a join that waits for the benchmark's word),
/// served by a server in this process: while the join runs, the run's page as a
/// browser first gets it (the server's first look at the run), then again, and the
/// fragments its live refresh fetches on each event (graph, Gantt chart); once the
/// run has ended, its page, the foreach expanded, and the runs page.
enum ConsoleBench {
    static func run(scratch: String, quick: Bool, tasks given: Int?, log: (String) -> Void) async throws -> String {
        let tasks = given ?? (quick ? 300 : 100_000)
        let home = scratch + "/console"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let (started, stop) = (home + "/join-started", home + "/join-stop")
        log("console: a run of \(tasks) tasks …")
        let yaml = try Bench.workflow(
            "many",
            [
                ["foreach": "${range(\(tasks))}", "as": "i", "steps": [["task": "t", "run": ["/bin/true"]]]],
                [
                    "task": "join",
                    "run": ["/bin/sh", "-c", "touch \(started); while [ ! -e \(stop) ]; do sleep 0.02; done"],
                ],
            ])
        let running = Task { try await Bench.timeRun(home, yaml) }
        while !FileManager.default.fileExists(atPath: started) {
            try await Task.sleep(for: .milliseconds(100))
            if FileManager.default.fileExists(atPath: stop) { break }
        }
        let store = try SQLiteStore(path: home + "/heaven.sqlite", liveness: Engine.processLiveness)
        guard let id = try await store.runs(limit: 1).first?.id else { throw BenchError("no run") }
        try await store.saveUser(UserRecord(name: Bench.user))
        let secret = Tokens.make().token
        try await store.openSession(
            ConsoleSession(user: Bench.user, csrf: "bench", expiresAt: Date().addingTimeInterval(3600)),
            hash: Tokens.hash(secret))
        let (port, serving) = try await Bench.serve(HeavenServer(home: HeavenHome(root: home), stores: Stores(store)))
        defer { serving.cancel() }
        let cookie = ["Cookie": "heaven_session=\(secret)"]
        /// The time (ms) of each of `times` loads of a page, and its size.
        func measure(_ path: String, times: Int = 6) async throws -> (all: [Double], bytes: Int) {
            try await withCheckedThrowingContinuation { c in
                Thread.detachNewThread {
                    var all: [Double] = []
                    var bytes = 0
                    for _ in 0..<times {
                        let t = Date()
                        let r = MiniHTTP.request(port: port, "GET", path, headers: cookie)
                        guard r.status == 200 else {
                            c.resume(throwing: BenchError("\(path) answered \(r.status)"))
                            return
                        }
                        all.append(Date().timeIntervalSince(t) * 1000)
                        bytes = r.body.count
                    }
                    c.resume(returning: (all, bytes))
                }
            }
        }
        /// The median of the loads after the first.
        func warm(_ m: (all: [Double], bytes: Int)) -> (ms: Double, bytes: Int) {
            (OGCBench.median(Array(m.all.dropFirst())), m.bytes)
        }
        log("console: the pages while the run goes on …")
        let live = try await measure("/console/runs/\(id)")
        let first = (ms: live.all[0], bytes: live.bytes)
        let warmLive = warm(live)
        let graph = warm(try await measure("/console/runs/\(id)/graph"))
        let gantt = warm(try await measure("/console/runs/\(id)/gantt"))
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        _ = try await running.value
        log("console: the pages once it has ended …")
        let page = warm(try await measure("/console/runs/\(id)"))
        let expanded = warm(try await measure("/console/runs/\(id)?expand=i"))
        let runs = warm(try await measure("/console"))
        func row(_ what: String, _ m: (ms: Double, bytes: Int), target: String = "") -> String {
            "| \(what) | \(String(format: "%.0f", m.ms)) ms | \(m.bytes / 1024) KiB | \(target) |"
        }
        let livePage = "while it runs: the run's page (its foreach collapsed, the Gantt chart gathered)"
        func under200(_ m: (ms: Double, bytes: Int)) -> String { "< 200 ms \(m.ms < 200 ? "✓" : "✗")" }
        return """
            Measured \(ISO8601DateFormatter().string(from: Date())) by `heaven-bench \
            --console\(quick ? " --quick" : "")` on \(Bench.machineDescription()): a run of \(tasks + 1) task \
            instances (a foreach of \(tasks) `/bin/true`, then a join that waits for the benchmark's word) served by a \
            server in the benchmark's process; each page loaded 6 times over loopback, the median of the last 5 (time \
            to the whole answer), but for the first load, which is the server's first look at the run.

            | page | time | size | target |
            | --- | --- | --- | --- |
            \(row("while it runs: the run's page, first load (the server reads the run whole)", first))
            \(row(livePage, warmLive, target: under200(warmLive)))
            \(row("while it runs: the live refresh's graph fragment", graph, target: under200(graph)))
            \(row("while it runs: the live refresh's Gantt fragment", gantt, target: under200(gantt)))
            \(row("ended: the run's page", page, target: under200(page)))
            \(row("ended: the foreach expanded (its first 500 instances, a node per task)", expanded))
            \(row("the runs page", runs))
            """
    }
}
