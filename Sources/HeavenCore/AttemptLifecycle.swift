/// One attempt's life as explicit state, in the manner of swift-nio's state machines:
/// each transition is a named method that says what to do next, and a transition the
/// state does not allow is a programming error.
///
///     waiting ──startCommitted──▶ starting ──started──▶ running ──end──▶ ended
///        │                           ▲  │                              ▲
///        ├──takeOver(previous)───────┘  └────────────end───────────────┘
///        └──refuse──▶ refused
///
/// A checked start is committed to the store before anything runs (`startCommitted`).
/// An attempt that takes over the capacity of an ended attempt on the same node
/// (`takeOver`) needs no check: its start is recorded later, exactly once, queued
/// without waiting — with its process when it runs, or first when it ends before.
public struct AttemptLifecycle: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// A slot is in hand; nothing is recorded.
        case waiting
        /// Recorded (or to be recorded), its process not yet running.
        case starting
        /// Its process (or job) runs.
        case running
        /// The node or grant had no room: nothing was recorded.
        case refused(String)
        /// It ended so.
        case ended(AttemptStatus)
    }

    /// How the attempt's start is recorded.
    public enum StartRecord: Sendable, Equatable {
        /// Checked and committed before the start.
        case committed
        /// A takeover's, still to queue (once).
        case pending(takingOver: AttemptKey)
        /// A takeover's, queued.
        case queued
    }

    /// What to record once the process runs.
    public enum ProcessRecord: Sendable, Equatable {
        /// The start is recorded: note where the process is.
        case noteProcess
        /// Queue the start itself, with the process, taking over `previous`'s capacity.
        case recordStart(takingOver: AttemptKey)
    }

    /// What to record as the attempt ends.
    public struct Ending: Sendable, Equatable {
        /// Whether its process had run (its time counts in the metrics).
        public var wasRunning: Bool
        /// A takeover's start still to queue, before the end.
        public var recordStartFirst: AttemptKey?

        /// Creates an ending.
        public init(wasRunning: Bool, recordStartFirst: AttemptKey?) {
            self.wasRunning = wasRunning
            self.recordStartFirst = recordStartFirst
        }
    }

    public private(set) var state: State = .waiting
    public private(set) var startRecord: StartRecord?

    /// An attempt holding a slot, before anything is recorded.
    public init() {}

    /// Its checked start was committed: it may start.
    public mutating func startCommitted() {
        guard state == .waiting else { preconditionFailure("attempt: start committed while \(state)") }
        state = .starting
        startRecord = .committed
    }

    /// Its checked start was refused (no room on the node or grant).
    public mutating func refuse(_ reason: String) {
        guard state == .waiting else { preconditionFailure("attempt: refused while \(state)") }
        state = .refused(reason)
    }

    /// It takes over the capacity of `previous`, which ended on the same node and grant.
    public mutating func takeOver(_ previous: AttemptKey) {
        guard state == .waiting else { preconditionFailure("attempt: takes over while \(state)") }
        state = .starting
        startRecord = .pending(takingOver: previous)
    }

    /// The takeover whose start is to be queued now (before a slow remote start), or nil
    /// when the start is recorded already.
    public mutating func queueStartRecord() -> AttemptKey? {
        guard case .pending(let previous) = startRecord else { return nil }
        startRecord = .queued
        return previous
    }

    /// Its process runs: what to record.
    public mutating func started() -> ProcessRecord {
        guard state == .starting else { preconditionFailure("attempt: started while \(state)") }
        state = .running
        if case .pending(let previous) = startRecord {
            startRecord = .queued
            return .recordStart(takingOver: previous)
        }
        return .noteProcess
    }

    /// It ended with `status`, before its process ran or after. Ending again (after a
    /// failed write of the first end) records the new status; it never records the
    /// start twice.
    public mutating func end(_ status: AttemptStatus) -> Ending {
        let wasRunning: Bool
        switch state {
        case .starting: wasRunning = false
        case .running: wasRunning = true
        case .ended: wasRunning = false
        case .waiting, .refused: preconditionFailure("attempt: ended while \(state)")
        }
        state = .ended(status)
        return Ending(wasRunning: wasRunning, recordStartFirst: queueStartRecord())
    }
}
