public import Foundation

/// Who may read a run — the one statement of the rule: its owner, any admin, or a
/// member of a group it is shared with. Checked on one run (`admits`), and handed to a
/// store as a listing's filter, which the store turns into its query from the same
/// two facts (`owner`, `groups`); nothing else decides it.
public struct RunReaders: Sendable, Equatable {
    /// The owner whose runs are readable; nil: every run (an admin).
    public let owner: String?
    /// Runs shared with one of these groups are readable too.
    public let groups: [String]

    /// Who `user` may read.
    public init(_ user: UserRecord) {
        owner = user.admin ? nil : user.name
        groups = user.admin ? [] : user.groups
    }

    /// Whether every run is readable.
    public var everyone: Bool { owner == nil }

    /// Whether `run` is readable (`shares`, the groups it is shared with, read only when
    /// it matters).
    public func admits(_ run: RunRecord, shares: @autoclosure () async throws -> [String]) async rethrows -> Bool {
        guard let owner else { return true }
        if run.user == owner { return true }
        return try await shares().contains(where: groups.contains)
    }
}

/// A user of a shared Heaven server.
public struct UserRecord: Sendable, Equatable, Codable {
    public var name: String
    public var groups: [String]
    public var admin: Bool
    public var createdAt: Date
    /// The uid (and gid) the user's tasks run as on the server's machine, once assigned
    /// from the operator's range (`heaven serve --task-ids`).
    public var taskID: UInt32?

    public init(
        name: String, groups: [String] = [], admin: Bool = false, createdAt: Date = Date(), taskID: UInt32? = nil
    ) {
        self.name = name
        self.groups = groups
        self.admin = admin
        self.createdAt = createdAt
        self.taskID = taskID
    }
}

/// An API token: only its SHA-256 is kept.
public struct TokenRecord: Sendable, Equatable, Codable {
    /// The token's public part (`hv_ID_...`), to name it when revoking.
    public var id: String
    public var user: String
    public var label: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(
        id: String, user: String, label: String? = nil, createdAt: Date = Date(), expiresAt: Date? = nil,
        revokedAt: Date? = nil
    ) {
        self.id = id
        self.user = user
        self.label = label
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Why the token cannot be used at `now`, if it cannot.
    public func problem(at now: Date) -> String? {
        if revokedAt != nil { return "the token was revoked" }
        if let e = expiresAt, e <= now { return "the token expired" }
        return nil
    }
}

/// One state-changing request, as the audit log keeps it.
public struct AuditRecord: Sendable, Equatable, Codable {
    public var id: Int64?
    public var at: Date
    public var user: String?
    public var method: String
    public var path: String
    public var status: Int
    public var detail: String?

    public init(
        id: Int64? = nil, at: Date = Date(), user: String?, method: String, path: String, status: Int,
        detail: String? = nil
    ) {
        self.id = id
        self.at = at
        self.user = user
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
    }
}

/// Users, groups, tokens, run sharing and the audit log of a shared server.
public protocol AccountStore: Sendable {
    /// Creates a user, or changes an existing one's groups and role.
    func saveUser(_ user: UserRecord) async throws
    func user(_ name: String) async throws -> UserRecord?
    func users() async throws -> [UserRecord]
    /// Keeps a token by the SHA-256 of its secret.
    func addToken(_ token: TokenRecord, hash: String) async throws
    /// The token with this hash, and its user.
    func token(hash: String) async throws -> (TokenRecord, UserRecord)?
    func tokens(user: String?) async throws -> [TokenRecord]
    /// Revokes a token by its id; false when there is none.
    func revokeToken(_ id: String) async throws -> Bool
    /// Shares a run with groups: their members see it.
    func shareRun(_ run: String, with groups: [String]) async throws
    func runShares(_ run: String) async throws -> [String]
    /// The runs `user` may see (theirs, and those shared with their groups; all for an admin).
    func runs(readableBy readers: RunReaders, limit: Int) async throws -> [RunRecord]
    /// A run with its attempts' counts and shares, read together.
    func runStatus(_ id: String) async throws -> RunStatusView?
    /// The uid `user`'s tasks run as: the one recorded with the account when it lies in
    /// `range`, otherwise the lowest one of `range` never given to any account (then
    /// recorded). Never the same for two accounts, never given twice.
    func taskID(for user: String, in range: ClosedRange<UInt32>) async throws -> UInt32
    /// Appends to the audit log (never changed afterwards).
    func appendAudit(_ record: AuditRecord) async throws
    func audit(after: Int64, limit: Int) async throws -> [AuditRecord]

    /// Opens a session of the web console: only the SHA-256 of its cookie is kept, with
    /// the token its forms must carry (CSRF) and when it expires.
    func openSession(_ session: ConsoleSession, hash: String) async throws
    /// The session whose cookie has this hash, and its user (expired or ended ones too:
    /// the caller checks).
    func session(hash: String) async throws -> (ConsoleSession, UserRecord)?
    /// Ends a session (logging out); false when there was none.
    func endSession(hash: String) async throws -> Bool
}

/// A session of the web console (`/console`), opened by signing in with an API token.
public struct ConsoleSession: Sendable, Equatable {
    public var user: String
    /// What every state-changing form of the session must carry.
    public var csrf: String
    public var createdAt: Date
    public var expiresAt: Date
    public var endedAt: Date?

    public init(user: String, csrf: String, createdAt: Date = Date(), expiresAt: Date, endedAt: Date? = nil) {
        self.user = user
        self.csrf = csrf
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.endedAt = endedAt
    }

    /// Whether it can be used at `now`.
    public func isLive(at now: Date) -> Bool { endedAt == nil && expiresAt > now }
}

/// A run as a status read shows it.
public struct RunStatusView: Sendable {
    public var run: RunRecord
    public var counts: AttemptCounts
    /// The groups it is shared with.
    public var shares: [String]

    /// Creates a view.
    public init(run: RunRecord, counts: AttemptCounts, shares: [String]) {
        self.run = run
        self.counts = counts
        self.shares = shares
    }
}

/// Users' secrets, kept sealed (the store never sees them in clear).
public protocol SecretStore: Sendable {
    func setSecret(owner: String, name: String, sealed: Data) async throws
    func secret(owner: String, name: String) async throws -> Data?
    /// The names of a user's secrets and when each was set (never their values).
    func secretNames(owner: String) async throws -> [(name: String, updated: Date)]
    func deleteSecret(owner: String, name: String) async throws -> Bool
}
