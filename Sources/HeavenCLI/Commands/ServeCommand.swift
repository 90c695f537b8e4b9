import ArgumentParser
import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenServer

#if canImport(Glibc)
    import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Heaven as a shared service: the HTTP API v1 and OGC API - Processes for many users at once.",
        discussion: """
            The engine and the broker run inside the server; runs that a previous server \
            left unfinished are resumed when it starts. Every route but /healthz, \
            /openapi.json and OGC API - Processes' /, /conformance and /api needs a bearer \
            token (anonymous callers see public processes): create users and tokens with \
            `heaven users`. The server fetches `href` inputs and calls subscribers back \
            only on the hosts --fetch-allow names.

              $ heaven users add alice --group eo --admin      # prints alice's token, once
              $ useradd --system --no-create-home --shell /usr/sbin/nologin heaven
              $ heaven serve --listen 127.0.0.1:8080 --task-ids 200000-299999 --user heaven
              $ curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/runs

            Isolation is the operator's decision. Every task a tenant runs on this machine \
            runs as an unprivileged uid of that tenant's own (assigned from --task-ids, \
            which no account or group of this machine may use), with no supplementary groups, inside \
            namespaces of its own that show it only its own run (made by the server's \
            sandbox helper), bounded in memory and processes (cgroups, else rlimits). The \
            server is started as root, tries one confined task before it serves, starts its \
            sandbox helper (which keeps root's rights) and then runs as the service account \
            --user names, with no capability; it reaches a tenant's files only as the tenant, \
            beneath the run, never through a link. It \
            refuses to start without an id range or when that task fails, saying what is \
            missing; --no-isolation runs tasks as the server's account instead (logged at \
            every start, shown on /healthz). Sites: an admin registers any; another user \
            only SSH hosts (or Slurm login hosts) named by --site-hosts, with a key of \
            their own kept as a secret (`identity: {secret: NAME}`).
            """)

    @Option(help: "Address and port to listen on (port 0: any free port, printed at start).")
    var listen = "127.0.0.1:8080"

    @Option(
        name: .customLong("task-ids"),
        help: "The uids tenants' tasks run as, one per account, e.g. 200000-299999 (no account may have them).")
    var taskIDs: String?

    @Option(
        name: .customLong("user"),
        help:
            """
            The service account the server runs as once its sandbox helper runs (started as root, it drops to it; \
            required as root unless --no-isolation).
            """
    )
    var user: String?

    @Flag(
        name: .customLong("no-isolation"),
        help: "Run tasks as the server's own account, unconfined (not for shared use).")
    var noIsolation = false

    @Option(name: .customLong("task-memory"), help: "Memory bound of a task that declares none.")
    var taskMemory = "4GiB"

    @Option(name: .customLong("task-processes"), help: "Processes and threads one task may have at once.")
    var taskProcesses = 1024

    @Option(
        name: .customLong("task-disk"),
        help:
            """
            The most a tenant's task may write (its working directory, /tmp and /dev/shm); a machine's `disk` may \
            lower it, never raise it.
            """
    )
    var taskDisk = "10GiB"

    @Option(
        name: .customLong("task-network"),
        help: ArgumentHelp(
            """
            The network a tenant's task whose machine asks for one (`network: true`) gets: none (such a topology \
            is refused) or outbound (a namespace of its own reaching out through slirp4netns, with no route to \
            this host).
            """,
            valueName: "none|outbound"))
    var taskNetwork = "none"

    @Option(
        name: .customLong("site-hosts"),
        help: "A host on which any user may register an SSH site (or a Slurm login host); repeat for several.")
    var siteHosts: [String] = []

    @Option(
        name: .customLong("fetch-allow"),
        help:
            """
            A host (HOST or HOST:PORT) the server may fetch `href` inputs from and send callbacks to; repeat for \
            several. No other host is ever contacted.
            """
    )
    var fetchAllow: [String] = []

    @Option(
        name: .customLong("fetch-limit"),
        help: "The largest file fetched for an `href` input, and the most a console form uploads.")
    var fetchLimit = "1GiB"

    @Option(
        name: .customLong("share-dir"),
        help:
            """
            A directory whose files any tenant may name as file inputs, read with the tenant's own rights; repeat \
            for several.
            """
    )
    var shareDirectories: [String] = []

    @Option(
        name: .customLong("platform-fee"),
        help: "The platform's share, in percent, of the value of every priced job (to the `operator` account).")
    var platformFee: Double = 0

    /// The operator's policy from the options, or the reason the server cannot start.
    func policy(home: HeavenHome, adopted: Bool = false) async throws -> ServerPolicy {
        guard case .success(let memory) = Quantity.parse(taskMemory, as: .bytes), memory.value > 0 else {
            throw CLIError("--task-memory takes a size such as 4GiB or 512MiB (got `\(taskMemory)`)")
        }
        guard taskProcesses >= 1 else { throw CLIError("--task-processes must be at least 1 (got \(taskProcesses))") }
        guard case .success(let disk) = Quantity.parse(taskDisk, as: .bytes), disk.value >= 1_048_576 else {
            throw CLIError("--task-disk takes a size of at least 1MiB, such as 10GiB or 500MiB (got `\(taskDisk)`)")
        }
        guard let network = TaskNetwork(rawValue: taskNetwork) else {
            throw CLIError("--task-network takes `none` or `outbound` (got `\(taskNetwork)`)")
        }
        guard case .success(let limit) = Quantity.parse(fetchLimit, as: .bytes), limit.value >= 1 else {
            throw CLIError("--fetch-limit takes a size such as 1GiB or 200MiB (got `\(fetchLimit)`)")
        }
        guard platformFee.isFinite, platformFee >= 0, platformFee <= 100 else {
            throw CLIError("--platform-fee takes a percent between 0 and 100 (got \(platformFee))")
        }
        for h in fetchAllow where h.isEmpty || h.contains("/") || h.contains(where: \.isWhitespace) {
            throw CLIError("--fetch-allow takes a host name or address, optionally with :PORT (got `\(h)`)")
        }
        var shared: [String] = []
        for d in shareDirectories {
            let path = (HeavenHome.absolute(d) as NSString).standardizingPath
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("--share-dir takes a directory (`\(d)` is not one)")
            }
            shared.append(path)
        }
        var policy = ServerPolicy(
            taskMemory: memory.value, taskProcesses: taskProcesses, siteHosts: Set(siteHosts),
            fetchHosts: Set(fetchAllow), fetchLimit: Int(limit.value), platformFee: platformFee,
            shareDirectories: shared, taskNetwork: network, taskDisk: disk.value)
        if noIsolation {
            if taskIDs != nil { throw CLIError("--task-ids and --no-isolation contradict each other: choose one") }
            return policy
        }
        // The image a root server re-executed as its service account: its first image
        // checked everything, as root, and handed its sandbox helper down.
        if adopted {
            let parts = (taskIDs ?? "").split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let lo = UInt32(parts[0]), let hi = UInt32(parts[1]), lo <= hi else {
                throw CLIError("--task-ids must be FIRST-LAST")
            }
            policy.taskIDs = lo...hi
            return policy
        }
        var missing = TaskConfinement.missing()
        if let taskIDs {
            let parts = taskIDs.split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 2, let lo = UInt32(parts[0]), let hi = UInt32(parts[1]), lo >= 1000, lo <= hi {
                policy.taskIDs = lo...hi
                if let taken = ServeCommand.accountIn(lo...hi) {
                    missing.append(
                        """
                        uid \(taken.uid) of --task-ids belongs to the account `\(taken.name)`: choose a range no \
                        account uses
                        """
                    )
                }
                // A tenant's gid is their uid: no group may have it either (its members' files would open).
                if let taken = ServeCommand.groupIn(lo...hi) {
                    missing.append(
                        """
                        gid \(taken.gid) of --task-ids belongs to the group `\(taken.name)`: choose a range no \
                        group uses
                        """
                    )
                }
            } else {
                missing.append(
                    "--task-ids must be FIRST-LAST with 1000 <= FIRST <= LAST, e.g. 200000-299999 (got `\(taskIDs)`)")
            }
        } else {
            missing.append("no uid range for tenants' tasks: pass --task-ids FIRST-LAST, e.g. --task-ids 200000-299999")
        }
        if let blocked = ServeCommand.untraversable(home.root) {
            missing.append(
                """
                \(blocked) is not searchable by other users (mode o+x), so tenants' tasks cannot reach their runs \
                under $HEAVEN_HOME: move $HEAVEN_HOME or chmod o+x \(blocked)
                """
            )
        }
        if let user {
            if let account = ServeCommand.account(user) {
                if account.uid == 0 { missing.append("--user \(user) is root: name an unprivileged service account") }
                if let ids = policy.taskIDs, ids.contains(account.uid) || ids.contains(account.gid) {
                    missing.append("--user \(user) has an id in --task-ids: choose an account outside the range")
                }
            } else {
                missing.append(
                    """
                    no account `\(user)` for --user: create one (e.g. useradd --system --no-create-home --shell \
                    /usr/sbin/nologin \(user))
                    """
                )
            }
        } else if geteuid() == 0 {
            missing.append(
                """
                started as root without --user: name the service account the server drops to once its sandbox \
                helper runs, e.g. --user heaven (useradd --system --no-create-home --shell /usr/sbin/nologin heaven)
                """
            )
        }
        if network == .outbound, TaskConfinement.slirp4netns == nil {
            missing.append("--task-network outbound needs slirp4netns: install it (apt-get install slirp4netns)")
        }
        if network == .outbound, user == nil {
            missing.append(
                """
                --task-network outbound needs --user (the sandbox helper learns slirp4netns's path before the \
                server drops its privileges)
                """
            )
        }
        if missing.isEmpty, let ids = policy.taskIDs, let failed = await TaskConfinement.probe(uid: ids.lowerBound) {
            missing.append(failed)
        }
        if !missing.isEmpty {
            throw CLIError(
                "cannot isolate tenants' tasks:\n  - " + missing.joined(separator: "\n  - ")
                    + "\n(or pass --no-isolation to run every task as the server's own account: not for shared use)")
        }
        return policy
    }

    /// The uid and gid of the account `name`, if there is one.
    static func account(_ name: String) -> (uid: UInt32, gid: UInt32)? {
        guard let pw = getpwnam(name) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// Gives `home` to the service account: every file and directory of root's under it
    /// (never following a link; tenants' run directories stay theirs).
    static func giveState(_ home: String, to account: (uid: UInt32, gid: UInt32)) {
        func walk(_ path: String) {
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            if st.st_uid == 0 { lchown(path, account.uid, account.gid) }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { return }
            // A tenant's directory is not walked: nothing of root's belongs there.
            if st.st_uid != 0 && st.st_uid != account.uid { return }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { walk(path + "/" + name) }
        }
        walk(home)
    }

    /// The first account of the system's user database whose uid lies in `range`.
    static func accountIn(_ range: ClosedRange<UInt32>) -> (uid: UInt32, name: String)? {
        setpwent()
        defer { endpwent() }
        while let pw = getpwent() {
            if range.contains(pw.pointee.pw_uid) { return (pw.pointee.pw_uid, String(cString: pw.pointee.pw_name)) }
        }
        return nil
    }

    /// The first group of the system's group database whose gid lies in `range`.
    static func groupIn(_ range: ClosedRange<UInt32>) -> (gid: UInt32, name: String)? {
        setgrent()
        defer { endgrent() }
        while let gr = getgrent() {
            if range.contains(gr.pointee.gr_gid) { return (gr.pointee.gr_gid, String(cString: gr.pointee.gr_name)) }
        }
        return nil
    }

    /// The first directory on the way to `path` that other users cannot search, outside
    /// the directories a task's sandbox replaces (`/root`, `/home`, `/tmp`).
    static func untraversable(_ path: String) -> String? {
        var current = ""
        for part in path.split(separator: "/").dropLast() {
            current += "/" + part
            if ["/root", "/home", "/tmp"].contains(current) { return nil }
            let mode = (try? FileManager.default.attributesOfItem(atPath: current)[.posixPermissions] as? Int) ?? 0o755
            if mode & 0o001 == 0 { return current }
        }
        return nil
    }

    func run() async throws {
        if let hold = ProcessInfo.processInfo.environment["HEAVEN_TRACE_HOLD"] {
            CLI.error(
                """
                heaven: warning: HEAVEN_TRACE_HOLD=\(hold): a crash test's trace point will hold this \
                server (never set it in service)
                """)
        }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw CLIError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got `\(listen)`)") }
        let host = String(listen[..<colon])
        let home = HeavenHome.fromEnvironment()
        let adopted = user != nil && geteuid() != 0 && TaskConfinement.adoptHelper()
        let policy = try await policy(home: home, adopted: adopted)
        for repair in home.secure(deep: true) { CLI.error("heaven: note: state made private: \(repair)") }
        // Privilege separation: the helper keeps root's rights; this program starts again
        // as the service account (every thread of root's ends with the exec) before it
        // reads a request, a document or a tenant's file, the helper handed down to it.
        if let user, let account = ServeCommand.account(user), geteuid() == 0, let ids = policy.taskIDs {
            do {
                try TaskConfinement.separatePrivileges(
                    ids: ids, serverUID: account.uid, serverGID: account.gid, outbound: policy.taskNetwork == .outbound)
            } catch { throw CLIError("cannot separate privileges: \(error)") }
            if policy.taskNetwork == .outbound,
                let failed = await TaskConfinement.probe(uid: ids.lowerBound, outbound: true, server: account)
            {
                throw CLIError("cannot give tenants' tasks an outbound network:\n  - \(failed)")
            }
            ServeCommand.giveState(home.root, to: account)
            do { try TaskConfinement.reexec(as: account.uid, gid: account.gid, arguments: CommandLine.arguments) } catch
            {
                throw CLIError("\(error)")
            }
        }
        if adopted, let user {
            CLI.error(
                "privileges: serving as \(user) (uid \(geteuid())), no capability; the sandbox helper keeps root's")
        }
        let (_, stores) = try CLI.openStore()
        if let ids = policy.taskIDs {
            let outbound = "outbound only (slirp4netns), for machines that ask for it"
            CLI.error(
                """
                isolation: tenants' tasks run as uids \(ids.lowerBound)-\(ids.upperBound), sandboxed, bounded by \
                \(TaskConfinement.limitsMechanism), writing at most \(Quantity(policy.taskDisk, .bytes)) (less \
                where their machine's `disk` says so); network: \
                \(policy.taskNetwork == .outbound ? outbound : "none (a loopback of their own)")
                """
            )
        } else {
            CLI.error(
                """
                heaven: warning: --no-isolation: every task runs as this server's own account (uid \(geteuid())), \
                unconfined
                """
            )
        }
        let server = HeavenServer(home: home, stores: stores, policy: policy)
        let resumed = try await server.resumeInterrupted()
        if !resumed.isEmpty {
            CLI.error("resuming \(resumed.count) unfinished run(s): \(resumed.joined(separator: ", "))")
        }
        if try await stores.accounts.users().isEmpty {
            CLI.error("no users yet: create one with `heaven users add NAME --admin` (it prints a token)")
        }
        defer { if policy.taskIDs != nil { TaskConfinement.releaseLimits() } }
        try await server.serve(host: host, port: port) { bound in
            // One line on standard output, for scripts that started it with port 0.
            let line = "listening on http://\(host):\(bound)\n"
            _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        }
    }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage the accounts of a shared server (run on the server's machine, against $HEAVEN_HOME).",
        subcommands: [UsersAddCommand.self, UsersListCommand.self, UsersTokenCommand.self, UsersRevokeCommand.self],
        defaultSubcommand: UsersListCommand.self)
}

