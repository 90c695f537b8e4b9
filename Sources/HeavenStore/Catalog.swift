public import Foundation
import GRDB
public import HeavenCore
public import HeavenModel

extension SQLiteStore {
    static let json: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Records (or replaces) a site.
    public func registerSite(_ site: Site, by user: String) async throws {
        let document = String(decoding: try SQLiteStore.json.encode(site), as: UTF8.self)
        try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sites (name, document, registered_by, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at
                    """, arguments: [site.name, document, user, Date().timeIntervalSince1970])
        }
    }

    /// Records (or replaces) a grant.
    public func registerGrant(_ grant: Grant, by user: String) async throws {
        let document = String(decoding: try SQLiteStore.json.encode(grant), as: UTF8.self)
        try await batcher.write { db in
            try db.execute(
                sql: """
                    INSERT INTO grants (name, site, document, registered_by, updated_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET site = excluded.site, document = excluded.document, updated_at = \
                    excluded.updated_at
                    """, arguments: [grant.name, grant.site, document, user, Date().timeIntervalSince1970])
        }
    }

    /// Everything the broker judges placements with.
    public func catalog() async throws -> Catalog {
        let isAlive = liveness
        return try await pool.read { db in
            var c = Catalog()
            let decoder = JSONDecoder()
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM sites ORDER BY name")) {
                guard let site = try? decoder.decode(Site.self, from: Data((row["document"] as String).utf8)) else {
                    continue
                }
                c.sites.append(
                    Catalog.SiteEntry(
                        site: site, registeredBy: row["registered_by"], downUntil: SQLiteStore.date(row["down_until"]),
                        downReason: row["down_reason"]))
            }
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT document FROM grants ORDER BY name")) {
                if let g = try? decoder.decode(Grant.self, from: Data((row["document"] as String).utf8)) {
                    c.grants.append(g)
                }
            }
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT grant_name, run_id FROM grant_uses")) {
                c.grantUses[row["grant_name"], default: []].insert(row["run_id"])
            }
            for g in c.grants { c.coreHours[g.name] = try SQLiteStore.coreHours(grant: g.name, db: db) }
            var alive: [String: Bool] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT a.node, a.cores, a.memory, a.run_id, r.owner_pid, r.owner_start FROM attempts a
                        JOIN runs r ON r.id = a.run_id WHERE a.holding = 1 AND a.node IS NOT NULL
                        """))
            {
                let run: String = row["run_id"]
                let live = alive[run] ?? ((row["owner_pid"] as Int32?).map { isAlive($0, row["owner_start"]) } ?? false)
                alive[run] = live
                guard live else { continue }
                let node: String = row["node"]
                c.nodeUsage[node, default: NodeUsage()].cores += row["cores"] as Int? ?? 0
                c.nodeUsage[node, default: NodeUsage()].memory += row["memory"] as Double? ?? 0
            }
            return c
        }
    }

    /// Records that a run uses a grant. A one-shot grant already used by another run
    /// is refused (false), atomically, so two runs can never both consume it.
    public func claimGrant(_ grant: String, run: String, once: Bool) async throws -> Bool {
        try await batcher.write { db in
            if once {
                let other = try String.fetchOne(
                    db.cachedStatement(sql: "SELECT run_id FROM grant_uses WHERE grant_name = ? AND run_id != ?"),
                    arguments: [grant, run])
                if other != nil { return false }
            }
            try db.execute(
                sql: "INSERT OR IGNORE INTO grant_uses (grant_name, run_id, used_at) VALUES (?, ?, ?)",
                arguments: [grant, run, Date().timeIntervalSince1970])
            return true
        }
    }

    /// Stores a run's placement (as JSON, sorted keys).
    public func setPlacement(_ placement: Placement, run: String) async throws {
        let json = String(decoding: try SQLiteStore.json.encode(placement), as: UTF8.self)
        try await batcher.write { db in
            try db.execute(
                sql:
                    """
                    INSERT INTO placements (run_id, placement) VALUES (?, ?) ON CONFLICT(run_id) DO UPDATE SET \
                    placement = excluded.placement
                    """,
                arguments: [run, json])
        }
    }

    /// A run's placement, if it has one.
    public func placement(run: String) async throws -> Placement? {
        let json = try await pool.read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT placement FROM placements WHERE run_id = ?"), arguments: [run])
        }
        guard let json else { return nil }
        do {
            return try JSONDecoder().decode(Placement.self, from: Data(json.utf8))
        } catch {
            throw StoreError.internal("the placement of run \(run) cannot be read: \(error)")
        }
    }

    /// The sites down at `now`, with the reason given.
    public func sitesDown(at now: Date) async throws -> [String: String] {
        try await pool.read { db in
            var out: [String: String] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT name, down_reason FROM sites WHERE down_until > ?"),
                arguments: [now.timeIntervalSince1970])
            {
                out[row["name"]] = (row["down_reason"] as String?) ?? "reported down"
            }
            return out
        }
    }

    /// Marks a site down until a date, as its operator does (nil: up again).
    public func markSite(_ name: String, downUntil: Date?, reason: String?) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: "UPDATE sites SET down_until = ?, down_reason = ?, down_by = ?, failures = 0 WHERE name = ?",
                arguments: [downUntil?.timeIntervalSince1970, reason, downUntil == nil ? nil : "operator", name])
        }
        feed.notify(.sites)
    }

    public func reportSiteFailure(_ name: String, reason: String, base: Double, renew: Bool) async throws -> SiteHealth
    {
        defer { feed.notify(.sites) }
        return try await batcher.write { db in
            let now = Date()
            guard let current = try SQLiteStore.health(of: name, db: db)
            else { return SiteHealth(downUntil: now.addingTimeInterval(base), reason: reason, failures: 1) }
            if current.isDown(at: now), current.byOperator || !renew { return current }
            let failures = current.failures + 1
            let wait = min(300, base * pow(2, Double(min(failures - 1, 20))))
            let until = now.addingTimeInterval(wait)
            try db.execute(
                sql: "UPDATE sites SET down_until = ?, down_reason = ?, down_by = 'probe', failures = ? WHERE name = ?",
                arguments: [until.timeIntervalSince1970, reason, failures, name])
            return SiteHealth(downUntil: until, reason: reason, failures: failures)
        }
    }

    public func reportSiteAnswers(_ name: String) async throws -> SiteHealth? {
        try await batcher.write { db in
            guard let current = try SQLiteStore.health(of: name, db: db) else { return nil }
            if current.failures > 0, !current.byOperator {
                try db.execute(
                    sql:
                        """
                        UPDATE sites SET down_until = NULL, down_reason = NULL, down_by = NULL, failures = 0 \
                        WHERE name = ?
                        """,
                    arguments: [name])
            }
            return current
        }
    }

    public func siteHealth() async throws -> [String: SiteHealth] {
        try await pool.read { db in
            var out: [String: SiteHealth] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT name, down_until, down_reason, failures, down_by FROM sites"))
            {
                out[row["name"]] = SQLiteStore.health(row)
            }
            return out
        }
    }

    /// A registered site's health, nil if no such site.
    static func health(of name: String, db: Database) throws -> SiteHealth? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT down_until, down_reason, failures, down_by FROM sites WHERE name = ?"),
            arguments: [name]
        ).map(health)
    }

    static func health(_ row: Row) -> SiteHealth {
        SiteHealth(
            downUntil: SQLiteStore.date(row["down_until"]), reason: row["down_reason"], failures: row["failures"] ?? 0,
            byOperator: (row["down_by"] as String?) == "operator")
    }
}
