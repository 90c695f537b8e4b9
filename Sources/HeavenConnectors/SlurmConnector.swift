import Foundation
public import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs tasks as jobs of a Slurm cluster, with the cluster's own commands (`sbatch`,
/// `squeue`, `sinfo`, `scancel`) — on this machine, or on the cluster's login host
/// through an SSH connector (`via`).
///
/// - Each task becomes a batch job with its cores (`--cpus-per-task`), memory (`--mem`)
///   and time limit (`--time`, a little beyond the engine's own timeout). Tasks that
///   become ready together with the same shape (a `foreach`'s items, the branches of a
///   `parallel`) are submitted as one job array: one `sbatch` for up to 1,000 tasks.
/// - One poll per site reads every job's state (`squeue`), the partition's nodes
///   (`sinfo`) and the exit statuses the jobs wrote: one command per poll, not one per
///   task. The poll comes every 50 ms while things change and slows to a second when
///   nothing does.
/// - Slurm's failure states become task states: `TIMEOUT` a timed-out attempt,
///   `OUT_OF_MEMORY` a failed one (both retried as the task says); `NODE_FAIL`,
///   `PREEMPTED` and `BOOT_FAIL` a lost attempt, run again without using up a retry.
///   Jobs are submitted with `--no-requeue`: Heaven, not Slurm, decides where a lost
///   task runs again.
/// - When no node of the partition answers any more, or the controller stops
///   answering for 15 seconds, every job of the site is cancelled and reported lost,
///   so the broker can move the work elsewhere.
///
/// Without `via`, jobs work in the run's own directories: `$HEAVEN_HOME` must be on a
/// file system the compute nodes share (as home directories on clusters are). With
/// `via`, files travel as for an SSH site and the jobs work under `~/.heaven` on the
/// login host's (shared) home.
public final class SlurmConnector: Connector, SiteProbing, RunHousekeeping {
    public let siteName: String
    let partition: String?
    let account: String?
    let config: String?
    let via: SSHConnector?
    let cores: Int
    let memory: Double
    /// How long the controller may stay silent before the site's jobs count as lost.
    let silenceLimit: Double

    /// A connector for a Slurm site (`key`, `account`, `salt`: for its login host, as for an SSH site).
    public init(site: Site, key: SSHConnector.KeySource? = nil, account: String? = nil, salt: String = "") throws {
        guard case .slurm(let partition, let account, let via, let config) = site.connector else {
            throw ConnectorError.unsupported("site `\(site.name)` is not a slurm site")
        }
        self.siteName = site.name
        self.partition = partition
        self.account = account
        self.config = config.map { ($0 as NSString).expandingTildeInPath }
        self.via = try via.map {
            try SSHConnector(
                site: Site(name: site.name, connector: $0, nodes: site.nodes, location: site.location), key: key,
                account: account, salt: salt)
        }
        self.cores = max(1, site.totalCores)
        self.memory = site.totalMemory
        self.silenceLimit = ProcessInfo.processInfo.environment["HEAVEN_SLURM_SILENCE"].flatMap(Double.init) ?? 15
    }

    /// Without a login host, jobs are submitted from this process's account.
    public var taskAccount: TaskAccount { via == nil ? .thisProcessElsewhere : .siteAccount }

    public func capacity() async throws -> SiteCapacity {
        SiteCapacity(cores: cores, memory: memory > 0 ? memory : .infinity)
    }

    // MARK: Running shell scripts where the Slurm commands are

    /// Runs a POSIX shell script on this machine or on the login host. The script goes
    /// on the shell's standard input, not its command line: it may carry a job's secrets
    /// into their 0600 file, and a command line is visible to every user of the host.
    func shell(_ script: String) async throws -> Shell.Result {
        var full = ""
        if let config { full += "SLURM_CONF=\(SlurmConnector.dq(config)); export SLURM_CONF\n" }
        full += script
        if let via {
            try await via.ensureMaster()
            return try await Shell.run(via.ssh() + ["umask 077; exec /bin/sh -s"], input: Array(full.utf8))
        }
        return try await Shell.run(["/bin/sh", "-s"], input: Array(full.utf8))
    }

