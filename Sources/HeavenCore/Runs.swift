public import Foundation
public import HeavenModel

/// The state of a run.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case pending, running, succeeded, failed, cancelled
    /// Stopped by a crash or an interrupt; `heaven resume` continues it.
    case interrupted

    /// Whether the run has ended for good.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// The state of one task attempt.
public enum AttemptStatus: String, Sendable, Codable, CaseIterable {
    case running, succeeded, failed
    case timedOut = "timed-out"
    case cancelled
    /// The process driving the run died while the attempt ran.
    case lost
}

/// One durable execution of a workflow.
public struct RunRecord: Sendable, Codable, Equatable {
    public var id: String
    public var workflow: String
    public var user: String
    public var status: RunStatus
    /// The resolved inputs, tagged JSON.
    public var inputs: [String: Value]
    public var outputs: [String: Value]?
    public var outDirectory: String?
    public var error: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The process driving the run, and its start time (to tell a reused pid).
    public var ownerPID: Int32?
    public var ownerStart: String?
    public var cancelRequested: Bool
    /// The directory `heaven run` was started in: relative paths are resolved from it.
    public var directory: String
    /// The earlier run whose finished task instances this one reuses when their command,
    /// environment, input files and site kind are unchanged (`heaven run --resume RUN`).
    public var reuses: String?
    /// The published process the run is a job of, and its version then (nil: a workflow
    /// run from its files).
    public var process: String?
    public var processVersion: String?
    /// A priced job whose results were withheld (the price of what it delivered went past
    /// its budget): its values reach its caller by no route (outputs, logs), only its
    /// publisher and admins.
    public var withheld: Bool = false
    /// A job its caller dismissed (OGC API - Processes' `DELETE /jobs/ID`): stopped if it
    /// ran, its results removed. A state of its own, never read from `error`.
    public var dismissed: Bool = false

    /// Creates a record.
    public init(
        id: String, workflow: String, user: String, status: RunStatus = .pending,
        inputs: [String: Value], outputs: [String: Value]? = nil, outDirectory: String? = nil, error: String? = nil,
        createdAt: Date = Date(), startedAt: Date? = nil, finishedAt: Date? = nil, ownerPID: Int32? = nil,
        ownerStart: String? = nil, cancelRequested: Bool = false, directory: String = "/", reuses: String? = nil,
        process: String? = nil, processVersion: String? = nil
    ) {
        self.reuses = reuses
        self.process = process
        self.processVersion = processVersion
        self.directory = directory
        self.id = id
        self.workflow = workflow
        self.user = user
        self.status = status
        self.inputs = inputs
        self.outputs = outputs
        self.outDirectory = outDirectory
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.ownerPID = ownerPID
        self.ownerStart = ownerStart
        self.cancelRequested = cancelRequested
    }
}

/// Names one attempt: its run, task instance and number (unique in the store).
public struct AttemptKey: Sendable, Hashable {
    public var runID: String
    public var taskKey: String
    public var number: Int

    public init(runID: String, taskKey: String, number: Int) {
        self.runID = runID
        self.taskKey = taskKey
        self.number = number
    }
}

/// One attempt at running a task instance.
public struct AttemptRecord: Sendable, Codable, Equatable {
    public var id: Int64?
    public var runID: String
    /// The task instance's key in the run (`each#17/ndvi`), stable across resumes.
    public var taskKey: String
    public var task: String
    public var number: Int
    public var status: AttemptStatus
    public var site: String?
    public var slot: String?
    public var pid: Int32?
    public var pidStart: String?
    public var workDirectory: String?
    public var startedAt: Date
    public var finishedAt: Date?
    public var exitCode: Int32?
    public var signal: Int32?
    public var outputs: [String: Value]?
    public var error: String?
    public var cpuSeconds: Double?
    public var maxRSS: Int64?
    /// The concrete node it holds (`SITE/NODE/INDEX`), cores and memory it takes there.
    public var node: String?
    public var cores: Int = 1
    public var memory: Double = 0
    /// The grant its use is charged to (nil on the user's own site).
    public var grant: String?
    /// What the task instance ran, as a digest: its command, environment, input files'
    /// contents, outputs declared and site kind. Equal digests give equal results.
    public var fingerprint: String?
    /// For a result reused from an earlier run (`heaven run --resume`), that run.
    public var reusedFrom: String?
    /// When the task instance was ready and began waiting for a slot (a place on a node
    /// and grant) before this attempt started; nil when not recorded.
    public var queuedAt: Date?

    /// The attempt's name in the store.
    public var key: AttemptKey { AttemptKey(runID: runID, taskKey: taskKey, number: number) }

