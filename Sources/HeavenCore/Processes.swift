public import Foundation

/// Who may see (and run) a published process: its publisher only, the members of one
/// group, or everyone (anonymous callers included). Only its publisher or an admin
/// replaces or undeploys it.
public enum ProcessVisibility: Sendable, Hashable, Codable, CustomStringConvertible {
    case `private`
    case group(String)
    case `public`

    /// `private`, `group:NAME` or `public`; nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "private": self = .private
        case "public": self = .public
        default:
            guard text.hasPrefix("group:") else { return nil }
            let name = String(text.dropFirst("group:".count))
            guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == ":" }) else { return nil }
            self = .group(name)
        }
    }

    public var description: String {
        switch self {
        case .private: "private"
        case .group(let g): "group:\(g)"
        case .public: "public"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = ProcessVisibility(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a visibility: \(text)"))
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// One YAML file of a published process, as it was sent.
public struct ProcessDocument: Sendable, Equatable, Codable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// A workflow published as a process (OGC API - Processes): its id is the workflow's
/// name; its documents are the workflow's file and the files of the workflows it calls,
/// kept as sent (a job runs the documents of the version it was started with).
public struct ProcessRecord: Sendable, Equatable, Codable {
    public var id: String
    /// Its version: the workflow's own `version` when it declares one higher than the
    /// last, otherwise the last with its final number increased (`1.0.0`, `1.0.1`, ...).
    public var version: String
    /// Who published it.
    public var owner: String
    public var visibility: ProcessVisibility
    public var documents: [ProcessDocument]
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, version: String, owner: String, visibility: ProcessVisibility, documents: [ProcessDocument],
        createdAt: Date = Date(), updatedAt: Date = Date()
    ) {
        self.id = id
        self.version = version
        self.owner = owner
        self.visibility = visibility
        self.documents = documents
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether `user` may see and execute it (nil: an anonymous caller).
    public func isVisible(to user: UserRecord?) -> Bool {
        switch visibility {
        case .public: return true
        case .private: return user.map { $0.admin || $0.name == owner } ?? false
        case .group(let g): return user.map { $0.admin || $0.name == owner || $0.groups.contains(g) } ?? false
        }
    }

    /// Whether `user` may replace or undeploy it.
    public func isOwned(by user: UserRecord) -> Bool { user.admin || user.name == owner }

    /// The version a replacement gets: `declared` when it is higher than `previous`,
    /// otherwise `previous` with its last number increased (`1.0.0` → `1.0.1`; `beta` →
    /// `beta.1`).
    public static func nextVersion(after previous: String, declared: String?) -> String {
        if let declared, compare(declared, previous) == .orderedDescending { return declared }
        var parts = previous.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let last = parts.last, let n = Int(last) {
            parts[parts.count - 1] = String(n + 1)
        } else {
            parts.append("1")
        }
        return parts.joined(separator: ".")
    }

    /// Versions compared number by number (`1.10` after `1.9`), text where not numbers.
    public static func compare(_ a: String, _ b: String) -> ComparisonResult {
        let x = a.split(separator: ".")
        let y = b.split(separator: ".")
        for i in 0..<max(x.count, y.count) {
            let p = i < x.count ? String(x[i]) : "0"
            let q = i < y.count ? String(y[i]) : "0"
            if let m = Int(p), let n = Int(q) {
                if m != n { return m < n ? .orderedAscending : .orderedDescending }
            } else if p != q {
                return p < q ? .orderedAscending : .orderedDescending
            }
        }
        return .orderedSame
    }
}

/// Which jobs (runs) a list shows: OGC API - Processes' job-list filters, newest first,
/// a page at a time.
public struct JobQuery: Sendable, Equatable {
    /// Only runs of these processes (or workflows of these names); empty: all.
    public var processIDs: [String] = []
    /// Only runs in these states; empty: all.
    public var statuses: [RunStatus] = []
    /// Only runs created in this interval (either end open).
    public var createdFrom: Date?
    public var createdTo: Date?
    /// Only runs whose duration (from start, or creation, to end, or now) is at least/at most this, in seconds.
    public var minDuration: Double?
    public var maxDuration: Double?
    public var limit: Int = 10
    /// The page after the first: how many runs to skip.
    public var offset: Int = 0

    public init() {}
}

/// Where a process is published and its jobs are found.
public protocol ProcessStore: Sendable {
    /// Publishes a new process; false (nothing changed) when its id is taken.
    func deployProcess(_ process: ProcessRecord) async throws -> Bool
    /// Replaces a process's version, visibility and documents; false when there is none.
    func replaceProcess(_ process: ProcessRecord) async throws -> Bool
    func process(_ id: String) async throws -> ProcessRecord?
    /// Whether a process is published (without reading it: a job's status links to its
    /// process, and a status is polled often).
    func processExists(_ id: String) async throws -> Bool
    /// The processes `user` may see (nil: anonymous), by id, a page at a time.
    func processes(visibleTo user: UserRecord?, limit: Int, offset: Int) async throws -> [ProcessRecord]
    /// Removes a process (its jobs stay); false when there is none.
    func undeployProcess(_ id: String) async throws -> Bool
    /// The runs `user` may see that a job list with `query` shows, and whether more follow.
    func jobs(readableBy readers: RunReaders, _ query: JobQuery, now: Date) async throws -> (
        runs: [RunRecord], more: Bool
    )
    /// A run's progress in percent: its finished task instances over those known, never
    /// lower than it was last told (kept with the run).
    func progress(run: String) async throws -> Int
}

extension ProcessStore {
    /// Whether a process is published, by reading it.
    public func processExists(_ id: String) async throws -> Bool { try await process(id) != nil }
}
