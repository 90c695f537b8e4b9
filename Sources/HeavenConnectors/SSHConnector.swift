import Crypto
import Foundation
public import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs tasks on a host reached with the system OpenSSH client, so the user's
/// `ssh_config`, agent, keys and jump hosts work as they expect. One master
/// connection per site is shared by every command (`ControlMaster`), not one
/// handshake per task.
///
/// On the host, Heaven needs a POSIX shell and coreutils, nothing else: a run's
/// tasks work in `~/.heaven/runs/RUN/work/KEY`; inputs are sent by content
/// (SHA-256, cached in `~/.heaven/cache`, verified after every transfer and re-sent
/// on a mismatch); the task's output streams back into the local logs; the shell
/// running the task leads its own process group (sshd starts a session per
/// command), so cancelling kills the whole group.
public final class SSHConnector: Connector, RemoteStaging, SiteProbing, ExitRechecking, RunHousekeeping {
    public let siteName: String
    let host: String
    let port: Int?
    let user: String?
    let identity: String?
    /// The private key of the run's user, when the site names one of their secrets.
    let key: KeySource?
    let cores: Int
    let memory: Double
    let local: LocalConnector
    static let root = ".heaven"

    /// Where a private key kept as a secret comes from.
    public typealias KeySource = PrivateKeySource

    /// Mixed into the names of runs' directories on the host, so that they cannot be
    /// guessed (empty: a run's directory is named by its id alone).
    let salt: String

    /// A connector for an SSH site; `key` is required when the site's identity is a
    /// secret; `account` replaces the site's `user` (the remote account of the run's user,
    /// from the site's `accounts`); `salt` makes runs' directory names unguessable.
    public init(site: Site, key: KeySource? = nil, account: String? = nil, salt: String = "") throws {
        guard case .ssh(let host, let port, let user, let identity, let identitySecret) = site.connector else {
            throw ConnectorError.unsupported("site `\(site.name)` is not an ssh site")
        }
        if let identitySecret, key == nil {
            throw ConnectorError.unsupported(
                """
                site `\(site.name)` authenticates with the secret `\(identitySecret)` of the run's user, and none \
                is open here
                """
            )
        }
        self.siteName = site.name
        self.host = host
        self.port = port
        self.user = account ?? user
        self.salt = salt
        self.identity = identitySecret == nil ? identity : nil
        self.key = identitySecret == nil ? nil : key
        self.cores = max(1, site.totalCores)
        self.memory = site.totalMemory
        self.local = LocalConnector(siteName: site.name)
    }

    public var taskAccount: TaskAccount { .siteAccount }

    public func capacity() async throws -> SiteCapacity {
        SiteCapacity(cores: cores, memory: memory > 0 ? memory : .infinity)
    }

    /// Seconds after which a host that does not answer counts as lost: the connection
    /// timeout, and the silence of an open connection (`HEAVEN_SSH_TIMEOUT`, 15).
    static var timeout: Int {
        max(1, ProcessInfo.processInfo.environment["HEAVEN_SSH_TIMEOUT"].flatMap(Int.init) ?? 15)
    }

    /// The `ssh` command line up to the host, through the site's master connection;
    /// `HEAVEN_SSH_CONFIG` names a config file to use instead of the user's.
    ///
    /// A connection made with a user's own key reads no configuration of this machine's
    /// (whose identities it must not use), offers only that key, and has a master
    /// connection of its own (named after the key's owner, so no other user's command
    /// rides on it); commands other than the master's offer no key at all.
    func ssh(_ extra: [String] = [], master: Bool = false, keyFile: String? = nil) -> [String] {
        let control = NSTemporaryDirectory() + "heaven-ssh-\(getuid())"
        mkdir(control, 0o700)
        var a = ["ssh"]
        var tag = ""
        if let key {
            tag =
                String(Hex.string(SHA256.hash(data: Data("\(siteName)\u{0}\(key.owner)".utf8))).prefix(12)) + "-"
            a += [
                "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                "-o", "UserKnownHostsFile=\(key.directory)/known_hosts", "-o", "GlobalKnownHostsFile=/dev/null",
            ]
            if let keyFile { a += ["-i", keyFile] } else { a += ["-o", "PubkeyAuthentication=no"] }
        } else if let config = ProcessInfo.processInfo.environment["HEAVEN_SSH_CONFIG"] {
            a += ["-F", config]
        }
        let t = SSHConnector.timeout
        a += [
            "-o", "BatchMode=yes", "-o", "ControlPath=\(control)/\(tag)%C",
            "-o", master ? "ControlMaster=yes" : "ControlMaster=no", "-o", "ControlPersist=120",
            "-o", "ConnectTimeout=\(t)", "-o", "ServerAliveInterval=\(max(1, t / 3))", "-o", "ServerAliveCountMax=3",
            "-o", "StrictHostKeyChecking=accept-new",
        ]
        if let port { a += ["-p", String(port)] }
        if let identity { a += ["-i", (identity as NSString).expandingTildeInPath] }
        if let user { a += ["-l", user] }
        return a + extra + [host, "--"]
    }