    /// `s` inside double quotes.
    static func dq(_ s: String) -> String {
        var out = "\""
        for c in s {
            if c == "\"" || c == "$" || c == "`" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }

    // MARK: Submission

    /// Where one attempt's files are, as shell words (double-quoted; `$HOME` expands on a login host).
    struct Files {
        var work: String
        var out: String
        var err: String?
        var exit: String
        var script: String
        var directory: String
        /// The 0600 file holding the task's secrets until the job starts and removes it.
        var secrets: String?
    }

    func files(_ launch: TaskLaunch, job: String) -> Files {
        let flat = TaskLaunch.flat(launch.taskKey)
        let name = "\(flat).\(launch.attempt)"
        if via != nil {
            let base =
                "\"$HOME\"/\(SSHConnector.root)/runs/"
                + SlurmConnector.dq(SSHConnector.remoteName(launch.runID, salt: via?.salt ?? ""))
            let dir = base + "/slurm"
            let separate = launch.stdoutPath != launch.stderrPath
            return Files(
                work: base + "/work/" + SlurmConnector.dq(flat), out: dir + "/" + SlurmConnector.dq(name + ".out"),
                err: separate ? dir + "/" + SlurmConnector.dq(name + ".err") : nil,
                exit: dir + "/" + SlurmConnector.dq(name + ".exit"), script: dir + "/" + SlurmConnector.dq(job + ".sh"),
                directory: dir, secrets: launch.secrets.isEmpty ? nil : dir + "/" + SlurmConnector.dq(name + ".secrets")
            )
        }
        let runRoot = ((launch.workDirectory as NSString).deletingLastPathComponent as NSString)
            .deletingLastPathComponent
        let dir = runRoot + "/slurm"
        return Files(
            work: SlurmConnector.dq(launch.workDirectory), out: SlurmConnector.dq(launch.stdoutPath),
            err: launch.stdoutPath != launch.stderrPath ? SlurmConnector.dq(launch.stderrPath) : nil,
            exit: SlurmConnector.dq(dir + "/" + name + ".exit"), script: SlurmConnector.dq(dir + "/" + job + ".sh"),
            directory: SlurmConnector.dq(dir),
            secrets: launch.secrets.isEmpty ? nil : SlurmConnector.dq(dir + "/" + name + ".secrets"))
    }

    struct Pending {
        var launch: TaskLaunch
        var continuation: CheckedContinuation<any RunningTask, any Error>
    }

    private let queue = Mutex<(pending: [Pending], submitting: Bool)>(([], false))

    public func start(_ launch: TaskLaunch) async throws -> any RunningTask {
        if launch.isolation == .sandbox {
            throw ConnectorError.unsupported("`isolation: sandbox` is not available on the Slurm site `\(siteName)`")
        }
        return try await withCheckedThrowingContinuation { c in
            let begin = queue.withLock { q -> Bool in
                q.pending.append(Pending(launch: launch, continuation: c))
                if q.submitting { return false }
                q.submitting = true
                return true
            }
            if begin { Task.detached { await self.submitLoop() } }
        }
    }

    /// Submits what waits, in batches: tasks that arrive while a submission is under
    /// way go together in the next one.
    func submitLoop() async {
        try? await Task.sleep(for: .milliseconds(5))
        while true {
            let batch = queue.withLock { q -> [Pending] in
                let b = q.pending
                q.pending = []
                if b.isEmpty { q.submitting = false }
                return b
            }
            if batch.isEmpty { return }
            let groups = Dictionary(grouping: batch) { p in
                let limit = p.launch.timeLimit.map { SlurmConnector.duration($0) } ?? ""
                return "\(p.launch.cores)/\(SlurmConnector.megabytes(p.launch.memory))/\(limit)/\(p.launch.runID)"
            }
            for group in groups.values.sorted(by: { $0[0].launch.taskKey < $1[0].launch.taskKey }) {
                var rest = group[...]
                while !rest.isEmpty {
                    let chunk = Array(rest.prefix(1000))
                    rest = rest.dropFirst(chunk.count)
                    await submit(chunk)
                }
            }
        }
    }

    static func megabytes(_ bytes: Double) -> Int { bytes > 0 ? Int((bytes / 1_048_576).rounded(.up)) : 0 }

    /// A time limit as Slurm writes it (H:MM:SS), 30 seconds beyond the engine's.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up)) + 30
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }

