import CHeavenSystem
import Foundation
import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A process started by the local connector. One reaper thread waits for every
/// child at once through pidfds and epoll (event-driven: nothing polls), reaps it
/// with `wait4` and wakes its waiters.
final class LocalProcess: RunningTask {
    let pid: Int32
    /// Its start time is not read at spawn (a `/proc` read per task costs); orphans are
    /// recognised by their environment instead (`ProcessProbe.killOrphan`).
    var handle: TaskHandle { .process(pid: pid, startTime: nil) }
    private let exit = ExitLatch()
    /// The control groups bounding a confined task (removed once it is reaped).
    private let cgroup: TaskCgroup?

    init(pid: Int32, cgroup: TaskCgroup? = nil) {
        self.pid = pid
        self.cgroup = cgroup
        Reaper.shared.watch(self)
    }

    /// Reaps the process (it has exited) and wakes its waiters.
    func reap() {
        var status: Int32 = 0
        var usage = rusage()
        var r: Int32
        repeat { r = wait4(pid, &status, 0, &usage) } while r < 0 && errno == EINTR
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        if r < 0 {
            cgroup?.remove()
            self.exit.set(TaskExit(exitCode: nil, signal: nil))
        } else {
            self.exit.set(
                TaskExit(waitStatus: status, cpuSeconds: cpu, maxRSS: Int64(usage.ru_maxrss) * 1024, cgroup: cgroup))
        }
    }

    func wait() async -> TaskExit { await exit.wait() }

    func signal(_ signal: Int32) {
        // The group leader is not reaped before `exit` is set, so its pid cannot have been reused.
        if exit.value == nil { kill(-pid, signal) }
    }

    /// The kernel's start time of a process (field 22 of /proc/PID/stat), nil if gone.
    static func startTime(of pid: Int32) -> String? { stat(of: pid)?.startTime }

    /// A process's state letter (field 3 of /proc/PID/stat: `Z` for a zombie) and start
    /// time (field 22), nil if gone.
    static func stat(of pid: Int32) -> (state: Substring, startTime: String)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? (fields[0], String(fields[19])) : nil
    }
}

/// Waits for every child process of the local connector on one thread.
final class Reaper: Sendable {
    static let shared = Reaper()

    private struct State {
        var watched: [Int32: (process: LocalProcess, fd: Int32)] = [:]
    }

    private let epoll: Int32
    private let wake: Int32
    private let state = Mutex(State())

    private init() {
        var wakeFD: Int32 = -1
        epoll = heaven_reaper_create(&wakeFD)
        wake = wakeFD
        if epoll >= 0 {
            let thread = Thread { [self] in self.loop() }
            thread.name = "heaven-reaper"
            thread.stackSize = 1 << 18
            thread.start()
        }
    }

    /// Starts watching a child; falls back to a thread of its own without pidfds.
    func watch(_ p: LocalProcess) {
        let fd = epoll >= 0 ? heaven_pidfd_open(p.pid) : -1
        guard fd >= 0 else {
            let thread = Thread { p.reap() }
            thread.stackSize = 1 << 16
            thread.start()
            return
        }
        state.withLock { $0.watched[p.pid] = (p, fd) }
        if heaven_reaper_add(epoll, fd, UInt64(p.pid)) != 0 {
            state.withLock { _ = $0.watched.removeValue(forKey: p.pid) }
            close(fd)
            let thread = Thread { p.reap() }
            thread.stackSize = 1 << 16
            thread.start()
        }
    }

    private func loop() {
        var tags = [UInt64](repeating: 0, count: 64)
        while true {
            let n = heaven_reaper_wait(epoll, &tags, 64)
            if n < 0 { continue }
            for i in 0..<Int(n) {
                let pid = Int32(truncatingIfNeeded: tags[i])
                if pid == 0 { continue }
                guard let entry = state.withLock({ $0.watched.removeValue(forKey: pid) }) else { continue }
                close(entry.fd)  // also removes it from the epoll set
                entry.process.reap()
            }
        }
    }
}

