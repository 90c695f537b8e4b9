import HeavenConnectors

/// Where a run keeps its files: one flat working directory per task instance (fresh
/// for each attempt) and its logs beside the others. Flat, because creating
/// directories is a large part of a short task's cost.
///
///     runs/RUN/work/each#17.ndvi/          the working directory of task key `each#17/ndvi`
///     runs/RUN/logs/each#17.ndvi.2.log     output (standard output and error) of its attempt 2
///     runs/RUN/logs/split.1.out            standard output apart (and .err), when an output reads it
public struct RunLayout: Sendable {
    /// The run's directory.
    public var root: String

    /// The layout of a run's directory.
    public init(root: String) { self.root = root }

    /// A task key as one file name (`/` becomes `.`, which names never contain).
    public static func flat(_ key: String) -> String {
        TaskLaunch.flat(key)
    }

    /// The directory holding every working directory.
    public var workRoot: String { root + "/work" }
    /// The directory holding every log.
    public var logRoot: String { root + "/logs" }

    /// A task instance's working directory.
    public func workDirectory(_ key: String) -> String { workRoot + "/" + RunLayout.flat(key) }

    /// Where an attempt's standard output and error go: one combined log, or `out` and
    /// `err` apart (when an output reads the standard output).
    public func logs(_ key: String, attempt: Int, apart: Bool) -> (stdout: String, stderr: String) {
        if apart { return (log(key, attempt: attempt, "out"), log(key, attempt: attempt, "err")) }
        let combined = log(key, attempt: attempt, "log")
        return (combined, combined)
    }

    /// The combined output (`log`), or the standard output (`out`) or error (`err`), of an attempt.
    public func log(_ key: String, attempt: Int, _ stream: String) -> String {
        logRoot + "/" + RunLayout.flat(key) + ".\(attempt)." + stream
    }
}

extension HeavenHome {
    /// The layout of a run's directory.
    public func layout(_ run: String) -> RunLayout { RunLayout(root: runDirectory(run)) }
}