    /// Secrets as the lines `readSecrets` reads: `NAME=BASE64` each, then an empty line.
    static func secretLines(_ secrets: [String: String]) -> [UInt8] {
        var text = ""
        for (k, v) in secrets.sorted(by: { $0.key < $1.key }) {
            text += k + "=" + Data(v.utf8).base64EncodedString() + "\n"
        }
        return Array((text + "\n").utf8)
    }

    /// Shell that exports the secrets `secretLines` wrote, read from standard input or
    /// from `file` (shell words) (a value may hold any byte but NUL: it travels in
    /// base64; `x` keeps trailing newlines).
    static func readSecrets(from file: String? = nil) -> String {
        #"while IFS= read -r hv_l && [ -n "$hv_l" ]; do "#
            + #"hv_v=$(printf '%s' "${hv_l#*=}" | base64 -d; echo x); export "${hv_l%%=*}=${hv_v%x}"; done"#
            + (file.map { " < " + $0 } ?? "") + "; unset hv_l hv_v"
    }

    /// A command for the remote login shell that runs `script` with /bin/sh; whatever it
    /// creates is the remote account's alone (umask 0077).
    static func remote(_ script: String) -> String { "umask 077; exec /bin/sh -c " + quote(script) }

    /// The name of a run's directory on a host: its id and, with a salt, 20 hex digits
    /// that only the server can compute.
    public static func remoteName(_ run: String, salt: String) -> String {
        guard !salt.isEmpty else { return run }
        return run + "-" + Hex.string(SHA256.hash(data: Data((salt + "\u{0}" + run).utf8))).prefix(20)
    }

    /// A run's directory on the host (a shell word: `$HOME` expands there).
    func runRoot(_ run: String) -> String {
        "$HOME/\(SSHConnector.root)/runs/\(SSHConnector.remoteName(run, salt: salt))"
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    func paths(_ run: String, _ key: String) -> (work: String, pid: String) {
        let flat = TaskLaunch.flat(key)
        return ("\(runRoot(run))/work/\(flat)", "\(runRoot(run))/pids/\(flat)")
    }

    private let masterLock = AsyncMutex()
    /// Whether this connector (one run's) started the site's master connection.
    private let openedMaster = Mutex(false)

    /// Makes sure the site's master connection runs (started in the background with
    /// its output to /dev/null, so that no pipe of ours stays open in it).
    func ensureMaster() async throws {
        try await masterLock.withLock {
            if (try? await Shell.run(ssh(["-O", "check"]), quiet: true).status) == 0 { return }
            let keyFile = try await writeKey()
            defer { if let keyFile { unlink(keyFile) } }
            let r = try await Shell.run(ssh(["-f", "-N"], master: true, keyFile: keyFile), quiet: true)
            guard r.status == 0 else {
                throw ConnectorError.unreachable(
                    site: siteName, reason: "ssh to \(host) failed with status \(r.status)")
            }
            openedMaster.withLock { $0 = true }
        }
    }

    /// The user's key in a new 0600 file of the private directory (nil without a key),
    /// for the master connection to read; removed as soon as it has authenticated.
    func writeKey() async throws -> String? {
        guard let key else { return nil }
        var text = try await key.open()
        if !text.hasSuffix("\n") { text += "\n" }
        mkdir(key.directory, 0o700)
        let path = key.directory + "/" + UUID().uuidString
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConnectorError.transfer("cannot write the key of site \(siteName) in \(key.directory)")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            unlink(path)
            throw ConnectorError.transfer("cannot write the key of site \(siteName)")
        }
        return path
    }

