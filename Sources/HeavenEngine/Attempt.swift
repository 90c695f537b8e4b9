import Foundation
import HeavenConnectors
import HeavenCore
import HeavenModel
import Synchronization

/// How a task instance is confined and what network it has, decided once, as a value,
/// from the run's facts and what the workflow asks; `on(_:site:)` adds the site's
/// accounts (known with the slot) and says how each attempt runs, or why it may not.
struct ConfinementDecision: Equatable {
    /// What the run's context says.
    struct Facts: Equatable {
        /// A shared server's run: tasks read only the run's files.
        var confined: Bool
        /// The server confines its tenants' tasks as their own uids.
        var tenantConfined: Bool
        /// The run's user may opt out of confinement (an admin; everyone in the embedded mode).
        var mayOptOut: Bool
        /// Sandboxes can be made on this machine.
        var sandboxAvailable: Bool
        /// The host's network may be given (an admin's task; the embedded mode).
        var hostNetwork: Bool
        /// Tenants' tasks may have an outbound network of their own.
        var tenantsGoOutbound: Bool
    }

    /// The network an attempt's process has.
    enum Network: Equatable {
        /// Loopback only (no `network: true` asked, or none allowed).
        case none
        /// The host's.
        case host
        /// An outbound one of its own (a tenant's task).
        case outbound
    }

    /// How an attempt runs on its site.
    struct How: Equatable {
        var isolation: Isolation
        /// As its tenant's uid (the run's `TaskConfinement` handed to the launch).
        var asTenant: Bool
        /// Its working directory, made as the tenant's, is made again as the server's
        /// (the site runs it as an account of its own).
        var reprepareAsServer: Bool
        /// Files its arguments name outside the run are shown to its sandbox, read-only
        /// (the embedded mode only).
        var showsNamedFiles: Bool
        var network: Network
    }

    /// How an attempt runs on a site, or why it may not.
    enum OnSite: Equatable {
        case runs(How)
        case refused(String)
    }

    /// What the workflow asks (the task's isolation, else the workflow's).
    let requested: Isolation
    /// Whether the workflow asks for `isolation: none` in words (honoured for an admin only).
    let optsOut: Bool
    /// Whether its machine asks for a network.
    let asksNetwork: Bool
    let facts: Facts

    init(requested: Isolation, optsOut: Bool, asksNetwork: Bool, facts: Facts) {
        self.requested = requested
        self.optsOut = optsOut
        self.asksNetwork = asksNetwork
        self.facts = facts
    }

    /// A task's: its isolation, else its workflow's; opting out when either says `none` in words.
    init(task: TaskStep, workflow: Workflow, asksNetwork: Bool, facts: Facts) {
        let requested = task.isolation ?? workflow.isolation
        self.init(
            requested: requested,
            optsOut: requested == .none && (task.isolation == Isolation.none || workflow.isolationLocation != nil),
            asksNetwork: asksNetwork, facts: facts)
    }

    /// Whether its tasks run as the tenant's uid where they run on this machine: on a
    /// shared server the operator decides; only an admin's workflow may opt out.
    var asTenant: Bool { facts.tenantConfined && !(optsOut && facts.mayOptOut) }

    /// The network it gets: the host's for an admin (and in the embedded mode); for a
    /// tenant, an outbound one of its own where the operator allows it.
    var network: Network {
        guard asksNetwork else { return .none }
        if facts.hostNetwork { return .host }
        return facts.tenantsGoOutbound ? .outbound : .none
    }

    /// How an attempt runs on a site whose tasks run as `account`.
    func on(_ account: TaskAccount, site: String) -> OnSite {
        // A site whose tasks run as this server's own account on other machines (a Slurm
        // cluster without a login host): nothing confines them, so no tenant's task runs there.
        if facts.tenantConfined, !facts.mayOptOut, account == .thisProcessElsewhere {
            return .refused(
                """
                site `\(site)` submits Slurm jobs from this server's own account, which a tenant's task never \
                runs as: 
                """
                    + "reach the cluster through its login host (`via: {kind: ssh, ...}`, with `accounts` mapping "
                    + "users to their own)")
        }
        let local = account == .thisProcess
        // On the server's machine, the server's confinement (not the workflow's word) says
        // how; elsewhere the site's accounts confine it.
        var isolation = requested
        if local, facts.confined, !(optsOut && facts.mayOptOut), asTenant || facts.sandboxAvailable {
            isolation = .sandbox
        }
        return .runs(
            How(
                isolation: isolation, asTenant: local && asTenant, reprepareAsServer: asTenant && !local,
                showsNamedFiles: isolation == .sandbox && local && !facts.confined && !asTenant, network: network))
    }
}

