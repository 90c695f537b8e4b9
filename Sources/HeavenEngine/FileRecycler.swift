import CHeavenSystem
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps the empty working directories and logs of ended attempts, and gives them
/// to the next attempts under their new names. A rename allocates no inode; on ext4,
/// allocating the two inodes a short task needs (its directory and its log) costs as
/// much as running `/bin/true` once many files were deleted recently (measured: see
/// docs/performance.md). Only empty files are kept, so nothing a task wrote is ever
/// handed on; a crash leaves them as the empty directories and logs they were.
final class FileRecycler: Sendable {
    private struct Spares {
        var directories: [String] = []
        var logs: [String] = []
    }

    private let spares = Mutex(Spares())
    /// At most this many of each are kept.
    let limit: Int

    init(limit: Int = 64) { self.limit = limit }

    /// The process's umask (from `/proc/self/status`: reading it with `umask()` would
    /// change it for a moment for every thread), nil if unknown.
    static let umask: mode_t? = {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
            let value = mode_t(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8)
        else { return nil }
        return value
    }()

    /// Whether `st` is what a new one would be: ours, with the mode `mkdir`/`open` give.
    static func untouched(_ st: stat, type: mode_t, mode: mode_t) -> Bool {
        guard let mask = umask else { return false }
        return (st.st_mode & S_IFMT) == type && (st.st_mode & 0o7777) == (mode & ~mask) && st.st_uid == getuid()
            && st.st_nlink <= (type == S_IFDIR ? 2 : 1)
    }

    /// Keeps `work` (when given) if it is an empty directory, and each log that is empty,
    /// as long as the task did not change them (mode, owner, links): the next task gets
    /// exactly what a new one would be.
    func recycle(work: String?, logs: [String]) {
        let directory = work.flatMap { w -> String? in
            var st = stat()
            guard lstat(w, &st) == 0, FileRecycler.untouched(st, type: S_IFDIR, mode: 0o755),
                FileRecycler.isEmptyDirectory(w)
            else { return nil }
            return w
        }
        var emptyLogs: [String] = []
        for log in Set(logs) {
            var st = stat()
            if lstat(log, &st) == 0, FileRecycler.untouched(st, type: S_IFREG, mode: 0o600), st.st_size == 0 {
                emptyLogs.append(log)
            }
        }
        spares.withLock { s in
            if let directory, s.directories.count < limit, !s.directories.contains(directory) {
                s.directories.append(directory)
            }
            for log in emptyLogs where s.logs.count < limit && !s.logs.contains(log) { s.logs.append(log) }
        }
    }

    /// Renames a kept directory to `path`, which must not exist; false if none is kept
    /// (or the rename fails: the caller then makes the directory). Renames happen under
    /// the lock: a kept path is never renamed by one task while another claims it.
    func reuseDirectory(as path: String) -> Bool {
        spares.withLock { s -> Bool in
            // The same task again (a retry, the same key in a loop): its own kept
            // directory is taken back as it is.
            if let k = s.directories.firstIndex(of: path) {
                s.directories.remove(at: k)
                return true
            }
            while let spare = s.directories.popLast() {
                // RENAME_NOREPLACE: never over an existing directory.
                if heaven_rename_noreplace(spare, path) == 0 { return true }
                if errno == EEXIST {
                    s.directories.append(spare)
                    return false
                }
                // Gone (removed by someone else): try the next one.
            }
            return false
        }
    }

    /// Renames a kept empty log to `path` (which the task's process then opens without
    /// creating it), unless `path` exists.
    func reuseLog(as path: String) {
        spares.withLock { s in
            if let k = s.logs.firstIndex(of: path) {
                s.logs.remove(at: k)
                return
            }
            guard let spare = s.logs.popLast() else { return }
            if heaven_rename_noreplace(spare, path) != 0, errno == EEXIST { s.logs.append(spare) }
        }
    }

    static func isEmptyDirectory(_ path: String) -> Bool {
        guard let dir = opendir(path) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let dot = withUnsafeBytes(of: entry.pointee.d_name) { raw -> Bool in
                (raw[0] == 0x2E && raw[1] == 0) || (raw[0] == 0x2E && raw[1] == 0x2E && raw[2] == 0)
            }
            if !dot { return false }
        }
        return true
    }
}