    /// One `sbatch` for a group of same-shaped tasks (a job array when there are several).
    func submit(_ group: [Pending]) async {
        let tag = UUID().uuidString.prefix(8).lowercased()
        let launches = group.map(\.launch)
        let all = launches.map { files($0, job: "job-\(tag)") }
        do {
            // Each input file is hashed once: it names the file in the host's cache.
            var sha: [String: String] = [:]
            if let via {
                try await via.ensureMaster()
                for l in launches {
                    for i in l.inputs where sha[i.path] == nil { sha[i.path] = try SSHConnector.sha256(ofFile: i.path) }
                }
                try await via.send(sha.map { ($0.key, $0.value) })
            }
            var script = "set -e\nmkdir -p \(all[0].directory)\n"
            for (l, f) in zip(launches, all) {
                script += "rm -f \(f.exit)\n"
                if let secrets = f.secrets {
                    let delimiter = "HEAVEN_SECRETS_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
                    script += "(umask 077; rm -f \(secrets); cat > \(secrets) <<'\(delimiter)'\n"
                    script += String(decoding: SSHConnector.secretLines(l.secrets), as: UTF8.self) + "\(delimiter)\n)\n"
                }
                if via != nil {
                    script += "rm -rf \(f.work)\nmkdir -p \(f.work)\n"
                    for i in l.inputs {
                        script +=
                            """
                            ln -f \"$HOME\"/\(SSHConnector.root)/cache/\(sha[i.path] ?? "") \
                            \(f.work)/\(SSHConnector.quote(i.name))\n
                            """
                    }
                }
            }
            let delimiter = "HEAVEN_JOB_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
            script += "cat > \(all[0].script) <<'\(delimiter)'\n#!/bin/sh\n"
            if group.count == 1 {
                script += body(launches[0], all[0])
            } else {
                script += "case \"$SLURM_ARRAY_TASK_ID\" in\n"
                for (k, (l, f)) in zip(launches, all).enumerated() {
                    script += "\(k))\n" + body(l, f) + ";;\n"
                }
                script += "esac\n"
            }
            script += "\(delimiter)\n"
            let first = launches[0]
            var options = [
                "--parsable", "--job-name=heaven-\(first.runID)", "--no-requeue", "--output=/dev/null",
                "--error=/dev/null", "--cpus-per-task=\(max(1, first.cores))",
            ]
            if SlurmConnector.megabytes(first.memory) > 0 {
                options.append("--mem=\(SlurmConnector.megabytes(first.memory))M")
            }
            if let t = first.timeLimit { options.append("--time=\(SlurmConnector.duration(t))") }
            if let partition { options.append("--partition=\(partition)") }
            if let account { options.append("--account=\(account)") }
            if group.count > 1 { options.append("--array=0-\(group.count - 1)") }
            script +=
                "cd \(all[0].directory)\nsbatch " + options.map(SSHConnector.quote).joined(separator: " ")
                + " \(all[0].script)\n"
            let r = try await shell(script)
            guard r.status == 0, let id = r.stdout.split(whereSeparator: \.isNewline).last?.split(separator: ";").first,
                Int(id) != nil
            else {
                if r.status == 255, via != nil {
                    throw ConnectorError.unreachable(site: siteName, reason: SlurmConnector.lastLine(r.stderr))
                }
                throw ConnectorError.unsupported(
                    "sbatch on \(siteName) refused the job: \(SlurmConnector.lastLine(r.stderr + r.stdout))")
            }
            var tasks: [SlurmTask] = []
            for (k, (l, f)) in zip(launches, all).enumerated() {
                let jobID = group.count == 1 ? String(id) : "\(id)_\(k)"
                tasks.append(SlurmTask(connector: self, job: jobID, base: String(id), launch: l, files: f))
            }
            track(tasks)
            for (p, t) in zip(group, tasks) { p.continuation.resume(returning: t) }
        } catch {
            await removeSecrets(all)
            for p in group { p.continuation.resume(throwing: error) }
        }
    }

