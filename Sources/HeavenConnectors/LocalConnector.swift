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
    private let cores: Int
    private let memory: Double
    private let baseEnvironment: [String: String]
    private let pathCache = Mutex<[String: String]>([:])
    /// The inherited environment as `NAME=VALUE` C strings, made once (freed with the connector).
    private let baseCEntries: CEnvironment

    /// The path of bubblewrap, when installed.
    public static let bubblewrap: String? = ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// A connector for this machine, with its real cores and memory unless given.
    /// The connector of a local `Site`: its nodes' cores and memory are the capacity
    /// (the machine's memory when no node states any).
    public convenience init(site: Site) {
        self.init(siteName: site.name, cores: max(1, site.totalCores), memory: site.totalMemory > 0 ? site.totalMemory : nil)
    }

    public init(siteName: String = "local", cores: Int? = nil, memory: Double? = nil) {
        self.siteName = siteName
        self.cores = cores ?? LocalConnector.machineCores
        self.memory = memory ?? LocalConnector.machineMemory
        self.baseEnvironment = ProcessInfo.processInfo.environment
        self.baseCEntries = CEnvironment(baseEnvironment)
    }

    /// Cores of this machine usable by this process.
    public static var machineCores: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// Physical memory of this machine in bytes.
    public static var machineMemory: Double { Double(ProcessInfo.processInfo.physicalMemory) }

    public func capacity() async throws -> SiteCapacity { SiteCapacity(cores: cores, memory: memory) }

    public func start(_ launch: TaskLaunch) async throws -> any RunningTask {
        try startNow(launch)
    }

    /// Starts the process without suspending (spawning is synchronous and short).
    func startNow(_ launch: TaskLaunch) throws -> any RunningTask {
        var argv = launch.arguments
        guard let program = argv.first, !program.isEmpty else { throw ConnectorError.programNotFound("") }
        // The inherited environment, with the task's variables replacing any of the same name.
        var entries: [String] = []
        entries.reserveCapacity(launch.environment.count)
        for (k, v) in launch.environment { entries.append(k + "=" + v) }
        let path = launch.environment["PATH"] ?? baseEnvironment["PATH"]
        let executable: String
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
        let pid = try spawn(executable: executable, argv: argv, env: entries, launch: launch)
        return LocalProcess(pid: pid)
    }

    /// The inherited entries the task does not replace, as C strings (not copied).
    func inheritedEntries(except task: [String: String]) -> [UnsafeMutablePointer<CChar>?] {
        var out: [UnsafeMutablePointer<CChar>?] = []
        out.reserveCapacity(baseCEntries.entries.count + task.count + 1)
        for e in baseCEntries.entries where task[e.name] == nil { out.append(e.entry) }
        return out
    }

    func sandboxArguments(_ l: TaskLaunch) -> [String] {
        var a = [
            "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        ]
        if !l.network { a.append("--unshare-net") }
        for h in l.hidden { a += ["--tmpfs", h] }
        for r in l.readable { a += ["--ro-bind", r, r] }
        a += ["--bind", l.workDirectory, l.workDirectory, "--chdir", l.workDirectory]
        return a
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

    func spawn(executable: String, argv: [String], env: [String], launch: TaskLaunch) throws -> Int32 {
        let cArgv = argv.map { strdup($0) } + [nil]
        let own = env.map { strdup($0) }
        let cEnv = inheritedEntries(except: launch.environment) + own + [nil]
        defer {
            cArgv.forEach { free($0) }
            own.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result: Int32 = executable.withCString { exe in
            launch.workDirectory.withCString { cwd in
                launch.stdoutPath.withCString { out in
                    launch.stderrPath.withCString { err in
                        cArgv.withUnsafeBufferPointer { av in
                            cEnv.withUnsafeBufferPointer { ev in
                                var o = heaven_spawn_options()
                                o.path = exe
                                o.argv = UnsafePointer(av.baseAddress)
                                o.envp = UnsafePointer(ev.baseAddress)
                                o.cwd = cwd
                                o.stdin_path = nil
                                o.stdout_path = out
                                o.stderr_path = err
                                o.rlimit_cpu = Int64(launch.cpuLimit ?? 0)
                                o.rlimit_nofile = 65536
                                o.rlimit_as = 0
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

/// Environment entries as C strings for `execve`: immutable once made, freed with it
/// (so it may be shared between threads).
final class CEnvironment: @unchecked Sendable {
    let entries: [(name: String, entry: UnsafeMutablePointer<CChar>)]

    init(_ environment: [String: String]) {
        entries = environment.map { ($0.key, strdup("\($0.key)=\($0.value)")!) }
    }

    deinit { for e in entries { free(e.entry) } }
}
