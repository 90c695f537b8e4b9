import Foundation
import HeavenBroker
import HeavenConnectors
import HeavenCore
import HeavenModel
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one task instance: reuse of a result recorded before a resume, slot,
/// working directory, staging, attempts with retries and backoff, timeout, and
/// collection of typed outputs. Every transition is recorded before it is acted upon.
struct TaskExecutor {
    let context: RunContext
    let workflow: Workflow

    /// Relative program paths (`./bin/x`) are resolved from the directory of the file
    /// that defines the workflow.
    var programDirectory: String { context.programDirectory(of: workflow.location.file) }

    func execute(_ task: TaskStep, key: String, scope: Scope) async throws -> [String: Value] {
        if let done = context.plan.completed[key] {
            context.count { $0.reused += 1 }
            return done
        }
        try context.checkRunning()
        switch try await instance(of: task, key: key, scope: scope) {
        case .reused(let outputs):
            context.count { $0.reused += 1 }
            return outputs
        case .ready(let instance, let request):
            return try await attempts(of: instance, request)
        }
    }

    /// A task instance made ready to run (its files, argv, environment, fingerprint and
    /// confinement decided once), or its result reused from the run it resumes.
    enum Readiness {
        case reused([String: Value])
        case ready(TaskInstance, SlotPool.Request)
    }

    func instance(of task: TaskStep, key: String, scope: Scope) async throws -> Readiness {
        let layout = RunLayout(root: context.plan.runDirectory)
        let work = layout.workDirectory(key)
        let staged = try stagePlan(task, scope: scope)
        let renderer = ArgumentRenderer(staged: staged.byPath)
        let arguments = try renderer.render(task.command, scope: scope, workflow: workflow)
        var environment: [String: String] = [:]
        for (name, t) in task.environment { environment[name] = try renderer.text(t, scope: scope) }
        let machine = task.on.flatMap { on in context.plan.topology?.machines.first { $0.name == on } }
        let request = SlotPool.Request(
            machine: context.plan.topology == nil ? nil : task.on, cores: task.resources.cores ?? 1,
            memory: task.resources.memory ?? 0)
        if let why = context.slots.impossible(request) {
            throw EngineError.evaluation("task `\(task.name)` \(why)", at: task.location)
        }
        // On a server, a fingerprint reads the run's files through the sandbox helper (a
        // round trip per file): off the concurrency pool. Here, as it is (local reads).
        let me = self
        let fingerprint =
            context.plan.confined
            ? try await TenantFiles.offPool { try me.fingerprint(task, scope: scope, staged: staged, request: request) }
            : try me.fingerprint(task, scope: scope, staged: staged, request: request)
        if let fingerprint, context.plan.reusesRun != nil,
            let outputs = try await reuse(task, key: key, fingerprint: fingerprint, work: work)
        {
            return .reused(outputs)
        }
        let decision = ConfinementDecision(
            task: task, workflow: workflow, asksNetwork: machine?.network ?? false,
            facts: ConfinementDecision.Facts(
                confined: context.plan.confined, tenantConfined: context.plan.confinement != nil,
                mayOptOut: context.plan.mayOptOut, sandboxAvailable: TaskSandbox.isAvailable,
                hostNetwork: context.plan.mayOptOut || context.plan.tenantsHaveNetwork,
                tenantsGoOutbound: context.plan.tenantsGoOutbound))
        let instance = TaskInstance(
            task: task, key: key, layout: layout, work: work, staging: staged, arguments: arguments,
            environment: environment, decision: decision,
            confinement: decision.asTenant ? context.plan.confinement : nil,
            disk: machine?.disk ?? 0, scope: scope, fingerprint: fingerprint)
        return .ready(instance, request)
    }

    /// Where a task instance's attempts stand between two of them.
    struct Attempts {
        /// The number of the last attempt (counting those of the run it resumes).
        var number: Int
        /// Retries used up (a lost site uses none).
        var retries = 0
        var lostToSites = 0
        /// The machine's instances that refused the start since the last wait for room.
        var refused = Set<Int>()
        /// Whether the wait for room was told (once).
        var announced = false
        /// The working directory, made before the slot is taken; nil: to make.
        var preparation: Result<Void, PreparationError>?
        /// Since when the next attempt has waited for a slot (refused starts included).
        var queuedAt: Date?
    }