    /// The job script's part for one task: into its working directory, its environment,
    /// its program; then the exit status, written last.
    func body(_ launch: TaskLaunch, _ f: Files) -> String {
        var s = "(\n"
        if let secrets = f.secrets {
            // Read, then removed, before anything of the task runs.
            s += "  " + SSHConnector.readSecrets(from: secrets) + "\n  rm -f \(secrets)\n"
        }
        s += "  cd \(f.work) || exit 127\n"
        for (k, v) in launch.environment.sorted(by: { $0.key < $1.key }) where k != "HEAVEN_WORKDIR" {
            s += "  \(k)=\(SSHConnector.quote(v)); export \(k)\n"
        }
        s += "  HEAVEN_WORKDIR=\"$PWD\"; export HEAVEN_WORKDIR\n"
        var argv = launch.arguments
        if via == nil, let program = argv.first, program.contains("/"), !program.hasPrefix("/") {
            argv[0] = launch.baseDirectory + "/" + program
        }
        s += "  exec " + argv.map(SSHConnector.quote).joined(separator: " ") + "\n"
        s += ") >\(f.out) " + (f.err.map { "2>\($0)" } ?? "2>&1") + " </dev/null\n"
        s += "echo $? > \(f.exit).part && mv -f \(f.exit).part \(f.exit)\n"
        return s
    }

    /// Removes the secrets files of jobs that ended without starting (or whose submission failed).
    func removeSecrets(_ files: [Files]) async {
        let paths = files.compactMap(\.secrets)
        guard !paths.isEmpty else { return }
        _ = try? await shell("rm -f " + paths.joined(separator: " ") + "\n")
    }