    public func start(_ launch: TaskLaunch) async throws -> any RunningTask {
        try await ensureMaster()
        let hashes = try launch.inputs.map { ($0.name, $0.path, try SSHConnector.sha256(ofFile: $0.path)) }
        try await send(hashes.map { ($0.1, $0.2) })
        let (work, pid) = paths(launch.runID, launch.taskKey)
        var script = "set -e\nrm -rf \"\(work)\"\nmkdir -p \"\(work)\" \"$(dirname \"\(pid)\")\"\n"
        for (name, _, sha) in hashes {
            script += "ln -f \"$HOME/\(SSHConnector.root)/cache/\(sha)\" \"\(work)\"/\(SSHConnector.quote(name))\n"
        }
        script += "cd \"\(work)\"\necho $$ > \"\(pid)\"\nset +e\n"
        for (k, v) in launch.environment.sorted(by: { $0.key < $1.key }) where k != "HEAVEN_WORKDIR" {
            script += "export \(k)=\(SSHConnector.quote(v))\n"
        }
        // Secrets come on standard input, never on a command line (ours or the host's).
        if !launch.secrets.isEmpty { script += SSHConnector.readSecrets() + "\n" }
        script += "export HEAVEN_WORKDIR=\"$PWD\"\n"
        script += "rm -f \"\(pid).exit\"\n"
        script += launch.arguments.map(SSHConnector.quote).joined(separator: " ") + "\n"
        // The status is also left on the host: when ssh exits with 255, it tells a
        // broken connection from a task that exited with 255.
        script += "s=$?\necho $s > \"\(pid).exit\"\nexit $s\n"
        var sshLaunch = TaskLaunch(
            arguments: ssh() + [SSHConnector.remote(script)], workDirectory: launch.workDirectory,
            stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath, baseDirectory: launch.baseDirectory)
        if !launch.secrets.isEmpty { sshLaunch.standardInput = SSHConnector.secretLines(launch.secrets) }
        let process = try local.startNow(sshLaunch)
        return RemoteTask(process: process, connector: self, pidFile: pid)
    }

    /// Sends files the host does not hold yet (or holds corrupted), verifying each
    /// transfer by its SHA-256; a mismatch is sent again, three times at most.
    func send(_ files: [(path: String, sha: String)]) async throws {
        guard !files.isEmpty else { return }
        let cache = "$HOME/\(SSHConnector.root)/cache"
        let unique = Dictionary(files.map { ($0.sha, $0.path) }, uniquingKeysWith: { a, _ in a })
        var check = "mkdir -p \"\(cache)\"\ncd \"\(cache)\"\n"
        check += "for s in \(unique.keys.sorted().joined(separator: " ")); do\n"
        check +=
            """
              if [ -f \"$s\" ] && [ \"$(sha256sum \"$s\" | cut -c1-64)\" = \"$s\" ]; then :; else echo \"$s\"; \
            fi\ndone\n
            """
        let missing = try await Shell.run(ssh() + [SSHConnector.remote(check)])
        guard missing.status == 0 else { throw unreachable(missing) }
        for sha in missing.stdout.split(separator: "\n").map(String.init) where !sha.isEmpty {
            guard let path = unique[sha] else { continue }
            var sent = false
            for _ in 0..<3 where !sent {
                let put =
                    "cd \"\(cache)\" && cat > \"\(sha).part.$$\" && h=$(sha256sum \"\(sha).part.$$\" | cut -c1-64) && "
                        + """
                        if [ \"$h\" = \"\(sha)\" ]; then mv -f \"\(sha).part.$$\" \"\(sha)\"; echo ok; else rm -f \
                        \"\(sha).part.$$\"; echo \"mismatch $h\"; fi
                        """
                let r = try await Shell.run(ssh() + [SSHConnector.remote(put)], stdin: path)
                guard r.status == 0 else { throw unreachable(r) }
                sent = r.stdout.hasPrefix("ok")
            }
            if !sent { throw ConnectorError.transfer("`\(path)` arrived corrupted on \(siteName) three times") }
        }
    }

