public import HeavenConnectors
public import HeavenModel

/// What the operator of a shared server decides, and no tenant can change: how tenants'
/// tasks are isolated on the server's machine, and where tenants may register sites.
public struct ServerPolicy: Sendable, Equatable {
    /// The uids (each used as its own gid) that tenants' tasks run as, one per account
    /// (`heaven serve --task-ids`); nil: tasks are not isolated (`--no-isolation`).
    public var taskIDs: ClosedRange<UInt32>?
    /// The memory bound of a task that declares none, in bytes.
    public var taskMemory: Double
    /// How many processes and threads one task may have at once.
    public var taskProcesses: Int
    /// Hosts on which any user may register an SSH site (or a Slurm site reached through
    /// its login host), with a key of their own; every other site is an admin's to register.
    public var siteHosts: Set<String>
    /// Hosts (`host` or `host:port`) the server may fetch files from (an execute
    /// request's `href` inputs) and send callbacks to; no other host is ever contacted.
    public var fetchHosts: Set<String>
    /// The largest file fetched for an `href` input, in bytes.
    public var fetchLimit: Int
    /// The platform's share of the value of every priced job, in percent (to the
    /// `operator` account).
    public var platformFee: Double
    /// Directories whose files any tenant may name as file inputs (`--share-dir`), read
    /// with the tenant's own rights.
    public var shareDirectories: [String]
    /// The network a tenant's task whose virtual machine asks for one gets
    /// (`--task-network`): none (the topology is refused), or outbound only.
    public var taskNetwork: TaskNetwork
    /// The most bytes the files of a tenant's task may take (`--task-disk`); its machine's
    /// `disk` may lower it, never raise it.
    public var taskDisk: Double

    /// A policy.
    public init(
        taskIDs: ClosedRange<UInt32>? = nil, taskMemory: Double = 4 * 1_073_741_824, taskProcesses: Int = 1024,
        siteHosts: Set<String> = [], fetchHosts: Set<String> = [], fetchLimit: Int = 1 << 30, platformFee: Double = 0,
        shareDirectories: [String] = [], taskNetwork: TaskNetwork = .none, taskDisk: Double = 10 * 1_073_741_824
    ) {
        self.taskNetwork = taskNetwork
        self.taskDisk = taskDisk
        self.shareDirectories = shareDirectories
        self.platformFee = platformFee
        self.fetchHosts = Set(fetchHosts.map { $0.lowercased() })
        self.fetchLimit = fetchLimit
        self.taskIDs = taskIDs
        self.taskMemory = taskMemory
        self.taskProcesses = taskProcesses
        self.siteHosts = siteHosts
    }

    /// How tasks are isolated, as `/healthz` tells it.
    public var isolation: String { taskIDs == nil ? "none" : "tenant-uids" }
}

extension ServerPolicy {
    /// Why a user who is not an admin may not register `site`, or nil when they may: a
    /// tenant's site is an SSH host (or a Slurm cluster's login host) the operator
    /// allowed, reached with the tenant's own key (`identity: {secret: NAME}`), never with
    /// a key file of the server's nor the server's own account on its machine.
    public func tenantRefusal(_ site: Site) -> String? {
        func ssh(_ spec: ConnectorSpec, _ what: String) -> String? {
            guard case .ssh(let host, _, _, let identity, let secret) = spec else { return nil }
            guard siteHosts.contains(host) else {
                let allowed = siteHosts.sorted().joined(separator: ", ")
                return
                    """
                    \(what) host `\(host)` is not one the operator allows tenants to \
                    use\(siteHosts.isEmpty ? " (none is: ask an admin to register the site)" : " (allowed: \(allowed))")
                    """
            }
            if identity != nil {
                return
                    """
                    `identity` names a key file on the server, which only an admin may use; upload your own key \
                    as a secret and write `identity: {secret: NAME}`
                    """
            }
            if secret == nil {
                return
                    """
                    an SSH site of a tenant authenticates with the tenant's own key: upload it as a secret \
                    (`heaven secrets set NAME < key`) and write `identity: {secret: NAME}`
                    """
            }
            return nil
        }
        switch site.connector {
        case .local:
            return "a local site runs tasks on the server's own machine: only an admin registers one"
        case .ssh:
            return ssh(site.connector, "the SSH")
        case .slurm(_, _, let via, _):
            guard let via else {
                return
                    """
                    a Slurm site without `via` submits jobs from the server's own machine and account: only an \
                    admin registers one (a tenant reaches a cluster through its login host: `via: {kind: ssh, ...}`)
                    """
            }
            return ssh(via, "the login")
        }
    }
}
