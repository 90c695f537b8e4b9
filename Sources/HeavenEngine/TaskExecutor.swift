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
        if let done = context.completed[key] {
            context.count { $0.reused += 1 }
            return done
        }
        try context.checkRunning()
        let layout = RunLayout(root: context.runDirectory)
        let work = layout.workDirectory(key)
        let staged = try stagePlan(task, scope: scope)
        let arguments = try ArgumentRenderer(staged: staged.byPath).render(
            task.command, scope: scope, workflow: workflow)
        var environment: [String: String] = [:]
        for (name, t) in task.environment {
            environment[name] = try ArgumentRenderer(staged: staged.byPath).text(t, scope: scope)
        }
        let machine = task.on.flatMap { on in context.topology?.machines.first { $0.name == on } }
        let request = SlotPool.Request(
            machine: context.topology == nil ? nil : task.on,
            cores: task.resources.cores ?? 1,
            memory: task.resources.memory ?? 0)
        if let why = context.slots.impossible(request) {
            throw EngineError.evaluation("task `\(task.name)` \(why)", at: task.location)
        }
        // On a server, a fingerprint reads the run's files through the sandbox helper (a
        // round trip per file): off the concurrency pool. Here, as it is (local reads).
        let me = self
        let fingerprint =
            context.confined
            ? try await TenantFiles.offPool { try me.fingerprint(task, scope: scope, staged: staged, request: request) }
            : try me.fingerprint(task, scope: scope, staged: staged, request: request)
        if let fingerprint, context.reusesRun != nil,
            let outputs = try await reuse(task, key: key, fingerprint: fingerprint, work: work)
        {
            context.count { $0.reused += 1 }
            return outputs
        }
        let isolation = task.isolation ?? workflow.isolation
        // On a shared server the operator decides: a tenant's task on the server's machine
        // runs confined as the tenant's own uid; only an admin's workflow may opt out
        // (`isolation: none`, written on the task or the workflow).
        let optsOut = isolation == .none && (task.isolation == Isolation.none || workflow.isolationLocation != nil)
        let confinement = optsOut && context.mayOptOut ? nil : context.confinement
        // The network its machine asks for: the host's for an admin (and in the embedded
        // mode); for a tenant, an outbound one of its own where the operator allows it.
        let asksNetwork = machine?.network ?? false
        let hostNetwork = context.mayOptOut || context.tenantsHaveNetwork
        let instance = TaskInstance(
            task: task, key: key, layout: layout, work: work, staging: staged, arguments: arguments,
            environment: environment, isolation: isolation, optsOut: optsOut, confinement: confinement,
            network: asksNetwork && (hostNetwork || context.tenantsGoOutbound),
            outboundOnly: asksNetwork && !hostNetwork && context.tenantsGoOutbound, disk: machine?.disk ?? 0,
            scope: scope, fingerprint: fingerprint)
        var attempt = context.previousAttempts[key] ?? 0
        var retry = 0
        var refusedInstances = Set<Int>()
        var announced = false
        var preparation: Result<Void, PreparationError>?
        var lostToSites = 0
        // Since when this attempt has waited for a slot (refused starts included).
        var queuedAt: Date?
        let instances = context.slots.instanceCount(request.machine)
        while true {
            attempt += 1
            try context.checkRunning()
            // Ends of attempts seen so far: a refused start waits for the next one.
            let capacitySeen = context.stores.changes.generation(of: .capacity)
            var request = request
            request.excluding = refusedInstances
            // The working directory is made before the slot is taken: off the critical path.
            if preparation == nil {
                // A tenant's directory and staged copies go through the sandbox helper (a
                // round trip each, waited on): off the concurrency pool.
                if let confinement {
                    let files = staged.files
                    preparation = try await TenantFiles.offPool {
                        me.prepare(work, staged: files, confinement: confinement)
                    }
                } else {
                    preparation = prepare(work, staged: staged.files, confinement: nil)
                }
                // An empty log left by an ended attempt takes this attempt's log name.
                let logs = layout.logs(key, attempt: attempt, apart: task.readsStandardOutput)
                for path in Set([logs.stdout, logs.stderr]) { context.files.reuseLog(as: path) }
            }
            context.count { $0.waiting += 1 }
            if queuedAt == nil { queuedAt = Date() }
            let readyAt = DispatchTime.now().uptimeNanoseconds
            let slot: SlotPool.Slot
            do {
                slot = try await context.slots.acquire(request)
                EngineMetrics.waited(since: readyAt)
                context.count { $0.waiting -= 1 }
            } catch {
                context.count { $0.waiting -= 1 }
                throw error
            }
            let outcome = try await runAttempt(
                instance, number: attempt, slot: slot, preparation: preparation!, queuedAt: queuedAt)
            if case .refused = outcome {
            } else {
                preparation = nil
                queuedAt = nil
            }
            switch outcome {
            case .refused(let reason):
                // The node or grant is full with other runs' work, or the grant is used up:
                // try the machine's other instances, then wait and try again.
                attempt -= 1
                refusedInstances.insert(slot.position)
                if refusedInstances.count >= instances {
                    refusedInstances = []
                    context.count { $0.waitingFor = reason }
                    if !announced {
                        announced = true
                        await context.event(.waiting(task: key, reason: reason))
                    }
                    // Woken by the end of any attempt of this process; other processes'
                    // ends (and a stop of this run) are noticed within a second.
                    await context.stores.changes.waitForChange(of: .capacity, after: capacitySeen, timeout: .seconds(1))
                }
                continue
            case .succeeded(let outputs):
                if announced { context.count { $0.waitingFor = nil } }
                context.count { $0.succeeded += 1 }
                return outputs
            case .stopped(let message):
                throw EngineError.stopped(message)
            case .siteLost(let message):
                // Not the task's fault: no retry is used up; it runs again where the
                // broker moved its machine (or the run stops if nothing matches).
                lostToSites += 1
                if lostToSites > 10 { throw EngineError.taskFailed(key: key, message: message) }
            case .failed(let message):
                guard retry < task.retries.count else {
                    throw EngineError.taskFailed(key: key, message: message)
                }
                context.count { $0.retriedAttempts += 1 }
                retry += 1
                let delay = task.retries.delay(beforeRetry: retry)
                await context.event(
                    .retry(
                        task: key, attempt: attempt, failure: message, retry: retry, of: task.retries.count,
                        delay: Value.double(delay).argumentText))
                let until = Date().addingTimeInterval(delay)
                while Date() < until {
                    try context.checkRunning()
                    try await Task.sleep(for: .milliseconds(min(100, max(1, Int(until.timeIntervalSinceNow * 1000)))))
                }
            }
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
                if context.confined {
                    guard FileRoot.containing(path, in: context.stagingRoots) != nil else {
                        throw EngineError.evaluation(
                            "task `\(task.name)`: input `\(name)` (`\(path)`) is outside the run's files: on a server, tasks read only files uploaded with the run or made by its tasks",
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
        let isolation: Isolation
        /// Whether the workflow asks for `isolation: none` (honoured for an admin only).
        let optsOut: Bool
        let confinement: TaskConfinement?
        let network: Bool
        /// With `network`: outbound only (a tenant's task).
        let outboundOnly: Bool
        /// The bytes its files may take (its machine's `disk`; 0: the operator's default).
        let disk: Double
        let scope: Scope
        /// What it runs, as a digest (nil when a file it names cannot be read yet).
        let fingerprint: String?
    }

    /// One attempt of a task instance in the slot it was given: recorded, started,
    /// watched, ended (its life: `AttemptLifecycle`).
    func runAttempt(
        _ instance: TaskInstance, number: Int, slot: SlotPool.Slot, preparation: Result<Void, PreparationError>,
        queuedAt: Date?
    ) async throws -> AttemptOutcome {
        let (task, key, layout, work) = (instance.task, instance.key, instance.layout, instance.work)
        let (staging, environment) = (instance.staging, instance.environment)
        let (optsOut, confinement, network, scope) = (
            instance.optsOut, instance.confinement, instance.network, instance.scope
        )
        // Standard output apart only when an output reads it; otherwise one combined
        // log, as a terminal would show it (one file fewer to create per task).
        let (stdoutPath, stderrPath) = layout.logs(key, attempt: number, apart: task.readsStandardOutput)
        var record = AttemptRecord(
            runID: context.runID, taskKey: key, task: task.name, number: number, site: slot.site,
            slot: slot.label, workDirectory: work, node: slot.node, cores: slot.cores, memory: slot.memory,
            grant: slot.grant, fingerprint: instance.fingerprint, queuedAt: queuedAt)
        let node = context.slots.node(slot.node)
        let grant = slot.grant.flatMap { context.grants[$0] }
        let limits = CapacityLimits(
            nodeCores: node?.cores ?? slot.cores, nodeMemory: node?.memory, grantCores: grant?.cores,
            grantCoreHours: grant?.coreHours)
        // A slot freed by an attempt of this run that ended on the same node and grant
        // takes over its capacity: what the node holds does not change, so the start
        // needs no capacity check and is recorded without waiting for the commit (the
        // spawn is the next thing; a crash before the commit leaves a process that
        // `ProcessProbe.killOrphans` finds by its environment). Otherwise the start is
        // checked against other runs' use and committed before anything runs.
        var life = AttemptLifecycle()
        let gate = context.gate
        if let previous = slot.takesOver {
            life.takeOver(previous)
        } else {
            // Behind the engine's other runs that wait for this node, then checked.
            do {
                try await gate.enter(
                    run: context.runID, node: slot.node, cores: slot.cores, memory: slot.memory, limits: limits,
                    stopped: { context.stopReason?.message })
            } catch {
                context.slots.release(slot)
                throw error
            }
            do {
                switch try await context.stores.catalog.startAttempt(record, checking: limits) {
                case .started(let id):
                    record.id = id
                    life.startCommitted()
                case .refused(let reason):
                    life.refuse(reason)
                    gate.leave(node: slot.node, cores: slot.cores, memory: slot.memory)
                    context.slots.release(slot)
                    return .refused(reason)
                }
            } catch {
                gate.leave(node: slot.node, cores: slot.cores, memory: slot.memory)
                context.slots.release(slot)
                throw error
            }
        }
        /// Gives the slot back (to the next attempt of this run that can take over its
        /// capacity, if `passing`); returns whether one did. What no attempt takes over
        /// leaves the node's gate.
        @Sendable func release(passing: AttemptKey?) -> Bool {
            let taker = context.slots.release(slot, passing: passing)
            gate.leave(
                node: slot.node, cores: slot.cores - (taker?.cores ?? 0), memory: slot.memory - (taker?.memory ?? 0))
            return taker != nil
        }
        // A grant that counts core-hours checks every start: its capacity is not passed on.
        let passes = grant?.coreHours == nil
        let startRecord = record
        /// Queues the record of a taken-over start, with its process when it has one.
        func queueStart(takingOver previous: AttemptKey, pid: Int32? = nil) {
            var r = startRecord
            r.pid = pid
            context.stores.catalog.startAttempt(r, takingOver: previous)
        }

        func finish(_ status: AttemptStatus, _ error: String?, exit: TaskExit? = nil, outputs: [String: Value]? = nil)
            async throws
        {
            record.status = status
            record.error = error
            record.finishedAt = Date()
            record.exitCode = exit?.exitCode
            record.signal = exit?.signal
            record.cpuSeconds = exit?.cpuSeconds
            record.maxRSS = exit?.maxRSS
            record.outputs = outputs
            let ending = life.end(status)
            if ending.wasRunning {
                EngineMetrics.ended(status, seconds: record.finishedAt!.timeIntervalSince(record.startedAt))
            }
            if let previous = ending.recordStartFirst { queueStart(takingOver: previous) }
            // The slot is freed while the end is being queued: the next attempt's start,
            // queued after it, either takes this attempt's capacity over or, checked,
            // sees it free.
            let ended = passes ? record.key : nil
            // A priced job's publisher pays the site's owner for the cores, with the end.
            var work = UnitOfWork()
            work.finishAttempt(record)
            if let payer = context.plan.resourcePayer,
                let cost = Charging.resources(
                    of: record, rate: context.plan.rates[slot.site], payer: payer.account, currency: payer.currency)
            {
                work.post(cost)
            }
            try await context.stores.work.commit(work, passing: { release(passing: ended) })
        }

        /// The site stopped answering: the attempt is recorded as lost and the site reported.
        func lose(_ message: String) async throws -> AttemptOutcome {
            try await finish(.lost, message)
            await context.siteLost(slot.site, message)
            return .siteLost(message)
        }

        guard let connector = context.connector(for: slot.site) else {
            let message = "no connector for site `\(slot.site)`"
            if let previous = life.end(.failed).recordStartFirst { queueStart(takingOver: previous) }
            record.status = .failed
            record.error = message
            record.finishedAt = Date()
            try await context.stores.runs.finishAttempt(record, passing: { release(passing: nil) })
            throw EngineError.invalid(message)
        }

        // A confined instance's directory was made as its tenant's; where the attempt runs
        // as this server's own account instead (a site whose jobs are this account's), the
        // directory is made again as the server's.
        var preparation = preparation
        if let confinement, connector.taskAccount != .thisProcess {
            try? TaskExecutor.clear(
                work, files: TenantFiles(.tenant(uid: confinement.uid, gid: confinement.gid)),
                root: context.runDirectory)
            preparation = prepare(work, staged: staging.files, confinement: nil)
        }
        if case .failure(let problem) = preparation {
            let message = "cannot prepare the working directory: \(problem.message)"
            try await finish(.failed, message)
            return .failed(message)
        }

        // A remote task gets every file its arguments name, under its place in the working directory.
        var arguments = instance.arguments
        var env = environment
        var inputs = staging.files.map { (name: $0.name, path: $0.source) }
        let remote = connector as? any RemoteStaging
        if remote != nil {
            let auto = ArgumentRenderer.AutoStage()
            let renderer = ArgumentRenderer(staged: staging.byPath, autoStage: auto)
            do {
                arguments = try renderer.render(task.command, scope: scope, workflow: workflow)
                for (name, t) in task.environment { env[name] = try renderer.text(t, scope: scope) }
            } catch {
                try await finish(.failed, "\(error)")
                return .failed("\(error)")
            }
            inputs += auto.files
        }
        // Secrets are opened last, into the process's environment only (never a command line).
        var secretValues: [String: String] = [:]
        for (variable, name) in task.secrets {
            do {
                guard let secrets = context.secrets else { throw Secrets.Failure.key("this store keeps no secrets") }
                secretValues[variable] = try await secrets.open(owner: context.user, name: name)
            } catch {
                try await finish(.failed, "\(error)")
                return .failed("\(error)")
            }
        }
        env["HEAVEN_RUN"] = context.runID
        env["HEAVEN_TASK"] = key
        env["HEAVEN_ATTEMPT"] = String(number)
        env["HEAVEN_WORKDIR"] = work
        env["HEAVEN_CORES"] = String(slot.cores)
        // Where the task runs on the server's machine, the server's confinement (not the
        // workflow's word) says how; elsewhere the site's accounts confine it.
        var isolation = instance.isolation
        let local = connector.taskAccount == .thisProcess
        // A site whose tasks run as this server's own account on other machines (a Slurm
        // cluster without a login host): nothing confines them, so no tenant's task runs there.
        if context.confinement != nil, !context.mayOptOut, connector.taskAccount == .thisProcessElsewhere {
            let message =
                "site `\(slot.site)` submits Slurm jobs from this server's own account, which a tenant's task never runs as: reach the cluster through its login host (`via: {kind: ssh, ...}`, with `accounts` mapping users to their own)"
            try await finish(.failed, message)
            return .failed(message)
        }
        if local, context.confined, !(optsOut && context.mayOptOut) {
            if confinement != nil || TaskSandbox.isAvailable { isolation = .sandbox }
        }
        // A sandbox has a private /tmp: files its arguments name there (not staged with
        // `inputs:`) are shown to it, read-only, where they are. (A tenant's confined task
        // reads only its run's own files, and the directories the operator shares.)
        var readable = [context.runDirectory] + (context.confined ? context.shareDirectories : [])
        if isolation == .sandbox, local, !context.confined, confinement == nil {
            readable += try namedFiles(task, scope: instance.scope, staged: staging).filter {
                !$0.hasPrefix(context.runDirectory + "/")
            }
        }
        var launch = TaskLaunch(
            arguments: arguments, environment: env, workDirectory: work, stdoutPath: stdoutPath,
            stderrPath: stderrPath, baseDirectory: programDirectory, isolation: isolation, network: network,
            readable: readable, hidden: [context.home.root],
            cpuLimit: task.timeout.map { Int($0.rounded(.up)) * max(1, slot.cores) + 5 })
        launch.inputs = inputs
        launch.secrets = secretValues
        launch.confinement = local ? confinement : nil
        launch.outboundOnly = instance.outboundOnly
        launch.disk = instance.disk
        launch.runID = context.runID
        launch.taskKey = key
        launch.attempt = number
        launch.cores = slot.cores
        launch.memory = slot.memory
        launch.timeLimit = task.timeout
        // A remote start takes long: its record is queued first, its job id noted after.
        if remote != nil, let previous = life.queueStartRecord() { queueStart(takingOver: previous) }
        let process: any RunningTask
        do {
            process = try await connector.start(launch)
        } catch {
            let message = "\(error)"
            try? message.write(toFile: stderrPath, atomically: false, encoding: .utf8)
            if case ConnectorError.unreachable = error {
                return try await lose(message)
            }
            try await finish(.failed, message)
            return .failed(message)
        }
        context.logger.debug(
            "task started",
            metadata: [
                "run": "\(context.runID)", "task": "\(key)", "attempt": "\(number)", "handle": "\(process.handle)",
            ])
        EngineMetrics.started()
        let stoppedAlready = context.register(key, process)
        if stoppedAlready { process.signal(SIGTERM) }
        // The attempt's process of this machine (the task's, or its ssh client's) is
        // recorded: if the process driving the run dies, it is found and stopped.
        let recordedProcess = process.handle.localProcess
        switch life.started() {
        case .noteProcess:
            if let p = recordedProcess {
                context.stores.runs.noteAttemptProcess(record.key, pid: p.pid, pidStart: p.startTime)
            }
        case .recordStart(let previous):
            queueStart(takingOver: previous, pid: recordedProcess?.pid)
        }

        let fired = Flag()
        let timer: Task<Void, Never>? = task.timeout.map { seconds in
            let grace = context.killGrace
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
        // Once the attempt is recorded, its working directory and logs, if empty, are kept
        // for later attempts (no inode to allocate for them), unless an output may name
        // the directory or a process of the task's group still runs (and may write there).
        // Only a local process's group is known (a Slurm job's id is not a process).
        defer {
            if case .process(let pid, _) = process.handle, ProcessProbe.groupGone(pid) {
                context.files.recycle(work: task.mayNameWorkDirectory ? nil : work, logs: [stdoutPath, stderrPath])
            }
        }
        timer?.cancel()
        if let rechecking = connector as? any ExitRechecking { exit = await rechecking.recheck(launch, exit) }
        context.unregister(key)
        context.logger.debug(
            "task ended",
            metadata: [
                "run": "\(context.runID)", "task": "\(key)", "attempt": "\(number)",
                "exit": "\(exit.exitCode.map(String.init) ?? "signal \(exit.signal ?? 0)")",
            ])
        let wasTimeout = (fired.isSet || exit.timedOut) && !exit.succeeded

        if let stop = context.stopReason, stop.reason != .failed, !exit.succeeded {
            try await finish(stop.reason == .cancelled ? .cancelled : .lost, stop.message, exit: exit)
            return .stopped(stop.message)
        }
        // The site ended the attempt (a node failed, the job was preempted): lost, not
        // failed; the site itself is reported only if it no longer answers.
        if exit.lost {
            let message = exit.message ?? "the site lost the task"
            if await (connector as? any SiteProbing)?.probe() ?? true {
                try await finish(.lost, message, exit: exit)
                await context.event(.lost(task: key, attempt: number, reason: message))
                return .siteLost(message)
            }
            return try await lose(message)
        }
        if wasTimeout {
            let message =
                exit.timedOut && !fired.isSet
                ? (exit.message ?? "timed out") : "timed out after \(Quantity(task.timeout ?? 0, .seconds))"
            try await finish(.timedOut, message, exit: exit)
            return .failed(message)
        }
        guard exit.succeeded else {
            let message =
                exit.message
                ?? exit.signal.map { "killed by signal \($0) (\(TaskExecutor.signalName($0)))" }
                ?? "exited with status \(exit.exitCode ?? -1)"
            try await finish(.failed, message + TaskExecutor.tail(of: stderrPath), exit: exit)
            return .failed(message)
        }
        do {
            try await remote?.fetch(launch)
            let collector = OutputCollector(
                work: work, stdoutPath: stdoutPath,
                files: launch.confinement == nil ? nil : FileRoot.containing(work, in: context.stagingRoots)?.files,
                root: context.runDirectory)
            // A tenant's files are read through the sandbox helper: off the concurrency pool.
            let outputs =
                launch.confinement == nil
                ? try collector.collect(task.outputs, scope: scope)
                : try await TenantFiles.offPool { [outputs = task.outputs] in
                    try collector.collect(outputs, scope: scope)
                }
            try await finish(.succeeded, nil, exit: exit, outputs: outputs)
            return .succeeded(outputs)
        } catch {
            let message = "\(error)"
            if case ConnectorError.unreachable = error { return try await lose(message) }
            try await finish(.failed, message, exit: exit)
            return .failed(message)
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
                    try TaskExecutor.clear(work, files: files, root: context.runDirectory)
                    guard mkdir(work, 0o700) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                }
                try files.give(directory: work)
                let staging = ConfinedStaging(roots: context.stagingRoots, uid: confinement.uid, gid: confinement.gid)
                for (name, source) in staged {
                    try staging.stage(source, as: work + "/" + name, beneath: context.runDirectory)
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
