import Foundation

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
        let line = Data("\(name) \(detail)\n".utf8)
        if let handle = FileHandle(forWritingAtPath: hold.file)
            ?? {
                _ = FileManager.default.createFile(atPath: hold.file, contents: nil)
                return FileHandle(forWritingAtPath: hold.file)
            }()
        {
            handle.seekToEndOfFile()
            handle.write(line)
            try? handle.close()
        }
        try? await Task.sleep(for: .seconds(30))
    }
}
