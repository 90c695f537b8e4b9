import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Moments a crash test must hit exactly, not by chance: with
/// `HEAVEN_TRACE_HOLD=NAME:FILE` in its environment, a process that reaches the point
/// NAME appends `NAME DETAIL` to FILE and waits there (30 s at most) for the SIGKILL the
/// test sends once it reads the line. Without the variable (read once), a point costs
/// one comparison. Points: `settle` (a priced run ended, its bill not yet written).
enum TracePoint {
    static let hold: (name: String, file: String)? = {
        guard let value = ProcessInfo.processInfo.environment["HEAVEN_TRACE_HOLD"],
            let colon = value.firstIndex(of: ":")
        else { return nil }
        return (String(value[..<colon]), String(value[value.index(after: colon)...]))
    }()

    /// Reaches point `name` (for `detail`, e.g. a run's id).
    static func reach(_ name: String, _ detail: String) async {
        guard let hold, hold.name == name else { return }
        let line = Array("\(name) \(detail)\n".utf8)
        // Appended, never through a link.
        let fd = open(hold.file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        try? await Task.sleep(for: .seconds(30))
    }
}
