/// A real resource provider: a workstation, an SSH host or a Slurm cluster.
public struct Site: Sendable, Hashable, Codable {
    /// The site's name.
    public var name: String
    /// How Heaven reaches it.
    public var connector: ConnectorSpec
    /// Who owns it (`user:NAME` or `group:NAME`).
    public var owner: Principal?
    /// Its nodes (each with a count).
    public var nodes: [NodeSpec]
    /// The owner's policy.
    public var policy: SitePolicy
    /// Price per core-hour charged for its use.
    public var price: Double?
    /// Fraction of time the site is expected to be up (0...1).
    public var availability: Double?
    /// Links from this site to others.
    public var links: [SiteLink]
    /// The remote account each user's tasks run as on an SSH site (or a Slurm cluster's
    /// login host), by `user:NAME`; a user not listed runs as the connector's `user`.
    public var accounts: [String: String]?
    /// Where the document starts.
    public var location: SourceLocation

    /// Creates a site.
    public init(
        name: String, connector: ConnectorSpec, owner: Principal? = nil, nodes: [NodeSpec],
        policy: SitePolicy = SitePolicy(), price: Double? = nil, availability: Double? = nil,
        links: [SiteLink] = [], accounts: [String: String]? = nil, location: SourceLocation
    ) {
        self.accounts = accounts
        self.name = name
        self.connector = connector
        self.owner = owner
        self.nodes = nodes
        self.policy = policy
        self.price = price
        self.availability = availability
        self.links = links
        self.location = location
    }

    /// Total cores over all nodes.
    public var totalCores: Int { nodes.reduce(0) { $0 + $1.count * $1.cores } }
    /// Memory of all its nodes together, in bytes (0 when no node states its memory).
    public var totalMemory: Double { nodes.reduce(0.0) { $0 + Double($1.count) * ($1.memory ?? 0) } }

    /// The remote account the tasks of `user` run as, when the site maps them to one.
    public func account(of user: String) -> String? { accounts?["user:" + user] }
}

/// How a site is reached.
public indirect enum ConnectorSpec: Sendable, Hashable, Codable {
    /// Processes on this machine.
    case local
    /// A host over SSH (system OpenSSH client). `identity` is a key file of the server's
    /// (an admin's choice); `identitySecret` names a secret of the run's user holding
    /// their own private key (`identity: {secret: NAME}`), the only kind a tenant may use.
    case ssh(host: String, port: Int?, user: String?, identity: String?, identitySecret: String? = nil)
    /// A Slurm cluster, directly or through a login host; `config` names the cluster's
    /// `slurm.conf` when it is not the default one (it becomes `SLURM_CONF`).
    case slurm(partition: String?, account: String?, via: ConnectorSpec?, config: String? = nil)

    /// The connector's kind as written.
    public var kind: String {
        switch self {
        case .local: "local"
        case .ssh: "ssh"
        case .slurm: "slurm"
        }
    }
}

/// A kind of node of a site, times its count.
public struct NodeSpec: Sendable, Hashable, Codable {
    public var name: String
    public var count: Int
    public var cores: Int
    public var memory: Double?
    public var disk: Double?
    public var gpus: Int
    public var arch: String?
    public var software: [String]
    public var tags: [String]
    public var bandwidth: Double?

    /// Creates a node kind.
    public init(
        name: String, count: Int = 1, cores: Int, memory: Double? = nil, disk: Double? = nil, gpus: Int = 0,
        arch: String? = nil, software: [String] = [], tags: [String] = [], bandwidth: Double? = nil
    ) {
        self.name = name
        self.count = count
        self.cores = cores
        self.memory = memory
        self.disk = disk
        self.gpus = gpus
        self.arch = arch
        self.software = software
        self.tags = tags
        self.bandwidth = bandwidth
    }

    /// The node's attributes as expression values, for `requirements` and `rank`.
    public var attributes: [String: Value] {
        var a: [String: Value] = [
            "name": .string(name), "cores": .int(cores), "gpus": .int(gpus),
            "software": .list(software.map(Value.string)), "tags": .list(tags.map(Value.string)),
            "arch": .string(arch ?? "x86_64"),
        ]
        if let m = memory { a["memory"] = .quantity(Quantity(m, .bytes)) }
        if let d = disk { a["disk"] = .quantity(Quantity(d, .bytes)) }
        if let b = bandwidth { a["bandwidth"] = .quantity(Quantity(b, .bitsPerSecond)) }
        return a
    }
}

/// A user or a group.
public struct Principal: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Which of the two.
    public enum Kind: String, Sendable, Hashable, Codable { case user, group }
    public var kind: Kind
    public var name: String

    /// Creates a principal.
    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    /// Parses `user:NAME` or `group:NAME`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let k = Kind(rawValue: parts[0]), !parts[1].isEmpty else { return nil }
        self.init(k, parts[1])
    }

    public var description: String { "\(kind.rawValue):\(name)" }
}

/// A site owner's policy.
public struct SitePolicy: Sendable, Hashable, Codable {
    /// Who may use the site at all (empty: anyone with a grant).
    public var allow: [Principal]
    /// A requirement over `user`, `groups` and the request (`cores`, `memory`, `hour`).
    public var requirements: Expression?

    /// Creates a policy.
    public init(allow: [Principal] = [], requirements: Expression? = nil) {
        self.allow = allow
        self.requirements = requirements
    }
}

/// A network link from a site to another.
public struct SiteLink: Sendable, Hashable, Codable {
    public var to: String
    public var bandwidth: Double?
    public var latency: Double?

    /// Creates a link.
    public init(to: String, bandwidth: Double?, latency: Double?) {
        self.to = to
        self.bandwidth = bandwidth
        self.latency = latency
    }
}

/// A right a site's owner gives a user or group.
public struct Grant: Sendable, Hashable, Codable {
    public var name: String
    public var site: String
    public var to: Principal
    /// Most cores in use at once.
    public var cores: Int?
    /// Most core-hours in total.
    public var coreHours: Double?
    /// Valid until this date (`YYYY-MM-DD`, end of day UTC excluded).
    public var until: String?
    /// Consumed by the first run that uses it.
    public var once: Bool
    public var location: SourceLocation

    /// Creates a grant.
    public init(
        name: String, site: String, to: Principal, cores: Int? = nil, coreHours: Double? = nil,
        until: String? = nil, once: Bool = false, location: SourceLocation
    ) {
        self.name = name
        self.site = site
        self.to = to
        self.cores = cores
        self.coreHours = coreHours
        self.until = until
        self.once = once
        self.location = location
    }
}
