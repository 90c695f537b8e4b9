import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenServer
import HeavenStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `heaven-bench --ogc`: OGC API - Processes side by side with pygeoapi (its built-in
/// `hello-world` process behind its default job manager, TinyDB, served by `pygeoapi
/// serve`), on this machine, in the same run: asynchronous jobs submitted and completed
/// per second by concurrent clients, and the latency of a synchronous execution of an
/// echo-like process. The same client (`load`, in this program) loads both.
enum OGCBench {
    /// One server's figures in one round.
    struct Figures {
        var jobs: Int
        var failed: Int
        var seconds: Double
        var jobsPerSecond: Double
        var syncP50: Double
        var syncP99: Double
    }

    /// Heaven's echo-like process: one task that prints a greeting.
    static let hello = """
        kind: Workflow
        name: hello
        title: Hello
        inputs: {name: string}
        steps:
          - task: greet
            run: [printf, 'Hello %s!', '${inputs.name}']
            outputs: {text: {stdout: text}}
        outputs: {value: '${greet.text}'}
        """

    static func run(
        repository: String, scratch: String, quick: Bool, clients: Int, pygeoapi: String, log: (String) -> Void
    ) async throws -> String {
        guard FileManager.default.isExecutableFile(atPath: pygeoapi) else {
            throw BenchError(
                """
                --ogc measures pygeoapi beside Heaven: install it with scripts/bench/pygeoapi.sh (or give \
                --pygeoapi PATH)
                """
            )
        }

        // Heaven: a server in this process, the process published, a user's token.
        let home = HeavenHome(root: scratch + "/ogc-home")
        try FileManager.default.createDirectory(atPath: home.root, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: home.database)
        // An admin, who may also publish a process whose task runs outside the sandbox.
        let user = UserRecord(name: "bench", admin: true)
        try await store.saveUser(user)
        let (_, token) = try await Tokens.issue(for: "bench", store: store)
        let trusted = hello.replacingOccurrences(of: "name: hello\n", with: "name: hello-trusted\nisolation: none\n")
        for text in [hello, trusted] {
            _ = try await Publishing(processes: store).deploy(
                [SourceFile(path: "hello.yaml", text: text)], by: user, visibility: .private)
        }
        // As `heaven serve --task-ids` runs it: each tenant's task as a uid of its own,
        // through the sandbox helper (uids no account of this machine has).
        let policy = ServerPolicy(taskIDs: 3_100_000...3_100_099)
        let (heavenPort, serving) = try await Bench.serve(
            HeavenServer(home: home, stores: Stores(store), policy: policy))
        defer { serving.cancel() }

        // pygeoapi, three ways, each with its own configuration, its default (TinyDB) job
        // manager and a free port: `pygeoapi serve` with its job store growing round after
        // round (its slowed state); the same with a fresh store each round; and its
        // production setup, gunicorn with as many workers as cores, a fresh store each round.
        let cores = ThisMachine.cores
        let gunicorn = (pygeoapi as NSString).deletingLastPathComponent + "/gunicorn"
        guard FileManager.default.isExecutableFile(atPath: gunicorn) else {
            throw BenchError("--ogc runs pygeoapi under gunicorn too: install it with scripts/bench/pygeoapi.sh")
        }
        var peers: [Peer] = []
        defer { for p in peers { p.stop() } }
        for (name, program) in [
            ("grows", "exec \(pygeoapi) serve"), ("fresh", "exec \(pygeoapi) serve"),
            ("gunicorn", "exec \(gunicorn) --workers \(cores) --bind 127.0.0.1:PORT pygeoapi.flask_app:APP"),
        ] {
            peers.append(try Peer.start(name, program: program, pygeoapi: pygeoapi, scratch: scratch))
        }

        // Rounds, interleaved, after a warm-up of each.
        let jobs = quick ? 40 : 400
        let syncs = quick ? 20 : 200
        let heavenURL = "http://127.0.0.1:\(heavenPort)"
        func measure(_ base: String, _ process: String, token: String?) async throws -> Figures {
            try await load(base: base, process: process, token: token, clients: clients, jobs: jobs, syncs: syncs)
        }
        log("OGC: warming up Heaven and pygeoapi …")
        _ = try await measure(heavenURL, "hello", token: token)
        _ = try await measure(heavenURL, "hello-trusted", token: token)
        for p in peers { _ = try await measure(p.url, "hello-world", token: nil) }
        var heaven: [Figures] = []
        var unsandboxed: [Figures] = []
        var pygeo: [[Figures]] = peers.map { _ in [] }
        for round in 1...(quick ? 1 : 3) {
            log(
                """
                OGC: round \(round): \(clients) clients, \(jobs) asynchronous jobs, \(syncs) synchronous \
                executions each …
                """
            )
            heaven.append(try await measure(heavenURL, "hello", token: token))
            unsandboxed.append(try await measure(heavenURL, "hello-trusted", token: token))
            for (i, p) in peers.enumerated() {
                if p.name != "grows" { p.freshStore() }
                pygeo[i].append(try await measure(p.url, "hello-world", token: nil))
            }
        }
        return markdown(
            heaven: heaven, unsandboxed: unsandboxed, grows: pygeo[0], fresh: pygeo[1], gunicorn: pygeo[2],
            workers: cores, clients: clients, jobs: jobs, syncs: syncs, quick: quick)
    }

    /// The load, the same for every server: `clients` clients (threads) each submit their
    /// share of `jobs` back to back (`Prefer: respond-async`), then read the status at
    /// each `Location` (a sweep of their unfinished jobs every 10 ms) until all have
    /// ended; the rate is the jobs that succeeded over the time from the first submission
    /// to the last end. Then `syncs` synchronous executions one after the other, each
    /// timed from the request to the whole answer. Requests are plain blocking HTTP/1.1
    /// on a connection each (`MiniHTTP`): the client costs little beside the servers on
    /// a small machine.
    static func load(base: String, process: String, token: String?, clients: Int, jobs: Int, syncs: Int)
        async throws -> Figures
    {
        guard let url = URL(string: base), let port = url.port else { throw BenchError("not a URL: \(base)") }
        let body = #"{"inputs": {"name": "bench"}, "response": "document"}"#
        var headers = ["Content-Type": "application/json"]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        let execution = "/processes/\(process)/execution"
        let fixed = headers
        @Sendable func run() -> Figures {
            let counts = Mutex((ok: 0, failed: 0))
            let t0 = Date()
            let group = DispatchGroup()
            for c in 0..<clients {
                let share = jobs / clients + (c < jobs % clients ? 1 : 0)
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    var pending: [String] = []
                    var failed = 0
                    var ok = 0
                    for _ in 0..<share {
                        var h = fixed
                        h["Prefer"] = "respond-async"
                        let r = MiniHTTP.request(port: port, "POST", execution, headers: h, body: body)
                        if r.status == 201, let location = r.headers["location"], let path = URL(string: location)?.path
                        {
                            pending.append(path)
                        } else {
                            failed += 1
                        }
                    }
                    while !pending.isEmpty {
                        var left: [String] = []
                        for path in pending {
                            let r = MiniHTTP.request(port: port, "GET", path, headers: fixed)
                            let status =
                                (try? JSONSerialization.jsonObject(with: r.body) as? [String: Any])?["status"]
                                as? String
                            switch status {
                            case "successful": ok += 1
                            case "failed", "dismissed", nil: failed += 1
                            default: left.append(path)
                            }
                        }
                        pending = left
                        if !pending.isEmpty { usleep(10_000) }
                    }
                    counts.withLock {
                        $0.ok += ok
                        $0.failed += failed
                    }
                }
            }
            group.wait()
            let seconds = Date().timeIntervalSince(t0)
            var latencies: [Double] = []
            var failed = counts.withLock { $0.failed }
            for _ in 0..<syncs {
                let t = Date()
                let r = MiniHTTP.request(port: port, "POST", execution, headers: fixed, body: body)
                latencies.append(Date().timeIntervalSince(t) * 1000)
                if r.status != 200 { failed += 1 }
            }
            latencies.sort()
            func percentile(_ p: Double) -> Double {
                latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))]
            }
            let ok = counts.withLock { $0.ok }
            return Figures(
                jobs: ok, failed: failed, seconds: seconds, jobsPerSecond: Double(ok) / seconds,
                syncP50: percentile(0.5), syncP99: percentile(0.99))
        }
        // Blocking threads, off the concurrency pool (the server in this process runs there).
        return await withCheckedContinuation { c in
            Thread.detachNewThread { c.resume(returning: run()) }
        }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func markdown(
        heaven: [Figures], unsandboxed: [Figures], grows: [Figures], fresh: [Figures], gunicorn: [Figures],
        workers: Int, clients: Int, jobs: Int, syncs: Int, quick: Bool
    ) -> String {
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        func rates(_ xs: [Figures]) -> String {
            "\(f(median(xs.map(\.jobsPerSecond)))) (\(xs.map { f($0.jobsPerSecond) }.joined(separator: ", ")))"
        }
        func rate(_ xs: [Figures]) -> Double { median(xs.map(\.jobsPerSecond)) }
        // pygeoapi at its best: the better of its two setups with a fresh store each round.
        let best = max(rate(fresh), rate(gunicorn))
        let slowed = rate(grows)
        let (hRate, uRate) = (rate(heaven), rate(unsandboxed))
        func p50(_ xs: [Figures]) -> String { f(median(xs.map(\.syncP50)), 2) + " ms" }
        func p99(_ xs: [Figures]) -> String { f(median(xs.map(\.syncP99)), 2) + " ms" }
        func ratio(_ x: Double, _ to: Double) -> String { to > 0 ? f(x / to) : "" }
        func met(_ x: Double) -> String { x >= 10 * best ? "✓" : "✗" }
        let hP50 = median(heaven.map(\.syncP50))
        let uP50 = median(unsandboxed.map(\.syncP50))
        let failed = (heaven + unsandboxed + grows + fresh + gunicorn).map(\.failed).reduce(0, +)
        return """
            Measured \(ISO8601DateFormatter().string(from: Date())) by `heaven-bench --ogc\(quick ? " --quick" : "")` \
            on \(Bench.machineDescription()): \(clients) clients, \(jobs) asynchronous jobs per round (each client \
            submits its share with `Prefer: respond-async`, then reads their status, a sweep every 10 ms, until all \
            have ended), then \(syncs) synchronous executions one after the other; \(heaven.count) rounds after a \
            warm-up, the servers alternating, the same client (`OGCBench.load`: blocking HTTP/1.1 from a thread per \
            client, a connection per request) for all. Heaven's `hello` runs a real process (`printf`) per job, \
            confined as every tenant's task is (the sandbox helper: its own namespaces, the tenant's uid, cgroups), \
            each transition recorded in SQLite; `hello-trusted` is the same published by an admin with `isolation: \
            none`; pygeoapi's `hello-world` is a Python function in its server (pygeoapi 0.21.0, its default TinyDB \
            job manager), three ways: `pygeoapi serve` with its job store growing from round to round (its slowed \
            state), the same with a fresh job store each round, and gunicorn with \(workers) workers (as many as \
            cores, its production setup) with a fresh job store each round. pygeoapi at its best is the better of the \
            last two. Medians of the rounds (each round's figure in brackets)\
            \(failed > 0 ? "; \(failed) requests failed" : "").

            | | Heaven | Heaven, `isolation: none` | pygeoapi, store growing | pygeoapi, fresh store | \
            pygeoapi, gunicorn ×\(workers), fresh store | target |
            | --- | --- | --- | --- | --- | --- | --- |
            | asynchronous jobs per second | \(rates(heaven)) | \(rates(unsandboxed)) | \(rates(grows)) | \
            \(rates(fresh)) | \(rates(gunicorn)) | ≥ 10× pygeoapi at its best |
            | ÷ pygeoapi at its best | \(ratio(hRate, best)) \(met(hRate)) | \(ratio(uRate, best)) \(met(uRate)) \
            | | | | |
            | ÷ pygeoapi, store growing | \(ratio(hRate, slowed)) | \(ratio(uRate, slowed)) | 1 | | | |
            | synchronous execution, p50 | \(f(hP50, 2)) ms \(hP50 <= 10 ? "✓" : "✗") | \(f(uP50, 2)) ms \
            \(uP50 <= 10 ? "✓" : "✗") | \(p50(grows)) | \(p50(fresh)) | \(p50(gunicorn)) | ≤ 10 ms |
            | synchronous execution, p99 | \(p99(heaven)) | \(p99(unsandboxed)) | \(p99(grows)) | \(p99(fresh)) | \
            \(p99(gunicorn)) | |
            """
    }

    /// A pygeoapi server of the benchmark's: its directory (configuration, job store), port
    /// and session.
    struct Peer {
        let name: String
        let directory: String
        let port: Int
        let pid: Int32
        var url: String { "http://127.0.0.1:\(port)" }

        /// Starts `program` (`PORT` replaced by its port) with a configuration of its own, and
        /// waits until it answers.
        static func start(_ name: String, program: String, pygeoapi: String, scratch: String) throws -> Peer {
            let directory = scratch + "/pygeoapi-" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let port = try freePort()
            try config(port: port, directory: directory).write(
                toFile: directory + "/config.yml", atomically: true, encoding: .utf8)
            let environment = "PYGEOAPI_CONFIG=\(directory)/config.yml PYGEOAPI_OPENAPI=\(directory)/openapi.yml"
            guard
                sh(
                    """
                    \(environment) \(pygeoapi) openapi generate \(directory)/config.yml --output-file \
                    \(directory)/openapi.yml
                    """) == 0
            else { throw BenchError("pygeoapi could not make its OpenAPI document (see \(directory))") }
            let command = program.replacingOccurrences(of: "PORT", with: "\(port)")
            let pid = try spawnDetached(
                "\(environment) \(command) > \(directory)/serve.log 2>&1 < /dev/null", pidFile: directory + "/pid")
            let peer = Peer(name: name, directory: directory, port: port, pid: pid)
            for _ in 0..<200 {
                if sh("curl -sf -o /dev/null http://127.0.0.1:\(port)/processes/hello-world") == 0 { return peer }
                usleep(50_000)
            }
            peer.stop()
            throw BenchError("pygeoapi (\(name)) did not start (see \(directory)/serve.log)")
        }

        /// A fresh job store: TinyDB opens its file at each operation, and makes it anew.
        func freshStore() { unlink(directory + "/pygeoapi-process-manager.db") }

        /// Stops its whole session (`pygeoapi serve` leaves workers behind a signal to it
        /// alone, which would go on loading this machine in the next measurements).
        func stop() {
            kill(-pid, SIGTERM)
            usleep(300_000)
            kill(-pid, SIGKILL)
        }
    }

    static func config(port: Int, directory: String) -> String {
        """
        server:
          bind: {host: 127.0.0.1, port: \(port)}
          url: http://127.0.0.1:\(port)
          mimetype: application/json; charset=UTF-8
          encoding: utf-8
          language: en-US
          cors: false
          pretty_print: false
          limits: {default_items: 10, max_items: 50}
          map: {url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', attribution: OpenStreetMap}
          manager:
            name: TinyDB
            connection: \(directory)/pygeoapi-process-manager.db
            output_dir: \(directory)/
        logging: {level: ERROR}
        metadata:
          identification:
            title: heaven-bench
            description: the peer of heaven-bench --ogc
            keywords: [benchmark]
            keywords_type: theme
            terms_of_service: https://example.org
            url: https://example.org
          license: {name: CC-BY 4.0, url: 'https://creativecommons.org/licenses/by/4.0/'}
          provider: {name: heaven-bench, url: 'https://example.org'}
          contact: {name: heaven-bench, position: none, address: none, city: none, stateorprovince: none, postalcode: \
        none, country: none, phone: none, fax: none, email: none@example.org, url: 'https://example.org', hours: none, \
        instructions: none, role: pointOfContact}
        resources:
          hello-world:
            type: process
            processor:
              name: HelloWorld
        """
    }

    /// A port no one listens on now (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, length) == 0 && getsockname(fd, p, &length) == 0
            }
        }
        guard bound else { throw BenchError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @discardableResult
    static func sh(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Starts a long-lived command detached (holding none of this process's descriptors).
    static func spawnDetached(_ command: String, pidFile: String) throws -> Int32 {
        _ = sh(
            """
            for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; setsid \
            sh -c '\(command)' & echo $! > \(pidFile)
            """
        )
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw BenchError("could not start: \(command)") }
        return pid
    }
}

/// The smallest HTTP/1.1 client: one request on a connection of its own to 127.0.0.1
/// (`Connection: close`), the answer read to the end.
enum MiniHTTP {
    struct Reply {
        var status = 0
        /// By lowercased name.
        var headers: [String: String] = [:]
        var body = Data()
    }

    static func request(port: Int, _ method: String, _ path: String, headers: [String: String], body: String = "")
        -> Reply
    {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return Reply() }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { return Reply() }
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return Reply() }
            sent += n
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data.append(buffer, count: n)
        }
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { return Reply() }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).split(separator: "\r\n")
        var reply = Reply()
        reply.status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            reply.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        reply.body = Data(data[split.upperBound...])
        return reply
    }
}
