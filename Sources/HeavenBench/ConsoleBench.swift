import Foundation
import HeavenCore
import HeavenEngine
import HeavenServer
import HeavenStore

/// `heaven-bench --console`: the web console's pages of a run of 10,000 tasks (a
/// foreach of /bin/true and a join, as W1), served by a server in this process: the
/// first render of the run's page (what a browser waits for before anything shows),
/// the same page with the foreach expanded, and the runs page.
enum ConsoleBench {
    static func run(scratch: String, quick: Bool, log: (String) -> Void) async throws -> String {
        let tasks = quick ? 300 : 10_000
        let home = scratch + "/console"
        log("console: a run of \(tasks) tasks …")
        let yaml = try Bench.workflow(
            "many",
            [
                ["foreach": "${range(\(tasks))}", "as": "i", "steps": [["task": "t", "run": ["/bin/true"]]]],
                ["task": "join", "run": ["/bin/true"]],
            ])
        let (_, run) = try await Bench.timeRun(home, yaml)
        let store = try SQLiteStore(path: home + "/heaven.sqlite", liveness: Engine.processLiveness)
        try await store.saveUser(UserRecord(name: Bench.user))
        let secret = Tokens.make().token
        try await store.openSession(
            ConsoleSession(user: Bench.user, csrf: "bench", expiresAt: Date().addingTimeInterval(3600)),
            hash: Tokens.hash(secret))
        let (port, serving) = try await Bench.serve(HeavenServer(home: HeavenHome(root: home), stores: Stores(store)))
        defer { serving.cancel() }
        let cookie = ["Cookie": "heaven_session=\(secret)"]
        /// The median time (ms) and size of a page, over 5 loads after one.
        func measure(_ path: String) async throws -> (ms: Double, bytes: Int) {
            try await withCheckedThrowingContinuation { c in
                Thread.detachNewThread {
                    var times: [Double] = []
                    var bytes = 0
                    for i in 0..<6 {
                        let t = Date()
                        let r = MiniHTTP.request(port: port, "GET", path, headers: cookie)
                        guard r.status == 200 else {
                            c.resume(throwing: BenchError("\(path) answered \(r.status)"))
                            return
                        }
                        if i > 0 { times.append(Date().timeIntervalSince(t) * 1000) }
                        bytes = r.body.count
                    }
                    c.resume(returning: (OGCBench.median(times), bytes))
                }
            }
        }
        log("console: the pages …")
        let page = try await measure("/console/runs/\(run.id)")
        let expanded = try await measure("/console/runs/\(run.id)?expand=i")
        let runs = try await measure("/console")
        let pageTarget = "< 1 s \(page.ms < 1000 ? "✓" : "✗")"
        func row(_ what: String, _ m: (ms: Double, bytes: Int), target: String) -> String {
            "| \(what) | \(String(format: "%.0f", m.ms)) ms | \(m.bytes / 1024) KiB | \(target) |"
        }
        return """
            Measured \(ISO8601DateFormatter().string(from: Date())) by `heaven-bench \
            --console\(quick ? " --quick" : "")` on \(Bench.machineDescription()): a run of \(tasks) task instances (a \
            foreach of `/bin/true` and a join) served by a server in the benchmark's process; each page loaded 6 times \
            over loopback, the median of the last 5 (time to the whole answer).

            | page | time | size | target |
            | --- | --- | --- | --- |
            \(row("the run's page (its foreach collapsed, the Gantt chart gathered by site)", page, target: pageTarget))
            \(row("the same, the foreach expanded (its first 500 instances, a node per task)", expanded, target: ""))
            \(row("the runs page", runs, target: ""))
            """
    }
}
