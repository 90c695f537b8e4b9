public import Foundation
public import HeavenCore

// The bodies of API v1, shared by the server (which encodes them) and the command
// line's client (which decodes them). Keys are the properties' names; an optional
// property that is nil is left out.

extension RunStatus: APIEnum {}
extension AttemptStatus: APIEnum {}
extension EventKind: APIEnum {}

/// An RFC 9457 problem: every error of the API.
public struct ProblemDetails: APIObject, Error {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?

    public init(type: String = "about:blank", title: String, status: Int, detail: String?) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
    }

    public static let example = ProblemDetails(title: "Not Found", status: 404, detail: "no run r1")
    public static let summary: String? = "A problem (RFC 9457): `detail` says what is wrong and where"
}

/// Whether the server answers, and how tenants' tasks are isolated.
public struct Health: APIObject {
    public enum Isolation: String, APIEnum, Codable, Sendable {
        /// Each tenant's tasks run as a uid of their own, sandboxed.
        case tenantUIDs = "tenant-uids"
        /// `heaven serve --no-isolation`.
        case none
    }

    /// What bounds a tenant's task's memory and processes, checked at each request:
    /// `cgroups` (this server's control groups are there), or `rlimits` (there are none: a
    /// server that had them and lost them refuses tasks rather than bound them by rlimits only).
    public enum Limits: String, APIEnum, Codable, Sendable {
        case cgroups, rlimits
    }

    /// The network a tenant's task whose machine asks for one gets (`heaven serve
    /// --task-network`): `none` (refused at submission; a loopback of its own only), or
    /// `outbound` (a namespace of its own, no route to the server's host).
    public enum Network: String, APIEnum, Codable, Sendable {
        case none, outbound
    }

    public var status: String
    public var isolation: Isolation
    /// With isolation: what bounds tenants' tasks now.
    public var limits: Limits?
    /// With isolation: the network tenants' tasks may have.
    public var network: Network?
    /// With isolation: the most bytes the files of a task may take (`heaven serve
    /// --task-disk`; a machine's `disk` may lower it).
    public var taskDisk: Int64?

    public init(isolation: Isolation, limits: Limits? = nil, network: Network? = nil, taskDisk: Int64? = nil) {
        self.status = "ok"
        self.isolation = isolation
        self.limits = limits
        self.network = network
        self.taskDisk = taskDisk
    }

    public static let example = Health(
        isolation: .tenantUIDs, limits: .cgroups, network: Health.Network.none, taskDisk: 10 * 1_073_741_824)
}

/// The caller.
public struct Me: APIObject {
    public var name: String
    public var groups: [String]
    public var admin: Bool

    public init(name: String, groups: [String], admin: Bool) {
        self.name = name
        self.groups = groups
        self.admin = admin
    }

    public static let example = Me(name: "alice", groups: [], admin: false)
}

/// A run's attempts by state.
public struct AttemptTally: APIObject {
    public var running: Int
    public var succeeded: Int
    public var failed: Int

    public init(running: Int, succeeded: Int, failed: Int) {
        self.running = running
        self.succeeded = succeeded
        self.failed = failed
    }

    public static let example = AttemptTally(running: 0, succeeded: 0, failed: 0)
}

/// A run as the API shows it.
public struct RunView: APIObject {
    public var id: String
    public var workflow: String
    public var user: String
    public var status: RunStatus
    public var created: Date
    public var started: Date?
    public var finished: Date?
    public var error: String?
    /// The workflow's outputs: values, or `{"file": URL}` for a file.
    public var outputs: [String: JSONValue]?
    public var url: String
    /// Its attempts by state (a run's own page only).
    public var attempts: AttemptTally?
    /// The groups it is shared with (a run's own page only).
    public var shared: [String]?

    public init(
        id: String, workflow: String, user: String, status: RunStatus, created: Date, started: Date? = nil,
        finished: Date? = nil, error: String? = nil, outputs: [String: JSONValue]? = nil, attempts: AttemptTally? = nil,
        shared: [String]? = nil
    ) {
        self.id = id
        self.workflow = workflow
        self.user = user
        self.status = status
        self.created = created
        self.started = started
        self.finished = finished
        self.error = error
        self.outputs = outputs
        self.url = "/v1/runs/\(id)"
        self.attempts = attempts
        self.shared = shared
    }

    public static let example = RunView(
        id: "r1", workflow: "w", user: "alice", status: .running, created: Date(timeIntervalSince1970: 0))
}

/// Runs, newest first.
public struct RunList: APIObject {
    public var runs: [RunView]

    public init(runs: [RunView]) { self.runs = runs }

    public static let example = RunList(runs: [])
}

/// A cancellation, requested.
public struct CancelRequested: APIObject {
    public var run: String
    public var cancelRequested: Bool

    public init(run: String) {
        self.run = run
        self.cancelRequested = true
    }

    public static let example = CancelRequested(run: "r1")
}

