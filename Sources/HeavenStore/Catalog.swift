public import Foundation
public import HeavenModel
import GRDB

/// The sites and grants known to the store, with what the broker needs to judge
/// them: who registered them, which one-shot grants are used, core-hours charged,
/// which sites are down, and how loaded each node is.
public struct StoredCatalog: Sendable {
    /// A registered site.
    public struct SiteEntry: Sendable {
        public var site: Site
        public var registeredBy: String
        /// Set while the site is reported down.
        public var downUntil: Date?
        public var downReason: String?

        /// Creates an entry.
        public init(site: Site, registeredBy: String, downUntil: Date? = nil, downReason: String? = nil) {
            self.site = site
            self.registeredBy = registeredBy
            self.downUntil = downUntil
            self.downReason = downReason
        }

        /// Whether the site counts as down at `now`.
        public func isDown(at now: Date) -> Bool { downUntil.map { $0 > now } ?? false }
    }

    public var sites: [SiteEntry] = []
    public var grants: [Grant] = []
    /// Runs that used each grant.
    public var grantUses: [String: Set<String>] = [:]
    /// Core-hours charged to each grant.
    public var coreHours: [String: Double] = [:]
    /// Cores and memory held by running attempts of live runs, by node (`SITE/NODE/INDEX`).
    public var nodeUsage: [String: (cores: Int, memory: Double)] = [:]

    /// Creates an empty catalog.
    public init() {}

    /// The sites on this machine: where a run's input files are (the broker places
    /// near them).
    public var localSites: Set<String> { Set(sites.filter { $0.site.connector == .local }.map(\.site.name)) }
}

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
                    ON CONFLICT(name) DO UPDATE SET site = excluded.site, document = excluded.document, updated_at = excluded.updated_at
                    """, arguments: [grant.name, grant.site, document, user, Date().timeIntervalSince1970])
        }
    }

    /// Everything the broker judges placements with.
    public func catalog() async throws -> StoredCatalog {
        let isAlive = liveness
        return try await pool.read { db in
            var c = StoredCatalog()
            let decoder = JSONDecoder()
            for row in try Row.fetchAll(db, sql: "SELECT * FROM sites ORDER BY name") {
                guard let site = try? decoder.decode(Site.self, from: Data((row["document"] as String).utf8)) else { continue }
                c.sites.append(
                    StoredCatalog.SiteEntry(
                        site: site, registeredBy: row["registered_by"], downUntil: SQLiteStore.date(row["down_until"]),
                        downReason: row["down_reason"]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT document FROM grants ORDER BY name") {
                if let g = try? decoder.decode(Grant.self, from: Data((row["document"] as String).utf8)) { c.grants.append(g) }
            }
            for row in try Row.fetchAll(db, sql: "SELECT grant_name, run_id FROM grant_uses") {
                c.grantUses[row["grant_name"], default: []].insert(row["run_id"])
            }
            for g in c.grants { c.coreHours[g.name] = try SQLiteStore.coreHours(grant: g.name, db: db) }
            var alive: [String: Bool] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT a.node, a.cores, a.memory, a.run_id, r.owner_pid, r.owner_start FROM attempts a
                    JOIN runs r ON r.id = a.run_id WHERE a.holding = 1 AND a.node IS NOT NULL
                    """)
            {
                let run: String = row["run_id"]
                let live = alive[run] ?? ((row["owner_pid"] as Int32?).map { isAlive($0, row["owner_start"]) } ?? false)
                alive[run] = live
                guard live else { continue }
                let node: String = row["node"]
                let used = c.nodeUsage[node] ?? (0, 0)
                c.nodeUsage[node] = (used.cores + (row["cores"] as Int? ?? 0), used.memory + (row["memory"] as Double? ?? 0))
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
                    db, sql: "SELECT run_id FROM grant_uses WHERE grant_name = ? AND run_id != ?", arguments: [grant, run])
                if other != nil { return false }
            }
            try db.execute(
                sql: "INSERT OR IGNORE INTO grant_uses (grant_name, run_id, used_at) VALUES (?, ?, ?)",
                arguments: [grant, run, Date().timeIntervalSince1970])
            return true
        }
    }

    /// Stores a run's placement (JSON).
    public func setPlacement(run: String, json: String) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: "INSERT INTO placements (run_id, placement) VALUES (?, ?) ON CONFLICT(run_id) DO UPDATE SET placement = excluded.placement",
                arguments: [run, json])
        }
    }

    /// A run's placement (JSON), if it has one.
    public func placement(run: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT placement FROM placements WHERE run_id = ?", arguments: [run])
        }
    }

    /// The sites down at `now`, with the reason given.
    public func sitesDown(at now: Date) async throws -> [String: String] {
        try await pool.read { db in
            var out: [String: String] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT name, down_reason FROM sites WHERE down_until > ?", arguments: [now.timeIntervalSince1970])
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
    }

    public func reportSiteFailure(_ name: String, reason: String, base: Double, renew: Bool) async throws -> SiteHealth {
        try await batcher.write { db in
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
                    sql: "UPDATE sites SET down_until = NULL, down_reason = NULL, down_by = NULL, failures = 0 WHERE name = ?",
                    arguments: [name])
            }
            return current
        }
    }

    public func siteHealth() async throws -> [String: SiteHealth] {
        try await pool.read { db in
            var out: [String: SiteHealth] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, down_until, down_reason, failures, down_by FROM sites") {
                out[row["name"]] = SQLiteStore.health(row)
            }
            return out
        }
    }

    /// A registered site's health, nil if no such site.
    static func health(of name: String, db: Database) throws -> SiteHealth? {
        try Row.fetchOne(
            db, sql: "SELECT down_until, down_reason, failures, down_by FROM sites WHERE name = ?", arguments: [name]
        ).map(health)
    }

    static func health(_ row: Row) -> SiteHealth {
        SiteHealth(
            downUntil: SQLiteStore.date(row["down_until"]), reason: row["down_reason"], failures: row["failures"] ?? 0,
            byOperator: (row["down_by"] as String?) == "operator")
    }
}
