public import HeavenModel

/// What every site does for the engine: report its capacity, start a task in a
/// working directory, and let it be watched and stopped. What only some sites do is
/// a capability protocol of its own, below (a connector says what it can do by
/// conforming; the engine asks with `as? any RemoteStaging`, never by type).
public protocol Connector: Sendable {
    /// The site this connector reaches.
    var siteName: String { get }
    /// Whose account a task runs under, which decides how a tenant's task is confined.
    var taskAccount: TaskAccount { get }
    /// Cores and memory the site offers.
    func capacity() async throws -> SiteCapacity
    /// Starts a task; returns once it runs (or is queued, on a batch system).
    func start(_ launch: TaskLaunch) async throws -> any RunningTask
}

/// Whose account a site's tasks run under.
public enum TaskAccount: Sendable, Hashable {
    /// This process's, on this machine: the connector confines a tenant's task itself
    /// (its own uid, a sandbox, control groups).
    case thisProcess
    /// An account on another machine, reached with its own credentials: the site's
    /// accounts confine the task.
    case siteAccount
    /// This process's account, on other machines (batch jobs submitted from here):
    /// nothing here can confine them, so no tenant's task may run there.
    case thisProcessElsewhere
}

/// A site whose tasks run on another machine: their files are sent with the start
/// and fetched back after a success.
public protocol RemoteStaging: Connector {
    /// Brings a finished remote task's working directory back into `launch.workDirectory`.
    func fetch(_ launch: TaskLaunch) async throws
}

/// A site that may stop answering, and can be asked whether it answers.
public protocol SiteProbing: Connector {
    /// Whether the site answers.
    func probe() async -> Bool
}

/// A site where a task's end as seen here may be the connection's doing.
public protocol ExitRechecking: Connector {
    /// Looks again at how a task ended when the way it ended may be the connection's
    /// doing rather than the task's (ssh exits with 255 when the connection breaks).
    func recheck(_ launch: TaskLaunch, _ exit: TaskExit) async -> TaskExit
}

/// A site that keeps a run's files or work after the run: cleaned up, or stopped.
public protocol RunHousekeeping: Connector {
    /// Cleans up after a run: its remote directory is removed when it succeeded, kept
    /// for inspection otherwise.
    func finishRun(_ runID: String, succeeded: Bool) async
    /// Stops whatever a run left running on the site when the process driving it died
    /// (a local connector's orphans are found by their environment instead).
    func abandonRun(_ runID: String) async
}

/// Makes the connector that reaches a site: the one place that knows which
/// connector serves which kind of site.
public protocol ConnectorFactory: Sendable {
    /// The connector that reaches `site` for a run of `user`.
    func connector(for site: Site, user: String) throws -> any Connector
}

/// How a started task is known on its site.
public enum TaskHandle: Sendable, Hashable, CustomStringConvertible {
    /// A process of this machine: the leader of the task's process group, and its
    /// start time as the kernel tells it (to recognise the same process later).
    case process(pid: Int32, startTime: String?)
    /// A process on another machine, driven by a client process of this one (ssh).
    case remote(client: Int32, clientStart: String?)
    /// A batch system's job.
    case job(String)

    /// The process of this machine to record for the attempt (to stop it if the
    /// process driving the run dies): the task's own, or its client's.
    public var localProcess: (pid: Int32, startTime: String?)? {
        switch self {
        case .process(let pid, let start): (pid, start)
        case .remote(let pid, let start): (pid, start)
        case .job: nil
        }
    }

    public var description: String {
        switch self {
        case .process(let pid, _): "pid \(pid)"
        case .remote(let pid, _): "remote, client pid \(pid)"
        case .job(let id): "job \(id)"
        }
    }
}

/// A started task.
public protocol RunningTask: Sendable {
    /// How the task is known on its site.
    var handle: TaskHandle { get }
    /// Waits for the task to end.
    func wait() async -> TaskExit
    /// Sends a signal to the task (its whole process group, or its job).
    func signal(_ signal: Int32)
}

/// How a task's process ended.
public struct TaskExit: Sendable, Equatable {
    /// The exit status, when it exited.
    public var exitCode: Int32?
    /// The signal that killed it, when one did.
    public var signal: Int32?
    /// User plus system CPU time.
    public var cpuSeconds: Double
    /// Peak resident memory in bytes.
    public var maxRSS: Int64
    /// Why it ended, when the site says more than a status (a batch system's state).
    public var message: String?
    /// The site, not the task, ended it (a node failed, the job was preempted): the
    /// attempt is lost and runs again without using up a retry.
    public var lost: Bool = false
    /// The site's own time limit ended it.
    public var timedOut: Bool = false

    /// Creates an exit.
    public init(
        exitCode: Int32?, signal: Int32?, cpuSeconds: Double = 0, maxRSS: Int64 = 0, message: String? = nil,
        lost: Bool = false, timedOut: Bool = false
    ) {
        self.exitCode = exitCode
        self.signal = signal
        self.cpuSeconds = cpuSeconds
        self.maxRSS = maxRSS
        self.message = message
        self.lost = lost
        self.timedOut = timedOut
    }