    /// Its attempts, one after another, until one succeeds: a refused start waits for
    /// room, a failure is retried after its backoff, a lost site's attempt runs again.
    func attempts(of instance: TaskInstance, _ request: SlotPool.Request) async throws -> [String: Value] {
        var state = Attempts(number: context.plan.previousAttempts[instance.key] ?? 0)
        let instances = context.slots.instanceCount(request.machine)
        while true {
            state.number += 1
            try context.checkRunning()
            // Ends of attempts seen so far: a refused start waits for the next one.
            let capacitySeen = context.stores.changes.generation(of: .capacity)
            var request = request
            request.excluding = state.refused
            if state.preparation == nil { state.preparation = try await prepareWork(instance, attempt: state.number) }
            if state.queuedAt == nil { state.queuedAt = Date() }
            let slot = try await acquire(request)
            let outcome = try await runAttempt(
                instance, number: state.number, slot: slot, preparation: state.preparation!, queuedAt: state.queuedAt)
            if case .refused(let reason) = outcome {
                // The node or grant is full with other runs' work, or the grant is used up:
                // try the machine's other instances, then wait and try again.
                state.number -= 1
                state.refused.insert(slot.position)
                if state.refused.count >= instances {
                    await waitForRoom(instance, &state, reason: reason, after: capacitySeen)
                }
                continue
            }
            state.preparation = nil
            state.queuedAt = nil
            if let outputs = try await next(after: outcome, instance, &state) { return outputs }
        }
    }

    /// Its working directory and staged files (a tenant's made through the sandbox
    /// helper, a round trip each, off the concurrency pool).
    func prepareWork(_ instance: TaskInstance, attempt: Int) async throws -> Result<Void, PreparationError> {
        let preparation: Result<Void, PreparationError>
        if let confinement = instance.confinement {
            let (me, work, files) = (self, instance.work, instance.staging.files)
            preparation = try await TenantFiles.offPool { me.prepare(work, staged: files, confinement: confinement) }
        } else {
            preparation = prepare(instance.work, staged: instance.staging.files, confinement: nil)
        }
        // An empty log left by an ended attempt takes this attempt's log name.
        let logs = instance.layout.logs(instance.key, attempt: attempt, apart: instance.task.readsStandardOutput)
        for path in Set([logs.stdout, logs.stderr]) { context.files.reuseLog(as: path) }
        return preparation
    }

    /// A slot of the run's machines (counted as waiting meanwhile).
    func acquire(_ request: SlotPool.Request) async throws -> SlotPool.Slot {
        context.count { $0.waiting += 1 }
        defer { context.count { $0.waiting -= 1 } }
        let readyAt = DispatchTime.now().uptimeNanoseconds
        let slot = try await context.slots.acquire(request)
        EngineMetrics.waited(since: readyAt)
        return slot
    }

    /// Every instance of its machine refused the start: it waits (told once) until an
    /// attempt ends here; other processes' ends (and a stop of this run) are noticed
    /// within a second.
    func waitForRoom(_ instance: TaskInstance, _ state: inout Attempts, reason: String, after seen: UInt64) async {
        state.refused = []
        context.count { $0.waitingFor = reason }
        if !state.announced {
            state.announced = true
            await context.event(.waiting(task: instance.key, reason: reason))
        }
        await context.stores.changes.waitForChange(of: .capacity, after: seen, timeout: .seconds(1))
    }

    /// What follows an attempt that ran (or failed to): its outputs when it succeeded;
    /// nil after the backoff of a retry, or at once after a lost site's attempt; an
    /// error when the run stops or the task failed for good.
    func next(after outcome: AttemptOutcome, _ instance: TaskInstance, _ state: inout Attempts) async throws
        -> [String: Value]?
    {
        let task = instance.task
        switch outcome {
        case .refused: return nil
        case .succeeded(let outputs):
            if state.announced { context.count { $0.waitingFor = nil } }
            context.count { $0.succeeded += 1 }
            return outputs
        case .stopped(let message):
            throw EngineError.stopped(message)
        case .siteLost(let message):
            // Not the task's fault: no retry is used up; it runs again where the broker
            // moved its machine (or the run stops if nothing matches).
            state.lostToSites += 1
            if state.lostToSites > 10 { throw EngineError.taskFailed(key: instance.key, message: message) }
            return nil
        case .failed(let message):
            guard state.retries < task.retries.count else {
                throw EngineError.taskFailed(key: instance.key, message: message)
            }
            context.count { $0.retriedAttempts += 1 }
            state.retries += 1
            let delay = task.retries.delay(beforeRetry: state.retries)
            await context.event(
                .retry(
                    task: instance.key, attempt: state.number, failure: message, retry: state.retries,
                    of: task.retries.count, delay: Value.double(delay).argumentText))
            try await context.pause(until: .now + .seconds(delay))
            return nil
        }
    }