/// How an attempt's process ended, classified in order: a stop of the run first, then
/// a loss the site reports, then a time limit, then the exit status.
enum AttemptVerdict: Equatable {
    /// The run is being stopped (a cancel, an interrupt): recorded as this status.
    case stopped(AttemptStatus, String)
    /// The site ended it (a node failed, the job was preempted): lost, not failed (no
    /// retry used up); a probe says whether the site itself is lost.
    case lost(String)
    /// A time limit ended it (the task's `timeout`, or the site's own).
    case timedOut(String)
    /// It failed (the last line of its standard error is added to the record).
    case failed(String)
    /// It succeeded: its outputs are collected.
    case succeeded

    static func of(
        _ exit: TaskExit, stop: (reason: StopReason, message: String)?, timerFired: Bool, timeout: Double?
    ) -> AttemptVerdict {
        if let stop, stop.reason != .failed, !exit.succeeded {
            return .stopped(stop.reason == .cancelled ? .cancelled : .lost, stop.message)
        }
        if exit.lost { return .lost(exit.message ?? "the site lost the task") }
        if (timerFired || exit.timedOut) && !exit.succeeded {
            return .timedOut(
                exit.timedOut && !timerFired
                    ? (exit.message ?? "timed out") : "timed out after \(Quantity(timeout ?? 0, .seconds))")
        }
        guard exit.succeeded else {
            return .failed(
                exit.message
                    ?? exit.signal.map { "killed by signal \($0) (\(TaskExecutor.signalName($0)))" }
                    ?? "exited with status \(exit.exitCode ?? -1)")
        }
        return .succeeded
    }
}

/// Gives an attempt's slot back (to the next attempt of its run that can take over its
/// capacity, if `passing`: one waiting now, or one that comes within `SlotPool.parkFor`);
/// says whether the capacity is still held. What no attempt takes over leaves the
/// node's gate.
struct SlotRelease: Sendable {
    let slots: SlotPool
    let gate: NodeGate
    let slot: SlotPool.Slot
    /// Whether the capacity may be parked: not on a grant that bounds its cores (runs
    /// refused for the grant wait in the store, where the gate does not see them).
    let mayPark: Bool
    /// The first release's answer: a slot is given back once, whatever asks again (an
    /// end whose write failed is written again).
    private let first = ReleaseOnce()

    init(slots: SlotPool, gate: NodeGate, slot: SlotPool.Slot, mayPark: Bool) {
        self.slots = slots
        self.gate = gate
        self.slot = slot
        self.mayPark = mayPark
    }

    func callAsFunction(passing: AttemptKey?) -> Bool {
        first.once {
            // Parked for the run's next attempt only while no other run waits for the node.
            let park = mayPark && passing != nil && !gate.isQueued(on: slot.node)
            let kept = slots.release(slot, passing: passing, park: park)
            gate.leave(
                node: slot.node, cores: slot.cores - (kept?.cores ?? 0), memory: slot.memory - (kept?.memory ?? 0))
            return kept != nil
        }
    }
}

/// An answer computed once, then repeated.
final class ReleaseOnce: Sendable {
    private let answer = Mutex<Bool?>(nil)

    func once(_ compute: () -> Bool) -> Bool {
        answer.withLock { a in
            if let a { return a }
            let v = compute()
            a = v
            return v
        }
    }
}

/// One attempt's record as it is kept: admitted (its start checked against the node
/// and grant, or taking over an ended attempt's capacity), started, ended — each
/// transition through its `AttemptLifecycle`, each record written once.
struct AttemptRecorder {
    let context: RunContext
    let slot: SlotPool.Slot
    private(set) var record: AttemptRecord
    private(set) var life = AttemptLifecycle()
    /// The record as its start is recorded.
    private var startRecord: AttemptRecord
    let release: SlotRelease
    /// Whether its capacity passes to the next attempt on its node (a grant that counts
    /// core-hours checks every start).
    let passes: Bool

