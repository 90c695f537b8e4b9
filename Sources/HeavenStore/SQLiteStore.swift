import Foundation
import GRDB
import GRDBSQLite
public import HeavenCore
public import HeavenModel

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded store: one SQLite file in WAL mode, written through GRDB with
/// group commit. `synchronous=NORMAL`: a killed process loses nothing committed;
/// only a power cut may lose the last transactions.
public final class SQLiteStore: RunStore, CatalogStore, ChangeObserving {
    let pool: DatabasePool
    let batcher: WriteBatcher
    /// Wakes those waiting for this process's commits (events, cancellations, capacity, sites).
    let feed = ChangeFeed()
    /// The database file.
    public let path: String
    /// Tells whether a recorded process (pid, start time) still runs.
    let liveness: ProcessLiveness

    /// Opens (creating and migrating when needed) the database at `path`.
    public init(path: String, liveness: @escaping ProcessLiveness = { _, _ in true }) throws {
        self.path = path
        self.liveness = liveness
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // Several processes may open a new database at once: one at a time creates and migrates it.
            let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if lock >= 0 { flock(lock, LOCK_EX) }
            defer {
                if lock >= 0 {
                    flock(lock, LOCK_UN)
                    close(lock)
                }
            }
            pool = try DatabasePool(path: path, configuration: config)
            try SQLiteStore.migrator.migrate(pool)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
        batcher = WriteBatcher(writer: pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runs (
                      id TEXT PRIMARY KEY,
                      workflow TEXT NOT NULL,
                      user TEXT NOT NULL,
                      status TEXT NOT NULL,
                      sources TEXT NOT NULL,
                      inputs TEXT NOT NULL,
                      outputs TEXT,
                      out_dir TEXT,
                      error TEXT,
                      created_at REAL NOT NULL,
                      started_at REAL,
                      finished_at REAL,
                      owner_pid INTEGER,
                      owner_start TEXT,
                      cancel_requested INTEGER NOT NULL DEFAULT 0,
                      directory TEXT NOT NULL DEFAULT '/'
                    );
                    CREATE INDEX runs_created ON runs(created_at);
                    CREATE TABLE attempts (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                      task_key TEXT NOT NULL,
                      task TEXT NOT NULL,
                      number INTEGER NOT NULL,
                      status TEXT NOT NULL,
                      site TEXT,
                      slot TEXT,
                      pid INTEGER,
                      pid_start TEXT,
                      workdir TEXT,
                      started_at REAL NOT NULL,
                      finished_at REAL,
                      exit_code INTEGER,
                      signal INTEGER,
                      outputs TEXT,
                      error TEXT,
                      cpu_seconds REAL,
                      max_rss INTEGER
                    );
                    CREATE INDEX attempts_run ON attempts(run_id, task_key);
                    CREATE INDEX attempts_status ON attempts(run_id, status);
                    CREATE TABLE events (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                      time REAL NOT NULL,
                      kind TEXT NOT NULL,
                      task_key TEXT,
                      message TEXT NOT NULL
                    );
                    CREATE INDEX events_run ON events(run_id, id);
                    """)
        }
        m.registerMigration("v2-broker") { db in
            try db.execute(
                sql: """
                    CREATE TABLE sites (
                      name TEXT PRIMARY KEY,
                      document TEXT NOT NULL,
                      registered_by TEXT NOT NULL,
                      updated_at REAL NOT NULL,
                      down_until REAL,
                      down_reason TEXT
                    );
                    CREATE TABLE grants (
                      name TEXT PRIMARY KEY,
                      site TEXT NOT NULL,
                      document TEXT NOT NULL,
                      registered_by TEXT NOT NULL,
                      updated_at REAL NOT NULL
                    );
                    CREATE TABLE grant_uses (
                      grant_name TEXT NOT NULL,
                      run_id TEXT NOT NULL,
                      used_at REAL NOT NULL,
                      PRIMARY KEY (grant_name, run_id)
                    );
                    CREATE TABLE placements (
                      run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
                      placement TEXT NOT NULL
                    );
                    ALTER TABLE attempts ADD COLUMN node TEXT;
                    ALTER TABLE attempts ADD COLUMN cores INTEGER NOT NULL DEFAULT 1;
                    ALTER TABLE attempts ADD COLUMN memory REAL NOT NULL DEFAULT 0;
                    ALTER TABLE attempts ADD COLUMN grant_name TEXT;
                    CREATE INDEX attempts_node ON attempts(node, status);
                    CREATE INDEX attempts_grant ON attempts(grant_name, status);
                    """)
        }
        m.registerMigration("v3-site-health") { db in
            try db.execute(
                sql: """
                    ALTER TABLE sites ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE sites ADD COLUMN down_by TEXT;
                    UPDATE sites SET down_by = 'operator' WHERE down_until IS NOT NULL;
                    """)
        }
        migrateAccounts(&m)
        migrateSecrets(&m)
        m.registerMigration("v6-holding") { db in
            // Capacity is counted by what attempts hold, not by their state: an attempt
            // that ended keeps its cores until the next attempt on its node takes them
            // over (one write that need not be waited for before the next spawn).
            try db.execute(
                sql: """
                    ALTER TABLE attempts ADD COLUMN holding INTEGER NOT NULL DEFAULT 0;
                    UPDATE attempts SET holding = 1 WHERE status = 'running';
                    DROP INDEX attempts_node;
                    DROP INDEX attempts_grant;
                    CREATE INDEX attempts_node_holding ON attempts(node) WHERE holding = 1;
                    CREATE INDEX attempts_grant_holding ON attempts(grant_name) WHERE holding = 1 AND grant_name IS \
                    NOT NULL;
                    CREATE INDEX attempts_grant_used ON attempts(grant_name, status) WHERE grant_name IS NOT NULL;
                    """)
        }
        migrateTaskIDs(&m)
        m.registerMigration("v8-reuse") { db in
            // A rerun reuses the results of an earlier run's task instances by what they ran.
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN reuses TEXT;
                    ALTER TABLE attempts ADD COLUMN fingerprint TEXT;
                    ALTER TABLE attempts ADD COLUMN reused_from TEXT;
                    """)
        }
        migrateProcesses(&m)
        migrateConsoleSessions(&m)
        m.registerMigration("v11-queued") { db in
            // When a task instance began waiting for the slot its attempt started in.
            try db.execute(sql: "ALTER TABLE attempts ADD COLUMN queued_at REAL")
        }
        migrateLedger(&m)
        m.registerMigration("v13-quote-range") { db in
            // The range a quote's cost may fall in (its maximum unknown without history).
            try db.execute(
                sql: """
                    ALTER TABLE quotes ADD COLUMN minimum INTEGER;
                    ALTER TABLE quotes ADD COLUMN maximum INTEGER;
                    """)
        }
        m.registerMigration("v14-withheld") { db in
            // A priced job whose results were withheld (over its budget): its logs too.
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0")
        }
        m.registerMigration("v15-dismissed") { db in
            // A dismissed job as a state of its own (it was the text `dismissed` in `error`).
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN dismissed INTEGER NOT NULL DEFAULT 0")
            try db.execute(sql: "UPDATE runs SET dismissed = 1 WHERE status = 'cancelled' AND error = 'dismissed'")
        }
        m.registerMigration("v16-run-documents") { db in
            // A run's documents in a table of their own, a row each (they were a JSON text in
            // `runs.sources`, decoded wherever read): a listing of runs no longer carries them.
            // A text that could not be read as documents is kept as it was, apart
            // (`run_sources_unreadable`), never lost; reading that run's documents says so.
            try db.execute(
                sql: """
                    CREATE TABLE run_documents (
                      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                      position INTEGER NOT NULL,
                      path TEXT NOT NULL,
                      text TEXT NOT NULL,
                      PRIMARY KEY (run_id, position)
                    );
                    INSERT INTO run_documents (run_id, position, path, text)
                      SELECT runs.id, CAST(d.key AS INTEGER), json_extract(d.value, '$.path'),
                        json_extract(d.value, '$.text')
                      FROM runs, json_each(runs.sources) AS d
                      WHERE json_valid(runs.sources) AND json_type(runs.sources) = 'array'
                        AND json_type(d.value, '$.path') = 'text' AND json_type(d.value, '$.text') = 'text';
                    CREATE TABLE run_sources_unreadable (run_id TEXT PRIMARY KEY, sources TEXT NOT NULL);
                    INSERT INTO run_sources_unreadable (run_id, sources)
                      SELECT id, sources FROM runs WHERE id NOT IN (SELECT run_id FROM run_documents);
                    ALTER TABLE runs DROP COLUMN sources;
                    """)
        }
        m.registerMigration("v17-attempts-by-run") { db in
            // A run's attempts in the order they were recorded (an index on the run alone
            // holds them by id): a look that follows a run reads those recorded since its
            // last, whatever other runs recorded meanwhile.
            try db.execute(sql: "CREATE INDEX attempts_by_run ON attempts(run_id)")
        }
        return m
    }

    static func encode(_ map: [String: Value]?) -> String? {
        // Most tasks have no outputs: no encoder for them.
        map.map { $0.isEmpty ? "{}" : Value.map($0).jsonText }
    }

    /// A map of values as recorded (nil when none was): an error, never an empty map,
    /// when the text is not one.
    static func decode(_ text: String?, _ what: @autoclosure () -> String) throws(StoreError) -> [String: Value]? {
        guard let text else { return nil }
        guard let v = try? Value(json: text), case .map(let m) = v else {
            throw .corrupt("\(what()) cannot be read as values: \(text.prefix(80))")
        }
        return m
    }

    static func date(_ d: Double?) -> Date? { d.map { Date(timeIntervalSince1970: $0) } }

    static func runRecord(_ row: Row) throws -> RunRecord {
        let id: String = row["id"]
        guard let status = RunStatus(rawValue: row["status"]) else {
            throw StoreError.corrupt("run \(id)'s status `\(row["status"] as String? ?? "")` is not one")
        }
        var r = RunRecord(
            id: id, workflow: row["workflow"], user: row["user"], status: status,
            inputs: try decode(row["inputs"], "run \(id)'s inputs") ?? [:],
            outputs: try decode(row["outputs"], "run \(id)'s outputs"), outDirectory: row["out_dir"],
            error: row["error"], createdAt: date(row["created_at"]) ?? Date(), startedAt: date(row["started_at"]),
            finishedAt: date(row["finished_at"]), ownerPID: row["owner_pid"], ownerStart: row["owner_start"],
            cancelRequested: (row["cancel_requested"] as Int?) == 1, directory: row["directory"] ?? "/",
            reuses: row["reuses"], process: row["process"], processVersion: row["process_version"])
        r.withheld = (row["withheld"] as Int?) == 1
        r.dismissed = (row["dismissed"] as Int?) == 1
        return r
    }

    static func attemptRecord(_ row: Row) throws -> AttemptRecord {
        let what =
            """
            attempt \(row["number"] as Int? ?? 0) of `\(row["task_key"] as String? ?? "")` in run \
            \(row["run_id"] as String? ?? "")
            """
        guard let status = AttemptStatus(rawValue: row["status"]) else {
            throw StoreError.corrupt("\(what)'s status `\(row["status"] as String? ?? "")` is not one")
        }
        return AttemptRecord(
            id: row["id"], runID: row["run_id"], taskKey: row["task_key"], task: row["task"], number: row["number"],
            status: status, site: row["site"], slot: row["slot"],
            pid: row["pid"], pidStart: row["pid_start"], workDirectory: row["workdir"],
            startedAt: date(row["started_at"]) ?? Date(), finishedAt: date(row["finished_at"]),
            exitCode: row["exit_code"], signal: row["signal"], outputs: try decode(row["outputs"], "\(what)'s outputs"),
            error: row["error"], cpuSeconds: row["cpu_seconds"], maxRSS: row["max_rss"], node: row["node"],
            cores: row["cores"] ?? 1,
            memory: row["memory"] ?? 0, grant: row["grant_name"], fingerprint: row["fingerprint"],
            reusedFrom: row["reused_from"], queuedAt: date(row["queued_at"]))
    }

    static func arguments(_ r: RunRecord) -> StatementArguments {
        [
            r.id, r.workflow, r.user, r.status.rawValue, encode(r.inputs) ?? "{}", encode(r.outputs),
            r.outDirectory, r.error, r.createdAt.timeIntervalSince1970, r.startedAt?.timeIntervalSince1970,
            r.finishedAt?.timeIntervalSince1970, r.ownerPID, r.ownerStart, r.cancelRequested ? 1 : 0, r.directory,
            r.reuses, r.process, r.processVersion, r.withheld ? 1 : 0, r.dismissed ? 1 : 0,
        ]
    }

    public func createRun(_ run: RunRecord, documents: [SourceFile]) async throws {
        try await batcher.write { db in try SQLiteStore.insertRun(run, documents: documents, db: db) }
        feed.notify(.runs)
    }

    static func insertRun(_ run: RunRecord, documents: [SourceFile], db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO runs (id, workflow, user, status, inputs, outputs, out_dir, error, created_at,
                  started_at, finished_at, owner_pid, owner_start, cancel_requested, directory, reuses, process,
                  process_version, withheld, dismissed)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: SQLiteStore.arguments(run))
        let insert = try db.cachedStatement(
            sql: "INSERT INTO run_documents (run_id, position, path, text) VALUES (?, ?, ?, ?)")
        for (i, d) in documents.enumerated() { try insert.execute(arguments: [run.id, i, d.path, d.text]) }
    }

    public func documents(run: String) async throws -> [SourceFile] {
        let documents = try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT path, text FROM run_documents WHERE run_id = ? ORDER BY position"),
                arguments: [run]
            ).map { SourceFile(path: $0["path"], text: $0["text"]) }
        }
        // Every run is created with at least its workflow's file.
        guard !documents.isEmpty else {
            throw StoreError.corrupt(
                "run \(run)'s documents are not recorded (a text that could not be read as them, from before "
                    + "they had rows of their own, is kept in the table run_sources_unreadable)")
        }
        return documents
    }

    public func updateRun(_ run: RunRecord) async throws {
        try await batcher.write { db in try SQLiteStore.update(run, db: db) }
        feed.notify(.runs)
    }

    static func update(_ run: RunRecord, db: Database) throws {
        // The cancel flag is only ever raised (by `requestCancel`), never lowered here.
        try db.execute(
            sql: """
                UPDATE runs SET id = ?, workflow = ?, user = ?, status = ?, inputs = ?, outputs = ?,
                  out_dir = ?, error = ?, created_at = ?, started_at = ?, finished_at = ?, owner_pid = ?,
                  owner_start = ?, cancel_requested = MAX(cancel_requested, ?), directory = ?, reuses = ?,
                  process = ?, process_version = ?, withheld = MAX(withheld, ?), dismissed = MAX(dismissed, ?)
                WHERE id = ?
                """, arguments: SQLiteStore.arguments(run) + [run.id])
    }

    public func run(_ idOrPrefix: String) async throws -> RunRecord? {
        try await pool.read { db in
            if let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM runs WHERE id = ?"), arguments: [idOrPrefix])
            {
                return try SQLiteStore.runRecord(row)
            }
            let escaped = idOrPrefix.replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "_", with: "")
            guard !escaped.isEmpty else { return nil }
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM runs WHERE id LIKE ? ORDER BY created_at DESC LIMIT 10"),
                arguments: [escaped + "%"])
            if rows.count > 1 { throw StoreError.ambiguous(idOrPrefix, rows.map { $0["id"] }) }
            return try rows.first.map { try SQLiteStore.runRecord($0) }
        }
    }

    public func runs(limit: Int) async throws -> [RunRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM runs ORDER BY created_at DESC LIMIT ?"), arguments: [limit]
            )
            .map { try SQLiteStore.runRecord($0) }
        }
    }

    public func startAttempt(_ a: AttemptRecord, checking limits: CapacityLimits?) async throws -> AttemptStart {
        let isAlive = liveness
        let start = try await batcher.write { db -> AttemptStart in
            if let limits, let why = try SQLiteStore.refusal(a, limits, db: db, isAlive: isAlive) {
                return .refused(why)
            }
            try SQLiteStore.insert(a, db: db)
            return .started(db.lastInsertedRowID)
        }
        if case .started = start { feed.notify(.attempts(run: a.runID)) }
        return start
    }

    /// Records an attempt as started, holding its capacity.
    static func insert(_ a: AttemptRecord, db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO attempts (run_id, task_key, task, number, status, site, slot, pid, pid_start, workdir, \
                started_at,
                  node, cores, memory, grant_name, holding, fingerprint, queued_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                """
        ).execute(
            arguments: [
                a.runID, a.taskKey, a.task, a.number, a.status.rawValue, a.site, a.slot, a.pid, a.pidStart,
                a.workDirectory, a.startedAt.timeIntervalSince1970, a.node, a.cores, a.memory, a.grant, a.fingerprint,
                a.queuedAt?.timeIntervalSince1970,
            ])
    }

    public func startAttempt(_ a: AttemptRecord, takingOver previous: AttemptKey) {
        let feed = feed
        batcher.submit(
            { db in
                try SQLiteStore.insert(a, db: db)
                try db.cachedStatement(
                    sql: "UPDATE attempts SET holding = 0 WHERE run_id = ? AND task_key = ? AND number = ?"
                ).execute(arguments: [previous.runID, previous.taskKey, previous.number])
            }, then: { feed.notify(.attempts(run: a.runID)) })
    }

    public func releaseHolds(_ attempts: [AttemptKey]) {
        guard !attempts.isEmpty else { return }
        let feed = feed
        batcher.submit(
            { db in
                let statement = try db.cachedStatement(
                    sql: """
                        UPDATE attempts SET holding = 0
                        WHERE run_id = ? AND task_key = ? AND number = ? AND status != 'running'
                        """)
                for k in attempts { try statement.execute(arguments: [k.runID, k.taskKey, k.number]) }
            }, then: { feed.notify(.capacity) })
    }

    /// Whether an attempt fits its node and grant, counting the running attempts of
    /// runs whose driving process is alive (a crashed run holds nothing).
    static func refusal(
        _ a: AttemptRecord, _ limits: CapacityLimits, db: Database, isAlive: @Sendable (Int32, String?) -> Bool
    ) throws -> String? {
        func liveRuns(_ rows: [Row]) -> [Row] {
            var alive: [String: Bool] = [:]
            return rows.filter { row in
                let run: String = row["run_id"]
                if run == a.runID { return true }
                if let known = alive[run] { return known }
                let pid: Int32? = row["owner_pid"]
                let ok = pid.map { isAlive($0, row["owner_start"]) } ?? false
                alive[run] = ok
                return ok
            }
        }
        if let node = a.node {
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT a.run_id, a.cores, a.memory, r.owner_pid, r.owner_start FROM attempts a JOIN runs r ON \
                        r.id = a.run_id
                        WHERE a.node = ? AND a.holding = 1
                        """), arguments: [node])
            let live = liveRuns(rows)
            let cores = live.reduce(0) { $0 + ($1["cores"] as Int? ?? 0) }
            let memory = live.reduce(0.0) { $0 + ($1["memory"] as Double? ?? 0) }
            if cores + a.cores > limits.nodeCores {
                return "node \(node): \(cores) of \(limits.nodeCores) cores in use"
            }
            if let m = limits.nodeMemory, memory + a.memory > m { return "node \(node): memory in use" }
        }
        if let grant = a.grant, let most = limits.grantCores {
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT a.run_id, a.cores, r.owner_pid, r.owner_start FROM attempts a JOIN runs r ON r.id = \
                        a.run_id
                        WHERE a.grant_name = ? AND a.holding = 1
                        """), arguments: [grant])
            let used = liveRuns(rows).reduce(0, { $0 + ($1["cores"] as Int? ?? 0) })
            if used + a.cores > most { return "grant \(grant): \(used) of \(most) cores in use" }
        }
        if let grant = a.grant, let hours = limits.grantCoreHours {
            let used = try coreHours(grant: grant, db: db)
            if used >= hours {
                return
                    """
                    grant \(grant): core-hours used up (\(String(format: "%.4g", used)) of \
                    \(String(format: "%.4g", hours)))
                    """
            }
        }
        return nil
    }

    /// Core-hours charged to a grant: cores × wall time of its attempts (running ones up to now).
    static func coreHours(grant: String, db: Database) throws -> Double {
        let now = Date().timeIntervalSince1970
        let seconds =
            try Double.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT COALESCE(SUM(cores * (COALESCE(finished_at, ?) - started_at)), 0) FROM attempts
                        WHERE grant_name = ? AND status != 'lost'
                        """), arguments: [now, grant]) ?? 0
        return seconds / 3600
    }

    public func noteAttemptProcess(_ key: AttemptKey, pid: Int32, pidStart: String?) {
        batcher.submit { db in
            try db.cachedStatement(
                sql: "UPDATE attempts SET pid = ?, pid_start = ? WHERE run_id = ? AND task_key = ? AND number = ?"
            )
            .execute(arguments: [pid, pidStart, key.runID, key.taskKey, key.number])
        }
    }

    public func finishAttempt(_ a: AttemptRecord) async throws {
        try await finishAttempt(a, passing: { false })
    }

    public func finishAttempt(_ a: AttemptRecord, passing: @Sendable () -> Bool) async throws {
        var work = UnitOfWork()
        work.finishAttempt(a)
        try await commit(work, passing: passing)
    }

    /// Records how an attempt ended (`holding`: its capacity passes to the next attempt on its node).
    static func finish(_ a: AttemptRecord, holding: Bool, db: Database) throws {
        try db.cachedStatement(
            sql: """
                UPDATE attempts SET status = ?, finished_at = ?, exit_code = ?, signal = ?, outputs = ?, error = ?,
                  cpu_seconds = ?, max_rss = ?, pid = COALESCE(?, pid), holding = ?
                WHERE run_id = ? AND task_key = ? AND number = ?
                """
        ).execute(
            arguments: [
                a.status.rawValue, (a.finishedAt ?? Date()).timeIntervalSince1970, a.exitCode, a.signal,
                SQLiteStore.encode(a.outputs), a.error, a.cpuSeconds, a.maxRSS, a.pid, holding ? 1 : 0, a.runID,
                a.taskKey, a.number,
            ])
        if db.changesCount != 1 {
            throw StoreError.internal("attempt \(a.number) of `\(a.taskKey)` was never recorded as started")
        }
    }

    public func cpuSeconds(run: String) async throws -> Double {
        try await pool.read { db in
            try Double.fetchOne(
                db.cachedStatement(sql: "SELECT COALESCE(SUM(cpu_seconds), 0) FROM attempts WHERE run_id = ?"),
                arguments: [run]) ?? 0
        }
    }

    public func attempts(run: String) async throws -> [AttemptRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM attempts WHERE run_id = ? ORDER BY id"), arguments: [run]
            )
            .map { try SQLiteStore.attemptRecord($0) }
        }
    }

    public func attemptChanges(run: String, after: Int64, running: [Int64]) async throws -> [AttemptSummary] {
        try await pool.read { db in
            // The run's attempts recorded after `after`, in order, through `attempts_by_run`
            // (the run's ids, ordered): what changed, however large the run or the table.
            let columns = SQLiteStore.summaryColumns
            var out = try SQLiteStore.attemptSummaries(
                db.cachedStatement(
                    sql: "SELECT \(columns) FROM attempts INDEXED BY attempts_by_run WHERE run_id = ? AND id > ?"),
                [run, after], db: db, run: run)
            // Those seen running (their ids are at most `after`: not read above).
            let again = running.filter { $0 <= after }
            for start in stride(from: 0, to: again.count, by: 500) {
                let chunk = again[start..<min(start + 500, again.count)]
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                out += try SQLiteStore.attemptSummaries(
                    db.makeStatement(sql: "SELECT \(columns) FROM attempts WHERE id IN (\(marks)) AND +run_id = ?"),
                    StatementArguments(Array(chunk)) + [run], db: db, run: run)
            }
            return out
        }
    }

    /// The columns an `AttemptSummary` is read from, in the order `attemptSummaries` reads them.
    static let summaryColumns = """
        id, task_key, number, status, site, node, started_at, queued_at, finished_at, exit_code, signal, error, \
        reused_from
        """

    /// The summaries of the attempts a statement selecting `summaryColumns` of run `run`
    /// returns, in its order. Stepped through SQLite's own API: a console's first look at
    /// a run of 100,000 attempts reads them all, and GRDB's rows (a generic conversion per
    /// column) took three times as long.
    static func attemptSummaries(
        _ statement: Statement, _ arguments: StatementArguments, db: Database, run: String
    ) throws -> [AttemptSummary] {
        try statement.setArguments(arguments)
        let s = statement.sqliteStatement
        defer { sqlite3_reset(s) }
        func text(_ i: Int32) -> String? {
            guard let p = sqlite3_column_text(s, i) else { return nil }  // NULL
            return String(
                decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(s, i))), as: UTF8.self)
        }
        func real(_ i: Int32) -> Double? {
            sqlite3_column_type(s, i) == SQLITE_NULL ? nil : sqlite3_column_double(s, i)
        }
        func int(_ i: Int32) -> Int64? { sqlite3_column_type(s, i) == SQLITE_NULL ? nil : sqlite3_column_int64(s, i) }
        var out: [AttemptSummary] = []
        while true {
            let code = sqlite3_step(s)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                    sql: statement.sql)
            }
            let number = Int(sqlite3_column_int64(s, 2))
            let key = text(1) ?? ""
            let status = text(3) ?? ""
            guard let known = AttemptStatus(rawValue: status) else {
                throw StoreError.corrupt("attempt \(number) of `\(key)` in run \(run): status `\(status)`")
            }
            out.append(
                AttemptSummary(
                    id: sqlite3_column_int64(s, 0), taskKey: key, number: number, status: known, site: text(4),
                    node: text(5), startedAt: Date(timeIntervalSince1970: sqlite3_column_double(s, 6)),
                    queuedAt: SQLiteStore.date(real(7)), finishedAt: SQLiteStore.date(real(8)),
                    exitCode: int(9).map { Int32(truncatingIfNeeded: $0) },
                    signal: int(10).map { Int32(truncatingIfNeeded: $0) }, error: text(11), reusedFrom: text(12)))
        }
        return out
    }

    public func succeededOutputs(run: String) async throws -> [String: [String: Value]] {
        try await pool.read { db in
            var out: [String: [String: Value]] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT task_key, outputs FROM attempts WHERE run_id = ? AND status = 'succeeded'",
                arguments: [run])
            while let row = try rows.next() {
                let key: String = row["task_key"]
                out[key] = try SQLiteStore.decode(row["outputs"], "the outputs of `\(key)` in run \(run)") ?? [:]
            }
            return out
        }
    }

    public func reusableAttempts(run: String) async throws -> [String: AttemptRecord] {
        try await pool.read { db in
            var out: [String: AttemptRecord] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT * FROM attempts WHERE run_id = ? AND status = 'succeeded' AND fingerprint IS NOT NULL",
                arguments: [run])
            while let row = try rows.next() {
                let a = try SQLiteStore.attemptRecord(row)
                if let f = a.fingerprint { out[f] = a }
            }
            return out
        }
    }

    public func recordReused(_ a: AttemptRecord) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO attempts (run_id, task_key, task, number, status, site, workdir, started_at, \
                    finished_at,
                      outputs, node, cores, memory, holding, fingerprint, reused_from)
                    VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)
                    """,
                arguments: [
                    a.runID, a.taskKey, a.task, a.number, a.site, a.workDirectory, a.startedAt.timeIntervalSince1970,
                    (a.finishedAt ?? a.startedAt).timeIntervalSince1970, SQLiteStore.encode(a.outputs), a.node,
                    a.fingerprint, a.reusedFrom,
                ])
        }
        feed.notify(.attempts(run: a.runID))
    }

    public func markRunningAttemptsLost(run: String, reason: String) async throws -> [AttemptRecord] {
        defer {
            feed.notify(.attempts(run: run))
            feed.notify(.capacity)
        }
        return try await batcher.write { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM attempts WHERE run_id = ? AND status = 'running'"),
                arguments: [run])
            try db.execute(
                sql:
                    """
                    UPDATE attempts SET status = 'lost', error = ?, finished_at = ? WHERE run_id = ? AND status = \
                    'running'
                    """,
                arguments: [reason, Date().timeIntervalSince1970, run])
            try db.execute(sql: "UPDATE attempts SET holding = 0 WHERE run_id = ? AND holding = 1", arguments: [run])
            return try rows.map { try SQLiteStore.attemptRecord($0) }
        }
    }

    static func attemptCounts(run: String, db: Database) throws -> AttemptCounts {
        var c = AttemptCounts()
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT status, COUNT(*) AS n FROM attempts WHERE run_id = ? GROUP BY status"),
            arguments: [run])
        {
            let n: Int = row["n"]
            switch AttemptStatus(rawValue: row["status"]) {
            case .running: c.running = n
            case .succeeded: c.succeeded = n
            case .lost: c.lost = n
            default: c.failed += n
            }
        }
        return c
    }

    public func appendEvent(_ e: EventRecord) async throws {
        try await batcher.write { db in try SQLiteStore.insert(e, db: db) }
        feed.notify(.events(run: e.runID))
    }

    static func insert(_ e: EventRecord, db: Database) throws {
        try db.execute(
            sql: "INSERT INTO events (run_id, time, kind, task_key, message) VALUES (?, ?, ?, ?, ?)",
            arguments: [e.runID, e.time.timeIntervalSince1970, e.kind.rawValue, e.taskKey, e.message])
    }

    public func events(run: String, after: Int64, limit: Int) async throws -> [EventRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?"),
                arguments: [run, after, limit]
            ).map {
                let kind: String = $0["kind"]
                guard let known = EventKind(rawValue: kind) else {
                    throw StoreError.internal("event \($0["id"] as Int64) of run \(run) has an unknown kind `\(kind)`")
                }
                return EventRecord(
                    id: $0["id"], runID: $0["run_id"], time: Date(timeIntervalSince1970: $0["time"]), kind: known,
                    taskKey: $0["task_key"], message: $0["message"])
            }
        }
    }

    public func requestCancel(run: String) async throws -> RunRecord? {
        let record = try await batcher.write { db in
            try db.execute(sql: "UPDATE runs SET cancel_requested = 1 WHERE id = ?", arguments: [run])
            return try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM runs WHERE id = ?"), arguments: [run]).map(
                SQLiteStore.runRecord)
        }
        feed.notify(.cancel(run: run))
        feed.notify(.runs)
        return record
    }

    public func generation(of topic: StoreChange) -> UInt64 { feed.generation(of: topic) }

    public func waitForChange(of topic: StoreChange, after generation: UInt64, timeout: Duration) async {
        await feed.wait(for: topic, after: generation, timeout: timeout)
    }

    public func waitForChange(of seen: [StoreChange: UInt64], timeout: Duration) async {
        await feed.wait(for: seen, timeout: timeout)
    }
}
