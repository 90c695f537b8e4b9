public import Foundation
import GRDB
public import HeavenCore

extension SQLiteStore: ProcessStore {
    static func migrateProcesses(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9-processes") { db in
            // Published processes, and which process (and version) a run is a job of.
            try db.execute(
                sql: """
                    CREATE TABLE processes (
                      id TEXT PRIMARY KEY,
                      version TEXT NOT NULL,
                      owner TEXT NOT NULL,
                      visibility TEXT NOT NULL,
                      documents TEXT NOT NULL,
                      created_at REAL NOT NULL,
                      updated_at REAL NOT NULL
                    );
                    ALTER TABLE runs ADD COLUMN process TEXT;
                    ALTER TABLE runs ADD COLUMN process_version TEXT;
                    ALTER TABLE runs ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX runs_process ON runs(process, created_at);
                    """)
        }
    }

    static func processRecord(_ row: Row) throws -> ProcessRecord {
        let documents = try JSONDecoder().decode([ProcessDocument].self, from: Data((row["documents"] as String).utf8))
        return ProcessRecord(
            id: row["id"], version: row["version"], owner: row["owner"],
            visibility: ProcessVisibility(row["visibility"] as String) ?? .private, documents: documents,
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    static func documentsText(_ p: ProcessRecord) throws -> String {
        String(decoding: try JSONEncoder().encode(p.documents), as: UTF8.self)
    }

    public func deployProcess(_ p: ProcessRecord) async throws -> Bool {
        let documents = try SQLiteStore.documentsText(p)
        return try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO processes (id, version, owner, visibility, documents, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING
                    """,
                arguments: [
                    p.id, p.version, p.owner, p.visibility.description, documents, p.createdAt.timeIntervalSince1970,
                    p.updatedAt.timeIntervalSince1970,
                ])
            return db.changesCount == 1
        }
    }

    public func replaceProcess(_ p: ProcessRecord) async throws -> Bool {
        let documents = try SQLiteStore.documentsText(p)
        return try await batcher.write { db in
            try db.execute(
                sql: "UPDATE processes SET version = ?, visibility = ?, documents = ?, updated_at = ? WHERE id = ?",
                arguments: [
                    p.version, p.visibility.description, documents, p.updatedAt.timeIntervalSince1970, p.id,
                ])
            return db.changesCount == 1
        }
    }

    public func process(_ id: String) async throws -> ProcessRecord? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM processes WHERE id = ?"), arguments: [id]).map(
                SQLiteStore.processRecord)
        }
    }

    public func processExists(_ id: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM processes WHERE id = ?"), arguments: [id]) ?? false
        }
    }

    public func processes(visibleTo user: UserRecord?, limit: Int, offset: Int) async throws -> [ProcessRecord] {
        try await pool.read { db in
            var arguments: [any DatabaseValueConvertible] = []
            var condition = "visibility = 'public'"
            if let user {
                if user.admin {
                    condition = "1"
                } else {
                    condition += " OR owner = ?"
                    arguments.append(user.name)
                    if !user.groups.isEmpty {
                        condition += " OR visibility IN (\(user.groups.map { _ in "?" }.joined(separator: ", ")))"
                        arguments += user.groups.map { "group:\($0)" }
                    }
                }
            }
            arguments += [limit, offset]
            return try Row.fetchAll(
                db, sql: "SELECT * FROM processes WHERE \(condition) ORDER BY id LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments)
            ).map(SQLiteStore.processRecord)
        }
    }

    public func undeployProcess(_ id: String) async throws -> Bool {
        try await batcher.write { db in
            try db.execute(sql: "DELETE FROM processes WHERE id = ?", arguments: [id])
            return db.changesCount == 1
        }
    }

    public func jobs(readableBy readers: RunReaders, _ q: JobQuery, now: Date) async throws -> (
        runs: [RunRecord], more: Bool
    ) {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            if !readers.everyone {
                let readable = SQLiteStore.condition(readers)
                conditions.append(readable.sql)
                arguments += readable.arguments
            }
            if !q.processIDs.isEmpty {
                conditions.append(
                    "COALESCE(process, workflow) IN (\(q.processIDs.map { _ in "?" }.joined(separator: ", ")))")
                arguments += q.processIDs
            }
            if !q.statuses.isEmpty {
                conditions.append("status IN (\(q.statuses.map { _ in "?" }.joined(separator: ", ")))")
                arguments += q.statuses.map(\.rawValue)
            }
            if let from = q.createdFrom {
                conditions.append("created_at >= ?")
                arguments.append(from.timeIntervalSince1970)
            }
            if let to = q.createdTo {
                conditions.append("created_at <= ?")
                arguments.append(to.timeIntervalSince1970)
            }
            let duration = "(COALESCE(finished_at, ?) - COALESCE(started_at, created_at))"
            if let d = q.minDuration {
                conditions.append("\(duration) >= ?")
                arguments += [now.timeIntervalSince1970, d]
            }
            if let d = q.maxDuration {
                conditions.append("\(duration) <= ?")
                arguments += [now.timeIntervalSince1970, d]
            }
            arguments += [q.limit + 1, q.offset]
            let rows = try Row.fetchAll(
                db,
                sql:
                    """
                    SELECT * FROM \
                    runs\(conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")) ORDER BY \
                    created_at DESC, id DESC LIMIT ? OFFSET ?
                    """,
                arguments: StatementArguments(arguments))
            return (try rows.prefix(q.limit).map { try SQLiteStore.runRecord($0) }, rows.count > q.limit)
        }
    }

    public func progress(run: String) async throws -> Int {
        // Read; written only when it went up (a job's status is polled far more often
        // than its progress changes).
        let (told, now) = try await pool.read { db -> (Int, Int) in
            guard
                let r = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT status, progress FROM runs WHERE id = ?"), arguments: [run])
            else { return (0, 0) }
            // Finished work is 100 only when the run succeeded; until then at most 99.
            if (r["status"] as String?) == RunStatus.succeeded.rawValue { return (r["progress"], 100) }
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT COUNT(DISTINCT task_key) AS known,
                          COUNT(DISTINCT CASE WHEN status = 'succeeded' THEN task_key END) AS done
                        FROM attempts WHERE run_id = ?
                        """), arguments: [run])
            let known: Int = row?["known"] ?? 0
            let done: Int = row?["done"] ?? 0
            return (r["progress"], known == 0 ? 0 : min(99, done * 100 / known))
        }
        if now <= told { return told }
        try await batcher.write { db in
            try db.execute(sql: "UPDATE runs SET progress = MAX(progress, ?) WHERE id = ?", arguments: [now, run])
        }
        return now
    }
}