/// Parses `30d`, `12h`, `90m`: a token's lifetime.
func lifetime(_ text: String?) throws -> Date? {
    guard let text else { return nil }
    guard case .success(let q) = Quantity.parse(text, as: .seconds), q.value > 0 else {
        throw CLIError("--expires takes a duration such as 30d, 12h or 90m (got `\(text)`)")
    }
    return Date().addingTimeInterval(q.value)
}

struct UsersAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Create a user (or change their groups and role) and print a new token for them, once.",
        discussion: """
              $ heaven users add alice --group eo --admin
              $ heaven users add bob --group eo --expires 30d
            """)

    @Argument(help: "The user's name.") var name: String
    @Option(name: .customLong("group"), help: "A group the user belongs to (repeat for several).") var groups:
        [String] = []
    @Flag(help: "Make the user an admin (sees and manages everything, reads the audit log).") var admin = false
    @Option(help: "The token's lifetime (e.g. 30d); none: until revoked.") var expires: String?

    func run() async throws {
        guard name.range(of: "^[a-z_][a-z0-9_.-]{0,63}$", options: .regularExpression) != nil else {
            throw CLIError(
                "a user name is lowercase letters, digits, `_`, `.` or `-`, starting with a letter (got `\(name)`)")
        }
        let until = try lifetime(expires)
        let (_, stores) = try CLI.openStore()
        let existing = try await stores.accounts.user(name)
        try await stores.accounts.saveUser(
            UserRecord(name: name, groups: groups, admin: admin, createdAt: existing?.createdAt ?? Date()))
        let (id, token) = try await Tokens.issue(
            for: name, store: stores.accounts, label: "created by heaven users add", expires: until)
        CLI.error(
            """
            \(existing == nil ? "created" : "updated") user \
            \(name)\(admin ? " (admin)" : "")\(groups.isEmpty ? "" : " in \(groups.joined(separator: ", "))"); \
            token \(id)\(until.map { " expires \(ISO8601DateFormatter().string(from: $0))" } ?? ""), shown only now:
            """
        )
        print(token)
    }
}