/// One attempt's log.
public struct LogEntry: APIObject {
    public var task: String
    public var attempt: Int
    public var status: AttemptStatus
    /// Where its text is (`GET`, `text/plain`).
    public var url: String
    public var started: Date
    public var finished: Date?
    public var error: String?
    public var exit: Int?
    public var site: String?
    /// The node it held: `SITE/NODE/INDEX`.
    public var node: String?

    public init(
        task: String, attempt: Int, status: AttemptStatus, url: String, started: Date, finished: Date? = nil,
        error: String? = nil, exit: Int? = nil, site: String? = nil, node: String? = nil
    ) {
        self.task = task
        self.attempt = attempt
        self.status = status
        self.url = url
        self.started = started
        self.finished = finished
        self.error = error
        self.exit = exit
        self.site = site
        self.node = node
    }

    public static let example = LogEntry(
        task: "t", attempt: 1, status: .running, url: "/v1/runs/r1/logs/t?attempt=1",
        started: Date(timeIntervalSince1970: 0))
}

/// A run's attempts and where their logs are.
public struct LogList: APIObject {
    public var run: String
    public var logs: [LogEntry]

    public init(run: String, logs: [LogEntry]) {
        self.run = run
        self.logs = logs
    }

    public static let example = LogList(run: "r1", logs: [])
}

/// An output that is a value, not a file.
public struct OutputValue: APIObject {
    public var name: String
    public var value: JSONValue

    public init(name: String, value: JSONValue) {
        self.name = name
        self.value = value
    }

    public static let example = OutputValue(name: "n", value: .null)
}

/// One event of a run (the `data` of a server-sent event, whose `event` is its kind).
public struct EventView: APIObject {
    public var id: Int64
    public var kind: EventKind
    public var task: String?
    public var message: String
    public var at: Date
    /// For `task-started` and `task-ended`: the attempt's number, its status and site.
    public var attempt: Int?
    public var status: AttemptStatus?
    public var site: String?

    public init(
        id: Int64, kind: EventKind, task: String?, message: String, at: Date, attempt: Int? = nil,
        status: AttemptStatus? = nil, site: String? = nil
    ) {
        self.attempt = attempt
        self.status = status
        self.site = site
        self.id = id
        self.kind = kind
        self.task = task
        self.message = message
        self.at = at
    }

    public static let example = EventView(
        id: 1, kind: .started, task: nil, message: "started", at: Date(timeIntervalSince1970: 0))
    public static let nullable: Set<String> = ["task"]

    private enum CodingKeys: String, CodingKey { case id, kind, task, message, at, attempt, status, site }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(kind, forKey: .kind)
        try c.encode(task, forKey: .task)
        try c.encode(message, forKey: .message)
        try c.encode(at, forKey: .at)
        try c.encodeIfPresent(attempt, forKey: .attempt)
        try c.encodeIfPresent(status, forKey: .status)
        try c.encodeIfPresent(site, forKey: .site)
    }
}

/// A registered site.
public struct SiteView: APIObject {
    public enum State: String, APIEnum, Codable, Sendable { case up, down }

    public var name: String
    public var connector: String
    public var cores: Int
    public var owner: String
    public var status: State

    public init(name: String, connector: String, cores: Int, owner: String, status: State) {
        self.name = name
        self.connector = connector
        self.cores = cores
        self.owner = owner
        self.status = status
    }

    public static let example = SiteView(name: "s", connector: "local", cores: 1, owner: "user:alice", status: .up)
}

/// Registered sites.
public struct SiteList: APIObject {
    public var sites: [SiteView]

    public init(sites: [SiteView]) { self.sites = sites }

    public static let example = SiteList(sites: [])
}

/// A grant the caller gave, got, or owns the site of.
public struct GrantView: APIObject {
    public var name: String
    public var site: String
    public var to: String
    public var once: Bool
    public var used: Bool
    public var coreHoursUsed: Double
    public var cores: Int?
    public var coreHours: Double?

    public init(
        name: String, site: String, to: String, once: Bool, used: Bool, coreHoursUsed: Double, cores: Int?,
        coreHours: Double?
    ) {
        self.name = name
        self.site = site
        self.to = to
        self.once = once
        self.used = used
        self.coreHoursUsed = coreHoursUsed
        self.cores = cores
        self.coreHours = coreHours
    }

    public static let example = GrantView(
        name: "g", site: "s", to: "user:bob", once: false, used: false, coreHoursUsed: 0, cores: nil, coreHours: nil)
}

/// Grants.
public struct GrantList: APIObject {
    public var grants: [GrantView]

    public init(grants: [GrantView]) { self.grants = grants }

    public static let example = GrantList(grants: [])
}

/// Names of what was registered.
public struct Registered: APIObject {
    public var registered: [String]

    public init(registered: [String]) { self.registered = registered }

    public static let example = Registered(registered: [])
}

extension NodeRef: APIObject {
    public static let example = NodeRef(site: "s", node: "n", index: 0)
}

extension PlacedMachine: APIObject {
    public static let example = PlacedMachine(
        machine: "m", instance: 0, node: .example, grant: nil, cores: 1, memory: 0, rank: 0)
}

extension NodeCapacity: APIObject {
    public static let example = NodeCapacity(cores: 1, memory: nil)
}