    enum AttemptOutcome {
        case refused(String)
        /// The site stopped answering: the attempt is lost, the task goes elsewhere.
        case siteLost(String)
        case succeeded([String: Value])
        case failed(String)
        case stopped(String)
    }

    /// Files to stage in: local name → source path; `byPath` maps a source path to its local name.
    struct Staging {
        var files: [(name: String, source: String)] = []
        var byPath: [String: String] = [:]
    }

    func stagePlan(_ task: TaskStep, scope: Scope) throws -> Staging {
        var plan = Staging()
        for (name, template) in task.inputs {
            let v: Value
            do { v = try template.evaluate(in: scope) } catch {
                throw EngineError.evaluation(error.message, at: template.location)
            }
            let files: [Value] = v.items ?? [v]
            for f in files {
                let path: String
                switch f {
                case .file(let p): path = p
                case .string(let p) where p.hasPrefix("/"): path = p
                default:
                    throw EngineError.evaluation(
                        "task `\(task.name)`: input `\(name)` must be a file, not a \(f.typeName)",
                        at: template.location)
                }
                if context.plan.confined {
                    guard FileRoot.containing(path, in: context.stagingRoots) != nil else {
                        throw EngineError.evaluation(
                            """
                            task `\(task.name)`: input `\(name)` (`\(path)`) is outside the run's files: on a \
                            server, tasks read only files uploaded with the run or made by its tasks
                            """,
                            at: template.location)
                    }
                }
                let local = (name.isEmpty || files.count > 1) ? (path as NSString).lastPathComponent : name
                if plan.files.contains(where: { $0.name == local }) {
                    throw EngineError.evaluation(
                        "task `\(task.name)`: two inputs would be staged as `\(local)`", at: template.location)
                }
                plan.files.append((local, path))
                plan.byPath[path] = local
            }
        }
        return plan
    }

    /// What every attempt of one task instance shares: decided once, before the first.
    struct TaskInstance {
        let task: TaskStep
        let key: String
        let layout: RunLayout
        let work: String
        let staging: Staging
        let arguments: [String]
        let environment: [String: String]
        /// How it is confined and what network it has (each attempt's site adds its part).
        let decision: ConfinementDecision
        /// Its tenant's confinement where it runs as the tenant's uid (nil: it does not).
        let confinement: TaskConfinement?
        /// The bytes its files may take (its machine's `disk`; 0: the operator's default).
        let disk: Double
        let scope: Scope
        /// What it runs, as a digest (nil when a file it names cannot be read yet).
        let fingerprint: String?
    }

    /// One attempt of a task instance in the slot it was given: admitted, started,
    /// watched, ended (its record kept by `AttemptRecorder`, its life by
    /// `AttemptLifecycle`, how it is confined decided by `ConfinementDecision`, how it
    /// ended classified by `AttemptVerdict`).
    func runAttempt(
        _ instance: TaskInstance, number: Int, slot: SlotPool.Slot, preparation: Result<Void, PreparationError>,
        queuedAt: Date?
    ) async throws -> AttemptOutcome {
        var attempt = AttemptRecorder(
            context: context,
            record: AttemptRecord(
                runID: context.plan.runID, taskKey: instance.key, task: instance.task.name, number: number,
                site: slot.site,
                slot: slot.label, workDirectory: instance.work, node: slot.node, cores: slot.cores,
                memory: slot.memory, grant: slot.grant, fingerprint: instance.fingerprint, queuedAt: queuedAt),
            slot: slot)
        if let reason = try await attempt.admit() { return .refused(reason) }
        guard let connector = context.connector(for: slot.site) else {
            let message = "no connector for site `\(slot.site)`"
            try await attempt.finish(.failed, message, passing: false)
            throw EngineError.invalid(message)
        }
        let how: ConfinementDecision.How
        switch instance.decision.on(connector.taskAccount, site: slot.site) {
        case .refused(let message): return try await fail(&attempt, message)
        case .runs(let h): how = h
        }
        if case .failure(let problem) = try reprepared(instance, preparation, how) {
            return try await fail(&attempt, "cannot prepare the working directory: \(problem.message)")
        }
        let launch: TaskLaunch
        do {
            launch = try await self.launch(instance, number: number, slot: slot, connector: connector, how: how)
        } catch {
            return try await fail(&attempt, "\(error)")
        }
        if connector is any RemoteStaging { attempt.queueStartBeforeRemoteStart() }
        let process: any RunningTask
        do {
            process = try await connector.start(launch)
        } catch {
            let message = "\(error)"
            try? message.write(toFile: launch.stderrPath, atomically: false, encoding: .utf8)
            if case ConnectorError.unreachable = error { return try await lose(&attempt, message) }
            return try await fail(&attempt, message)
        }
        let (exit, timerFired) = await watch(process, &attempt, launch: launch, connector: connector, instance)
        // Once the attempt is recorded, its working directory and logs, if empty, are kept
        // for later attempts (no inode to allocate for them), unless an output may name
        // the directory or a process of the task's group still runs (and may write there).
        // Only a local process's group is known (a Slurm job's id is not a process).
        defer {
            if case .process(let pid, _) = process.handle, ProcessProbe.groupGone(pid) {
                context.files.recycle(
                    work: instance.task.mayNameWorkDirectory ? nil : instance.work,
                    logs: [launch.stdoutPath, launch.stderrPath])
            }
        }
        let verdict = AttemptVerdict.of(
            exit, stop: context.stopReason, timerFired: timerFired, timeout: instance.task.timeout)
        return try await conclude(&attempt, verdict, exit: exit, launch: launch, connector: connector, instance)
    }

