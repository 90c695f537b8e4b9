import ArgumentParser
import Foundation
import HeavenBroker
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenServer
import HeavenStore
import Yams

#if canImport(Glibc)
    import Glibc
#endif

/// `heaven-bench` (and `heaven bench`, which runs it): Heaven's benchmarks, through
/// the public API of its engine, store, broker and server.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heaven-bench",
        abstract: "Measure orchestration overhead: W1–W5 against the raw spawn limit, in one run.",
        discussion: """
            Every workload is a real workflow through the real engine and SQLite store (a \
            private $HEAVEN_HOME), tasks being real /bin/true processes:
              W1  10,000 independent tasks, then one join task (again with its state on
                  tmpfs, when /dev/shm exists: the engine apart from the disk; and bounded
                  by `parallel:` to as many tasks in flight as cores)
              W2  a chain of 200 dependent tasks
              W3  start-up: a one-task workflow, end to end (`heaven run` as a new process)
              W4  1,000,000 foreach items under `parallel: 2`: memory per pending item
              W5  placing 10,000 tasks over 10,000 nodes, with requirements and rank
              raw posix_spawn and waitpid of /bin/true, as many in flight as cores
            Build with `swift build -c release` first: debug builds are several times slower. \
            `heaven bench ARGS` runs this program (built beside `heaven`).

              $ heaven-bench --write docs/performance.md
              $ heaven-bench --quick            # a smoke run of a few hundred tasks
            """)

    @Flag(help: "A short run (a few hundred tasks) that only proves the suite works.")
    var quick = false

    @Option(help: "Replace the measured section of this Markdown file with the results.")
    var write: String?

    @Flag(help: "Print the results as JSON.")
    var json = false

    @Flag(
        help:
            "Measure the HTTP API instead: sustained submissions and status reads from concurrent clients on loopback.")
    var api = false

    @Flag(
        help:
            """
            Measure the NDVI showcase instead (examples/eo: run from the repository's root) against the same GDAL \
            commands in shell scripts, sequential and parallel.
            """
    )
    var eo = false

    @Flag(
        help:
            """
            Measure OGC API - Processes instead, side by side with pygeoapi (scripts/bench/pygeoapi.sh installs \
            it; run from the repository's root): asynchronous jobs per second from concurrent clients, \
            synchronous latency.
            """
    )
    var ogc = false

    @Flag(help: "Measure the web console instead: the pages of a 100,000-task run, while it runs and ended.")
    var console = false

    @Option(help: "The tasks of --console's run (100,000; 300 with --quick).")
    var consoleTasks: Int?

    @Option(help: "The pygeoapi program --ogc measures (default: where scripts/bench/pygeoapi.sh installs it).")
    var pygeoapi: String?

    @Option(help: "Concurrent clients of --api and --ogc.")
    var clients = 8

    @Option(help: "The `heaven` program W3 starts (default: the one beside this program).")
    var heaven: String?

    struct Result {
        var name: String
        var what: String
        var figure: String
        var ratio: String
        var target: String
        var met: Bool?
    }

    func run() async throws {
        let cores = ThisMachine.cores
        let scratch = NSTemporaryDirectory() + "heaven-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let w1Tasks = quick ? 300 : 10_000
        let w2Steps = quick ? 40 : 200
        let w4Items = quick ? 100_000 : 1_000_000
        let w5Size = quick ? 1_000 : 10_000
        var results: [Result] = []
        let log = { (s: String) in if !json { Bench.log(s) } }
        if eo {
            let text = try await EOBench.run(
                repository: FileManager.default.currentDirectoryPath, scratch: scratch, quick: quick, log: log)
            print(text)
            if let path = write {
                try Bench.replaceSection(
                    in: path, with: text, begin: "<!-- eo-bench:begin -->", end: "<!-- eo-bench:end -->")
                log("wrote \(path)")
            }
            return
        }
        if console {
            let text = try await ConsoleBench.run(scratch: scratch, quick: quick, tasks: consoleTasks, log: log)
            print(text)
            if let path = write {
                try Bench.replaceSection(
                    in: path, with: text, begin: "<!-- console-bench:begin -->", end: "<!-- console-bench:end -->")
                log("wrote \(path)")
            }
            return
        }
        if ogc {
            let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
            let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? home + "/.cache"
            let text = try await OGCBench.run(
                repository: FileManager.default.currentDirectoryPath, scratch: scratch, quick: quick,
                clients: max(1, clients), pygeoapi: pygeoapi ?? cache + "/heaven/pygeoapi-0.21.0/bin/pygeoapi",
                log: log)
            print(text)
            if let path = write {
                try Bench.replaceSection(
                    in: path, with: text, begin: "<!-- ogc-bench:begin -->", end: "<!-- ogc-bench:end -->")
                log("wrote \(path)")
            }
            return
        }
        if api {
            log("API: \(clients) clients submitting runs and reading their status …")
            let f = try await APIBench.run(scratch: scratch, quick: quick, clients: max(1, clients))
            let text = APIBench.markdown(f, machine: Bench.machineDescription(), quick: quick)
            print(text)
            if let path = write {
                try Bench.replaceSection(
                    in: path, with: text, begin: "<!-- api-bench:begin -->", end: "<!-- api-bench:end -->")
                log("wrote \(path)")
            }
            return
        }

        log("raw: posix_spawn /bin/true, \(cores) in flight …")
        let rawParallel = RawSpawn.rate(count: quick ? 500 : 5000, inFlight: cores)
        let rawSerial = RawSpawn.rate(count: quick ? 200 : 1000, inFlight: 1)
        results.append(
            Result(
                name: "raw", what: "posix_spawn + waitpid of /bin/true, \(cores) in flight",
                figure: "\(Int(rawParallel)) /s", ratio: "1", target: "", met: nil))
        results.append(
            Result(
                name: "raw-1", what: "the same, 1 in flight (\(String(format: "%.3f", 1000 / rawSerial)) ms each)",
                figure: "\(Int(rawSerial)) /s", ratio: "", target: "", met: nil))

        log("W1: \(w1Tasks) independent tasks and a join …")
        /// W1's workflow: independent tasks (at most `parallel` in flight), then a join.
        func w1Workflow(_ name: String, parallel: Int? = nil) throws -> String {
            var foreach: [String: Any] = [
                "foreach": "${range(\(w1Tasks))}", "as": "i", "steps": [["task": "t", "run": ["/bin/true"]]],
            ]
            if let parallel { foreach["parallel"] = parallel }
            return try Bench.workflow(name, [foreach, ["task": "join", "run": ["/bin/true"]]])
        }
        let w1Yaml = try w1Workflow("w1")
        let w1 = try await Bench.timeRun(scratch + "/w1", w1Yaml)
        let w1Rate = Double(w1Tasks + 1) / w1.seconds
        results.append(
            Result(
                name: "W1", what: "\(w1Tasks) independent tasks, then a join",
                figure: String(format: "%.2f s, %d tasks/s", w1.seconds, Int(w1Rate)),
                ratio: String(format: "%.0f%% of raw", 100 * w1Rate / rawParallel), target: "≥ 50% of raw",
                met: w1Rate / rawParallel >= 0.5))

        // The same bounded to as many tasks in flight as cores (`parallel:`): every task
        // waits for the window as well as for a slot.
        log("W1 bounded: the same under `parallel: \(cores)` …")
        let w1bYaml = try w1Workflow("w1b", parallel: cores)
        let w1b = try await Bench.timeRun(scratch + "/w1b", w1bYaml)
        let w1bRate = Double(w1Tasks + 1) / w1b.seconds
        results.append(
            Result(
                name: "W1-bounded", what: "W1 under `parallel: \(cores)` (as many in flight as cores)",
                figure: String(format: "%.2f s, %d tasks/s", w1b.seconds, Int(w1bRate)),
                ratio: String(
                    format: "%.0f%% of raw, %.0f%% of W1", 100 * w1bRate / rawParallel, 100 * w1bRate / w1Rate),
                target: "≥ 60% of raw, ≥ 95% of W1",
                met: w1bRate / rawParallel >= 0.6 && w1bRate / w1Rate >= 0.95))

        // The same on tmpfs: what the engine costs apart from the file system's inode
        // allocation (which, on a disk with many recent deletions, can double W1).
        if FileManager.default.isWritableFile(atPath: "/dev/shm") {
            log("W1 again with its state on tmpfs …")
            let shm = "/dev/shm/heaven-bench-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: shm) }
            let w1t = try await Bench.timeRun(shm, w1Yaml)
            let rate = Double(w1Tasks + 1) / w1t.seconds
            results.append(
                Result(
                    name: "W1-tmpfs", what: "W1 with $HEAVEN_HOME on tmpfs (/dev/shm): the engine without the disk",
                    figure: String(format: "%.2f s, %d tasks/s", w1t.seconds, Int(rate)),
                    ratio: String(format: "%.0f%% of raw", 100 * rate / rawParallel), target: "", met: nil))
        }

        log("W2: a chain of \(w2Steps) tasks …")
        // Each step takes its predecessor's output as an argument: a real dependency.
        let chain = try Bench.workflow(
            "w2",
            (0..<w2Steps).map { i -> [String: Any] in
                [
                    "task": "s\(i)", "run": ["/bin/true"] + (i == 0 ? [] : ["${s\(i - 1).ok}"]),
                    "outputs": ["ok": ["stdout": "text"]],
                ]
            })
        let w2 = try await Bench.timeRun(scratch + "/w2", chain)
        let perStep = w2.seconds / Double(w2Steps) - 1 / rawSerial
        results.append(
            Result(
                name: "W2", what: "a chain of \(w2Steps) dependent tasks",
                figure: String(format: "%.2f s, %.2f ms orchestration per step", w2.seconds, perStep * 1000),
                ratio: String(format: "%.1f× a raw spawn", (w2.seconds / Double(w2Steps)) * rawSerial),
                target: "≤ 2 ms per step", met: perStep <= 0.002))

        log("W3: start-up of a one-task workflow …")
        let w3 = try Bench.startup(scratch + "/w3", heaven: heaven ?? Bench.sibling("heaven"), runs: quick ? 3 : 10)
        results.append(
            Result(
                name: "W3", what: "`heaven run` of a one-task workflow, new process, median",
                figure: String(format: "%.1f ms", w3 * 1000),
                ratio: String(format: "%.0f× a raw spawn", w3 * rawSerial), target: "≤ 50 ms", met: w3 <= 0.05))

        log("W4: memory of a \(w4Items)-item foreach …")
        let w4 = try await Bench.foreachMemory(scratch + "/w4", items: w4Items, settle: quick ? 300 : 2000)
        results.append(
            Result(
                name: "W4", what: "\(w4Items)-item foreach, parallel 2: resident memory per pending item",
                figure: String(
                    format: "%.1f bytes (RSS %+.1f MiB with %d items pending)", w4.perItem, w4.growth / 1_048_576,
                    w4.pending),
                ratio: "", target: "≤ 2 KiB", met: w4.perItem <= 2048))

        log("W5: placement of \(w5Size) tasks over \(w5Size) nodes …")
        let w5 = try Bench.placement(size: w5Size)
        results.append(
            Result(
                name: "W5", what: "broker placement of \(w5Size) tasks over \(w5Size) nodes, requirements and rank",
                figure: String(format: "%.3f s", w5),
                ratio: String(format: "%.1f%% of spawning %d raw", 100 * w5 * rawParallel / Double(w5Size), w5Size),
                target: "≤ 1 s",
                met: w5 <= 1))

        let machine = Bench.machineDescription()
        if json {
            print(
                Value.list(
                    results.map { r in
                        .map([
                            "name": .string(r.name), "what": .string(r.what), "figure": .string(r.figure),
                            "ratio": .string(r.ratio), "target": .string(r.target),
                            "met": r.met.map(Value.bool) ?? .null,
                        ])
                    }
                ).jsonText)
        } else {
            print(Bench.markdown(results, machine: machine, quick: quick))
        }
        if let path = write {
            try Bench.replaceSection(
                in: path, with: Bench.markdown(results, machine: machine, quick: quick))
            log("wrote \(path)")
        }
    }

    static func markdown(_ results: [Result], machine: String, quick: Bool) -> String {
        var s =
            """
            Measured \(ISO8601DateFormatter().string(from: Date())) by `heaven-bench\(quick ? " --quick" : "")` \
            on \(machine).\n\n
            """
        s += "| workload | what | figure | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n"
        for r in results {
            s +=
                """
                | \(r.name) | \(r.what) | \(r.figure) | \(r.ratio) | \(r.target) | \
                \(r.met.map { $0 ? "yes" : "**no**" } ?? "") |\n
                """
        }
        return s
    }

    /// The user the benchmark's runs belong to.
    static var user: String { ProcessInfo.processInfo.environment["USER"] ?? NSUserName() }

    /// Progress, on standard error.
    /// `server` serving on a free loopback port in this process: the port, and the task
    /// that serves (cancelled to stop it).
    static func serve(_ server: HeavenServer) async throws -> (port: Int, serving: Task<Void, any Error>) {
        let ready = AsyncStream<Int>.makeStream()
        let serving = Task {
            try await server.serve(host: "127.0.0.1", port: 0) { port in ready.continuation.yield(port) }
        }
        var ports = ready.stream.makeAsyncIterator()
        guard let port = await ports.next() else {
            serving.cancel()
            throw BenchError("the server did not start")
        }
        return (port, serving)
    }

    static func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// A program built beside this one.
    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent(name).path
    }

    /// A workflow's YAML, written by Yams from its steps.
    static func workflow(_ name: String, _ steps: [[String: Any]]) throws -> String {
        try Yams.dump(object: ["kind": "Workflow", "name": name, "steps": steps] as [String: Any], sortKeys: true)
    }

    /// A workflow of one task that runs /bin/true.
    static let oneTask: String = (try? workflow("one", [["task": "t", "run": ["/bin/true"]]])) ?? ""

    static let begin = "<!-- bench:begin -->"
    static let end = "<!-- bench:end -->"

    static func replaceSection(in path: String, with text: String, begin: String = begin, end: String = end) throws {
        var doc = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Performance\n\n\(begin)\n\(end)\n"
        if let a = doc.range(of: begin), let b = doc.range(of: end), a.upperBound <= b.lowerBound {
            doc.replaceSubrange(a.upperBound..<b.lowerBound, with: "\n" + text + "\n")
        } else {
            doc += "\n\(begin)\n\(text)\n\(end)\n"
        }
        try doc.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func machineDescription() -> String {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #if DEBUG
            let build = "debug build"
        #else
            let build = "release build"
        #endif
        return "\(ThisMachine.cores) cores, \(Int(ThisMachine.memory / 1_073_741_824)) GiB, Linux \(release), \(build)"
    }

    /// Runs a workflow in a fresh home; returns its wall time.
    static func timeRun(_ home: String, _ yaml: String, controller: RunController = RunController()) async throws -> (
        seconds: Double, run: RunRecord
    ) {
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let store = try SQLiteStore(
            path: home + "/heaven.sqlite", liveness: Engine.processLiveness)
        let engine = Engine(home: HeavenHome(root: home), stores: Stores(store))
        let load = Loader.load(text: yaml, path: home + "/bench.yaml")
        guard load.isValid else { throw DiagnosticsError(load.diagnostics) }
        let start = Date()
        let created = try await engine.createRun(
            load: load, workflow: nil, inputs: [:], outDirectory: nil, user: Bench.user, directory: home)
        let run = try await engine.execute(runID: created.id, load: load, controller: controller)
        let seconds = Date().timeIntervalSince(start)
        guard run.status == .succeeded || run.status == .cancelled else {
            throw ValidationError("benchmark run failed: \(run.error ?? run.status.rawValue)")
        }
        return (seconds, run)
    }

    /// The median wall time of `heaven run` of a one-task workflow, as a new process.
    static func startup(_ home: String, heaven me: String, runs: Int) throws -> Double {
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let file = home + "/one.yaml"
        try Bench.oneTask.write(toFile: file, atomically: true, encoding: .utf8)
        guard FileManager.default.isExecutableFile(atPath: me) else {
            throw ValidationError("W3 starts `heaven`, which is not at \(me) (build it, or name it with --heaven PATH)")
        }
        var times: [Double] = []
        for _ in 0..<runs {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: me)
            p.arguments = ["run", "-q", file]
            var env = ProcessInfo.processInfo.environment
            env["HEAVEN_HOME"] = home
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            let start = Date()
            try p.run()
            p.waitUntilExit()
            times.append(Date().timeIntervalSince(start))
            if p.terminationStatus != 0 {
                throw ValidationError("start-up run failed with status \(p.terminationStatus)")
            }
        }
        return times.sorted()[times.count / 2]
    }

    /// Resident memory growth per pending item of a large foreach, sampled once
    /// `settle` tasks have run; the run is then cancelled.
    static func foreachMemory(_ home: String, items: Int, settle: Int) async throws -> (
        perItem: Double, growth: Double, pending: Int
    ) {
        let baseline = residentBytes()
        let controller = RunController()
        let sampler = Task.detached { () -> (Double, Int) in
            while true {
                try? await Task.sleep(for: .milliseconds(50))
                if let p = controller.progress, p.succeeded >= settle {
                    let rss = residentBytes()
                    controller.cancel()
                    return (rss, p.pending)
                }
            }
        }
        let w4 = try Bench.workflow(
            "w4",
            [
                [
                    "foreach": "${range(\(items))}", "as": "i", "parallel": 2,
                    "steps": [["task": "t", "run": ["/bin/true"]]],
                ]
            ])
        _ = try await timeRun(home, w4, controller: controller)
        let (rss, pending) = await sampler.value
        let growth = max(0, rss - baseline)
        return (growth / Double(max(1, pending)), growth, pending)
    }

    static func residentBytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    /// Seconds to place `size` tasks over `size` nodes.
    static func placement(size: Int) throws -> Double {
        let location = SourceLocation(file: "bench", line: 1, column: 1)
        let nodes = (0..<size).map { i in
            NodeSpec(
                name: "n\(i)", cores: 1 + i % 4, memory: 4e9, arch: "x86_64", software: i % 3 == 0 ? ["gdal"] : [],
                tags: i % 2 == 0 ? ["cluster"] : ["ws"])
        }
        var catalog = Catalog()
        catalog.sites = [
            Catalog.SiteEntry(
                site: Site(
                    name: "grid", connector: .local, owner: Principal(.user, "bench"), nodes: nodes,
                    location: location),
                registeredBy: "bench")
        ]
        let vm = VirtualMachine(
            name: "w", count: size, cores: 1, memory: 1e9,
            requirements: try Expression(parsing: "cores >= 1 && memory >= 1GiB && arch == \"x86_64\""),
            rank: try Expression(parsing: "cores"), location: location)
        let topology = Topology(name: "bench", machines: [vm], location: location)
        let start = Date()
        let result = Broker(catalog: catalog).place(topology, for: Identity(user: "bench"))
        let seconds = Date().timeIntervalSince(start)
        guard case .success(let p) = result, p.machines.count == size else { throw ValidationError("placement failed") }
        return seconds
    }
}

/// The raw limit: spawning and reaping /bin/true with posix_spawn in a tight loop.
enum RawSpawn {
    static func rate(count: Int, inFlight: Int) -> Double {
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { free(argv[0]) }
        let start = Date()
        var running = 0
        var started = 0
        var done = 0
        while done < count {
            while running < inFlight && started < count {
                var pid: pid_t = 0
                if posix_spawn(&pid, "/bin/true", nil, nil, &argv, environ) == 0 {
                    running += 1
                    started += 1
                } else {
                    break
                }
            }
            var status: Int32 = 0
            if waitpid(-1, &status, 0) > 0 {
                running -= 1
                done += 1
            }
        }
        return Double(count) / Date().timeIntervalSince(start)
    }
}
