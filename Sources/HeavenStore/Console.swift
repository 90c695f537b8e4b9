import Foundation
import GRDB
public import HeavenCore

extension SQLiteStore {
    static func migrateConsoleSessions(_ m: inout DatabaseMigrator) {
        m.registerMigration("v10-console-sessions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE console_sessions (
                      hash TEXT PRIMARY KEY,
                      user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                      csrf TEXT NOT NULL,
                      created_at REAL NOT NULL,
                      expires_at REAL NOT NULL,
                      ended_at REAL
                    );
                    CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
                    """)
        }
    }

    public func openSession(_ s: ConsoleSession, hash: String) async throws {
        try await batcher.write { db in
            // Sessions long past their expiry go as new ones open.
            try db.execute(
                sql: "DELETE FROM console_sessions WHERE expires_at < ?",
                arguments: [Date().timeIntervalSince1970 - 86_400])
            try db.execute(
                sql: """
                    INSERT INTO console_sessions (hash, user, csrf, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    hash, s.user, s.csrf, s.createdAt.timeIntervalSince1970, s.expiresAt.timeIntervalSince1970,
                ])
        }
    }

    public func session(hash: String) async throws -> (ConsoleSession, UserRecord)? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT s.user AS s_user, s.csrf, s.created_at AS s_created, s.expires_at, s.ended_at, u.*
                            FROM console_sessions s JOIN users u ON u.name = s.user WHERE s.hash = ?
                            """), arguments: [hash])
            else { return nil }
            let session = ConsoleSession(
                user: row["s_user"], csrf: row["csrf"], createdAt: Date(timeIntervalSince1970: row["s_created"]),
                expiresAt: Date(timeIntervalSince1970: row["expires_at"]),
                endedAt: (row["ended_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
            return (session, try SQLiteStore.userRecord(db, row))
        }
    }

    public func endSession(hash: String) async throws -> Bool {
        try await batcher.write { db in
            try db.execute(
                sql: "UPDATE console_sessions SET ended_at = ? WHERE hash = ? AND ended_at IS NULL",
                arguments: [Date().timeIntervalSince1970, hash])
            return db.changesCount == 1
        }
    }
}
