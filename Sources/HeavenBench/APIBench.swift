import Foundation
import HeavenCore
import HeavenEngine
import HeavenServer
import HeavenStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `heaven-bench --api`: sustained submissions and status reads from concurrent
/// clients against a real server on loopback (in this process, over real HTTP).
enum APIBench {
    struct Figures {
        var submissions: Int
        var submitSeconds: Double
        var reads: Int
        var readSeconds: Double
        var readLatencies: [Double]
        var clients: Int
        var runsDone: Int
        var drainSeconds: Double
    }

    static func run(scratch: String, quick: Bool, clients: Int) async throws -> Figures {
        let home = HeavenHome(root: scratch + "/api-home")
        try FileManager.default.createDirectory(atPath: home.root, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: home.database)
        try await store.saveUser(UserRecord(name: "bench"))
        let (_, token) = try await Tokens.issue(for: "bench", store: store)
        let server = HeavenServer(home: home, stores: Stores(store))
        let (port, serving) = try await Bench.serve(server)
        defer { serving.cancel() }
        let base = "http://127.0.0.1:\(port)"
        let session = URLSession(configuration: .ephemeral)
        let body = try JSONSerialization.data(withJSONObject: ["yaml": Bench.oneTask])
        func request(_ method: String, _ path: String, _ body: Data? = nil) -> URLRequest {
            var r = URLRequest(url: URL(string: base + path) ?? URL(fileURLWithPath: "/"))
            r.httpMethod = method
            r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            if let body {
                r.httpBody = body
                r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
            return r
        }
        let submissions = quick ? 40 : 400
        let reads = quick ? 200 : 4000

        // Submissions: each client submits its share, one after the other.
        let t0 = Date()
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for c in 0..<clients {
                let share = submissions / clients + (c < submissions % clients ? 1 : 0)
                group.addTask {
                    var mine: [String] = []
                    for _ in 0..<share {
                        let (data, response) = try await session.data(for: request("POST", "/v1/runs", body))
                        guard (response as? HTTPURLResponse)?.statusCode == 201,
                            let o = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                            let id = o["id"] as? String
                        else { throw BenchError("a submission failed: \(String(decoding: data, as: UTF8.self))") }
                        mine.append(id)
                    }
                    return mine
                }
            }
            var all: [String] = []
            for try await m in group { all += m }
            return all
        }
        let submitSeconds = Date().timeIntervalSince(t0)

        // Status reads, while the runs execute.
        let t1 = Date()
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for c in 0..<clients {
                let share = reads / clients
                group.addTask {
                    var mine: [Double] = []
                    for k in 0..<share {
                        let id = ids[(c * share + k) % ids.count]
                        let start = Date()
                        let (_, response) = try await session.data(for: request("GET", "/v1/runs/\(id)"))
                        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
                            throw BenchError("a status read failed")
                        }
                        mine.append(Date().timeIntervalSince(start))
                    }
                    return mine
                }
            }
            var all: [Double] = []
            for try await m in group { all += m }
            return all
        }
        let readSeconds = Date().timeIntervalSince(t1)
        // Every submitted run ends (each a /bin/true).
        await server.waitForRuns()
        let drained = Date().timeIntervalSince(t0)
        let done = try await store.runs(limit: submissions * 2).filter { $0.status == .succeeded }.count
        return Figures(
            submissions: ids.count, submitSeconds: submitSeconds, reads: latencies.count, readSeconds: readSeconds,
            readLatencies: latencies.sorted(), clients: clients, runsDone: done, drainSeconds: drained)
    }

    static func markdown(_ f: Figures, machine: String, quick: Bool) -> String {
        func pct(_ p: Double) -> String {
            guard !f.readLatencies.isEmpty else { return "-" }
            let i = min(f.readLatencies.count - 1, Int(Double(f.readLatencies.count) * p))
            return String(format: "%.1f ms", f.readLatencies[i] * 1000)
        }
        var s =
            """
            Measured \(ISO8601DateFormatter().string(from: Date())) by `heaven-bench \
            --api\(quick ? " --quick" : "")` on \(machine): 
            """
        s +=
            """
            a real server on 127.0.0.1 (SQLite store, bearer tokens, audit log on), \(f.clients) concurrent \
            clients (URLSession) in the same process.\n\n
            """
        s += "| workload | figure |\n| --- | --- |\n"
        s += String(
            format: "| submissions (`POST /v1/runs`, one-task workflow) | %d in %.2f s: %.0f /s |\n", f.submissions,
            f.submitSeconds, Double(f.submissions) / f.submitSeconds)
        s += String(
            format:
                "| status reads (`GET /v1/runs/ID`) while the runs execute | %d in %.2f s: %.0f /s; p50 %@, p99 %@ |\n",
            f.reads, f.readSeconds, Double(f.reads) / f.readSeconds, pct(0.5), pct(0.99))
        s += String(
            format: "| every submitted run finished | %d of %d succeeded, %.2f s after the first submission |\n",
            f.runsDone, f.submissions, f.drainSeconds)
        return s
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
