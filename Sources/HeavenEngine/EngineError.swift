public import HeavenModel

/// Why a run could not start or did not succeed.
public enum EngineError: Error, Sendable, CustomStringConvertible {
    /// Invalid input or usage (exit status 2).
    case invalid(String)
    /// A task failed after its retries.
    case taskFailed(key: String, message: String)
    /// An expression failed while the run was going.
    case evaluation(String, at: SourceLocation?)
    /// The run was cancelled or interrupted.
    case stopped(String)

    public var description: String {
        switch self {
        case .invalid(let m): m
        case .taskFailed(let k, let m): "task `\(k)` failed: \(m)"
        case .evaluation(let m, let l): l.map { "\($0): \(m)" } ?? m
        case .stopped(let m): m
        }
    }
}
