import CHeavenSystem
import Foundation
import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The sandbox helper that starts a shared server's confined tasks: one long-lived
/// process (Sources/CHeavenSystem/zygote.c) that builds each task's namespaces and view
/// of the file system by itself, instead of an exec of bubblewrap and of setpriv per
/// task (docs/performance.md, "OGC API - Processes"). It is the small `heaven-sandbox`
/// program beside `heaven` when there is one (each task is a clone of the helper: the
/// smaller the helper, the cheaper), else `heaven --sandbox-zygote`.
///
/// Requests go on one stream socket; a reader thread takes the replies (by request:
/// the helper overlaps starts) and the tasks' ends. The helper ends when the server closes its
/// socket; if it dies first, every task it started is killed and ends as lost, and the
/// next confined start makes another.
final class SandboxZygote: Sendable {
    /// Heaven's own command (set by it at start), else a `heaven` beside this executable
    /// (tests, benchmarks): the helper is the `heaven-sandbox` beside it, or itself with
    /// `--sandbox-zygote`.
    static let program = Mutex<String?>(defaultProgram())

    /// The command that runs the helper, for Heaven's command `heaven`.
    static func command(for heaven: String) -> [String] {
        let small = ((heaven as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "heaven-sandbox")
        return LocalConnector.isExecutableFile(small) ? [small] : [heaven, "--sandbox-zygote"]
    }

    private static func defaultProgram() -> String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        if (exe as NSString).lastPathComponent == "heaven" { return exe }
        let sibling = ((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("heaven")
        return LocalConnector.isExecutableFile(sibling) ? sibling : nil
    }

    private static let current = Mutex<SandboxZygote?>(nil)

    /// The running helper, started when there is none (or the last one ended).
    static func shared() throws -> SandboxZygote {
        try current.withLock { z in
            if let running = z, !running.hasEnded { return running }
            let made = try SandboxZygote()
            z = made
            return made
        }
    }

    private typealias Pending = (
        reply: CheckedContinuation<ConfinedProcess, any Error>, cgroup: TaskCgroup?, program: String, disk: Int64
    )

    private struct State {
        /// Spawn requests sent and not yet answered, by id.
        var pending: [Int32: Pending] = [:]
        /// Opens and removes sent and not yet answered, by id.
        var files: [Int32: FileReply] = [:]
        var nextID: Int32 = 1
        var running: [Int32: ConfinedProcess] = [:]
        var ended = false
    }

    private let socket: Int32
    /// The helper's pid.
    let helper: Int32
    private let state = Mutex(State())

    private var hasEnded: Bool { state.withLock { $0.ended } }

    /// The command that runs this helper.
    let command: [String]

    /// Starts a helper (`shared()` gives the one every confined task goes through): by
    /// `command`, else the one beside Heaven's command (see `command(for:)`).
    init(command given: [String]? = nil) throws {
        guard let command = given ?? SandboxZygote.program.withLock({ $0.map(SandboxZygote.command(for:)) }) else {
            throw ConnectorError.confinement(
                """
                the sandbox helper is missing: no `heaven` program beside \
                \(CommandLine.arguments.first ?? "this program")
                """
            )
        }
        self.command = command
        let program = command[0]
        var fds: [Int32] = [-1, -1]
        guard heaven_socketpair(&fds) == 0 else {
            throw ConnectorError.confinement(
                "cannot make the sandbox helper's socket: \(String(cString: strerror(errno)))")
        }
        defer { close(fds[1]) }
        var o = heaven_spawn_defaults()
        var pid: pid_t = 0
        let argv = command.map { strdup($0) } + [nil]
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nil]
        defer { for p in argv + env { free(p) } }
        let result = program.withCString { path in
            argv.withUnsafeBufferPointer { av in
                env.withUnsafeBufferPointer { ev in
                    o.path = path
                    o.argv = UnsafePointer(av.baseAddress)
                    o.envp = UnsafePointer(ev.baseAddress)
                    o.stdin_fd = fds[1]
                    o.cwd = nil
                    return heaven_spawn(&o, &pid)
                }
            }
        }
        guard result == 0 else {
            close(fds[0])
            throw ConnectorError.spawnFailed(program: program, errno: result)
        }
        socket = fds[0]
        helper = pid
        // Its first word: ready, or why it could not set itself up.
        guard let first = SandboxZygote.readMessage(socket), first.kind == 4 else {
            close(socket)
            var status: Int32 = 0
            waitpid(helper, &status, 0)
            throw ConnectorError.confinement(
                "the sandbox helper (`\(command.joined(separator: " "))`) could not start"
                    + (status & 0x7f == 0 && (status >> 8) & 0xff == 1
                        ? ": it could not make its mount namespace (a kernel of 5.12 or later and root are needed)"
                        : ""))
        }
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "heaven-sandbox"
        thread.stackSize = 1 << 18
        thread.start()
    }

    /// The helper an earlier image of this process started (before it re-executed itself
    /// as its service account): its socket and pid, handed down through the exec.
    init(adopting socket: Int32, pid: Int32, command: [String]) {
        self.socket = socket
        self.helper = pid
        self.command = command
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "heaven-sandbox"
        thread.stackSize = 1 << 18
        thread.start()
    }

    /// Makes `helper` the one every confined task goes through.
    static func adopt(_ helper: SandboxZygote) { current.withLock { $0 = helper } }

    /// The socket to the helper (to hand it down through an exec).
    var socketDescriptor: Int32 { socket }

    /// Starts a confined task; throws as a failed spawn would (nothing runs then).
    func spawn(_ request: SpawnRequest, cgroup: TaskCgroup?) async throws -> ConfinedProcess {
        var descriptors: [Int32] = []
        if let input = request.standardInput { descriptors.append(input) }
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        for dir in cgroup?.directories ?? [] {
            let fd = open(dir, TenantFiles.pathOnly | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw ConnectorError.spawnFailed(program: request.arguments.first ?? request.path, errno: errno)
            }
            opened.append(fd)
            descriptors.append(fd)
        }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<ConfinedProcess, any Error>) in
            let sent = state.withLock { s -> Bool in
                guard !s.ended else { return false }
                let id = s.nextID
                s.nextID = s.nextID == Int32.max ? 1 : s.nextID + 1
                // Registered before it is sent (the reply may come at once), sent whole under the lock.
                s.pending[id] = (c, cgroup, request.arguments.first ?? request.path, request.disk)
                let ok = request.encoded(id: id).withUnsafeBytes { raw in
                    heaven_send_with_fds(socket, raw.baseAddress, raw.count, descriptors, Int32(descriptors.count)) == 0
                }
                if !ok { s.pending[id] = nil }
                return ok
            }
            if !sent { c.resume(throwing: ConnectorError.confinement("the sandbox helper ended")) }
        }
    }

    /// What a file request of the helper's (open, remove) is answered with: an errno
    /// (0: done) and, for an open, the descriptor.
    final class FileReply: Sendable {
        private let answer = Mutex<(errno: Int32, fd: Int32)?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func set(errno: Int32, fd: Int32) {
            answer.withLock { $0 = (errno, fd) }
            done.signal()
        }

        func wait() -> (errno: Int32, fd: Int32) {
            done.wait()
            return answer.withLock { $0 } ?? (EIO, -1)
        }
    }

    /// Opens (`kind` 3; `mode` 0 a file to read, 1 a directory to read, 2 a directory to
    /// hold) or removes (`kind` 4) `path`, relative to the directory open as `directory`,
    /// as the tenant `uid`/`gid`, beneath it and never through a link. Blocks the calling
    /// thread for the helper's answer (never call it on Swift's concurrency pool): the
    /// descriptor opened (-1 for a remove), or throws the errno.
    func fileRequest(kind: UInt32, uid: UInt32, gid: UInt32, mode: Int32, path: String, directory: Int32) throws
        -> Int32
    {
        guard
            let waiter = request(
                kind: kind, fields: [Int32(bitPattern: uid), Int32(bitPattern: gid), mode], strings: [path],
                descriptor: directory)
        else { throw TenantFileError.system(path, EIO) }
        let (err, fd) = waiter.wait()
        guard err == 0 else { throw TenantFileError(path, errno: err) }
        return fd
    }

    /// Fixes, once, the ids tenants' tasks may have and the server's own account (the
    /// owner of the logs and of the directories given to tenants): from then on the helper
    /// refuses any other id, whatever the server asks once it has dropped its privileges.
    /// With `slirp4netns` (its absolute path), tasks may be given an outbound network.
    func configure(ids: ClosedRange<UInt32>, serverUID: UInt32, serverGID: UInt32, slirp4netns: String? = nil) {
        var message = [UInt8]()
        let slirp: [UInt8] = slirp4netns.map { Array($0.utf8) + [0] } ?? []
        SpawnRequest.append(UInt32(16 + slirp.count), to: &message)
        SpawnRequest.append(UInt32(10), to: &message)
        for v in [Int32(bitPattern: ids.lowerBound), Int32(bitPattern: ids.upperBound)] {
            SpawnRequest.append(v, to: &message)
        }
        SpawnRequest.append(Int32(bitPattern: serverUID), to: &message)
        SpawnRequest.append(Int32(bitPattern: serverGID), to: &message)
        message += slirp
        state.withLock { s in
            guard !s.ended else { return }
            _ = message.withUnsafeBytes { heaven_send_with_fds(socket, $0.baseAddress, $0.count, nil, 0) }
        }
    }

    /// Kills, as root, the processes a dead server left running that carry every one of
    /// `marks` in their environment (`HEAVEN_RUN=...`): with `group`, that process group
    /// only. Whether any was found. Blocks the calling thread for the answer.
    func killMarked(group: Int32, marks: [String]) -> Bool {
        request(kind: 9, fields: [group], strings: marks)?.wait().errno == 0
    }

    /// Sends a request answered by `done` (an open, a remove, a kill...): header, its id,
    /// `fields`, then each of `strings` NUL-terminated, `descriptor` riding on it; the
    /// reply to wait for, nil when it could not be sent.
    private func request(kind: UInt32, fields: [Int32], strings: [String], descriptor: Int32? = nil) -> FileReply? {
        let waiter = FileReply()
        let sent = state.withLock { s -> Bool in
            guard !s.ended else { return false }
            let id = s.nextID
            s.nextID = s.nextID == Int32.max ? 1 : s.nextID + 1
            var b = [UInt8]()
            SpawnRequest.append(UInt32(0), to: &b)
            SpawnRequest.append(kind, to: &b)
            for v in [id] + fields { SpawnRequest.append(v, to: &b) }
            for string in strings {
                b.append(contentsOf: string.utf8)
                b.append(0)
            }
            let length = UInt32(b.count - 8)
            withUnsafeBytes(of: length) { b.replaceSubrange(0..<4, with: $0) }
            s.files[id] = waiter
            var fds = descriptor.map { [$0] } ?? []
            let ok = b.withUnsafeBytes { raw in
                heaven_send_with_fds(socket, raw.baseAddress, raw.count, &fds, Int32(fds.count)) == 0
            }
            if !ok { s.files[id] = nil }
            return ok
        }
        return sent ? waiter : nil
    }

    /// The helper now running, if any (never starts one).
    static var running: SandboxZygote? {
        current.withLock { z in z.flatMap { $0.hasEnded ? nil : $0 } }
    }

    /// A signal to a task's process group, unless the helper has reaped it already.
    func signal(_ pid: Int32, _ signal: Int32) {
        var message = [UInt8]()
        SpawnRequest.append(UInt32(8), to: &message)
        SpawnRequest.append(UInt32(2), to: &message)
        SpawnRequest.append(pid, to: &message)
        SpawnRequest.append(signal, to: &message)
        state.withLock { s in
            guard !s.ended else { return }
            _ = message.withUnsafeBytes { heaven_send_with_fds(socket, $0.baseAddress, $0.count, nil, 0) }
        }
    }

    private func readLoop() {
        while let m = SandboxZygote.readMessage(socket) {
            switch m.kind {
            case 5:
                let waiter = state.withLock { $0.files.removeValue(forKey: m.int32(0)) }
                let fd = m.fds.first ?? -1
                for extra in m.fds.dropFirst() { close(extra) }
                guard let waiter else {
                    if fd >= 0 { close(fd) }
                    continue
                }
                // A remove's answer has no descriptor; an open's has one when it succeeded.
                let err = m.int32(4)
                waiter.set(errno: err, fd: err == 0 ? fd : -1)
                if err != 0, fd >= 0 { close(fd) }
            case 2 where state.withLock({ $0.files[m.int32(0)] != nil }):
                state.withLock { $0.files.removeValue(forKey: m.int32(0)) }?.set(errno: m.int32(4), fd: -1)
            case 1, 2:
                let answered = state.withLock { s -> (request: Pending, started: ConfinedProcess?)? in
                    guard let p = s.pending.removeValue(forKey: m.int32(0)) else { return nil }
                    guard m.kind == 1 else { return (p, nil) }
                    // Known before the next message (its end, maybe) is read.
                    let process = ConfinedProcess(pid: m.int32(4), cgroup: p.cgroup, disk: p.disk, zygote: self)
                    s.running[process.pid] = process
                    return (p, process)
                }
                guard let answered else { continue }
                if let started = answered.started {
                    answered.request.reply.resume(returning: started)
                } else {
                    answered.request.cgroup?.remove()
                    answered.request.reply.resume(
                        throwing: SandboxZygote.failure(
                            program: answered.request.program, errno: m.int32(4), stage: m.int32(8)))
                }
            case 3:
                let pid = m.int32(0)
                guard let p = state.withLock({ $0.running.removeValue(forKey: pid) }) else { continue }
                let cpu = Double(m.int64(8) + m.int64(16)) / 1e6
                p.ended(
                    status: m.int32(4), cpuSeconds: cpu, maxRSS: m.int64(24) * 1024, pastDisk: m.int32(32) == 1)
            default:
                continue
            }
        }
        // The helper is gone: what it started cannot be watched any more.
        let (pending, running, files) = state.withLock { s in
            s.ended = true
            defer {
                s.pending = [:]
                s.running = [:]
                s.files = [:]
            }
            return (s.pending, s.running, s.files)
        }
        for waiter in files.values { waiter.set(errno: EIO, fd: -1) }
        close(socket)
        var status: Int32 = 0
        while waitpid(helper, &status, 0) < 0 && errno == EINTR {}
        for p in pending.values { p.reply.resume(throwing: ConnectorError.confinement("the sandbox helper ended")) }
        for (pid, p) in running {
            kill(-pid, SIGKILL)
            p.lostHelper()
        }
    }

    private static func failure(program: String, errno: Int32, stage: Int32) -> ConnectorError {
        // The exec itself (a missing or non-executable program) fails as an unconfined spawn would.
        if stage == 8 { return .spawnFailed(program: program, errno: errno) }
        let what =
            [
                1: "set itself up", 2: "make the task's namespaces", 3: "put the task in its control groups",
                4: "open the task's standard streams", 5: "build the task's view of the files",
                6: "mount the task's /proc", 7: "drop to the tenant's ids", 9: "read the request",
                10: "restrict the task's system calls", 11: "give the task its outbound network (slirp4netns)",
            ][stage] ?? "start the task"
        return .confinement("the sandbox could not \(what): \(String(cString: strerror(errno)))")
    }

    private struct Message {
        var kind: UInt32
        var body: [UInt8]
        /// Descriptors that came with it (an open's answer).
        var fds: [Int32] = []

        func int32(_ at: Int) -> Int32 {
            guard at + 4 <= body.count else { return 0 }
            return body[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        }

        func int64(_ at: Int) -> Int64 {
            guard at + 8 <= body.count else { return 0 }
            return body[at..<at + 8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
        }
    }

    private static func readMessage(_ fd: Int32) -> Message? {
        var head = [UInt8](repeating: 0, count: 8)
        var fds = [Int32](repeating: -1, count: 4)
        var count: Int32 = 0
        let received = head.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer {
                heaven_recv_with_fds(fd, raw.baseAddress, 8, $0.baseAddress, 4, &count)
            }
        }
        guard received == 0 else { return nil }
        let descriptors = Array(fds.prefix(Int(count)))
        let length = head[0..<4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        let kind = head[4..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        var body = [UInt8](repeating: 0, count: Int(min(length, 64)))
        guard length <= 64, length == 0 || readFully(fd, &body) else {
            for d in descriptors { close(d) }
            return nil
        }
        return Message(kind: kind, body: body, fds: descriptors)
    }

    private static func readFully(_ fd: Int32, _ buffer: inout [UInt8]) -> Bool {
        var done = 0
        let count = buffer.count
        return buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let r = read(fd, raw.baseAddress! + done, count - done)
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { return false }
                done += r
            }
            return true
        }
    }
}

