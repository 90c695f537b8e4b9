import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The control groups that bound one confined task: its memory and its number of
/// processes and threads. cgroup v1 (a `memory` and a `pids` hierarchy) or v2 (one
/// unified hierarchy with both controllers); the task's process joins them before it
/// execs, so everything it starts is counted. Without either, the caller falls back to
/// rlimits.
final class TaskCgroup: Sendable {
    /// The directories made for the task (one per hierarchy).
    let directories: [String]
    /// The `cgroup.procs` files the task's first process joins.
    var procs: [String] { directories.map { $0 + "/cgroup.procs" } }
    /// The directory whose `memory` files tell whether the memory bound was hit.
    private let memoryDirectory: String
    private let unified: Bool
    /// The memory bound in bytes.
    let memory: Double
    /// Its tenant and bounds: an idle group serves only a task with the same.
    private let key: String
    /// Whether its task is over (it is idle or removed): given back once only.
    private let over = Atomic<Bool>(false)

    private init(directories: [String], memoryDirectory: String, unified: Bool, memory: Double, key: String) {
        self.directories = directories
        self.memoryDirectory = memoryDirectory
        self.unified = unified
        self.memory = memory
        self.key = key
    }

    /// Groups of ended tasks, empty or emptying, by tenant and bounds: making a group and
    /// removing it (a memory group above all) costs the kernel more than anything else
    /// in a short task's start, so the next task of the same tenant with the same bounds
    /// takes one over. Never another tenant's (what a group keeps of its last task, its
    /// page cache, is charged to it), never one whose task hit its memory bound.
    private static let idle = Mutex<[String: [TaskCgroup]]>([:])
    /// Idle groups kept per tenant and bounds (a tenant's tasks at once, roughly).
    private static let keptPerKey = 16

    /// Where this process keeps its tasks' groups, by hierarchy; nil when it cannot.
    private static let parents: (memory: String, pids: String, unified: Bool)? = {
        let me = "heaven-\(getpid())"
        // Given to this process by its earlier image, before it dropped its privileges.
        let delegated = (memory: "/sys/fs/cgroup/memory/" + me, pids: "/sys/fs/cgroup/pids/" + me)
        if geteuid() != 0 {
            if access(delegated.memory, W_OK) == 0, access(delegated.pids, W_OK) == 0 {
                return (delegated.memory, delegated.pids, false)
            }
            if access("/sys/fs/cgroup/" + me + "/cgroup.procs", W_OK) == 0 {
                return ("/sys/fs/cgroup/" + me, "/sys/fs/cgroup/" + me, true)
            }
            return nil
        }
        for root in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup"] { removeStale(in: root) }
        let v1 = (memory: "/sys/fs/cgroup/memory", pids: "/sys/fs/cgroup/pids")
        if access(v1.memory + "/cgroup.procs", W_OK) == 0, access(v1.pids + "/cgroup.procs", W_OK) == 0 {
            let m = v1.memory + "/" + me
            let p = v1.pids + "/" + me
            guard makeDirectory(m), makeDirectory(p) else { return nil }
            return (m, p, false)
        }
        let root = "/sys/fs/cgroup"
        if let controllers = try? String(contentsOfFile: root + "/cgroup.controllers", encoding: .utf8),
            controllers.split(separator: " ").contains("memory"), controllers.contains("pids")
        {
            let dir = root + "/" + me
            guard makeDirectory(dir), write("+memory +pids", to: root + "/cgroup.subtree_control"),
                write("+memory +pids", to: dir + "/cgroup.subtree_control")
            else { return nil }
            return (dir, dir, true)
        }
        return nil
    }()

    private static let counter = Atomic<Int>(0)

    /// Whether tasks can be bounded by control groups here.
    static var available: Bool { parents != nil }

    /// Groups bounding a task of `tenant` to `memory` bytes and `processes` processes
    /// (an idle one of the tenant's with those bounds, else new ones), or nil when this
    /// machine gives none.
    static func make(memory: Double, processes: Int, tenant: UInt32) -> TaskCgroup? {
        guard let parents else { return nil }
        let bytes = String(Int64(memory.rounded(.up)))
        let key = "\(tenant)/\(bytes)/\(processes)"
        if let kept = takeIdle(key) { return kept }
        // A name no group has yet (one left by this process's earlier image, the probe
        // before the exec, is not its to take).
        var name = "t\(counter.add(1, ordering: .relaxed).newValue)"
        for _ in 0..<1000
        where access(parents.memory + "/" + name, F_OK) == 0 || access(parents.pids + "/" + name, F_OK) == 0 {
            name = "t\(counter.add(1, ordering: .relaxed).newValue)"
        }
        if parents.unified {
            let dir = parents.memory + "/" + name
            guard makeDirectory(dir), write(bytes, to: dir + "/memory.max"),
                write(String(processes), to: dir + "/pids.max")
            else {
                rmdir(dir)
                return nil
            }
            if access(dir + "/memory.swap.max", W_OK) == 0 { _ = write("0", to: dir + "/memory.swap.max") }
            return TaskCgroup(directories: [dir], memoryDirectory: dir, unified: true, memory: memory, key: key)
        }
        let m = parents.memory + "/" + name
        let p = parents.pids + "/" + name
        guard makeDirectory(m), makeDirectory(p), write(bytes, to: m + "/memory.limit_in_bytes"),
            write(String(processes), to: p + "/pids.max")
        else {
            rmdir(m)
            rmdir(p)
            return nil
        }
        // Swap counted too where the kernel accounts it (the limit must not be below memory's).
        if access(m + "/memory.memsw.limit_in_bytes", W_OK) == 0 {
            _ = write(bytes, to: m + "/memory.memsw.limit_in_bytes")
        }
        return TaskCgroup(directories: [m, p], memoryDirectory: m, unified: false, memory: memory, key: key)
    }

