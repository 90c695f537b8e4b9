import Foundation
import GRDB
public import HeavenCore
public import HeavenModel

extension SQLiteStore: LedgerStore {
    static func migrateLedger(_ m: inout DatabaseMigrator) {
        m.registerMigration("v12-ledger") { db in
            // Movements and their lines are never changed nor removed: triggers refuse it,
            // as the audit log's do. Amounts are millionths of a unit (exact sums).
            try db.execute(
                sql: """
                    CREATE TABLE ledger_transactions (
                      id TEXT PRIMARY KEY,
                      kind TEXT NOT NULL,
                      job TEXT,
                      memo TEXT NOT NULL,
                      created_at REAL NOT NULL
                    );
                    CREATE INDEX ledger_transactions_job ON ledger_transactions(job) WHERE job IS NOT NULL;
                    CREATE TABLE ledger_lines (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      tx TEXT NOT NULL REFERENCES ledger_transactions(id),
                      account TEXT NOT NULL,
                      currency TEXT NOT NULL,
                      amount INTEGER NOT NULL
                    );
                    CREATE INDEX ledger_lines_account ON ledger_lines(account, currency);
                    CREATE INDEX ledger_lines_tx ON ledger_lines(tx);
                    CREATE TRIGGER ledger_transactions_append_only_update BEFORE UPDATE ON ledger_transactions
                      BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
                    CREATE TRIGGER ledger_transactions_append_only_delete BEFORE DELETE ON ledger_transactions
                      BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
                    CREATE TRIGGER ledger_lines_append_only_update BEFORE UPDATE ON ledger_lines
                      BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
                    CREATE TRIGGER ledger_lines_append_only_delete BEFORE DELETE ON ledger_lines
                      BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
                    CREATE TABLE job_charges (
                      job TEXT PRIMARY KEY REFERENCES runs(id),
                      process TEXT NOT NULL,
                      payer TEXT NOT NULL,
                      publisher TEXT NOT NULL,
                      currency TEXT NOT NULL,
                      budget INTEGER NOT NULL,
                      fee_percent REAL NOT NULL,
                      quote TEXT,
                      created_at REAL NOT NULL
                    );
                    CREATE INDEX job_charges_payer ON job_charges(payer, created_at);
                    CREATE INDEX job_charges_publisher ON job_charges(publisher, created_at);
                    CREATE INDEX job_charges_process ON job_charges(process, created_at);
                    CREATE TABLE quotes (
                      id TEXT PRIMARY KEY,
                      process TEXT NOT NULL,
                      process_version TEXT NOT NULL,
                      user TEXT NOT NULL,
                      amount INTEGER NOT NULL,
                      currency TEXT NOT NULL,
                      basis TEXT NOT NULL,
                      request TEXT NOT NULL,
                      created_at REAL NOT NULL,
                      expires_at REAL NOT NULL,
                      job TEXT
                    );
                    """)
        }
    }

    /// Posts a movement inside a transaction: once per id; refused when unbalanced, or
    /// when `funding` would then hold less than zero in a currency.
    static func post(_ t: LedgerTransaction, funding: String?, db: Database) throws -> Bool {
        guard t.isBalanced, !t.lines.isEmpty else { throw LedgerError.unbalanced(t.id) }
        if try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM ledger_transactions WHERE id = ?"), arguments: [t.id]) == true
        {
            return false
        }
        if let funding {
            for currency in Set(t.lines.filter { $0.account == funding }.map(\.currency)) {
                let change = t.lines.filter { $0.account == funding && $0.currency == currency }
                    .reduce(Int64(0)) { $0 + $1.amount.micros }
                let balance =
                    try Int64.fetchOne(
                        db.cachedStatement(
                            sql: """
                                SELECT COALESCE(SUM(amount), 0) FROM ledger_lines \
                                WHERE account = ? AND currency = ?
                                """),
                        arguments: [funding, currency]) ?? 0
                if balance + change < 0 {
                    throw LedgerError.insufficient(
                        account: funding, currency: currency, balance: Money(micros: balance),
                        needed: Money(micros: -change))
                }
            }
        }
        try db.execute(
            sql: "INSERT INTO ledger_transactions (id, kind, job, memo, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [t.id, t.kind.rawValue, t.job, t.memo, t.createdAt.timeIntervalSince1970])
        for l in t.lines where l.amount != .zero {
            try db.cachedStatement(
                sql: "INSERT INTO ledger_lines (tx, account, currency, amount) VALUES (?, ?, ?, ?)"
            ).execute(arguments: [t.id, l.account, l.currency, l.amount.micros])
        }
        return true
    }

    public func post(_ transaction: LedgerTransaction, funding: String?) async throws -> Bool {
        try await batcher.write { db in try SQLiteStore.post(transaction, funding: funding, db: db) }
    }

    public func balances(of account: String) async throws -> [String: Money] {
        try await pool.read { db in
            var out: [String: Money] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT currency, SUM(amount) AS total FROM ledger_lines WHERE account = ? GROUP BY currency"),
                arguments: [account])
            {
                let total: Int64 = row["total"]
                if total != 0 { out[row["currency"]] = Money(micros: total) }
            }
            return out
        }
    }