    init(context: RunContext, record: AttemptRecord, slot: SlotPool.Slot) {
        self.context = context
        self.slot = slot
        self.record = record
        startRecord = record
        let grant = slot.grant.flatMap { context.grants[$0] }
        release = SlotRelease(slots: context.slots, gate: context.gate, slot: slot, mayPark: grant?.cores == nil)
        passes = grant?.coreHours == nil
    }

    /// Admits the attempt: a slot freed by an attempt of this run that ended on the same
    /// node and grant takes over its capacity (what the node holds does not change, so
    /// the start needs no check and is recorded without waiting: the spawn is the next
    /// thing, and a crash before the commit leaves a process `ProcessProbe.killOrphans`
    /// finds by its environment). Otherwise, behind the engine's other runs that wait
    /// for the node, the start is checked against every run's use and committed before
    /// anything runs. Returns why it was refused (the slot given back), or nil.
    mutating func admit() async throws -> String? {
        if let previous = slot.takesOver {
            life.takeOver(previous)
            return nil
        }
        let node = context.slots.node(slot.node)
        let grant = slot.grant.flatMap { context.grants[$0] }
        let limits = CapacityLimits(
            nodeCores: node?.cores ?? slot.cores, nodeMemory: node?.memory, grantCores: grant?.cores,
            grantCoreHours: grant?.coreHours)
        let run = context
        do {
            try await context.gate.enter(
                run: context.plan.runID, node: slot.node, cores: slot.cores, memory: slot.memory, limits: limits,
                stopped: { run.stopReason?.message })
        } catch {
            context.slots.release(slot)
            throw error
        }
        do {
            switch try await context.stores.catalog.startAttempt(record, checking: limits) {
            case .started(let id):
                record.id = id
                startRecord.id = id
                life.startCommitted()
                return nil
            case .refused(let reason):
                life.refuse(reason)
                leaveUnstarted()
                return reason
            }
        } catch {
            leaveUnstarted()
            throw error
        }
    }

    private func leaveUnstarted() {
        context.gate.leave(node: slot.node, cores: slot.cores, memory: slot.memory)
        context.slots.release(slot)
    }

    /// Queues the record of a taken-over start, with its process when it has one.
    private func queueStart(takingOver previous: AttemptKey, pid: Int32? = nil) {
        var r = startRecord
        r.pid = pid
        context.stores.catalog.startAttempt(r, takingOver: previous)
    }

    /// Before a slow remote start: a takeover's start record is queued first (its job id noted after).
    mutating func queueStartBeforeRemoteStart() {
        if let previous = life.queueStartRecord() { queueStart(takingOver: previous) }
    }

    /// Its process runs: where it is is recorded (with the start itself, for a takeover).
    mutating func running(_ process: (pid: Int32, startTime: String?)?) {
        switch life.started() {
        case .noteProcess:
            if let p = process { context.stores.runs.noteAttemptProcess(record.key, pid: p.pid, pidStart: p.startTime) }
        case .recordStart(let previous):
            queueStart(takingOver: previous, pid: process?.pid)
        }
    }

    /// Records how the attempt ended (with what its cores cost a priced job's publisher)
    /// in one unit of work; its slot is freed while the end is being queued: the next
    /// attempt's start, queued after it, either takes this attempt's capacity over or,
    /// checked, sees it free.
    mutating func finish(
        _ status: AttemptStatus, _ error: String?, exit: TaskExit? = nil, outputs: [String: Value]? = nil,
        passing: Bool = true
    ) async throws {
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
        let ended = passing && passes ? record.key : nil
        var work = UnitOfWork()
        work.finishAttempt(record)
        if let payer = context.plan.resourcePayer,
            let cost = Charging.resources(
                of: record, rate: context.plan.rates[slot.site], payer: payer.account, currency: payer.currency)
        {
            work.post(cost)
        }
        let release = release
        try await context.stores.work.commit(work, passing: { release(passing: ended) })
    }
}