extension GrantLimits: APIObject {
    public static let example = GrantLimits(cores: nil, coreHours: nil, once: false)
}

extension Placement: APIObject {
    public static let example = Placement(
        topology: "t", user: "alice", machines: [], nodes: [:], grants: [:], availability: 1, cost: 0)
}

/// What the broker would do with a topology.
public struct PlanResult: APIObject {
    public var topology: String
    public var placed: Bool
    public var placement: Placement?
    /// Why it cannot be placed: one line per constraint that failed.
    public var reasons: [String]?

    public init(topology: String, placement: Placement) {
        self.topology = topology
        self.placed = true
        self.placement = placement
    }

    public init(topology: String, reasons: [String]) {
        self.topology = topology
        self.placed = false
        self.reasons = reasons
    }

    public static let example = PlanResult(topology: "t", reasons: [])
}

/// One of the caller's secrets (never its value).
public struct SecretEntry: APIObject {
    public var name: String
    public var updated: Date

    public init(name: String, updated: Date) {
        self.name = name
        self.updated = updated
    }

    public static let example = SecretEntry(name: "s", updated: Date(timeIntervalSince1970: 0))
}

/// The caller's secrets.
public struct SecretList: APIObject {
    public var secrets: [SecretEntry]

    public init(secrets: [SecretEntry]) { self.secrets = secrets }

    public static let example = SecretList(secrets: [])
}

/// A secret's value, to set it.
public struct SecretValue: APIObject {
    public var value: String

    public init(value: String) { self.value = value }

    public static let example = SecretValue(value: "")
}

/// One state-changing request, as the audit log keeps it.
public struct AuditEntry: APIObject {
    public var id: Int64
    public var at: Date
    public var user: String?
    public var method: String
    public var path: String
    public var status: Int

    public init(id: Int64, at: Date, user: String?, method: String, path: String, status: Int) {
        self.id = id
        self.at = at
        self.user = user
        self.method = method
        self.path = path
        self.status = status
    }

    public static let example = AuditEntry(
        id: 1, at: Date(timeIntervalSince1970: 0), user: nil, method: "POST", path: "/", status: 200)
    public static let nullable: Set<String> = ["user"]

    private enum CodingKeys: String, CodingKey { case id, at, user, method, path, status }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(at, forKey: .at)
        try c.encode(user, forKey: .user)
        try c.encode(method, forKey: .method)
        try c.encode(path, forKey: .path)
        try c.encode(status, forKey: .status)
    }
}

/// The audit log, oldest first.
public struct AuditList: APIObject {
    public var audit: [AuditEntry]

    public init(audit: [AuditEntry]) { self.audit = audit }

    public static let example = AuditList(audit: [])
}

/// One YAML file.
public struct DocumentFile: APIObject {
    /// Its name (diagnostics say `path:line:col`); `document-N.yaml` when none.
    public var path: String?
    public var text: String

    public init(path: String?, text: String) {
        self.path = path
        self.text = text
    }

    public static let example = DocumentFile(path: nil, text: "")
    public static let constraints: [String: JSONSchema] = ["text": .string(minLength: 1)]
}

/// YAML documents: `documents` (files) or `yaml` (one text), at least one.
public struct Documents: APIObject {
    public var documents: [DocumentFile]?
    public var yaml: String?

    public init(documents: [DocumentFile]? = nil, yaml: String? = nil) {
        self.documents = documents
        self.yaml = yaml
    }

    public static let example = Documents()
    public static let constraints = RunSubmission.constraints
    public static let anyOfRequired = [["yaml"], ["documents"]]
    public static let summary: String? =
        """
        YAML documents: `documents` (a list of {path, text}) or `yaml` (one text); at least one. A request valid \
        by this schema may still hold a file the language refuses: 422, one `file:line:col: error:` line per problem
        """
}

/// A run to start: its documents, and what the run is given.
public struct RunSubmission: APIObject {
    public var documents: [DocumentFile]?
    public var yaml: String?
    /// The workflow to run, when the files hold several.
    public var workflow: String?
    /// The workflow's inputs, by name.
    public var inputs: [String: JSONValue]?
    /// Groups whose members may read the run (the caller's own).
    public var share: [String]?
    /// Files uploaded with the run: plain name → content in base64 (relative file
    /// inputs are resolved against them).
    public var files: [String: String]?

    public init(
        documents: [DocumentFile]? = nil, yaml: String? = nil, workflow: String? = nil,
        inputs: [String: JSONValue]? = nil, share: [String]? = nil, files: [String: String]? = nil
    ) {
        self.documents = documents
        self.yaml = yaml
        self.workflow = workflow
        self.inputs = inputs
        self.share = share
        self.files = files
    }

    public static let example = RunSubmission()
    public static let summary: String? = Documents.summary
    public static let constraints: [String: JSONSchema] = [
        "documents": .array(DocumentFile.jsonSchema, minItems: 1), "yaml": .string(minLength: 1),
    ]
    public static let anyOfRequired = [["yaml"], ["documents"]]
}
