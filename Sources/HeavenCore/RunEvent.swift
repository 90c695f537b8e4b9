public import Foundation

/// The kinds of event a run's history holds: the `kind` of the API's events and the
/// `event:` field of its stream.
public enum EventKind: String, Sendable, Codable, CaseIterable {
    case created, placed, started, resumed
    case waiting, retry, lost, loop
    case substitution
    case siteLost = "site-lost"
    case siteDown = "site-down"
    case siteUp = "site-up"
    case refused
    case succeeded, failed, cancelled, interrupted
    /// A task instance's attempt started, or ended: not stored (the attempts are), but
    /// told by the API's event stream as they happen, for live progress.
    case taskStarted = "task-started"
    case taskEnded = "task-ended"

    /// Whether events of this kind are stored in a run's history (the others are told
    /// by the event stream only).
    public var isStored: Bool { self != .taskStarted && self != .taskEnded }
}

/// Something that happens in a run, as the engine (or a command acting on a run)
/// reports it: one case per kind of event, with what its message says.
public enum RunEvent: Sendable, Hashable {
    /// A run of the workflow is recorded.
    case created(workflow: String)
    /// The topology is placed; one summary per virtual machine.
    case placed(topology: String, machines: [String])
    /// The run starts for the first time.
    case started
    /// The run continues after a stop: finished tasks kept, lost attempts to run again.
    case resumed(kept: Int, lost: Int)
    /// A task waits for room (a full node or grant).
    case waiting(task: String, reason: String)
    /// An attempt failed and the task is tried again after `delay` seconds.
    case retry(task: String, attempt: Int, failure: String, retry: Int, of: Int, delay: String)
    /// An attempt was lost (its site stopped answering, or the process driving the run died).
    case lost(task: String, attempt: Int, reason: String?)
    /// A loop reached its maximum number of iterations.
    case loopStopped(task: String, loop: String, max: Int)
    /// Machines of a site that is down were re-placed (or could not be).
    case substitution(String)
    /// A site stopped answering.
    case siteLost(site: String, reason: String)
    /// A site still does not answer; it is tried again in `retryIn` seconds.
    case siteDown(site: String, failures: Int, retryIn: Int)
    /// A site answers again.
    case siteUp(site: String, failures: Int)
    /// The topology cannot be placed: nothing ran.
    case refused(String)
    /// The run ended (or stopped, `interrupted`), with its error if any.
    case ended(RunStatus, error: String?)

    /// Its kind.
    public var kind: EventKind {
        switch self {
        case .created: .created
        case .placed: .placed
        case .started: .started
        case .resumed: .resumed
        case .waiting: .waiting
        case .retry: .retry
        case .lost: .lost
        case .loopStopped: .loop
        case .substitution: .substitution
        case .siteLost: .siteLost
        case .siteDown: .siteDown
        case .siteUp: .siteUp
        case .refused: .refused
        case .ended(let status, _):
            switch status {
            case .succeeded: .succeeded
            case .cancelled: .cancelled
            case .interrupted: .interrupted
            case .failed, .pending, .running: .failed
            }
        }
    }

    /// The task instance it concerns, if any.
    public var taskKey: String? {
        switch self {
        case .waiting(let task, _), .retry(let task, _, _, _, _, _), .lost(let task, _, _),
            .loopStopped(let task, _, _):
            task
        default: nil
        }
    }

    /// What a person reads.
    public var message: String {
        switch self {
        case .created(let workflow): "run of workflow `\(workflow)` created"
        case .placed(let topology, let machines): "topology \(topology): " + machines.joined(separator: "; ")
        case .started: "started"
        case .resumed(let kept, let lost):
            "resumed: \(kept) finished task(s) kept, \(lost) lost attempt(s) to run again"
        case .waiting(_, let reason): "waiting: \(reason)"
        case .retry(_, let attempt, let failure, let retry, let count, let delay):
            "attempt \(attempt) failed (\(failure)); retry \(retry) of \(count) in \(delay)s"
        case .lost(let task, let attempt, let reason):
            "attempt \(attempt) of `\(task)` was lost\(reason.map { " (\($0))" } ?? ""); it will run again"
        case .loopStopped(_, let loop, let max): "loop `\(loop)` stopped at its maximum of \(max) iterations"
        case .substitution(let message): message
        case .siteLost(let site, let reason): "site \(site) does not answer: \(reason)"
        case .siteDown(let site, let failures, let wait):
            "site \(site) still does not answer (\(failures) failures in a row); next try in \(wait)s"
        case .siteUp(let site, let failures):
            "site \(site) answers again (after \(failures) failed attempt(s)); it may be used again"
        case .refused(let reason): reason
        case .ended(let status, let error): error ?? status.rawValue
        }
    }
}

/// An event as the store keeps it, for people reading a run's history.
public struct EventRecord: Sendable, Codable, Equatable {
    public var id: Int64?
    public var runID: String
    public var time: Date
    public var kind: EventKind
    public var taskKey: String?
    public var message: String

    /// Creates a record.
    public init(
        id: Int64? = nil, runID: String, time: Date = Date(), kind: EventKind, taskKey: String? = nil, message: String
    ) {
        self.id = id
        self.runID = runID
        self.time = time
        self.kind = kind
        self.taskKey = taskKey
        self.message = message
    }

    /// The record of an event of a run, now.
    public init(runID: String, time: Date = Date(), _ event: RunEvent) {
        self.init(runID: runID, time: time, kind: event.kind, taskKey: event.taskKey, message: event.message)
    }
}