    static func lastLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).last.map(String.init) ?? "no message"
    }

    // MARK: Watching jobs

    struct Watch {
        var active: [String: SlurmTask] = [:]
        var polling = false
        var changed = true
    }

    private let watch = Mutex(Watch())

    func track(_ tasks: [SlurmTask]) {
        let begin = watch.withLock { w -> Bool in
            for t in tasks { w.active[t.job] = t }
            w.changed = true
            if w.polling { return false }
            w.polling = true
            return true
        }
        if begin { Task.detached { await self.pollLoop() } }
    }

    func untrack(_ job: String) { _ = watch.withLock { $0.active.removeValue(forKey: job) } }

    func pollLoop() async {
        var interval = 0.05
        var silentSince: Date?
        while true {
            let tasks = watch.withLock { w -> [SlurmTask] in
                if w.active.isEmpty { w.polling = false }
                if w.changed { interval = 0.05 }
                w.changed = false
                return Array(w.active.values)
            }
            if tasks.isEmpty { return }
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            let changed = await poll(tasks, silentSince: &silentSince)
            interval = changed ? 0.05 : min(1.0, interval * 1.5)
        }
    }

    static let running: Set<String> = [
        "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
        "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD",
    ]

    /// One look at the site: returns whether any job ended.
    func poll(_ tasks: [SlurmTask], silentSince: inout Date?) async -> Bool {
        let bases = Set(tasks.map(\.base)).sorted()
        var script = "squeue -h -r -t all -j \(bases.joined(separator: ",")) -o '%i|%T|%r' 2>&1; echo \"@rc $?\"\n"
        script += "echo @sinfo; \(sinfo) 2>&1; echo \"@rc $?\"\n"
        script += "echo @exit\n"
        for t in tasks { script += "[ -f \(t.files.exit) ] && echo \"\(t.job) $(cat \(t.files.exit))\"\n" }
        script += "true\n"
        let result = try? await shell(script)
        var states: [String: (state: String, reason: String)] = [:]
        var exits: [String: Int32] = [:]
        var nodes: [String] = []
        var squeueOK = false
        var sinfoOK = false
        var section = "squeue"
        var failure = ""
        for line in (result?.stdout ?? "").split(whereSeparator: \.isNewline).map(String.init) {
            if line.hasPrefix("@rc ") {
                let ok = line == "@rc 0"
                if section == "squeue" { squeueOK = ok } else if section == "sinfo" { sinfoOK = ok }
                continue
            }
            if line == "@sinfo" || line == "@exit" {
                section = String(line.dropFirst())
                continue
            }
            switch section {
            case "squeue":
                let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                if parts.count >= 3 {
                    states[parts[0]] = (parts[1], parts[2])
                } else if line.contains("Invalid job id") {
                    squeueOK = true  // jobs Slurm has forgotten: their exit files tell
                } else {
                    failure = line
                }
            case "sinfo":
                if sinfoOK || !line.contains(" ") { nodes.append(line) } else { failure = line }
            default:
                let parts = line.split(separator: " ")
                if parts.count == 2, let code = Int32(parts[1]) { exits[String(parts[0])] = code }
            }
        }
        if result == nil || result?.status != 0 || !squeueOK || !sinfoOK {
            // The controller (or the login host) does not answer.
            let since = silentSince ?? Date()
            silentSince = since
            if Date().timeIntervalSince(since) >= silenceLimit {
                let why = failure.isEmpty ? SlurmConnector.lastLine(result?.stderr ?? "no answer") : failure
                await abandon(tasks, "the Slurm controller of \(siteName) does not answer: \(why)")
                return true
            }
            for t in tasks { if let code = exits[t.job] { t.resolve(code: code) } }
            return !exits.isEmpty
        }
        silentSince = nil
        if !nodes.isEmpty, !nodes.contains(where: SlurmConnector.usable) {
            await abandon(
                tasks,
                """
                no node of \(partition.map { "partition \($0)" } ?? "the cluster") on \(siteName) answers \
                (states: \(Set(nodes).sorted().joined(separator: ", ")))
                """
            )
            return true
        }
        var changed = false
        for t in tasks {
            if let code = exits[t.job] {
                t.resolve(code: code)
                changed = true
            } else if let s = states[t.job] {
                t.misses = 0
                if !SlurmConnector.running.contains(s.state) {
                    t.resolve(state: s.state, reason: s.reason)
                    changed = true
                }
            } else {
                t.misses += 1
                if t.misses >= 3 {
                    t.finish(
                        TaskExit(exitCode: nil, signal: nil, message: "Slurm no longer knows job \(t.job)", lost: true))
                    changed = true
                }
            }
        }
        return changed
    }

    /// The states of the partition's nodes, one per line.
    var sinfo: String { "sinfo -h \(partition.map { "-p " + SSHConnector.quote($0) } ?? "") -o '%t'" }

    /// Whether a node in this `sinfo` state can run jobs.
    static func usable(_ state: String) -> Bool {
        if state.contains(where: { "*~#%!".contains($0) }) { return false }
        let base = state.trimmingCharacters(in: CharacterSet(charactersIn: "$@^-+"))
        return ["idle", "mix", "alloc", "comp", "resv", "plnd", "npc", "drng"].contains(base)
    }

    /// Cancels jobs the site can no longer run and reports them lost.
    func abandon(_ tasks: [SlurmTask], _ reason: String) async {
        let ids = tasks.map(\.job)
        _ = try? await shell("scancel \(ids.joined(separator: " ")) 2>/dev/null; true")
        for t in tasks { t.finish(TaskExit(exitCode: nil, signal: nil, message: reason, lost: true)) }
    }

    /// Cancels a job: SIGTERM ends it as Slurm does (SIGTERM, then SIGKILL after the
    /// cluster's KillWait); other signals go to every process of the job.
    func cancel(_ job: String, signal: Int32) async {
        let command = signal == SIGTERM ? "scancel \(job)" : "scancel --full -s \(signal) \(job)"
        _ = try? await shell(command + " 2>/dev/null; true")
    }

    /// Brings a remote job's logs home (a local job wrote them in place).
    func fetchLogs(_ t: SlurmTask) async {
        guard let via else { return }
        _ = try? await Shell.run(
            via.ssh() + [SSHConnector.remote("cat \(t.files.out) 2>/dev/null")], stdoutFile: t.launch.stdoutPath)
        if let err = t.files.err {
            _ = try? await Shell.run(
                via.ssh() + [SSHConnector.remote("cat \(err) 2>/dev/null")], stdoutFile: t.launch.stderrPath)
        }
    }

    /// Brings a job's working directory back from the login host (with `via`).
    func fetch(_ launch: TaskLaunch) async throws { try await via?.fetch(launch) }

    public func probe() async -> Bool {
        guard let r = try? await shell(sinfo),
            r.status == 0
        else { return false }
        return r.stdout.split(whereSeparator: \.isNewline).map(String.init).contains(where: SlurmConnector.usable)
    }

    public func finishRun(_ runID: String, succeeded: Bool) async {
        await via?.finishRun(runID, succeeded: succeeded)
    }

    /// Cancels every job a run left behind (after the process driving it died).
    public func abandonRun(_ runID: String) async {
        _ = try? await shell("scancel --name=\(SSHConnector.quote("heaven-" + runID)) 2>/dev/null; true")
    }
}