    public func allBalances() async throws -> [String: [String: Money]] {
        try await pool.read { db in
            var out: [String: [String: Money]] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT account, currency, SUM(amount) AS total FROM ledger_lines GROUP BY account, currency"))
            {
                let total: Int64 = row["total"]
                if total != 0 { out[row["account"], default: [:]][row["currency"]] = Money(micros: total) }
            }
            return out
        }
    }

    public func ledgerTotals() async throws -> [String: Money] {
        try await pool.read { db in
            var out: [String: Money] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT currency, SUM(amount) AS total FROM ledger_lines GROUP BY currency"))
            {
                out[row["currency"]] = Money(micros: row["total"])
            }
            return out
        }
    }

    static func transactions(_ db: Database, where condition: String, _ arguments: StatementArguments) throws
        -> [LedgerTransaction]
    {
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM ledger_transactions WHERE \(condition)", arguments: arguments)
        return try rows.map { row in
            let id: String = row["id"]
            let lines = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT account, currency, amount FROM ledger_lines WHERE tx = ? ORDER BY id"),
                arguments: [id]
            ).map { LedgerLine($0["account"], Money(micros: $0["amount"]), $0["currency"]) }
            return LedgerTransaction(
                id: id, kind: LedgerTransaction.Kind(rawValue: row["kind"]) ?? .credit, job: row["job"],
                memo: row["memo"], lines: lines, createdAt: Date(timeIntervalSince1970: row["created_at"]))
        }
    }

    public func transactions(job: String) async throws -> [LedgerTransaction] {
        try await pool.read { db in
            try SQLiteStore.transactions(db, where: "job = ? ORDER BY created_at, rowid", [job])
        }
    }

    public func transactions(jobs: [String]) async throws -> [String: [LedgerTransaction]] {
        try await pool.read { db in
            var out: [String: [LedgerTransaction]] = [:]
            // In slices that stay under SQLite's bound on a statement's parameters.
            var start = 0
            while start < jobs.count {
                let slice = Array(jobs[start..<min(start + 500, jobs.count)])
                let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
                for t in try SQLiteStore.transactions(
                    db, where: "job IN (\(marks)) ORDER BY created_at, rowid", StatementArguments(slice))
                {
                    if let job = t.job { out[job, default: []].append(t) }
                }
                start += 500
            }
            return out
        }
    }

    public func transactions(account: String, limit: Int) async throws -> [LedgerTransaction] {
        try await pool.read { db in
            try SQLiteStore.transactions(
                db,
                where:
                    """
                    id IN (SELECT DISTINCT tx FROM ledger_lines WHERE account = ?) ORDER BY created_at DESC, \
                    rowid DESC LIMIT ?
                    """,
                [account, limit])
        }
    }

    static func charge(_ row: Row) -> JobCharge {
        JobCharge(
            job: row["job"], process: row["process"], payer: row["payer"], publisher: row["publisher"],
            currency: row["currency"], budget: Money(micros: row["budget"]), feePercent: row["fee_percent"],
            quote: row["quote"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    public func charge(job: String) async throws -> JobCharge? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM job_charges WHERE job = ?"), arguments: [job]).map(
                SQLiteStore.charge)
        }
    }

    public func charges(involving account: String?, limit: Int) async throws -> [JobCharge] {
        try await pool.read { db in
            if let account {
                return try Row.fetchAll(
                    db.cachedStatement(
                        sql:
                            """
                            SELECT * FROM job_charges WHERE payer = ? OR publisher = ? ORDER BY created_at DESC \
                            LIMIT ?
                            """
                    ),
                    arguments: [account, account, limit]
                ).map(SQLiteStore.charge)
            }
            return try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM job_charges ORDER BY created_at DESC LIMIT ?"),
                arguments: [limit]
            ).map(SQLiteStore.charge)
        }
    }

    public func charges(process: String, limit: Int) async throws -> [JobCharge] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM job_charges WHERE process = ? ORDER BY created_at DESC LIMIT ?"),
                arguments: [process, limit]
            ).map(SQLiteStore.charge)
        }
    }

    public func saveQuote(_ q: Quote) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO quotes (id, process, process_version, user, amount, currency, basis, request, \
                    created_at,
                      expires_at, job, minimum, maximum)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    q.id, q.process, q.processVersion, q.user, q.amount.micros, q.currency, q.basis, q.request,
                    q.createdAt.timeIntervalSince1970, q.expiresAt.timeIntervalSince1970, q.job, q.minimum.micros,
                    q.maximum?.micros,
                ])
        }
    }

    public func quote(_ id: String) async throws -> Quote? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM quotes WHERE id = ?"), arguments: [id]).map { row in
                Quote(
                    id: row["id"], process: row["process"], processVersion: row["process_version"], user: row["user"],
                    amount: Money(micros: row["amount"]), currency: row["currency"], basis: row["basis"],
                    request: row["request"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                    expiresAt: Date(timeIntervalSince1970: row["expires_at"]), job: row["job"],
                    minimum: (row["minimum"] as Int64?).map(Money.init(micros:)),
                    maximum: (row["maximum"] as Int64?).map(Money.init(micros:)))
            }
        }
    }
}
