public import Foundation
import GRDB
public import HeavenCore

extension SQLiteStore: AccountStore {
    static func migrateAccounts(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4-accounts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                      name TEXT PRIMARY KEY,
                      admin INTEGER NOT NULL DEFAULT 0,
                      created_at REAL NOT NULL
                    );
                    CREATE TABLE memberships (
                      user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                      grp TEXT NOT NULL,
                      PRIMARY KEY (user, grp)
                    );
                    CREATE TABLE tokens (
                      id TEXT PRIMARY KEY,
                      user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                      hash TEXT NOT NULL UNIQUE,
                      label TEXT,
                      created_at REAL NOT NULL,
                      expires_at REAL,
                      revoked_at REAL
                    );
                    CREATE TABLE run_shares (
                      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                      grp TEXT NOT NULL,
                      PRIMARY KEY (run_id, grp)
                    );
                    CREATE INDEX run_shares_group ON run_shares(grp);
                    CREATE INDEX runs_user ON runs(user, created_at);
                    CREATE TABLE audit (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      at REAL NOT NULL,
                      user TEXT,
                      method TEXT NOT NULL,
                      path TEXT NOT NULL,
                      status INTEGER NOT NULL,
                      detail TEXT
                    );
                    -- Append-only: the log cannot be edited or pruned through SQL.
                    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                      BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                      BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """)
        }
    }

    static func migrateTaskIDs(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7-task-ids") { db in
            // The uid a tenant's tasks run as: one per account, never shared, never given
            // again (files an old run left under it stay its first holder's).
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN task_uid INTEGER;
                    CREATE UNIQUE INDEX users_task_uid ON users(task_uid) WHERE task_uid IS NOT NULL;
                    CREATE TABLE task_uids (uid INTEGER PRIMARY KEY, user TEXT NOT NULL, assigned_at REAL NOT NULL);
                    CREATE TRIGGER task_uids_no_delete BEFORE DELETE ON task_uids
                      BEGIN SELECT RAISE(ABORT, 'task uids are never given again'); END;
                    """)
        }
    }

    public func saveUser(_ user: UserRecord) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO users (name, admin, created_at) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET admin = excluded.admin
                    """, arguments: [user.name, user.admin ? 1 : 0, user.createdAt.timeIntervalSince1970])
            try db.execute(sql: "DELETE FROM memberships WHERE user = ?", arguments: [user.name])
            for g in Set(user.groups).sorted() {
                try db.execute(sql: "INSERT INTO memberships (user, grp) VALUES (?, ?)", arguments: [user.name, g])
            }
        }
    }

    static func userRecord(_ db: Database, _ row: Row) throws -> UserRecord {
        let name: String = row["name"]
        let groups = try String.fetchAll(
            db.cachedStatement(sql: "SELECT grp FROM memberships WHERE user = ? ORDER BY grp"), arguments: [name])
        return UserRecord(
            name: name, groups: groups, admin: (row["admin"] as Int?) == 1,
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            taskID: (row["task_uid"] as Int64?).map { UInt32($0) })
    }

    public func taskID(for user: String, in range: ClosedRange<UInt32>) async throws -> UInt32 {
        try await batcher.write { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT task_uid FROM users WHERE name = ?"), arguments: [user])
            else {
                throw StoreError.internal("no user `\(user)`")
            }
            if let id = row["task_uid"] as Int64?, range.contains(UInt32(id)) { return UInt32(id) }
            let taken = try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT uid FROM task_uids WHERE uid BETWEEN ? AND ? ORDER BY uid"),
                arguments: [Int64(range.lowerBound), Int64(range.upperBound)])
            var candidate = Int64(range.lowerBound)
            for t in taken {
                if t > candidate { break }
                if t == candidate { candidate += 1 }
            }
            guard candidate <= Int64(range.upperBound) else {
                throw StoreError.internal(
                    "every uid of \(range.lowerBound)-\(range.upperBound) is taken: widen --task-ids")
            }
            try db.execute(sql: "UPDATE users SET task_uid = ? WHERE name = ?", arguments: [candidate, user])
            try db.execute(
                sql: "INSERT INTO task_uids (uid, user, assigned_at) VALUES (?, ?, ?)",
                arguments: [candidate, user, Date().timeIntervalSince1970])
            return UInt32(candidate)
        }
    }

    public func user(_ name: String) async throws -> UserRecord? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE name = ?"), arguments: [name]).map {
                try SQLiteStore.userRecord(db, $0)
            }
        }
    }

    public func users() async throws -> [UserRecord] {
        try await pool.read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM users ORDER BY name")).map {
                try SQLiteStore.userRecord(db, $0)
            }
        }
    }

    static func tokenRecord(_ row: Row) -> TokenRecord {
        TokenRecord(
            id: row["id"], user: row["user"], label: row["label"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            expiresAt: SQLiteStore.date(row["expires_at"]), revokedAt: SQLiteStore.date(row["revoked_at"]))
    }

    public func addToken(_ token: TokenRecord, hash: String) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: "INSERT INTO tokens (id, user, hash, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    token.id, token.user, hash, token.label, token.createdAt.timeIntervalSince1970,
                    token.expiresAt?.timeIntervalSince1970,
                ])
        }
    }

    public func token(hash: String) async throws -> (TokenRecord, UserRecord)? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT * FROM tokens WHERE hash = ?"), arguments: [hash]),
                let u = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT * FROM users WHERE name = ?"), arguments: [row["user"] as String])
            else { return nil }
            return (SQLiteStore.tokenRecord(row), try SQLiteStore.userRecord(db, u))
        }
    }

    public func tokens(user: String?) async throws -> [TokenRecord] {
        try await pool.read { db in
            if let user {
                return try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT * FROM tokens WHERE user = ? ORDER BY created_at"),
                    arguments: [user]
                )
                .map(SQLiteStore.tokenRecord)
            }
            return try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM tokens ORDER BY created_at")).map(
                SQLiteStore.tokenRecord)
        }
    }

    public func revokeToken(_ id: String) async throws -> Bool {
        try await batcher.write { db in
            try db.execute(
                sql: "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                arguments: [Date().timeIntervalSince1970, id])
            return db.changesCount > 0
        }
    }

    public func shareRun(_ run: String, with groups: [String]) async throws {
        try await batcher.write { db in
            for g in Set(groups).sorted() {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO run_shares (run_id, grp) VALUES (?, ?)", arguments: [run, g])
            }
        }
    }

    /// A run (by its exact id) with its attempt counts and the groups it is shared
    /// with, read in one transaction: what a status read needs, in one read.
    public func runStatus(_ id: String) async throws -> RunStatusView? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM runs WHERE id = ?"), arguments: [id])
            else { return nil }
            return RunStatusView(
                run: try SQLiteStore.runRecord(row), counts: try SQLiteStore.attemptCounts(run: id, db: db),
                shares: try SQLiteStore.shares(run: id, db: db))
        }
    }

    public func runShares(_ run: String) async throws -> [String] {
        try await pool.read { db in try SQLiteStore.shares(run: run, db: db) }
    }

    static func shares(run: String, db: Database) throws -> [String] {
        try String.fetchAll(
            db.cachedStatement(sql: "SELECT grp FROM run_shares WHERE run_id = ? ORDER BY grp"), arguments: [run])
    }

    public func runs(readableBy readers: RunReaders, limit: Int) async throws -> [RunRecord] {
        if readers.everyone { return try await runs(limit: limit) }
        return try await pool.read { db in
            let (condition, arguments) = SQLiteStore.condition(readers)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM runs WHERE \(condition) ORDER BY created_at DESC LIMIT ?",
                arguments: StatementArguments(arguments + [limit])
            ).map { try SQLiteStore.runRecord($0) }
        }
    }

    /// `RunReaders` as a condition on `runs` (nil: none, every run readable): the owner's
    /// runs, and those shared with one of the groups.
    static func condition(_ readers: RunReaders) -> (sql: String, arguments: [any DatabaseValueConvertible]) {
        guard let owner = readers.owner else { return ("1", []) }
        guard !readers.groups.isEmpty else { return ("user = ?", [owner]) }
        let marks = readers.groups.map { _ in "?" }.joined(separator: ", ")
        return (
            "(user = ? OR id IN (SELECT run_id FROM run_shares WHERE grp IN (\(marks))))",
            [owner] + readers.groups.map { $0 as any DatabaseValueConvertible }
        )
    }

    public func appendAudit(_ r: AuditRecord) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: "INSERT INTO audit (at, user, method, path, status, detail) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [r.at.timeIntervalSince1970, r.user, r.method, r.path, r.status, r.detail])
        }
    }

    public func audit(after: Int64, limit: Int) async throws -> [AuditRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?"),
                arguments: [after, limit]
            ).map {
                AuditRecord(
                    id: $0["id"], at: Date(timeIntervalSince1970: $0["at"]), user: $0["user"], method: $0["method"],
                    path: $0["path"], status: $0["status"], detail: $0["detail"])
            }
        }
    }
}

extension SQLiteStore: SecretStore {
    static func migrateSecrets(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5-secrets") { db in
            try db.execute(
                sql: """
                    CREATE TABLE secrets (
                      owner TEXT NOT NULL,
                      name TEXT NOT NULL,
                      sealed BLOB NOT NULL,
                      updated_at REAL NOT NULL,
                      PRIMARY KEY (owner, name)
                    );
                    """)
        }
    }

    public func setSecret(owner: String, name: String, sealed: Data) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO secrets (owner, name, sealed, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(owner, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
                    """, arguments: [owner, name, sealed, Date().timeIntervalSince1970])
        }
    }

    public func secret(owner: String, name: String) async throws -> Data? {
        try await pool.read { db in
            try Data.fetchOne(
                db.cachedStatement(sql: "SELECT sealed FROM secrets WHERE owner = ? AND name = ?"),
                arguments: [owner, name])
        }
    }

    public func secretNames(owner: String) async throws -> [(name: String, updated: Date)] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT name, updated_at FROM secrets WHERE owner = ? ORDER BY name"),
                arguments: [owner]
            ).map {
                ($0["name"], Date(timeIntervalSince1970: $0["updated_at"]))
            }
        }
    }

    public func deleteSecret(owner: String, name: String) async throws -> Bool {
        try await batcher.write { db in
            try db.execute(sql: "DELETE FROM secrets WHERE owner = ? AND name = ?", arguments: [owner, name])
            return db.changesCount > 0
        }
    }
}