    /// Whether it exited with status 0.
    public var succeeded: Bool { exitCode == 0 && !lost }
}

/// What a site offers.
public struct SiteCapacity: Sendable, Equatable {
    public var cores: Int
    public var memory: Double

    /// Creates a capacity.
    public init(cores: Int, memory: Double) {
        self.cores = cores
        self.memory = memory
    }
}

/// Everything needed to start one attempt of a task.
public struct TaskLaunch: Sendable {
    /// A task key as one file name (`each#17/ndvi` → `each#17.ndvi`: `/` becomes `.`,
    /// which names never contain), on every site the same.
    public static func flat(_ key: String) -> String {
        // On bytes: `/` and `.` are ASCII, and a byte map skips grapheme breaking.
        String(decoding: key.utf8.map { $0 == UInt8(ascii: "/") ? UInt8(ascii: ".") : $0 }, as: UTF8.self)
    }

    /// argv; the program is resolved through `PATH` when it has no `/`.
    public var arguments: [String]
    /// Variables added to (or replacing) the inherited environment.
    public var environment: [String: String]
    /// The attempt's working directory (created by the engine).
    public var workDirectory: String
    /// Where standard output and error go.
    public var stdoutPath: String
    public var stderrPath: String
    /// Directory against which a relative program path (`./bin/x`) is resolved.
    public var baseDirectory: String
    /// Confinement.
    public var isolation: Isolation
    /// Whether a sandboxed task may use the network.
    public var network: Bool
    /// With `network`, for a tenant's confined task: a network namespace of its own that
    /// reaches out (slirp4netns) but not the host's loopback nor its other addresses,
    /// instead of the host's network.
    public var outboundOnly = false
    /// The bytes a confined task's files may take (its machine's `disk`); 0: the
    /// confinement's default.
    public var disk: Double = 0
    /// Directories a sandboxed task may read (the run's directory).
    public var readable: [String]
    /// Directories hidden from a sandboxed task (Heaven's state).
    public var hidden: [String]
    /// A CPU-time limit in seconds (a backstop behind the engine's timeout).
    public var cpuLimit: Int?
    /// Files the task reads, by the name they get in its working directory. A local
    /// connector finds them there already; a remote one sends them.
    public var inputs: [(name: String, path: String)] = []
    /// The run and task key, for a remote connector's directories.
    public var runID: String = ""
    public var taskKey: String = ""
    /// The attempt's number (1, 2, ...).
    public var attempt: Int = 1
    /// Secrets the task gets as environment variables, kept apart from `environment`
    /// because they travel differently: never on a command line or in a job script (a
    /// remote task gets them on its standard input, a Slurm job from a 0600 file it
    /// removes as it starts).
    public var secrets: [String: String] = [:]
    /// On a shared server: who the task runs as and what confines it (the local
    /// connector only). Such a task inherits nothing of the server's environment.
    public var confinement: TaskConfinement?
    /// Bytes the task reads on its standard input (none: /dev/null).
    public var standardInput: [UInt8]?
    /// What the task was given: cores, memory in bytes (0: unstated), and the engine's
    /// time limit in seconds (a batch system's own limit is set a little beyond it).
    public var cores: Int = 1
    public var memory: Double = 0
    public var timeLimit: Double?

    /// Creates a launch.
    public init(
        arguments: [String], environment: [String: String] = [:], workDirectory: String, stdoutPath: String,
        stderrPath: String, baseDirectory: String, isolation: Isolation = .none, network: Bool = true,
        readable: [String] = [], hidden: [String] = [], cpuLimit: Int? = nil
    ) {
        self.arguments = arguments
        self.environment = environment
        self.workDirectory = workDirectory
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.baseDirectory = baseDirectory
        self.isolation = isolation
        self.network = network
        self.readable = readable
        self.hidden = hidden
        self.cpuLimit = cpuLimit
    }
}

/// Why a task could not be started.
public enum ConnectorError: Error, Sendable, CustomStringConvertible {
    case programNotFound(String)
    case spawnFailed(program: String, errno: Int32)
    case sandboxUnavailable
    /// A tenant's task cannot be confined (the sandbox helper is missing, could not
    /// start, or could not set the task up).
    case confinement(String)
    case unsupported(String)
    case transfer(String)
    case unreachable(site: String, reason: String)

    public var description: String {
        switch self {
        case .programNotFound(let p): "program `\(p)` not found (searched PATH)"
        case .spawnFailed(let p, let e): "cannot start `\(p)`: \(String(cString: strerror(e)))"
        case .sandboxUnavailable:
            "`isolation: sandbox` needs bubblewrap, which is not installed (apt-get install bubblewrap)"
        case .unsupported(let m): m
        case .confinement(let m): m
        case .transfer(let m): "transfer failed: \(m)"
        case .unreachable(let site, let reason): "site \(site) does not answer: \(reason)"
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