    /// Records a failure of the attempt before (or without) its process.
    func fail(_ attempt: inout AttemptRecorder, _ message: String) async throws -> AttemptOutcome {
        try await attempt.finish(.failed, message)
        return .failed(message)
    }

    /// The site stopped answering: the attempt is recorded as lost and the site reported.
    func lose(_ attempt: inout AttemptRecorder, _ message: String, exit: TaskExit? = nil) async throws
        -> AttemptOutcome
    {
        try await attempt.finish(.lost, message, exit: exit)
        await context.siteLost(attempt.slot.site, message)
        return .siteLost(message)
    }

    /// A confined instance's directory was made as its tenant's; where the attempt runs
    /// as another account (a site whose jobs are this server's), it is made again as the
    /// server's.
    func reprepared(
        _ instance: TaskInstance, _ preparation: Result<Void, PreparationError>, _ how: ConfinementDecision.How
    ) throws -> Result<Void, PreparationError> {
        guard how.reprepareAsServer, let confinement = instance.confinement else { return preparation }
        try? TaskExecutor.clear(
            instance.work, files: TenantFiles(.tenant(uid: confinement.uid, gid: confinement.gid)),
            root: context.plan.runDirectory)
        return prepare(instance.work, staged: instance.staging.files, confinement: nil)
    }

    /// What the connector is asked to start: the argv, environment (secrets opened last,
    /// into the process's environment only, never a command line), files and bounds.
    func launch(
        _ instance: TaskInstance, number: Int, slot: SlotPool.Slot, connector: any Connector,
        how: ConfinementDecision.How
    ) async throws -> TaskLaunch {
        let task = instance.task
        // Standard output apart only when an output reads it; otherwise one combined
        // log, as a terminal would show it (one file fewer to create per task).
        let (stdoutPath, stderrPath) = instance.layout.logs(
            instance.key, attempt: number, apart: task.readsStandardOutput)
        // A remote task gets every file its arguments name, under its place in the working directory.
        var arguments = instance.arguments
        var env = instance.environment
        var inputs = instance.staging.files.map { (name: $0.name, path: $0.source) }
        if connector is any RemoteStaging {
            let auto = ArgumentRenderer.AutoStage()
            let renderer = ArgumentRenderer(staged: instance.staging.byPath, autoStage: auto)
            arguments = try renderer.render(task.command, scope: instance.scope, workflow: workflow)
            for (name, t) in task.environment { env[name] = try renderer.text(t, scope: instance.scope) }
            inputs += auto.files
        }
        var secretValues: [String: String] = [:]
        for (variable, name) in task.secrets {
            guard let secrets = context.secrets else { throw Secrets.Failure.key("this store keeps no secrets") }
            secretValues[variable] = try await secrets.open(owner: context.plan.user, name: name)
        }
        env["HEAVEN_RUN"] = context.plan.runID
        env["HEAVEN_TASK"] = instance.key
        env["HEAVEN_ATTEMPT"] = String(number)
        env["HEAVEN_WORKDIR"] = instance.work
        env["HEAVEN_CORES"] = String(slot.cores)
        // A sandbox has a private /tmp: files its arguments name there (not staged with
        // `inputs:`) are shown to it, read-only, where they are. (A tenant's confined task
        // reads only its run's own files, and the directories the operator shares.)
        var readable = [context.plan.runDirectory] + (context.plan.confined ? context.plan.shareDirectories : [])
        if how.showsNamedFiles {
            readable += try namedFiles(task, scope: instance.scope, staged: instance.staging).filter {
                !$0.hasPrefix(context.plan.runDirectory + "/")
            }
        }
        var launch = TaskLaunch(
            arguments: arguments, environment: env, workDirectory: instance.work, stdoutPath: stdoutPath,
            stderrPath: stderrPath, baseDirectory: programDirectory, isolation: how.isolation,
            network: how.network != .none, readable: readable, hidden: [context.home.root],
            cpuLimit: task.timeout.map { Int($0.rounded(.up)) * max(1, slot.cores) + 5 })
        launch.inputs = inputs
        launch.secrets = secretValues
        launch.confinement = how.asTenant ? instance.confinement : nil
        launch.outboundOnly = how.network == .outbound
        launch.disk = instance.disk
        launch.runID = context.plan.runID
        launch.taskKey = instance.key
        launch.attempt = number
        launch.cores = slot.cores
        launch.memory = slot.memory
        launch.timeLimit = task.timeout
        return launch
    }