/// What the sandbox helper needs to start one confined task.
struct SpawnRequest {
    var path: String
    var arguments: [String]
    var environment: [String]
    var workDirectory: String
    var stdoutPath: String
    var stderrPath: String
    var readable: [String]
    var hidden: [String]
    var uid: UInt32
    var gid: UInt32
    var umask: Int32
    /// 0: a loopback of its own; 1: the host's network; 2: outbound only (slirp4netns).
    var network: Int32
    var standardInput: Int32?
    var cgroups: Int
    var cpuLimit: Int64 = 0
    var openFiles: Int64 = 65536
    var addressSpace: Int64 = 0
    var processes: Int64 = 0
    /// The bytes its files may take (its working directory, /tmp, /dev/shm); 0: no bound.
    var disk: Int64 = 0

    /// The request as the helper reads it (zygote.c), answered under `id`.
    func encoded(id: Int32) -> [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(4096)
        SpawnRequest.append(UInt32(0), to: &b)
        SpawnRequest.append(UInt32(1), to: &b)
        for v in [
            id, Int32(bitPattern: uid), Int32(bitPattern: gid), umask, network, standardInput == nil ? 0 : 1,
        ] {
            SpawnRequest.append(v, to: &b)
        }
        SpawnRequest.append(Int32(cgroups), to: &b)
        for v in [cpuLimit, openFiles, addressSpace, processes, disk] { SpawnRequest.append(v, to: &b) }
        for n in [arguments.count, environment.count, readable.count, hidden.count] {
            SpawnRequest.append(UInt32(n), to: &b)
        }
        for s in [path, workDirectory, stdoutPath, stderrPath] + arguments + environment + readable + hidden {
            b.append(contentsOf: s.utf8)
            b.append(0)
        }
        let length = UInt32(b.count - 8)
        withUnsafeBytes(of: length) { b.replaceSubrange(0..<4, with: $0) }
        return b
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}

/// A confined task started by the sandbox helper: known by its group leader's pid (the
/// init of its PID namespace), signalled and reaped through the helper.
final class ConfinedProcess: RunningTask {
    let pid: Int32
    var handle: TaskHandle { .process(pid: pid, startTime: nil) }
    private let exit = ExitLatch()
    private let cgroup: TaskCgroup?
    private let disk: Int64
    private let zygote: SandboxZygote

