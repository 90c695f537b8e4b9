import CHeavenSystem
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A process started by the local connector. A dedicated small thread blocks in
/// `wait4` for it (event-driven: nothing polls), then wakes every waiter.
final class LocalProcess: RunningTask {
    private struct State {
        var exit: TaskExit?
        var waiters: [CheckedContinuation<TaskExit, Never>] = []
    }

    let pid: Int32
    let startTime: String?
    private let state = Mutex(State())

    init(pid: Int32) {
        self.pid = pid
        self.startTime = LocalProcess.startTime(of: pid)
        let thread = Thread { [self] in self.reap() }
        thread.stackSize = 1 << 16
        thread.start()
    }

    private func reap() {
        var status: Int32 = 0
        var usage = rusage()
        var r: Int32
        repeat { r = wait4(pid, &status, 0, &usage) } while r < 0 && errno == EINTR
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        let exit: TaskExit
        if r < 0 {
            exit = TaskExit(exitCode: nil, signal: nil)
        } else if status & 0x7f == 0 {
            exit = TaskExit(
                exitCode: (status >> 8) & 0xff, signal: nil, cpuSeconds: cpu, maxRSS: Int64(usage.ru_maxrss) * 1024)
        } else {
            exit = TaskExit(
                exitCode: nil, signal: status & 0x7f, cpuSeconds: cpu, maxRSS: Int64(usage.ru_maxrss) * 1024)
        }
        let waiters = state.withLock { s -> [CheckedContinuation<TaskExit, Never>] in
            s.exit = exit
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.resume(returning: exit) }
    }

    func wait() async -> TaskExit {
        await withCheckedContinuation { (c: CheckedContinuation<TaskExit, Never>) in
            let done = state.withLock { s -> TaskExit? in
                if let e = s.exit { return e }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    func signal(_ signal: Int32) {
        let exited = state.withLock { $0.exit != nil }
        // The group leader is not reaped before `exit` is set, so its pid cannot have been reused.
        if !exited { kill(-pid, signal) }
    }

    /// The kernel's start time of a process (field 22 of /proc/PID/stat), nil if gone.
    static func startTime(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}

/// Tells whether a recorded process still runs (same pid and same start time).
public enum ProcessProbe {
    /// Whether `pid` is alive and started at `startTime`.
    public static func isAlive(pid: Int32, startTime: String?) -> Bool {
        guard pid > 0, let now = LocalProcess.startTime(of: pid) else { return false }
        return startTime == nil || now == startTime
    }

    /// The start time of this process.
    public static var currentStartTime: String? { LocalProcess.startTime(of: getpid()) }

    /// Kills a recorded task's process group if it still runs (after a crash of the
    /// process that started it); returns whether it was found.
    @discardableResult
    public static func killOrphan(pid: Int32, startTime: String?) -> Bool {
        guard isAlive(pid: pid, startTime: startTime) else { return false }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        return true
    }
}
