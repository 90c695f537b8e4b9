import CHeavenSystem
import Foundation
import HeavenModel
import Synchronization

/// The network a shared server gives a tenant's task whose virtual machine asks for one
/// (`heaven serve --task-network`): `none` (it keeps a loopback of its own only, and such
/// a topology is refused), or `outbound` (a network namespace of its own that reaches out
/// through slirp4netns, with no route to the host's loopback nor to its other addresses).
public enum TaskNetwork: String, Sendable, CaseIterable {
    case none, outbound
}

/// How a shared server confines a tenant's task on its own machine: the task runs as
/// the tenant's unprivileged uid and gid (never the server's account, no supplementary
/// groups, no capabilities), in PID, mount, IPC, UTS, cgroup and (without `network`)
/// network namespaces of its own that show it the system read-only, its own working
/// directory writable, its run read-only, a private `/tmp` and `/dev/shm`, a minimal
/// `/dev`, its own processes only, and hide `hidden`; its memory and process count are
/// bounded.
///
/// The sandbox helper (`SandboxZygote`, zygote.c) builds all this as the server's
/// account (so every mount is possible whatever the permissions on the way to the
/// run's directory) and drops to the tenant's ids only just before the exec; from then
/// on the task holds no capability at all and cannot regain one (`no_new_privs`, an
/// empty bounding set). Mapping root to another uid inside a user namespace would not
/// do: the kernel would still see uid 0.
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
    /// The most bytes the files of a task may take (its working directory, /tmp and
    /// /dev/shm): its machine's `disk` may lower it, never raise it; 0: no bound.
    public var defaultDisk: Double

    /// Creates a confinement.
    public init(
        uid: UInt32, gid: UInt32, hidden: [String], defaultMemory: Double, maxProcesses: Int, defaultDisk: Double = 0
    ) {
        self.uid = uid
        self.gid = gid
        self.hidden = hidden
        self.defaultMemory = defaultMemory
        self.maxProcesses = maxProcesses
        self.defaultDisk = defaultDisk
    }

    /// slirp4netns's path, where it is installed (an outbound network for tenants' tasks).
    public static var slirp4netns: String? {
        for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"] {
            let path = dir + "/slirp4netns"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// Names the program that runs the sandbox helper (`PROGRAM --sandbox-zygote`):
    /// Heaven's command names itself.
    public static func useHelper(_ program: String) { SandboxZygote.program.withLock { $0 = program } }

    /// What bounds a task's memory and processes here: `cgroups`, or `rlimits` where no
    /// control group hierarchy is usable.
    public static var limitsMechanism: String { TaskCgroup.available ? "cgroups" : "rlimits" }

    /// Prepares a server to drop its privileges: starts the sandbox helper (which keeps
    /// them) and fixes, once, the ids it may act as (`ids`) and the server's own account;
    /// gives the control groups of its tasks to that account. With `outbound`, tenants'
    /// tasks may have an outbound network (slirp4netns, found now). Throws what is missing.
    public static func separatePrivileges(
        ids: ClosedRange<UInt32>, serverUID: UInt32, serverGID: UInt32, outbound: Bool = false
    ) throws {
        let helper = try SandboxZygote.shared()
        var slirp: String?
        if outbound {
            guard let found = slirp4netns else {
                throw ConnectorError.confinement(
                    "--task-network outbound needs slirp4netns (apt-get install slirp4netns)")
            }
            slirp = found
        }
        helper.configure(ids: ids, serverUID: serverUID, serverGID: serverGID, slirp4netns: slirp)
        if TaskCgroup.available, !TaskCgroup.delegateParents(to: serverUID, gid: serverGID) {
            throw ConnectorError.confinement("cannot give the tasks' control groups to uid \(serverUID)")
        }
    }

    /// Re-executes this program (`arguments`, this environment) as `uid`/`gid`, handing
    /// the sandbox helper (its socket and pid) down to the new image through
    /// `HEAVEN_SANDBOX_FD` and `HEAVEN_SANDBOX_PID`: every thread of this image, root's,
    /// ends with the exec; the new one starts as the service account and has never been
    /// root. Returns only by throwing.
    public static func reexec(as uid: UInt32, gid: UInt32, arguments: [String]) throws -> Never {
        guard let helper = SandboxZygote.running else {
            throw ConnectorError.confinement("the sandbox helper is not running")
        }
        var env = ProcessInfo.processInfo.environment
        env["HEAVEN_SANDBOX_FD"] = String(helper.socketDescriptor)
        env["HEAVEN_SANDBOX_PID"] = String(helper.helper)
        env["HEAVEN_SANDBOX_COMMAND"] = helper.command.joined(separator: "\u{1}")
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        _ = heaven_exec_as(uid, gid, "/proc/self/exe", argv, envp, helper.socketDescriptor)
        throw ConnectorError.confinement(
            "cannot become uid \(uid) gid \(gid) and start again: \(String(cString: strerror(errno)))")
    }

    /// In the image `reexec` started: takes the helper over (and forgets how it came).
    /// Whether there was one to take.
    public static func adoptHelper() -> Bool {
        let env = ProcessInfo.processInfo.environment
        guard let fd = env["HEAVEN_SANDBOX_FD"].flatMap(Int32.init),
            let pid = env["HEAVEN_SANDBOX_PID"].flatMap(Int32.init),
            fd > 2, pid > 0, fcntl(fd, F_GETFD) >= 0
        else { return false }
        let command = (env["HEAVEN_SANDBOX_COMMAND"] ?? "").split(separator: "\u{1}").map(String.init)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        for name in ["HEAVEN_SANDBOX_FD", "HEAVEN_SANDBOX_PID", "HEAVEN_SANDBOX_COMMAND"] { unsetenv(name) }
        SandboxZygote.adopt(SandboxZygote(adopting: fd, pid: pid, command: command))
        return true
    }

    /// Whether the control groups of this process's tasks are in force now (they were made,
    /// and nothing removed them since).
    public static var limitsInForce: Bool { TaskCgroup.parentsPresent }

    /// Removes the control groups this process made for its tasks (when it stops).
    public static func releaseLimits() { TaskCgroup.removeParents() }

    /// Runs one confined task (`true`, as `uid`, in an empty directory) the way a
    /// tenant's would run: nil when it ran, else what went wrong. A server tries this
    /// before it serves, so that it never accepts work it cannot confine.
    /// With `outbound`, the task has an outbound network (slirp4netns must start); with
    /// `server`, the helper was configured with that account (its logs are written as it).
    public static func probe(uid: UInt32, outbound: Bool = false, server: (uid: UInt32, gid: UInt32)? = nil) async
        -> String?
    {
        let dir = NSTemporaryDirectory() + "heaven-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(dir, 0o711) == 0, mkdir(dir + "/work", 0o700) == 0 else {
            return "cannot make a directory to try a confined task in: \(String(cString: strerror(errno)))"
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chown(dir + "/work", uid, uid)
        if let server { chown(dir, server.uid, server.gid) }
        var launch = TaskLaunch(
            arguments: ["true"], workDirectory: dir + "/work", stdoutPath: dir + "/log", stderrPath: dir + "/log",
            baseDirectory: dir, isolation: .sandbox, network: outbound, readable: [dir + "/work"])
        launch.outboundOnly = outbound
        launch.confinement = TaskConfinement(
            uid: uid, gid: uid, hidden: [], defaultMemory: 64 * 1_048_576, maxProcesses: 8)
        do {
            let exit = try await LocalConnector(siteName: "probe", cores: 1, memory: 1e9).start(launch).wait()
            if exit.succeeded { return nil }
            let log = (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? ""
            return
                "a confined task (`true` as uid \(uid)) failed: \(exit.message ?? "exit \(exit.exitCode ?? -1)") \(log)"
        } catch {
            return "a confined task (`true` as uid \(uid)) could not start: \(error)"
        }
    }

    /// What stops this process from confining tasks as above, if anything: each missing
    /// piece with how to provide it.
    public static func missing() -> [String] {
        var problems: [String] = []
        if geteuid() != 0 {
            problems.append(
                """
                the server runs as uid \(geteuid()), not root: it cannot start tasks as the tenants' own uids \
                (run it as root)
                """
            )
        } else {
            // Started now, so that a server that cannot confine says so before it serves.
            do { _ = try SandboxZygote.shared() } catch { problems.append("\(error)") }
        }
        return problems
    }
}

#if canImport(Glibc)
    import Glibc
#endif