/// Tells whether a recorded process still runs.
public enum ProcessProbe {
    /// Whether `pid` is alive and started at `startTime` (when given): a process that
    /// has exited but was not yet reaped (a zombie, `Z`, or dying, `X`) is not, and a
    /// pid reused by a process started at another time is not the one recorded.
    public static func isAlive(pid: Int32, startTime: String?) -> Bool {
        // This process (a server's runs, checked at every start of a task): no need to ask.
        if pid == ownPID, let own = ownStartTime, startTime == nil || startTime == own { return true }
        guard pid > 0, let now = LocalProcess.stat(of: pid), now.state != "Z", now.state != "X" else { return false }
        return startTime == nil || now.startTime == startTime
    }

    /// The start time of this process.
    public static var currentStartTime: String? { ownStartTime }

    private static let ownPID = getpid()
    private static let ownStartTime = LocalProcess.startTime(of: ownPID)

    /// When `pid` started, as the kernel tells it (nil if there is no such process).
    public static func startTime(of pid: Int32) -> String? { LocalProcess.startTime(of: pid) }

    /// Whether no process is left in the process group `pid` led (a task's group once
    /// its leader was reaped).
    public static func groupGone(_ pid: Int32) -> Bool {
        pid > 0 && kill(-pid, 0) != 0 && errno == ESRCH
    }

    /// Kills every process of this user whose environment says it belongs to `run`
    /// (`HEAVEN_RUN=run`), with its process group: attempts left running by a process
    /// that died, including one whose start it had not yet committed. Returns how many
    /// processes were found.
    @discardableResult
    public static func killOrphans(run: String) -> Int {
        // A server that dropped its privileges cannot see its tenants' processes: its helper can.
        if geteuid() != 0, let helper = SandboxZygote.running {
            return helper.killMarked(group: 0, marks: ["HEAVEN_RUN=\(run)"]) ? 1 : 0
        }
        let me = getpid()
        var found = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), pid != me, environment(of: pid)?.contains("HEAVEN_RUN=\(run)") == true else {
                continue
            }
            found += 1
            killGroup(pid)
        }
        return found
    }

    /// A process's environment entries (`NAME=VALUE`), nil if it cannot be read.
    static func environment(of pid: Int32) -> Set<String>? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        return Set(data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
    }

    /// SIGKILL to a process and its group.
    static func killGroup(_ pid: Int32) {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }

    /// Kills the process group of a task attempt left running by a process that died,
    /// if it is still there: recognised by its environment (`HEAVEN_RUN`, `HEAVEN_TASK`,
    /// `HEAVEN_ATTEMPT`), so a reused pid is never killed. A confined task's recorded
    /// pid is its group's leader (the init of its PID namespace, with the sandbox
    /// helper's environment): the group is then recognised by the task in it. Returns
    /// whether it was found.
    @discardableResult
    public static func killOrphan(pid: Int32, run: String, task: String, attempt: Int) -> Bool {
        let marks = ["HEAVEN_RUN=\(run)", "HEAVEN_TASK=\(task)", "HEAVEN_ATTEMPT=\(attempt)"]
        if geteuid() != 0, pid > 0, let helper = SandboxZygote.running {
            return helper.killMarked(group: pid, marks: marks)
        }
        func isTask(_ p: Int32) -> Bool { environment(of: p).map { vars in marks.allSatisfy(vars.contains) } ?? false }
        guard pid > 0, LocalProcess.stat(of: pid) != nil else { return false }
        if !isTask(pid) {
            let members = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap {
                Int32($0)
            }
            guard members.contains(where: { $0 != pid && processGroup(of: $0) == pid && isTask($0) }) else {
                return false
            }
        }
        killGroup(pid)
        return true
    }

    /// The process group of a process (field 5 of /proc/PID/stat), nil if gone.
    static func processGroup(of pid: Int32) -> Int32? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 2 ? Int32(fields[2]) : nil
    }
}
