import CHeavenSystem
import Foundation
import HeavenEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps a run that crashes the server from crashing it for ever. A crash of the server
/// (a trap, a fault) writes the runs it was driving to `server/crashed`; each start adds
/// that crash to those runs' counts (`server/crashes.json`), and a run that was being
/// driven at two crashes is set aside as failed, with the reason, instead of being resumed
/// a third time: the server starts and serves everyone else. A run that ends, or is no
/// longer interrupted, leaves the counts. A `kill -9` is no crash: it counts nothing.
struct CrashGuard {
    /// Crashes during which a run was driven, at which it is set aside rather than resumed.
    static let limit = 2

    let directory: String

    init(home: HeavenHome) { directory = home.root + "/server" }

    private var notes: String { directory + "/crashed" }
    private var counts: String { directory + "/crashes.json" }

    /// The crash counts of runs, the last crash (if the last process crashed) counted in;
    /// its note is then cleared.
    func countsAfterLastStart() -> [String: Int] {
        var known =
            (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: counts))))
            as? [String: Int] ?? [:]
        if let text = try? String(contentsOfFile: notes, encoding: .utf8) {
            // One line per run driven at the crash (the note ends with an empty line).
            for id in Set(text.split(whereSeparator: \.isNewline).map(String.init)) where !id.isEmpty {
                known[id, default: 0] += 1
            }
            unlink(notes)
        }
        return known
    }

    /// Keeps the counts (those of runs still to be resumed).
    func save(_ known: [String: Int]) {
        try? FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if known.isEmpty {
            unlink(counts)
        } else if let data = try? JSONSerialization.data(withJSONObject: known) {
            _ = FileManager.default.createFile(atPath: counts, contents: data, attributes: [.posixPermissions: 0o600])
        }
    }

    /// From now on, a crash of this process writes the runs it drives to the note.
    func watch() {
        try? FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let fd = open(notes, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if fd >= 0 { _ = heaven_crash_watch(fd) }
    }

    /// The runs this process drives now (what a crash will write).
    static func note(_ runs: some Sequence<String>) {
        let text = runs.joined(separator: "\n")
        text.withCString { heaven_crash_note($0, strlen($0)) }
    }
}