    /// Creates a record.
    public init(
        id: Int64? = nil, runID: String, taskKey: String, task: String, number: Int, status: AttemptStatus = .running,
        site: String? = nil, slot: String? = nil, pid: Int32? = nil, pidStart: String? = nil,
        workDirectory: String? = nil, startedAt: Date = Date(), finishedAt: Date? = nil, exitCode: Int32? = nil,
        signal: Int32? = nil, outputs: [String: Value]? = nil, error: String? = nil, cpuSeconds: Double? = nil,
        maxRSS: Int64? = nil, node: String? = nil, cores: Int = 1, memory: Double = 0, grant: String? = nil,
        fingerprint: String? = nil, reusedFrom: String? = nil, queuedAt: Date? = nil
    ) {
        self.queuedAt = queuedAt
        self.fingerprint = fingerprint
        self.reusedFrom = reusedFrom
        self.node = node
        self.cores = cores
        self.memory = memory
        self.grant = grant
        self.id = id
        self.runID = runID
        self.taskKey = taskKey
        self.task = task
        self.number = number
        self.status = status
        self.site = site
        self.slot = slot
        self.pid = pid
        self.pidStart = pidStart
        self.workDirectory = workDirectory
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.signal = signal
        self.outputs = outputs
        self.error = error
        self.cpuSeconds = cpuSeconds
        self.maxRSS = maxRSS
    }
}

/// How the attempts of a run stand, for progress and status.
public struct AttemptCounts: Sendable, Codable, Equatable {
    public var running = 0
    public var succeeded = 0
    public var failed = 0
    public var lost = 0

    /// Creates counts.
    public init(running: Int = 0, succeeded: Int = 0, failed: Int = 0, lost: Int = 0) {
        self.running = running
        self.succeeded = succeeded
        self.failed = failed
        self.lost = lost
    }
}

/// Tells whether a recorded process still runs (its pid, and its start time when
/// recorded, so that a reused pid is not taken for it).
public typealias ProcessLiveness = @Sendable (_ pid: Int32, _ startTime: String?) -> Bool

extension RunRecord {
    /// The live process driving the run, if one does (`me`, this process, is not
    /// counted: a run this process drives is not driven by "another").
    public func driver(alive: ProcessLiveness, except me: Int32? = nil) -> Int32? {
        guard let pid = ownerPID, pid != me, alive(pid, ownerStart) else { return nil }
        return pid
    }

    /// The status as it stands: a run recorded `running` whose driving process is dead
    /// has stopped (`interrupted`, which `heaven resume` continues). The one place that
    /// rule is written.
    public func effectiveStatus(alive: ProcessLiveness) -> RunStatus {
        guard status == .running, let pid = ownerPID, !alive(pid, ownerStart) else { return status }
        return .interrupted
    }
}

/// An attempt as a look that follows a run reads it (`RunStore.attemptChanges`): what
/// the console draws and the event stream tells, without its outputs, process, or
/// resources (which `AttemptRecord` holds).
public struct AttemptSummary: Sendable, Equatable {
    /// Its id in the store: grows in the order attempts are recorded.
    public var id: Int64
    public var taskKey: String
    public var number: Int
    public var status: AttemptStatus
    public var site: String?
    public var node: String?
    public var startedAt: Date
    public var queuedAt: Date?
    public var finishedAt: Date?
    public var exitCode: Int32?
    public var signal: Int32?
    public var error: String?
    public var reusedFrom: String?

    public init(
        id: Int64, taskKey: String, number: Int, status: AttemptStatus, site: String? = nil, node: String? = nil,
        startedAt: Date, queuedAt: Date? = nil, finishedAt: Date? = nil, exitCode: Int32? = nil, signal: Int32? = nil,
        error: String? = nil, reusedFrom: String? = nil
    ) {
        (self.id, self.taskKey, self.number, self.status) = (id, taskKey, number, status)
        (self.site, self.node, self.startedAt, self.queuedAt, self.finishedAt) = (
            site, node, startedAt, queuedAt, finishedAt
        )
        (self.exitCode, self.signal, self.error, self.reusedFrom) = (exitCode, signal, error, reusedFrom)
    }

    /// The summary of a full record (which has an id once stored).
    public init(_ a: AttemptRecord) {
        self.init(
            id: a.id ?? 0, taskKey: a.taskKey, number: a.number, status: a.status, site: a.site, node: a.node,
            startedAt: a.startedAt, queuedAt: a.queuedAt, finishedAt: a.finishedAt, exitCode: a.exitCode,
            signal: a.signal, error: a.error, reusedFrom: a.reusedFrom)
    }
}
