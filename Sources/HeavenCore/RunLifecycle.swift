public import Foundation
public import HeavenModel

/// A run's execution as explicit state: prepared, then driving, then closed — or
/// closed at once when it cannot be prepared (nothing ran). Each transition changes the
/// run's record as the store keeps it and names the event that records it; the engine
/// writes both.
///
///     prepared ──drive──▶ driving ──close──▶ closed
///         └──────────refuse───────────────────▲
public struct RunLifecycle: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case prepared, driving, closed
    }

    /// How a driven run ended.
    public enum Outcome: Sendable, Equatable {
        /// Every step succeeded: the workflow's outputs.
        case succeeded([String: Value])
        /// Stopped before its end: `cancelled` for good, or `interrupted` (to resume).
        case stopped(RunStatus, String)
        /// A task (or an expression) failed.
        case failed(String)
    }

    public private(set) var phase: Phase = .prepared
    /// The run's record, as the transitions left it.
    public private(set) var record: RunRecord

    /// A run about to be executed (or resumed).
    public init(_ record: RunRecord) { self.record = record }

    /// Whether the run ran before (its execution resumes it).
    public var isResume: Bool { record.startedAt != nil }

    /// It could not be prepared (its topology cannot be placed, a file is wrong):
    /// nothing ran, and it ends failed. `refusal`: the broker's refusal, not an error.
    public mutating func refuse(_ reason: String, refusal: Bool, at now: Date = Date()) -> RunEvent {
        guard phase == .prepared else { preconditionFailure("run: refused while \(phase)") }
        phase = .closed
        record.status = .failed
        record.error = reason
        record.finishedAt = now
        return refusal ? .refused(reason) : .ended(.failed, error: reason)
    }

    /// This process drives it from now on: `running`, owned by `pid` (started at
    /// `start`). `kept`: finished tasks reused; `lost`: attempts to run again.
    public mutating func drive(by pid: Int32, started start: String?, kept: Int, lost: Int, at now: Date = Date())
        -> RunEvent
    {
        guard phase == .prepared else { preconditionFailure("run: driven while \(phase)") }
        let resumed = isResume
        phase = .driving
        record.status = .running
        record.ownerPID = pid
        record.ownerStart = start
        record.startedAt = record.startedAt ?? now
        record.finishedAt = nil
        record.error = nil
        return resumed ? .resumed(kept: kept, lost: lost) : .started
    }

    /// It ended; nobody drives it any more.
    public mutating func close(_ outcome: Outcome, at now: Date = Date()) -> RunEvent {
        guard phase == .driving else { preconditionFailure("run: closed while \(phase)") }
        phase = .closed
        record.ownerPID = nil
        record.ownerStart = nil
        record.finishedAt = now
        switch outcome {
        case .succeeded(let outputs):
            record.status = .succeeded
            record.outputs = outputs
        case .stopped(let status, let message):
            precondition(status == .cancelled || status == .interrupted, "run: stopped as \(status)")
            record.status = status
            record.error = message
        case .failed(let message):
            record.status = .failed
            record.error = message
        }
        return .ended(record.status, error: record.error)
    }
}
