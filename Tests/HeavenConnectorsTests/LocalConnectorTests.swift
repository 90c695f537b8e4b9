import Foundation
import HeavenModel
import Synchronization
import Testing

@testable import HeavenConnectors

#if canImport(Glibc)
    import Glibc
#endif

/// A working directory and log for one launch, removed when dropped.
final class Scratch: Sendable {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "heaven-connector-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/work", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func launch(_ argv: [String], environment: [String: String] = [:]) -> TaskLaunch {
        TaskLaunch(
            arguments: argv, environment: environment, workDirectory: directory + "/work",
            stdoutPath: directory + "/log",
            stderrPath: directory + "/log", baseDirectory: directory)
    }

    var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }
}

@Suite("Local connector", .timeLimit(.minutes(15)))
struct LocalConnectorTests {
    let connector = LocalConnector(siteName: "here", cores: 2, memory: 1e9)

    @Test("argv reaches the program as given: no shell reads it")
    func argv() async throws {
        let s = try Scratch()
        let p = try await connector.start(s.launch(["printf", "%s|", "$(id)", "a b", "*", ";"]))
        #expect(await p.wait().exitCode == 0)
        #expect(s.log == "$(id)|a b|*|;|")
    }

    @Test("a program that cannot be found is an error saying which, never a task that ran")
    func notFound() async throws {
        let s = try Scratch()
        await #expect {
            _ = try await connector.start(s.launch(["no-such-program-heaven"]))
        } throws: { error in
            "\(error)" == "program `no-such-program-heaven` not found (searched PATH)"
        }
    }

    @Test("the task's variables and secrets replace inherited ones; its standard input is what it was given")
    func environmentAndInput() async throws {
        let s = try Scratch()
        var launch = s.launch(
            ["sh", "-c", #"printf '%s %s %s ' "$PLAIN" "$TOKEN" "$HOME"; cat"#],
            environment: ["PLAIN": "plain", "HOME": "/elsewhere"])
        launch.secrets = ["TOKEN": "s3cret"]
        launch.standardInput = Array("from stdin\n".utf8)
        let p = try await connector.start(launch)
        #expect(await p.wait().exitCode == 0)
        #expect(s.log == "plain s3cret /elsewhere from stdin\n")
    }

    @Test("logs are created private (0600)")
    func logMode() async throws {
        let s = try Scratch()
        let p = try await connector.start(s.launch(["true"]))
        _ = await p.wait()
        let mode = try FileManager.default.attributesOfItem(atPath: s.directory + "/log")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(
        """
        a confined task runs as the given uid, no groups, no capability, nothing inherited; past its memory it is \
        killed saying so
        """,
        .enabled(
            if: geteuid() == 0 || !((ProcessInfo.processInfo.environment["HEAVEN_TESTS_MAY_SKIP"] ?? "") == "1"),
            "needs root (HEAVEN_TESTS_MAY_SKIP=1)"))
    func confined() async throws {
        #expect(TaskConfinement.missing().isEmpty, "cannot confine here: \(TaskConfinement.missing())")
        let s = try Scratch()
        chown(s.directory + "/work", 301_234, 301_234)
        // A directory to hide outside /tmp (which the sandbox replaces anyway), readable by all.
        let hidden = "/var/tmp/heaven-hidden-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: hidden, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hidden) }
        try "x".write(toFile: hidden + "/file", atomically: true, encoding: .utf8)
        chmod(hidden, 0o755)
        chmod(hidden + "/file", 0o644)
        let confinement = TaskConfinement(
            uid: 301_234, gid: 301_234, hidden: [hidden], defaultMemory: 64 * 1_048_576, maxProcesses: 64)
        var launch = s.launch([
            "sh", "-c",
            #"id -u; id -G; grep CapEff /proc/self/status | tr -d '\t'; ls "$0" | wc -l; "#
                + #"env | grep -c HEAVEN_TEST_MARK; true"#,
            hidden,
        ])
        launch.confinement = confinement
        launch.isolation = .sandbox
        setenv("HEAVEN_TEST_MARK", "1", 1)
        let p = try await LocalConnector(siteName: "here").start(launch)
        #expect(await p.wait().exitCode == 0, "\(s.log)")
        #expect(s.log == "301234\n301234\nCapEff:0000000000000000\n0\n0\n", "\(s.log)")
        // Its memory bound: the kernel kills it, and the exit says why.
        var hog = s.launch(["python3", "-c", "x = bytearray(512 * 1024 * 1024)"])
        hog.confinement = confinement
        hog.isolation = .sandbox
        let h = try await LocalConnector(siteName: "here").start(hog)
        let exit = await h.wait()
        #expect(!exit.succeeded && exit.message == "killed: it went past its memory limit of 64MiB", "\(exit)")
    }
}

/// The sandbox helper (`heaven --sandbox-zygote`) that starts every confined task.
@Suite(
    "Confined tasks through the sandbox helper", .serialized,
    .enabled(
        if: geteuid() == 0 || !((ProcessInfo.processInfo.environment["HEAVEN_TESTS_MAY_SKIP"] ?? "") == "1"),
        "needs root (HEAVEN_TESTS_MAY_SKIP=1)"), .timeLimit(.minutes(15)))
struct SandboxHelperTests {
    let confinement = TaskConfinement(
        uid: 301_235, gid: 301_235, hidden: [], defaultMemory: 256 * 1_048_576, maxProcesses: 64)

    func confined(_ s: Scratch, _ argv: [String], network: Bool = false, env: [String: String] = [:]) -> TaskLaunch {
        chown(s.directory + "/work", 301_235, 301_235)
        var launch = s.launch(argv, environment: env)
        launch.confinement = confinement
        launch.isolation = .sandbox
        launch.network = network
        launch.readable = [s.directory + "/work"]
        return launch
    }

    @Test(
        """
        each confined task: PID 2 of its own namespace, a private writable /tmp, only loopback without network, \
        its input; its signal reported; an unrunnable program an error
        """
    )
    func namespaces() async throws {
        let connector = LocalConnector(siteName: "here")
        let a = try Scratch()
        var first = confined(
            a,
            [
                "sh", "-c",
                #"echo $$; touch /tmp/mark && ls -A /tmp; set -- /proc/[0-9]*; echo $#; "#
                    + #"grep -c : /proc/net/dev; id -u; cat"#,
            ])
        first.standardInput = Array("given\n".utf8)
        #expect(try await connector.start(first).wait().exitCode == 0, "\(a.log)")
        // sh is PID 2 (the namespace's init is 1) and sees those two processes only; /tmp
        // holds its mark and the way to its working directory; loopback only.
        let way = (a.directory as NSString).lastPathComponent
        #expect(a.log == "2\n\(way)\nmark\n2\n1\n301235\ngiven\n", "\(a.log)")
        // Another task's /tmp is its own: the mark is not there.
        let b = try Scratch()
        #expect(try await connector.start(confined(b, ["sh", "-c", "ls -A /tmp"])).wait().exitCode == 0)
        #expect(b.log == (b.directory as NSString).lastPathComponent + "\n", "\(b.log)")
        // With the network: the host's interfaces (as many as this process sees).
        let c = try Scratch()
        #expect(
            try await connector.start(confined(c, ["sh", "-c", "grep -c : /proc/net/dev"], network: true)).wait()
                .exitCode == 0)
        let host = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").filter {
            $0.contains(":")
        }.count
        #expect(c.log == "\(host)\n", "\(c.log)")
        // Killed by a signal: the signal, not an exit code.
        let d = try Scratch()
        let killed = try await connector.start(confined(d, ["sh", "-c", "kill -TERM $$"])).wait()
        #expect(killed.signal == SIGTERM && killed.exitCode == nil, "\(killed)")
        // Signalled from outside (a cancel): its group ends.
        let e = try Scratch()
        let long = try await connector.start(confined(e, ["sh", "-c", "sleep 30 & wait"]))
        long.signal(SIGTERM)
        let cancelled = await long.wait()
        #expect(cancelled.signal == SIGTERM, "\(cancelled)")
        // A file that is no program: an error, as outside the sandbox.
        let f = try Scratch()
        try "not a program".write(toFile: f.directory + "/work/x", atomically: true, encoding: .utf8)
        chmod(f.directory + "/work/x", 0o755)
        await #expect(throws: ConnectorError.self) {
            _ = try await connector.start(confined(f, [f.directory + "/work/x"]))
        }
    }

    @Test("a helper that dies takes its tasks with it, saying so, and takes no request after")
    func helperDies() async throws {
        // A helper of its own: the shared one serves the tests running alongside.
        let zygote = try SandboxZygote()
        let s = try Scratch()
        chown(s.directory + "/work", 301_235, 301_235)
        let request = SpawnRequest(
            path: "/bin/sleep", arguments: ["/bin/sleep", "30"], environment: [], workDirectory: s.directory + "/work",
            stdoutPath: s.directory + "/log", stderrPath: s.directory + "/log", readable: [], hidden: [], uid: 301_235,
            gid: 301_235, umask: 0o077, network: 0, standardInput: nil, cgroups: 0)
        let task = try await zygote.spawn(request, cgroup: nil)
        kill(zygote.helper, SIGKILL)
        let exit = await task.wait()
        #expect(exit.signal == SIGKILL && exit.message == "killed: the sandbox helper that ran it ended", "\(exit)")
        var gone = false
        for _ in 0..<200 where !gone {
            gone = !ProcessProbe.isAlive(pid: task.pid, startTime: nil)
            if !gone { usleep(10_000) }
        }
        #expect(gone, "the task's group outlived its helper")
        await #expect(throws: ConnectorError.self) { _ = try await zygote.spawn(request, cgroup: nil) }
    }

    @Test(
        """
        the helper is the small `heaven-sandbox` beside `heaven`; without it, `heaven --sandbox-zygote` confines \
        the same
        """
    )
    func helperPrograms() async throws {
        let heaven = try #require(SandboxZygote.program.withLock { $0 })
        let small = (heaven as NSString).deletingLastPathComponent + "/heaven-sandbox"
        #expect(SandboxZygote.command(for: heaven) == [small])
        #expect(SandboxZygote.command(for: "/nonexistent/heaven") == ["/nonexistent/heaven", "--sandbox-zygote"])
        for command in [[small], [heaven, "--sandbox-zygote"]] {
            let zygote = try SandboxZygote(command: command)
            let s = try Scratch()
            chown(s.directory + "/work", 301_235, 301_235)
            let request = SpawnRequest(
                path: "/bin/sh", arguments: ["/bin/sh", "-c", "id -u; echo $$"], environment: ["PATH=/usr/bin:/bin"],
                workDirectory: s.directory + "/work", stdoutPath: s.directory + "/log",
                stderrPath: s.directory + "/log",
                readable: [], hidden: [], uid: 301_235, gid: 301_235, umask: 0o077, network: 0,
                standardInput: nil, cgroups: 0)
            let exit = try await zygote.spawn(request, cgroup: nil).wait()
            #expect(exit.exitCode == 0 && s.log == "301235\n2\n", "\(command): \(s.log)")
            kill(zygote.helper, SIGTERM)
        }
        // Either, run by hand, says what it is and does nothing.
        for command in [[small], [heaven, "--sandbox-zygote"]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: command[0])
            p.arguments = Array(command.dropFirst())
            let err = Pipe()
            p.standardError = err
            p.standardInput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationStatus == 2 && said.contains("it is not a command"), "\(command): \(said)")
        }
    }

    @Test(
        """
        a configured helper refuses, whatever the server asks once it dropped its privileges, ids outside its \
        range or the server's own, and fields out of range; it is configured once
        """
    )
    func forgedRequests() async throws {
        let zygote = try SandboxZygote()
        defer { kill(zygote.helper, SIGTERM) }
        let (server, tenant, outside): (UInt32, UInt32, UInt32) = (301_290, 301_300, 301_235)
        zygote.configure(ids: 301_300...301_310, serverUID: server, serverGID: server)
        // A second configuration, wider, is ignored.
        zygote.configure(ids: 1000...2_000_000_000, serverUID: 0, serverGID: 0)
        func request(uid: UInt32, network: Int32 = 0, disk: Int64 = 0) throws -> (SpawnRequest, Scratch) {
            let s = try Scratch()
            // The logs are opened with the server account's rights: its directory is the server's.
            chown(s.directory, server, server)
            chown(s.directory + "/work", uid, uid)
            var r = SpawnRequest(
                path: "/bin/sh", arguments: ["/bin/sh", "-c", "id -u"], environment: ["PATH=/usr/bin:/bin"],
                workDirectory: s.directory + "/work", stdoutPath: s.directory + "/log",
                stderrPath: s.directory + "/log", readable: [], hidden: [], uid: uid, gid: uid, umask: 0o077,
                network: network, standardInput: nil, cgroups: 0)
            r.disk = disk
            return (r, s)
        }
        let forged: [(String, UInt32, Int32, Int64)] = [
            ("an id outside the range", outside, 0, 0), ("the server's own id", server, 0, 0), ("root", 0, 0, 0),
            ("network 3", tenant, 3, 0), ("network -1", tenant, -1, 0),
            ("outbound, slirp4netns not configured", tenant, 2, 0), ("a negative disk", tenant, 0, -1),
        ]
        for (what, uid, network, disk) in forged {
            let (r, s) = try request(uid: uid, network: network, disk: disk)
            do {
                _ = try await zygote.spawn(r, cgroup: nil)
                Issue.record("\(what): started")
            } catch {
                #expect("\(error)".contains("read the request"), "\(what): \(error)")
            }
            #expect(s.log.isEmpty, "\(what): \(s.log)")
        }
        // File requests as another id, or as the server's: refused.
        let plot = try Scratch()
        try "x".write(toFile: plot.directory + "/work/f", atomically: false, encoding: .utf8)
        chmod(plot.directory + "/work/f", 0o644)
        let dir = open(plot.directory + "/work", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(dir) }
        for uid in [outside, server, 0] {
            #expect(throws: TenantFileError.self, "open as \(uid)") {
                try zygote.fileRequest(kind: 3, uid: uid, gid: uid, mode: 0, path: "f", directory: dir)
            }
        }
        // Positive controls: a tenant of the range starts, and opens its file.
        let (r, s) = try request(uid: tenant)
        let exit = try await zygote.spawn(r, cgroup: nil).wait()
        #expect(exit.exitCode == 0 && s.log == "\(tenant)\n", "\(exit) \(s.log)")
        let fd = try zygote.fileRequest(kind: 3, uid: tenant, gid: tenant, mode: 0, path: "f", directory: dir)
        #expect(fd >= 0)
        close(fd)
    }

    @Test(
        """
        without network, a task reuses an idle loopback namespace of its own tenant's, never one in use nor \
        another tenant's
        """
    )
    func networkNamespaces() async throws {
        let zygote = try SandboxZygote()
        defer { kill(zygote.helper, SIGTERM) }
        func request(_ s: Scratch, uid: UInt32, _ script: String) -> SpawnRequest {
            chown(s.directory + "/work", uid, uid)
            return SpawnRequest(
                path: "/bin/sh", arguments: ["/bin/sh", "-c", script], environment: ["PATH=/usr/bin:/bin"],
                workDirectory: s.directory + "/work", stdoutPath: s.directory + "/log",
                stderrPath: s.directory + "/log",
                readable: [], hidden: [], uid: uid, gid: uid, umask: 0o077, network: 0, standardInput: nil,
                cgroups: 0)
        }
        let show = "readlink /proc/self/ns/net; grep -c : /proc/net/dev; cat /sys/class/net/lo/operstate"
        /// Runs `show` as `uid` and waits until the helper has reaped the task's group.
        func namespace(uid: UInt32) async throws -> String {
            let s = try Scratch()
            let task = try await zygote.spawn(request(s, uid: uid, show), cgroup: nil)
            #expect(await task.wait().exitCode == 0, "\(s.log)")
            while kill(task.pid, 0) == 0 { usleep(1000) }
            let lines = s.log.split(separator: "\n")
            // Only loopback, up (or "unknown", as loopback says of itself).
            #expect(lines.count == 3 && lines[1] == "1" && lines[2] != "down", "\(s.log)")
            return String(lines.first ?? "")
        }
        let first = try await namespace(uid: 301_235)
        // The tenant's next task, once the first is gone: the same namespace.
        #expect(try await namespace(uid: 301_235) == first)
        // Another tenant: never that one.
        let other = try await namespace(uid: 301_236)
        #expect(other != first)
        #expect(try await namespace(uid: 301_236) == other)
        // While a task of the tenant runs, another of its tasks gets a namespace of its own.
        let s = try Scratch()
        let holding = try await zygote.spawn(request(s, uid: 301_235, show + "; sleep 30"), cgroup: nil)
        while !s.log.contains("\n") { usleep(1000) }
        let held = String(s.log.split(separator: "\n").first ?? "")
        #expect(held == first)
        let beside = try await namespace(uid: 301_235)
        #expect(beside != first && beside != other)
        zygote.signal(holding.pid, SIGKILL)
        _ = await holding.wait()
    }

    @Test(
        """
        an ended task's control groups serve the next task of the same tenant and bounds once empty; never \
        another tenant's, never after an out-of-memory kill
        """
    )
    func cgroupReuse() throws {
        guard TaskCgroup.available else {
            Issue.record("no control groups on this machine")
            return
        }
        // A tenant and bounds no other test uses.
        let mib = 123.0 * 1_048_576
        let first = try #require(TaskCgroup.make(memory: mib, processes: 77, tenant: 301_299))
        // A process still in it (as a task's init while it exits).
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { for p in argv { free(p) } }
        #expect(posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, environ) == 0)
        for procs in first.procs { try String(pid).write(toFile: procs, atomically: false, encoding: .utf8) }
        first.remove()
        first.remove()  // once only
        let second = try #require(TaskCgroup.make(memory: mib, processes: 77, tenant: 301_299))
        #expect(second.directories != first.directories, "a group with a process in it was taken")
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        // Empty now: the next task of the tenant with those bounds takes it; not another
        // tenant, nor other bounds.
        #expect(TaskCgroup.make(memory: mib, processes: 77, tenant: 301_298)?.directories != first.directories)
        #expect(TaskCgroup.make(memory: mib, processes: 78, tenant: 301_299)?.directories != first.directories)
        let third = try #require(TaskCgroup.make(memory: mib, processes: 77, tenant: 301_299))
        #expect(third.directories == first.directories)
        // Its bounds are still there.
        let limit = first.directories.contains { $0.contains("/memory/") } ? "memory.limit_in_bytes" : "memory.max"
        let memoryDir = try #require(first.directories.first { access($0 + "/" + limit, F_OK) == 0 })
        #expect(try String(contentsOfFile: memoryDir + "/" + limit, encoding: .utf8) == "\(Int(mib))\n")
        second.remove()
        // A group whose task went past its memory bound is not taken again: a hog moved
        // into it (waiting on its input until then) is killed by the kernel.
        let hog = Process()
        hog.executableURL = URL(fileURLWithPath: "/bin/sh")
        hog.arguments = ["-c", "read go; exec python3 -c 'x = bytearray(512 * 1024 * 1024)'"]
        let input = Pipe()
        hog.standardInput = input
        try hog.run()
        for procs in third.procs {
            try String(hog.processIdentifier).write(toFile: procs, atomically: false, encoding: .utf8)
        }
        input.fileHandleForWriting.write(Data("go\n".utf8))
        hog.waitUntilExit()
        #expect(hog.terminationReason == .uncaughtSignal && third.memoryExceeded)
        third.remove()
        // (The second is idle and empty too: two takes, neither the third.)
        let fourth = try #require(TaskCgroup.make(memory: mib, processes: 77, tenant: 301_299))
        let fifth = try #require(TaskCgroup.make(memory: mib, processes: 77, tenant: 301_299))
        #expect(fourth.directories != third.directories && fifth.directories != third.directories)
        fourth.remove()
        fifth.remove()
    }

    @Test("a confined task left by a dead server is found by its environment through its group and killed")
    func orphan() async throws {
        let connector = LocalConnector(siteName: "here")
        let s = try Scratch()
        let task = try await connector.start(
            confined(s, ["sleep", "30"], env: ["HEAVEN_RUN": "r1", "HEAVEN_TASK": "t", "HEAVEN_ATTEMPT": "1"]))
        guard case .process(let pid, _) = task.handle else {
            Issue.record("not a process")
            return
        }
        // The recorded pid is the group's leader, whose environment is the helper's.
        #expect(!ProcessProbe.killOrphan(pid: pid, run: "r1", task: "t", attempt: 2))
        #expect(!ProcessProbe.killOrphan(pid: pid, run: "r2", task: "t", attempt: 1))
        // (The start returned once the task's exec succeeded: it carries its own environment.)
        #expect(ProcessProbe.killOrphan(pid: pid, run: "r1", task: "t", attempt: 1))
        #expect(await task.wait().signal == SIGKILL)
    }
}