    init(pid: Int32, cgroup: TaskCgroup?, disk: Int64, zygote: SandboxZygote) {
        self.pid = pid
        self.cgroup = cgroup
        self.disk = disk
        self.zygote = zygote
    }

    func wait() async -> TaskExit { await exit.wait() }

    func signal(_ signal: Int32) {
        if exit.value == nil { zygote.signal(pid, signal) }
    }

    /// The task ended with this wait status (`pastDisk`: killed for writing more than its
    /// disk bound).
    func ended(status: Int32, cpuSeconds: Double, maxRSS: Int64, pastDisk: Bool = false) {
        var end = TaskExit(waitStatus: status, cpuSeconds: cpuSeconds, maxRSS: maxRSS, cgroup: cgroup)
        if pastDisk {
            // A failure even where it ended well (the breach was seen at its end).
            if end.succeeded {
                end.exitCode = nil
                end.signal = SIGKILL
            }
            end.message =
                """
                killed: its files went past its disk bound of \(Quantity(Double(disk), .bytes)) (its working \
                directory, /tmp and /dev/shm; the server's `--task-disk`, or its machine's `disk` if lower)
                """
        }
        exit.set(end)
    }

    /// The helper died: the task was killed with it.
    func lostHelper() {
        cgroup?.remove()
        exit.set(TaskExit(exitCode: nil, signal: SIGKILL, message: "killed: the sandbox helper that ran it ended"))
    }
}

extension TaskExit {
    /// An exit from a wait status, saying so when the task's control group's memory
    /// bound killed it (the group is then removed).
    init(waitStatus status: Int32, cpuSeconds: Double, maxRSS: Int64, cgroup: TaskCgroup?) {
        if status & 0x7f == 0 {
            self.init(exitCode: (status >> 8) & 0xff, signal: nil, cpuSeconds: cpuSeconds, maxRSS: maxRSS)
        } else {
            self.init(exitCode: nil, signal: status & 0x7f, cpuSeconds: cpuSeconds, maxRSS: maxRSS)
        }
        if let cgroup {
            if !succeeded, cgroup.memoryExceeded {
                message = "killed: it went past its memory limit of \(Quantity(cgroup.memory, .bytes))"
            }
            cgroup.remove()
        }
    }
}