    func unreachable(_ r: Shell.Result) -> ConnectorError {
        ConnectorError.unreachable(
            site: siteName,
            reason: r.stderr.split(separator: "\n").last.map(String.init) ?? "ssh exited with \(r.status)")
    }

    public func fetch(_ launch: TaskLaunch) async throws {
        try await ensureMaster()
        let (work, _) = paths(launch.runID, launch.taskKey)
        let archive = launch.workDirectory + "/../." + UUID().uuidString + ".tar"
        defer { unlink(archive) }
        // The staged inputs stay there: they are here already, and other tasks linking
        // the same cached file meanwhile change its ctime, which tar takes for a change.
        let kept = launch.inputs.map { " --exclude=" + SSHConnector.quote("./" + $0.name) }.joined()
        let r = try await Shell.run(
            ssh() + [SSHConnector.remote("cd \"\(work)\" && tar -cf - --no-wildcards --anchored\(kept) .")],
            stdoutFile: archive)
        guard r.status == 0 else { throw unreachable(r) }
        let x = try await Shell.run(["tar", "--no-same-owner", "-xf", archive, "-C", launch.workDirectory])
        guard x.status == 0 else { throw ConnectorError.transfer("cannot unpack the working directory: \(x.stderr)") }
    }

    public func probe() async -> Bool {
        do {
            try await ensureMaster()
            return try await Shell.run(ssh() + ["true"]).status == 0
        } catch {
            return false
        }
    }

    public func finishRun(_ runID: String, succeeded: Bool) async {
        if succeeded, (try? await ensureMaster()) != nil {
            _ = try? await Shell.run(ssh() + [SSHConnector.remote("rm -rf \"\(runRoot(runID))\"")])
        }
        // The master connection this run opened does not linger after it: it stops taking
        // new sessions and exits once those it carries end (another run's still running
        // tasks keep theirs; that run's next command opens a master of its own).
        if openedMaster.withLock({ $0 }) { _ = try? await Shell.run(ssh(["-O", "stop"]), quiet: true) }
    }

    /// ssh exits with 255 when the connection breaks: the status the task left on the
    /// host says whether it was the task's own. A task whose connection broke is killed
    /// on the host (if it still runs there) and its attempt counts as lost.
    public func recheck(_ launch: TaskLaunch, _ exit: TaskExit) async -> TaskExit {
        guard exit.exitCode == 255 else { return exit }
        let (_, pid) = paths(launch.runID, launch.taskKey)
        do {
            try await ensureMaster()
            let r = try await Shell.run(ssh() + [SSHConnector.remote("cat \"\(pid).exit\" 2>/dev/null || echo none")])
            guard r.status == 0 else { throw unreachable(r) }
            if let code = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) {
                // The task ended by itself, but a status other than 255 means ssh's own 255
                // was the connection breaking: what came back of its standard output may be
                // cut short. A success is then lost (run again), not trusted; a failure
                // stays a failure with the task's own status.
                if code == 0 {
                    return TaskExit(
                        exitCode: nil, signal: nil,
                        message: "the connection to \(host) broke as the task ended; its output may be incomplete",
                        lost: true)
                }
                return TaskExit(exitCode: code, signal: nil, cpuSeconds: exit.cpuSeconds, maxRSS: exit.maxRSS)
            }
            await signalRemote(pidFile: pid, SIGKILL)
            return TaskExit(
                exitCode: nil, signal: nil, message: "the connection to \(host) broke while the task ran", lost: true)
        } catch {
            return TaskExit(
                exitCode: nil, signal: nil, message: "\(host) stopped answering while the task ran", lost: true)
        }
    }

    /// Kills the process groups of a run's tasks that still run on the host.
    public func abandonRun(_ runID: String) async {
        guard (try? await ensureMaster()) != nil else { return }
        let pids = "\(runRoot(runID))/pids"
        _ = try? await Shell.run(
            ssh() + [
                SSHConnector.remote(
                    """
                    for f in \"\(pids)\"/*; do case \"$f\" in *.exit) continue ;; esac; [ -f \"$f\" ] && kill -9 \
                    -\"$(cat \"$f\")\" 2>/dev/null; rm -f \"$f\"; done; true
                    """
                )
            ])
    }

    /// Sends a signal to a task's remote process group.
    func signalRemote(pidFile: String, _ signal: Int32) async {
        // `kill -SIG -PGID`: dash's kill takes no `--`.
        _ = try? await Shell.run(
            ssh() + [SSHConnector.remote("p=$(cat \"\(pidFile)\" 2>/dev/null) && kill -\(signal) -\"$p\"")])
    }

    /// The SHA-256 of a file, hex.
    public static func sha256(ofFile path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw ConnectorError.transfer("cannot read `\(path)`") }
        defer { try? h.close() }
        var hasher = SHA256()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return Hex.string(hasher.finalize())
    }

}

