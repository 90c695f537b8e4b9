import Foundation
public import HeavenConnectors
public import HeavenCore
import HeavenModel

/// How a shared server keeps its tenants apart: the operator's decision, never a
/// tenant's. With `isolated`, every task a tenant runs on the server's own machine runs
/// as that tenant's own unprivileged uid, sandboxed (see `TaskConfinement`), bounded in
/// memory and processes; only an admin's workflow may opt out (`isolation: none`).
public struct Tenancy: Sendable {
    /// Who a run's user is to the server: the uid their tasks run as (nil: tasks are
    /// not isolated, the operator said so) and whether they are an admin.
    public struct Tenant: Sendable, Equatable {
        public var taskID: UInt32?
        public var admin: Bool

        public init(taskID: UInt32?, admin: Bool) {
            self.taskID = taskID
            self.admin = admin
        }
    }

    /// Looks a run's user up (assigning their task uid on first use).
    public var tenant: @Sendable (String) async throws -> Tenant
    /// The memory bound of a task that declares none, in bytes.
    public var defaultMemory: Double
    /// How many processes and threads one task may have.
    public var maxProcesses: Int
    /// Directories the operator shares with every tenant (`--share-dir`): a file input may
    /// name a file beneath one, read with the tenant's own rights.
    public var shareDirectories: [String]
    /// The network a tenant's task whose virtual machine asks for one gets (`none`: it is
    /// refused at submission, and the task has a loopback of its own only).
    public var network: TaskNetwork
    /// The bytes the files of a task whose machine declares no `disk` may take; 0: none.
    public var defaultDisk: Double
    /// A tenancy.
    public init(
        defaultMemory: Double, maxProcesses: Int, shareDirectories: [String] = [], network: TaskNetwork = .none,
        defaultDisk: Double = 0, tenant: @escaping @Sendable (String) async throws -> Tenant
    ) {
        self.shareDirectories = shareDirectories
        self.network = network
        self.defaultDisk = defaultDisk
        self.tenant = tenant
        self.defaultMemory = defaultMemory
        self.maxProcesses = maxProcesses
    }

    /// The usual tenancy of a server over an account store: uids from `ids` (nil: no
    /// isolation, `--no-isolation`).
    public static func accounts(
        _ store: any AccountStore, ids: ClosedRange<UInt32>?, defaultMemory: Double, maxProcesses: Int,
        shareDirectories: [String] = [], network: TaskNetwork = .none, defaultDisk: Double = 0
    ) -> Tenancy {
        Tenancy(
            defaultMemory: defaultMemory, maxProcesses: maxProcesses, shareDirectories: shareDirectories,
            network: network, defaultDisk: defaultDisk
        ) { name in
            guard let user = try await store.user(name) else {
                throw EngineError.invalid("no account `\(name)` on this server")
            }
            guard let ids else { return Tenant(taskID: nil, admin: user.admin) }
            return Tenant(taskID: try await store.taskID(for: name, in: ids), admin: user.admin)
        }
    }

    /// What a tenant's task must never see, beyond the other runs (hidden with Heaven's
    /// state): the administrator's and users' homes (where SSH keys live), and every file
    /// that reaches a registered remote site (identities, Slurm configuration, the SSH
    /// client's configuration and its master connections).
    static func hiddenPaths(home: HeavenHome, catalog: Catalog) -> [String] {
        var paths = ["/root", "/home", home.root, NSTemporaryDirectory() + "heaven-ssh-\(getuid())"]
        if let config = ProcessInfo.processInfo.environment["HEAVEN_SSH_CONFIG"] { paths.append(config) }
        func add(_ c: ConnectorSpec) {
            switch c {
            case .local: break
            case .ssh(_, _, _, let identity, _):
                if let identity { paths.append((identity as NSString).expandingTildeInPath) }
            case .slurm(_, _, let via, let config):
                if let via { add(via) } else if let config { paths.append((config as NSString).expandingTildeInPath) }
            }
        }
        for entry in catalog.sites { add(entry.site.connector) }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