@Suite("Process liveness", .timeLimit(.minutes(15)))
struct ProcessLivenessTests {
    @Test("a process that exited but was not reaped (a zombie) does not count as alive, nor a reused pid")
    func zombie() throws {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("0.2"), nil]
        defer { for p in argv { free(p) } }
        #expect(posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, environ) == 0)
        let start = ProcessProbe.startTime(of: pid)
        #expect(start != nil)
        #expect(ProcessProbe.isAlive(pid: pid, startTime: start))
        // Not reaped: it stays in the process table as a zombie once it exits.
        var zombie = false
        for _ in 0..<500 where !zombie {
            zombie = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") == true
            if !zombie { usleep(10_000) }
        }
        #expect(zombie, "the child never became a zombie")
        #expect(!ProcessProbe.isAlive(pid: pid, startTime: start))
        #expect(!ProcessProbe.isAlive(pid: pid, startTime: nil))
        // The same pid with another start time is another process.
        #expect(!ProcessProbe.isAlive(pid: getpid(), startTime: "1"))
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// The sandbox's process must not be tied to the thread that started it: the kernel's
/// parent-death signal (bubblewrap's `--die-with-parent`) fires when that *thread* ends,
/// and a thread of the concurrency pool may end at any time.
@Suite("Sandboxed tasks and the threads that start them", .timeLimit(.minutes(15)))
struct SandboxThreadTests {
    @Test("a sandboxed task outlives the thread that spawned it")
    func outlivesSpawningThread() throws {
        try #require(LocalConnector.bubblewrap != nil, "bubblewrap (scripts/test.sh installs it)")
        let s = try Scratch()
        let connector = LocalConnector(siteName: "here", cores: 1, memory: 1e9)
        var sandboxed = s.launch(["sh", "-c", "sleep 1; echo alive"])
        sandboxed.isolation = .sandbox
        let launch = sandboxed
        let bwrap = LocalConnector.bubblewrap!
        let argv = [bwrap] + connector.sandboxArguments(launch) + ["--"] + launch.arguments
        let started = DispatchSemaphore(value: 0)
        let pid = Mutex<Int32>(0)
        // The spawning thread ends while the task runs (once the sandbox is set up: a
        // thread that ended before would not count as its parent).
        let thread = Thread {
            pid.withLock { $0 = (try? connector.spawn(executable: bwrap, argv: argv, env: [], launch: launch)) ?? -1 }
            started.signal()
            Thread.sleep(forTimeInterval: 0.3)
        }
        thread.start()
        started.wait()
        let child = pid.withLock { $0 }
        #expect(child > 0)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect((status & 0x7f) == 0, "killed by signal \(status & 0x7f)")
        #expect(s.log == "alive\n", "\(s.log)")
    }
}