    /// Its process runs until it exits, or its `timeout` (SIGTERM, then SIGKILL after the
    /// grace): the exit as the site finally tells it, and whether the timeout fired.
    func watch(
        _ process: any RunningTask, _ attempt: inout AttemptRecorder, launch: TaskLaunch, connector: any Connector,
        _ instance: TaskInstance
    ) async -> (TaskExit, Bool) {
        let key = instance.key
        context.logger.debug(
            "task started",
            metadata: [
                "run": "\(context.plan.runID)", "task": "\(key)", "attempt": "\(launch.attempt)",
                "handle": "\(process.handle)",
            ])
        EngineMetrics.started()
        if context.register(key, process) { process.signal(SIGTERM) }
        // The attempt's process of this machine (the task's, or its ssh client's) is
        // recorded: if the process driving the run dies, it is found and stopped.
        attempt.running(process.handle.localProcess)
        let fired = Flag()
        let timer: Task<Void, Never>? = instance.task.timeout.map { seconds in
            let grace = context.plan.killGrace
            return Task {
                do {
                    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                    fired.set()
                    process.signal(SIGTERM)
                    try await Task.sleep(for: .milliseconds(Int(grace * 1000)))
                    process.signal(SIGKILL)
                } catch {}
            }
        }
        var exit = await process.wait()
        timer?.cancel()
        if let rechecking = connector as? any ExitRechecking { exit = await rechecking.recheck(launch, exit) }
        context.unregister(key)
        context.logger.debug(
            "task ended",
            metadata: [
                "run": "\(context.plan.runID)", "task": "\(key)", "attempt": "\(launch.attempt)",
                "exit": "\(exit.exitCode.map(String.init) ?? "signal \(exit.signal ?? 0)")",
            ])
        return (exit, fired.isSet)
    }

    /// Records the attempt's end as its verdict says; a success's outputs are fetched (a
    /// remote site's) and collected first.
    func conclude(
        _ attempt: inout AttemptRecorder, _ verdict: AttemptVerdict, exit: TaskExit, launch: TaskLaunch,
        connector: any Connector, _ instance: TaskInstance
    ) async throws -> AttemptOutcome {
        switch verdict {
        case .stopped(let status, let message):
            try await attempt.finish(status, message, exit: exit)
            return .stopped(message)
        case .lost(let message):
            // The site ended the attempt; the site itself is reported only if it no
            // longer answers.
            guard await (connector as? any SiteProbing)?.probe() ?? true else {
                return try await lose(&attempt, message)
            }
            try await attempt.finish(.lost, message, exit: exit)
            await context.event(.lost(task: instance.key, attempt: launch.attempt, reason: message))
            return .siteLost(message)
        case .timedOut(let message):
            try await attempt.finish(.timedOut, message, exit: exit)
            return .failed(message)
        case .failed(let message):
            try await attempt.finish(.failed, message + TaskExecutor.tail(of: launch.stderrPath), exit: exit)
            return .failed(message)
        case .succeeded:
            do {
                try await (connector as? any RemoteStaging)?.fetch(launch)
                let outputs = try await collect(instance, launch: launch)
                try await attempt.finish(.succeeded, nil, exit: exit, outputs: outputs)
                return .succeeded(outputs)
            } catch {
                let message = "\(error)"
                if case ConnectorError.unreachable = error { return try await lose(&attempt, message) }
                try await attempt.finish(.failed, message, exit: exit)
                return .failed(message)
            }
        }
    }