/// A task running on a remote host: the local `ssh` process carries its output and
/// exit status; signals go to the remote process group.
final class RemoteTask: RunningTask {
    let process: any RunningTask
    let connector: SSHConnector
    let pidFile: String

    init(process: any RunningTask, connector: SSHConnector, pidFile: String) {
        self.process = process
        self.connector = connector
        self.pidFile = pidFile
    }

    var handle: TaskHandle {
        guard case .process(let pid, let start) = process.handle else { return process.handle }
        return .remote(client: pid, clientStart: start)
    }

    func wait() async -> TaskExit { await process.wait() }

    func signal(_ signal: Int32) {
        let (connector, pidFile, process) = (self.connector, self.pidFile, self.process)
        Task.detached {
            await connector.signalRemote(pidFile: pidFile, signal)
            if signal == SIGKILL { process.signal(SIGKILL) }
        }
    }
}

/// Helper commands (not tasks): run, wait, capture.
enum Shell {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `argv`; standard input from the file `stdin`, or the bytes `input`.
    static func run(
        _ argv: [String], stdin: String? = nil, input: [UInt8]? = nil, stdoutFile: String? = nil, quiet: Bool = false
    ) async throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let err = Pipe()
        let out = Pipe()
        if quiet {
            // Nothing to read: a process that lingers (an ssh master) holds no pipe of ours.
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            p.standardInput = FileHandle.nullDevice
            try p.run()
            return await withCheckedContinuation { c in
                Thread.detachNewThread {
                    p.waitUntilExit()
                    c.resume(returning: Result(status: p.terminationStatus, stdout: "", stderr: ""))
                }
            }
        }
        p.standardError = err
        if let stdoutFile {
            _ = FileManager.default.createFile(atPath: stdoutFile, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: stdoutFile)
        } else {
            p.standardOutput = out
        }
        let feed = input.map { _ in Pipe() }
        p.standardInput = feed ?? stdin.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { _ in }
            do {
                try p.run()
            } catch {
                c.resume(throwing: error)
                return
            }
            if let feed, let input {
                Thread.detachNewThread {
                    // A shell that stopped reading (it failed) must not stop us: EPIPE is ignored.
                    try? feed.fileHandleForWriting.write(contentsOf: Data(input))
                    try? feed.fileHandleForWriting.close()
                }
            }
            Thread.detachNewThread {
                let o = stdoutFile == nil ? out.fileHandleForReading.readDataToEndOfFile() : Data()
                let e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                c.resume(
                    returning: Result(
                        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                        stderr: String(decoding: e, as: UTF8.self)))
            }
        }
    }
}

/// Where a private key kept as a secret comes from, and who it belongs to.
public struct PrivateKeySource: Sendable {
    /// Whose key it is (their runs only use it): names the master connection.
    public var owner: String
    /// A private directory (0700) for the moment the key is on disk: while the master
    /// connection authenticates, then it is removed.
    public var directory: String
    /// Opens the key (from the sealed store).
    public var open: @Sendable () async throws -> String

    /// A key source.
    public init(owner: String, directory: String, open: @escaping @Sendable () async throws -> String) {
        self.owner = owner
        self.directory = directory
        self.open = open
    }
}

/// Bytes as lowercase hex.
public enum Hex {
    /// `bytes` (a digest, random bytes) as lowercase hex.
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        // Not String(format:) per byte: a task's fingerprint is made on the way to its
        // start, and formatting costs microseconds a byte.
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}
