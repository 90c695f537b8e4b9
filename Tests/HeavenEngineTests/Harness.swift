import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import HeavenTestSupport

/// A private `$HEAVEN_HOME` with a real SQLite store; removed when dropped.
final class Harness: Sendable {
    let home: String
    let store: SQLiteStore
    let engine: Engine

    init(killGrace: Double = 1, probeInterval: Double? = nil, retryBase: Double? = nil) throws {
        home = NSTemporaryDirectory() + "heaven-engine-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        store = try SQLiteStore(
            path: home + "/heaven.sqlite", liveness: { ProcessProbe.isAlive(pid: $0, startTime: $1) })
        engine = Engine(
            home: HeavenHome(root: home), stores: Stores(store), killGrace: killGrace, probeInterval: probeInterval,
            retryBase: retryBase)
    }

    deinit { try? FileManager.default.removeItem(atPath: home) }

    /// A local site of `cores` cores, so tests do not depend on the machine's size.
    static func site(cores: Int) -> String {
        "kind: Site\nname: here\nconnector: local\nnodes:\n  - {name: n, cores: \(cores), memory: 8GiB}\n---\n"
    }

    func create(_ yaml: String, inputs: [String: Value] = [:], out: String? = nil) async throws -> RunRecord {
        try await create(sources: [SourceFile(path: home + "/workflow.yaml", text: yaml)], inputs: inputs, out: out)
    }

    /// A run of the files `sources`, as `heaven run` reads them (`call:` finds files on disk).
    func create(sources: [SourceFile], inputs: [String: Value] = [:], out: String? = nil) async throws -> RunRecord {
        let load = Loader.load(sources: sources)
        if !load.isValid { throw DiagnosticsError(load.diagnostics) }
        return try await engine.createRun(
            load: load, workflow: nil, inputs: inputs, outDirectory: out, user: testUser, directory: home)
    }

    func run(_ yaml: String, inputs: [String: Value] = [:], controller: RunController = RunController()) async throws
        -> (RunRecord, [AttemptRecord])
    {
        let created = try await create(yaml, inputs: inputs)
        let final = try await engine.execute(runID: created.id, controller: controller)
        return (final, try await store.attempts(run: final.id))
    }

    /// What an attempt printed: its combined log, or its standard output when kept apart.
    func stdout(_ run: RunRecord, _ a: AttemptRecord) -> String { log(run, a, ["log", "out"]) }

    /// What an attempt wrote on its standard error (its combined log when not kept apart).
    func stderr(_ run: RunRecord, _ a: AttemptRecord) -> String { log(run, a, ["err", "log"]) }

    /// The first of an attempt's logs `streams` that exists.
    private func log(_ run: RunRecord, _ a: AttemptRecord, _ streams: [String]) -> String {
        let layout = RunLayout(root: "\(home)/runs/\(run.id)")
        for stream in streams {
            if let text = try? String(contentsOfFile: layout.log(a.taskKey, attempt: a.number, stream), encoding: .utf8)
            {
                return text
            }
        }
        return ""
    }
}

extension Harness {
    /// Shell that waits until `condition` holds, polling every 50 ms; after 20 s the task
    /// gives up with status 7, so a test whose ordering never comes fails instead of hanging.
    static func waitUntil(_ condition: String, seconds: Int = 20) -> String {
        "hv_n=0; until \(condition); do hv_n=$((hv_n + 1)); [ $hv_n -gt \(seconds * 20) ] && exit 7; sleep 0.05; done"
    }

    /// A directory where tasks mark their start and end (`started/`, `ended/`).
    func syncDirectory() throws -> String {
        let dir = home + "/sync-\(UUID().uuidString.prefix(8))"
        for sub in ["started", "ended"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        return dir
    }

    /// Shell that marks the task started in `dir` and prints how many tasks are in flight
    /// there (started and not ended, itself included): an ordering fact, not a clock.
    static func arrive(_ dir: String) -> String {
        """
        hv_me=$(printf %s \"$HEAVEN_RUN.$HEAVEN_TASK\" | tr / .); touch \(dir)/started/$hv_me; echo $(( $(ls \
        \(dir)/started | wc -l) - $(ls \(dir)/ended | wc -l) ))
        """
    }

    /// Shell that marks the task (which ran `arrive`) ended.
    static func leave(_ dir: String) -> String { "touch \(dir)/ended/$hv_me" }

    /// Shell that waits until at least `n` tasks have started in `dir`.
    static func awaitStarted(_ dir: String, _ n: String) -> String {
        waitUntil("[ $(ls \(dir)/started | wc -l) -ge \(n) ]")
    }

    /// The in-flight counts the tasks printed (an output `inFlight` of each).
    static func counts(_ v: Value?) -> [Int] {
        guard case .list(let items)? = v else { return [] }
        return items.compactMap { if case .int(let n) = $0 { n } else { nil } }
    }
}

extension SlurmTestCluster {
    /// A Site document for this cluster, owned by the tests' user.
    func site(_ name: String, cores: Int = 4, price: Double = 0, via: String? = nil, software: [String] = []) -> String
    {
        site(name, owner: testUser, cores: cores, price: price, via: via, software: software)
    }
}