    /// The task's typed outputs; a tenant's files read through the sandbox helper, off
    /// the concurrency pool.
    func collect(_ instance: TaskInstance, launch: TaskLaunch) async throws -> [String: Value] {
        let collector = OutputCollector(
            work: instance.work, stdoutPath: launch.stdoutPath,
            files: launch.confinement == nil
                ? nil : FileRoot.containing(instance.work, in: context.stagingRoots)?.files,
            root: context.plan.runDirectory)
        if launch.confinement == nil { return try collector.collect(instance.task.outputs, scope: instance.scope) }
        return try await TenantFiles.offPool { [outputs = instance.task.outputs, scope = instance.scope] in
            try collector.collect(outputs, scope: scope)
        }
    }

    struct PreparationError: Error {
        var message: String
    }

    /// A fresh, empty working directory with the staged inputs (one mkdir in the common
    /// case); a confined task's belongs to its tenant's uid, its inputs too.
    func prepare(
        _ work: String, staged: [(name: String, source: String)], confinement: TaskConfinement? = nil
    ) -> Result<Void, PreparationError> {
        let fm = FileManager.default
        do {
            if let confinement {
                // The tenant's own directory: an old one emptied with their rights, made by
                // the server and given to them.
                let files = TenantFiles(.tenant(uid: confinement.uid, gid: confinement.gid))
                if mkdir(work, 0o700) != 0 {
                    guard errno == EEXIST else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                    try TaskExecutor.clear(work, files: files, root: context.plan.runDirectory)
                    guard mkdir(work, 0o700) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                }
                try files.give(directory: work)
                let staging = ConfinedStaging(roots: context.stagingRoots, uid: confinement.uid, gid: confinement.gid)
                for (name, source) in staged {
                    try staging.stage(source, as: work + "/" + name, beneath: context.plan.runDirectory)
                }
                return .success(())
            }
            if context.files.reuseDirectory(as: work) {
                // An empty directory left by an ended attempt, renamed.
            } else if mkdir(work, 0o755) != 0 {
                guard errno == EEXIST else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                try fm.removeItem(atPath: work)
                guard mkdir(work, 0o755) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            }
            for (name, source) in staged {
                let target = work + "/" + name
                if link(source, target) != 0 { try fm.copyItem(atPath: source, toPath: target) }
            }
            return .success(())
        } catch {
            return .failure(
                PreparationError(
                    message: (error as? ConfinedStaging.Refused)?.description ?? (error as? TenantFileError)?
                        .description
                        ?? error.localizedDescription))
        }
    }

    /// Removes a working directory that may be a tenant's: what is in it with their
    /// rights (never following a link), the directory itself (in the server's `work/`)
    /// with the server's.
    static func clear(_ work: String, files: TenantFiles, root: String) throws {
        let emptied: Bool
        do {
            try files.remove(work, beneath: root)
            emptied = true
        } catch {
            // Denied only the directory itself, in the server's `work/`: emptied.
            let e: TenantFileError = error
            if case .denied = e { emptied = true } else { throw e }
        }
        guard emptied else { return }
        if rmdir(work) != 0, errno != ENOENT { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGINT: "SIGINT"
        case SIGXCPU: "SIGXCPU, CPU time limit"
        case SIGBUS: "SIGBUS"
        case SIGPIPE: "SIGPIPE"
        default: "signal \(s)"
        }
    }

    /// The last line of a task's standard error, to say why it failed.
    static func tail(of path: String) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: size > 400 ? size - 400 : 0)
        let data = (try? h.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { !$0.trimmingSpaces.isEmpty }
        guard let last = lines.last else { return "" }
        return ": " + String(last.prefix(200))
    }
}

/// A thread-safe boolean that is raised once.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

extension TaskStep {
    /// Whether an output reads the task's standard output (kept apart from its errors).
    var readsStandardOutput: Bool {
        outputs.contains {
            switch $0.source {
            case .stdoutText, .stdoutJSON: true
            default: false
            }
        }
    }

    /// Whether an output may name a file in (or the whole of) the working directory.
    var mayNameWorkDirectory: Bool {
        outputs.contains {
            switch $0.source {
            case .file, .glob: true
            default: false
            }
        }
    }
}