    /// Whether the kernel killed a process of the task for going past its memory bound.
    var memoryExceeded: Bool {
        let file = memoryDirectory + (unified ? "/memory.events" : "/memory.oom_control")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == "oom_kill", let n = Int(parts[1]), n > 0 { return true }
        }
        return false
    }

    /// An idle group of `key` that no process is in any more, if there is one.
    private static func takeIdle(_ key: String) -> TaskCgroup? {
        idle.withLock { idle in
            guard var kept = idle[key], !kept.isEmpty else { return nil }
            defer { idle[key] = kept }
            // The oldest first: the likeliest to be empty by now.
            for (i, g) in kept.enumerated() where g.isEmpty {
                kept.remove(at: i)
                g.over.store(false, ordering: .releasing)
                return g
            }
            return nil
        }
    }

    /// Whether no process is in the groups.
    private var isEmpty: Bool {
        directories.allSatisfy { d in
            let fd = open(d + "/cgroup.procs", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var byte: UInt8 = 0
            return read(fd, &byte, 1) == 0
        }
    }

    /// The task is over: the groups are kept for the tenant's next task (see `idle`), or
    /// whatever is left in them is killed and they are removed (a killed process may take
    /// a moment to leave: retried in the background).
    func remove() {
        guard !over.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if !memoryExceeded {
            let kept = TaskCgroup.idle.withLock { idle in
                guard idle[key, default: []].count < TaskCgroup.keptPerKey else { return false }
                idle[key, default: []].append(self)
                return true
            }
            if kept { return }
        }
        if tryRemove() { return }
        let dirs = directories
        Thread.detachNewThread {
            for _ in 0..<200 {
                if TaskCgroup.removeAll(dirs) { return }
                usleep(50_000)
            }
        }
    }

    private func tryRemove() -> Bool { TaskCgroup.removeAll(directories) }

    private static func removeAll(_ dirs: [String]) -> Bool {
        var done = true
        for d in dirs {
            if access(d, F_OK) != 0 { continue }
            if let text = try? String(contentsOfFile: d + "/cgroup.procs", encoding: .utf8) {
                for pid in text.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            if rmdir(d) != 0 && errno != ENOENT { done = false }
        }
        return done
    }

    /// Removes this process's parent groups (at a clean exit; what a killed process
    /// leaves, the next one removes).
    /// Gives this process's parent groups to `uid`/`gid` (a server about to drop its
    /// privileges keeps making its tasks' groups in them); false when there are none.
    static func delegateParents(to uid: UInt32, gid: UInt32) -> Bool {
        guard let parents else { return false }
        for dir in Set([parents.memory, parents.pids]) {
            guard chown(dir, uid, gid) == 0 else { return false }
            // v2: the groups' own files the owner of a delegated group writes (as systemd delegates).
            for file in ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]
            where access(dir + "/" + file, F_OK) == 0 {
                _ = chown(dir + "/" + file, uid, gid)
            }
        }
        return true
    }

    /// Whether this process's parent groups are still there (another process on the
    /// machine may have removed them).
    static var parentsPresent: Bool {
        guard let parents else { return false }
        return access(parents.memory, W_OK) == 0 && access(parents.pids, W_OK) == 0
    }

    static func removeParents() {
        guard let parents else { return }
        for dir in Set([parents.memory, parents.pids]) {
            let children = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
                $0.hasPrefix("t")
            }
            _ = removeAll(children.map { dir + "/" + $0 }.filter { access($0 + "/cgroup.procs", F_OK) == 0 })
            rmdir(dir)
        }
    }

    /// Removes the groups that servers no longer running left behind (killed, they could not).
    private static func removeStale(in root: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix("heaven-") {
            guard let pid = Int32(name.dropFirst(7)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else {
                continue
            }
            let parent = root + "/" + name
            let children = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter {
                $0.hasPrefix("t")
            }
            _ = removeAll(children.map { parent + "/" + $0 }.filter { access($0 + "/cgroup.procs", F_OK) == 0 })
            rmdir(parent)
        }
    }

    private static func makeDirectory(_ path: String) -> Bool { mkdir(path, 0o755) == 0 || errno == EEXIST }

    private static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } == text.utf8.count
    }
}