/// A Slurm cluster reached through its login host (`via`): its jobs' files travel as
/// an SSH site's do.
public struct SlurmThroughLoginHost: Connector, RemoteStaging, SiteProbing, RunHousekeeping {
    /// The cluster's connector (with its login host).
    public let slurm: SlurmConnector

    /// A connector for a Slurm site with `via` (refused without).
    public init(_ slurm: SlurmConnector) throws {
        guard slurm.via != nil else {
            throw ConnectorError.unsupported("site `\(slurm.siteName)` has no login host (`via`)")
        }
        self.slurm = slurm
    }

    public var siteName: String { slurm.siteName }
    public var taskAccount: TaskAccount { slurm.taskAccount }
    public func capacity() async throws -> SiteCapacity { try await slurm.capacity() }
    public func start(_ launch: TaskLaunch) async throws -> any RunningTask { try await slurm.start(launch) }
    public func fetch(_ launch: TaskLaunch) async throws { try await slurm.fetch(launch) }
    public func probe() async -> Bool { await slurm.probe() }
    public func finishRun(_ runID: String, succeeded: Bool) async { await slurm.finishRun(runID, succeeded: succeeded) }
    public func abandonRun(_ runID: String) async { await slurm.abandonRun(runID) }
}

/// A task running as a Slurm job (or one element of a job array).
final class SlurmTask: RunningTask, @unchecked Sendable {
    // @unchecked: `misses` is touched only by the connector's single poll loop; the
    // rest is constant or behind `state`.
    let connector: SlurmConnector
    let job: String
    let base: String
    let launch: TaskLaunch
    let files: SlurmConnector.Files
    var misses = 0
    private let exit = ExitLatch()
    /// The signal Heaven sent (SIGKILL wins), to tell a cancellation from a failure.
    private let sent = Mutex<Int32?>(nil)

    init(connector: SlurmConnector, job: String, base: String, launch: TaskLaunch, files: SlurmConnector.Files) {
        self.connector = connector
        self.job = job
        self.base = base
        self.launch = launch
        self.files = files
    }

    var handle: TaskHandle { .job(job) }

    func wait() async -> TaskExit { await exit.wait() }

    func signal(_ signal: Int32) {
        guard exit.value == nil else { return }
        sent.withLock { s in if s == nil || signal == SIGKILL { s = signal } }
        Task.detached { await self.connector.cancel(self.job, signal: signal) }
    }

    /// The job wrote its exit status.
    func resolve(code: Int32) {
        let sent = self.sent.withLock { $0 }
        if code > 128, code <= 128 + 64 {
            finish(TaskExit(exitCode: nil, signal: code - 128))
        } else if let sent, code != 0 {
            finish(TaskExit(exitCode: nil, signal: sent))
        } else {
            finish(TaskExit(exitCode: code, signal: nil))
        }
    }

    /// The job ended in a state of Slurm's without an exit status of its own.
    func resolve(state slurmState: String, reason: String) {
        let why = reason == "None" || reason.isEmpty ? "" : ", \(reason)"
        let sent = self.sent.withLock { $0 }
        switch slurmState {
        case "COMPLETED": finish(TaskExit(exitCode: 0, signal: nil))
        case "CANCELLED" where sent != nil: finish(TaskExit(exitCode: nil, signal: sent))
        case "TIMEOUT":
            finish(
                TaskExit(
                    exitCode: nil, signal: nil, message: "Slurm's time limit was reached (TIMEOUT)", timedOut: true))
        case "OUT_OF_MEMORY":
            finish(TaskExit(exitCode: nil, signal: nil, message: "ran out of memory (Slurm: OUT_OF_MEMORY\(why))"))
        case "NODE_FAIL", "PREEMPTED", "BOOT_FAIL":
            finish(TaskExit(exitCode: nil, signal: nil, message: "Slurm: \(slurmState)\(why)", lost: true))
        default:
            finish(TaskExit(exitCode: nil, signal: nil, message: "Slurm ended the job: \(slurmState)\(why)"))
        }
    }

    func finish(_ exit: TaskExit) {
        connector.untrack(job)
        Task.detached {
            await self.connector.removeSecrets([self.files])
            await self.connector.fetchLogs(self)
            self.exit.set(exit)
        }
    }
}