struct UsersTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Print a new token for an existing user, once.")

    @Argument(help: "The user's name.") var name: String
    @Option(help: "The token's lifetime (e.g. 30d); none: until revoked.") var expires: String?

    func run() async throws {
        let until = try lifetime(expires)
        let (_, stores) = try CLI.openStore()
        guard try await stores.accounts.user(name) != nil else {
            throw CLIError("no user \(name) (create it with `heaven users add`)")
        }
        let (id, token) = try await Tokens.issue(for: name, store: stores.accounts, expires: until)
        CLI.error("token \(id) for \(name), shown only now:")
        print(token)
    }
}

struct UsersListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List users and their tokens (never the tokens' secrets).")

    func run() async throws {
        let (_, stores) = try CLI.openStore()
        let users = try await stores.accounts.users()
        if users.isEmpty {
            print("no users (create one with `heaven users add NAME --admin`)")
            return
        }
        let f = ISO8601DateFormatter()
        var rows = [["USER", "GROUPS", "ROLE", "TOKENS"]]
        for u in users {
            let tokens = try await stores.accounts.tokens(user: u.name).map { t in
                t.id
                    + (t.revokedAt != nil
                        ? " (revoked)"
                        : t.expiresAt.map { $0 <= Date() ? " (expired)" : " (until \(f.string(from: $0)))" } ?? "")
            }
            rows.append([
                u.name, u.groups.joined(separator: ","), u.admin ? "admin" : "user", tokens.joined(separator: " "),
            ])
        }
        print(PlanCommand.table(rows))
    }
}

struct UsersRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token by its id (from `heaven users list`).")

    @Argument(help: "The token's id (the 8 characters after `hv_`).") var token: String

    func run() async throws {
        let (_, stores) = try CLI.openStore()
        guard try await stores.accounts.revokeToken(token) else { throw CLIError("no live token \(token)") }
        print("token \(token) revoked")
    }
}
