/// How a shared server confines a tenant's task on its own machine: the task runs as
/// the tenant's unprivileged uid and gid (never the server's account, no supplementary
/// groups, no capabilities), inside a bubblewrap sandbox that shows it the system
/// read-only, its own working directory writable, its run read-only, a private `/tmp`
/// and its own processes, and hides `hidden`; its memory and process count are bounded.
///
/// bubblewrap runs as the server's account (so every mount is possible whatever the
/// permissions on the way to the run's directory), keeping only the capabilities that
/// `setpriv` needs to drop to the tenant's ids inside the sandbox; after that drop the
/// task holds no capability at all and cannot regain one (`no_new_privs`). Mapping root
/// to another uid inside a user namespace would not do: the kernel would still see uid 0.
public struct TaskConfinement: Sendable, Equatable {
    /// The tenant's uid and gid on this machine.
    public var uid: UInt32
    public var gid: UInt32
    /// Directories (hidden behind an empty tmpfs) and files (hidden behind /dev/null)
    /// the task must not see: `/root`, `/home`, Heaven's state, the identities and
    /// configuration that reach remote sites.
    public var hidden: [String]
    /// The memory bound, in bytes, of a task that declares none.
    public var defaultMemory: Double
    /// How many processes and threads a task may have at once.
    public var maxProcesses: Int

    /// Creates a confinement.
    public init(uid: UInt32, gid: UInt32, hidden: [String], defaultMemory: Double, maxProcesses: Int) {
        self.uid = uid
        self.gid = gid
        self.hidden = hidden
        self.defaultMemory = defaultMemory
        self.maxProcesses = maxProcesses
    }

    /// The path of `setpriv` (util-linux), when installed.
    public static let setpriv: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first {
        LocalConnector.isExecutableFile($0)
    }

    /// What bounds a task's memory and processes here: `cgroups`, or `rlimits` where no
    /// control group hierarchy is usable.
    public static var limitsMechanism: String { TaskCgroup.available ? "cgroups" : "rlimits" }

    /// Removes the control groups this process made for its tasks (when it stops).
    public static func releaseLimits() { TaskCgroup.removeParents() }

    /// What stops this process from confining tasks as above, if anything: each missing
    /// piece with how to provide it.
    public static func missing() -> [String] {
        var problems: [String] = []
        if LocalConnector.bubblewrap == nil {
            problems.append("bubblewrap is not installed (apt-get install bubblewrap)")
        }
        if setpriv == nil { problems.append("setpriv is not installed (apt-get install util-linux)") }
        if geteuid() != 0 {
            problems.append(
                "the server runs as uid \(geteuid()), not root: it cannot start tasks as the tenants' own uids (run it as root)"
            )
        }
        return problems
    }

    /// The arguments of bubblewrap's capabilities and of the `setpriv` that drops to the
    /// tenant's ids, placed between bubblewrap's options and the task's argv.
    func dropArguments(setpriv: String) -> (bubblewrap: [String], command: [String]) {
        (
            [
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                "--cap-add", "CAP_DAC_READ_SEARCH",
            ],
            [
                setpriv, "--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--inh-caps=-all",
                "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            ]
        )
    }
}

#if canImport(Glibc)
    import Glibc
#endif
