import CHeavenSystem
import Foundation
public import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs tasks as processes on this machine: argv through a vfork-based spawn (a
/// shell only for `shell:` tasks), each in its own process group, with lowered
/// rlimits (no core files, at most 65,536 open files, an optional CPU limit),
/// optionally inside a bubblewrap sandbox.
public final class LocalConnector: Connector {
    public let siteName: String
    public var taskAccount: TaskAccount { .thisProcess }
    private let cores: Int
    private let memory: Double
    private let pathCache = Mutex<[String: String]>([:])
    private let inheritedState = Mutex<(environment: [String: String], entries: CEnvironment)?>(nil)

    /// The environment its unconfined tasks inherit, and the same as `NAME=VALUE` C
    /// strings (freed with the connector): taken at the first such task (a server makes
    /// a connector per run, and a tenant's confined task inherits nothing).
    private var inherited: (environment: [String: String], entries: CEnvironment) {
        inheritedState.withLock { state in
            if let state { return state }
            let environment = ProcessInfo.processInfo.environment
            let made = (environment, CEnvironment(environment))
            state = made
            return made
        }
    }

    /// The path of bubblewrap, when installed.
    static var bubblewrap: String? { TaskSandbox.bubblewrap }

    /// A connector for this machine, with its real cores and memory unless given.
    /// The connector of a local `Site`: its nodes' cores and memory are the capacity
    /// (the machine's memory when no node states any).
    public convenience init(site: Site) {
        self.init(
            siteName: site.name, cores: max(1, site.totalCores), memory: site.totalMemory > 0 ? site.totalMemory : nil)
    }

    public init(siteName: String = "local", cores: Int? = nil, memory: Double? = nil) {
        self.siteName = siteName
        self.cores = cores ?? ThisMachine.cores
        self.memory = memory ?? ThisMachine.memory
    }

    public func capacity() async throws -> SiteCapacity { SiteCapacity(cores: cores, memory: memory) }

    public func start(_ launch: TaskLaunch) async throws -> any RunningTask {
        if let confinement = launch.confinement { return try await startConfined(launch, confinement) }
        return try startNow(launch)
    }

    /// A tenant's task, through the sandbox helper (`SandboxZygote`): as the tenant's
    /// uid, in namespaces of its own, seeing the system read-only, its working directory
    /// writable, its run read-only, a private `/tmp`, and not `hidden`.
    func startConfined(_ launch: TaskLaunch, _ confinement: TaskConfinement) async throws -> any RunningTask {
        guard let program = launch.arguments.first, !program.isEmpty else { throw ConnectorError.programNotFound("") }
        // Nothing of the server's environment: the task's variables and secrets only.
        var own = launch.environment
        for (k, v) in launch.secrets { own[k] = v }
        own["PATH"] = own["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        own["HOME"] = own["HOME"] ?? launch.workDirectory
        own["TMPDIR"] = own["TMPDIR"] ?? "/tmp"
        own["LANG"] = own["LANG"] ?? "C.UTF-8"
        var arguments = launch.arguments
        arguments[0] = try resolve(program, base: launch.baseDirectory, path: own["PATH"])
        let memory = launch.memory > 0 ? launch.memory : confinement.defaultMemory
        let cgroup = TaskCgroup.make(memory: memory, processes: confinement.maxProcesses, tenant: confinement.uid)
        // Where this server bounds tasks with control groups, a task whose groups cannot be
        // made (another process removed them, say) is refused, never bounded by rlimits only.
        if cgroup == nil, TaskCgroup.available {
            throw ConnectorError.confinement(
                """
                the task's control groups could not be made \
                (\(TaskCgroup.parentsPresent ? "the kernel refused them" : "this server's groups are gone")): it \
                is refused rather than bounded by rlimits only
                """
            )
        }
        let input = try launch.standardInput.map { try LocalConnector.pipe(holding: $0) }
        defer { if let input { close(input) } }
        var request = SpawnRequest(
            path: arguments[0], arguments: arguments, environment: own.map { $0.key + "=" + $0.value },
            workDirectory: launch.workDirectory, stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath,
            readable: launch.readable, hidden: launch.hidden + confinement.hidden, uid: confinement.uid,
            gid: confinement.gid, umask: 0o077, network: launch.network ? (launch.outboundOnly ? 2 : 1) : 0,
            standardInput: input, cgroups: cgroup?.procs.count ?? 0)
        request.cpuLimit = Int64(launch.cpuLimit ?? 0)
        // The operator's bound is a ceiling: a machine's `disk` (a tenant's word) may only lower it.
        let ceiling = confinement.defaultDisk
        let disk = launch.disk > 0 && (ceiling == 0 || launch.disk < ceiling) ? launch.disk : ceiling
        request.disk = disk > 0 ? Int64(min(disk, 9e18)) : 0
        if cgroup == nil {
            // No control groups here: rlimits instead (address space; processes per uid).
            request.addressSpace = Int64(memory)
            request.processes = Int64(confinement.maxProcesses)
        }
        do {
            return try await SandboxZygote.shared().spawn(request, cgroup: cgroup)
        } catch {
            cgroup?.remove()
            throw error
        }
    }

    /// Starts the process without suspending (spawning is synchronous and short).
    func startNow(_ launch: TaskLaunch) throws -> any RunningTask {
        var argv = launch.arguments
        guard let program = argv.first, !program.isEmpty else { throw ConnectorError.programNotFound("") }
        // The inherited environment, with the task's variables (and secrets) replacing any of the same name.
        var own = launch.environment
        for (k, v) in launch.secrets { own[k] = v }
        let path = own["PATH"] ?? inherited.environment["PATH"]
        let executable: String
        if launch.confinement != nil { throw ConnectorError.sandboxUnavailable }
        if launch.isolation == .sandbox {
            guard let bwrap = LocalConnector.bubblewrap else { throw ConnectorError.sandboxUnavailable }
            let resolved = try resolve(program, base: launch.baseDirectory, path: path)
            argv[0] = resolved
            argv = sandboxArguments(launch) + ["--"] + argv
            executable = bwrap
            argv.insert(bwrap, at: 0)
        } else {
            executable = try resolve(program, base: launch.baseDirectory, path: path)
        }
        let pid = try spawn(
            executable: executable, argv: argv, env: own.map { $0.key + "=" + $0.value }, launch: launch,
            umask: TaskUmask.task.load(ordering: .relaxed))
        return LocalProcess(pid: pid)
    }

    /// The inherited entries the task does not replace, as C strings (not copied).
    func inheritedEntries(except task: [String: String]) -> [UnsafeMutablePointer<CChar>?] {
        var out: [UnsafeMutablePointer<CChar>?] = []
        let base = inherited.entries
        out.reserveCapacity(base.entries.count + task.count + 1)
        for e in base.entries where task[e.name] == nil { out.append(e.entry) }
        return out
    }

    func sandboxArguments(_ l: TaskLaunch) -> [String] {
        // No `--die-with-parent`: the kernel's parent-death signal fires when the *thread*
        // that spawned bubblewrap ends, and threads of the concurrency pool end at any time
        // (seen: a fork bomb's sandbox killed with SIGKILL a second before its timeout).
        // Tasks outliving a killed server are found and stopped when its runs resume.
        var a = [
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        ]
        if !l.network { a.append("--unshare-net") }
        var tmpfs = ["/tmp"]
        for h in l.hidden {
            var st = stat()
            guard stat(h, &st) == 0 else { continue }
            // A directory is covered by an empty one, a file by /dev/null.
            if (st.st_mode & S_IFMT) == S_IFDIR {
                a += ["--tmpfs", h]
                tmpfs.append(h)
            } else {
                a += ["--ro-bind", "/dev/null", h]
            }
        }
        for r in l.readable { a += ["--ro-bind", r, r] }
        a += ["--bind", l.workDirectory, l.workDirectory]
        a += LocalConnector.traversable(l.readable + [l.workDirectory], inside: tmpfs)
        a += ["--chdir", l.workDirectory]
        return a
    }

    /// The directories bubblewrap makes inside its own file systems (`tmpfs`) to mount
    /// `binds` on, made searchable (`--chmod 0755`): bubblewrap makes them with the
    /// task's umask (0077 for a tenant's task), and a task dropped to its own uid could
    /// not then reach its working directory by its absolute path (GDAL does). They are
    /// empty mount points; nothing of the host is opened by this.
    static func traversable(_ binds: [String], inside tmpfs: [String]) -> [String] {
        var made = Set<String>()
        for bind in binds {
            var dir = (bind as NSString).deletingLastPathComponent
            while dir.count > 1 {
                let onBind = binds.contains { dir == $0 || dir.hasPrefix($0 + "/") }
                if !onBind, tmpfs.contains(where: { dir.hasPrefix($0 + "/") }) { made.insert(dir) }
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        return made.sorted().flatMap { ["--chmod", "0755", $0] }
    }

    /// Finds the program: as given when it has a `/` (relative to `base`), otherwise through PATH.
    func resolve(_ program: String, base: String, path: String?) throws -> String {
        if program.contains("/") {
            let p = program.hasPrefix("/") ? program : (base as NSString).appendingPathComponent(program)
            guard LocalConnector.isExecutableFile(p) else { throw ConnectorError.programNotFound(program) }
            return p
        }
        let searchPath = path ?? "/usr/local/bin:/usr/bin:/bin"
        let cacheKey = program + "\u{0}" + searchPath
        if let hit = pathCache.withLock({ $0[cacheKey] }) { return hit }
        for dir in searchPath.split(separator: ":") where !dir.isEmpty {
            let candidate = String(dir) + "/" + program
            if LocalConnector.isExecutableFile(candidate) {
                pathCache.withLock { $0[cacheKey] = candidate }
                return candidate
            }
        }
        throw ConnectorError.programNotFound(program)
    }

    /// A regular file this process may execute (two system calls, no Foundation).
    static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    func spawn(
        executable: String, argv: [String], env: [String], launch: TaskLaunch, umask: Int32 = -1
    ) throws -> Int32 {
        let cArgv = argv.map { strdup($0) } + [nil]
        let own = env.map { strdup($0) }
        let replaced =
            launch.secrets.isEmpty ? launch.environment : launch.environment.merging(launch.secrets) { a, _ in a }
        let cEnv = inheritedEntries(except: replaced) + own + [nil]
        // The secrets of a remote task travel on its standard input (a pipe filled first).
        let input = try launch.standardInput.map { try LocalConnector.pipe(holding: $0) }
        defer {
            for p in cArgv + own { free(p) }
            if let input { close(input) }
        }
        var pid: pid_t = 0
        let result: Int32 = executable.withCString { exe in
            launch.workDirectory.withCString { cwd in
                launch.stdoutPath.withCString { out in
                    launch.stderrPath.withCString { err in
                        cArgv.withUnsafeBufferPointer { av in
                            cEnv.withUnsafeBufferPointer { ev in
                                var o = heaven_spawn_defaults()
                                o.path = exe
                                o.argv = UnsafePointer(av.baseAddress)
                                o.envp = UnsafePointer(ev.baseAddress)
                                o.cwd = cwd
                                o.stdin_path = nil
                                o.stdout_path = out
                                o.stderr_path = err
                                o.rlimit_cpu = Int64(launch.cpuLimit ?? 0)
                                o.rlimit_nofile = 65536
                                o.umask = umask
                                o.stdin_fd = input ?? -1
                                o.no_core = 1
                                return heaven_spawn(&o, &pid)
                            }
                        }
                    }
                }
            }
        }
        if result != 0 {
            if result == ENOENT || result == EACCES || result == ENOEXEC {
                throw ConnectorError.spawnFailed(program: argv.first ?? executable, errno: result)
            }
            throw ConnectorError.spawnFailed(program: argv.first ?? executable, errno: result)
        }
        return pid
    }
}

extension LocalConnector {
    /// The read end of a pipe that holds `data` and then ends (the data must fit in the
    /// pipe's buffer, 64 KiB at least on Linux: a few secrets do).
    static func pipe(holding data: [UInt8]) throws -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard heaven_pipe_cloexec(&fds) == 0 else {
            throw ConnectorError.transfer("cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        defer { close(fds[1]) }
        let written = data.withUnsafeBytes { Glibc.write(fds[1], $0.baseAddress, $0.count) }
        guard written == data.count else {
            close(fds[0])
            throw ConnectorError.transfer("the task's standard input (\(data.count) bytes) does not fit in a pipe")
        }
        return fds[0]
    }
}

/// Environment entries as C strings for `execve`: immutable once made, freed with it
/// (so it may be shared between threads).
final class CEnvironment: @unchecked Sendable {
    let entries: [(name: String, entry: UnsafeMutablePointer<CChar>)]

    init(_ environment: [String: String]) {
        entries = environment.map { ($0.key, strdup("\($0.key)=\($0.value)")!) }
    }

    deinit { for e in entries { free(e.entry) } }
}
