import Foundation
public import HeavenConnectors
public import HeavenCore
public import HeavenEngine
public import HeavenLanguage
public import HeavenModel

/// What a caller submits, once its transport has read it: the documents, the workflow
/// to run, its inputs as values (files as paths relative to `directory`, where the
/// transport put what came with the request), and for a job of a published process the
/// process and its budget or accepted quote.
public struct Submission: Sendable {
    public var user: UserRecord
    public var load: LoadResult
    /// The workflow's name (nil: the documents' main one).
    public var workflow: String?
    public var inputs: [String: Value]
    /// The submission's own directory (a new one under the server's uploads): relative file
    /// inputs are resolved against it; it is removed when the submission is refused.
    public var directory: String
    /// Groups the run is shared with (the caller's own).
    public var share: [String] = []
    /// A job of a published process: the process, its price, and what pays for it.
    public var process: ProcessRecord?
    public var price: Price?
    public var budget: (amount: Double, currency: String?)?
    public var quote: Quote?

    public init(user: UserRecord, load: LoadResult, workflow: String?, inputs: [String: Value], directory: String) {
        self.user = user
        self.load = load
        self.workflow = workflow
        self.inputs = inputs
        self.directory = directory
    }
}

/// Submitting a run or a job: the one path every transport takes (the API's
/// `POST /v1/runs`, OGC API - Processes' execution, the console's forms). It checks what
/// the operator's policy forbids, the groups shared with, a priced job's terms; creates
/// the run (the engine checks the inputs against the workflow, and a priced job's budget
/// is reserved in the same transaction); shares it; starts it.
public struct Submissions: Sendable {
    let engine: Engine
    let accounts: any AccountStore
    /// The network the operator gives tenants' tasks (`--task-network`).
    let network: TaskNetwork
    /// The platform's share of a priced job's value, in percent.
    let feePercent: Double
    /// Drives a created run in the background.
    let start: @Sendable (_ run: String, _ load: LoadResult) -> Void

    public init(
        engine: Engine, accounts: any AccountStore, network: TaskNetwork, feePercent: Double,
        start: @escaping @Sendable (_ run: String, _ load: LoadResult) -> Void
    ) {
        self.engine = engine
        self.accounts = accounts
        self.network = network
        self.feePercent = feePercent
        self.start = start
    }

    /// Submits: the run created and started, or why not (the submission's directory is
    /// then removed).
    public func submit(_ s: Submission) async throws(ApplicationError) -> RunRecord {
        do {
            return try await accept(s)
        } catch {
            try? FileManager.default.removeItem(atPath: s.directory)
            throw error
        }
    }

    private func accept(_ s: Submission) async throws(ApplicationError) -> RunRecord {
        // A published process's documents were checked when it was deployed, against its
        // publisher: only the caller's own documents are checked here.
        if s.process == nil { try Submissions.checkIsolation(s.load, for: s.user, network: network) }
        for g in s.share where !s.user.groups.contains(g) && !s.user.admin {
            throw .forbidden("you can share a run only with your own groups; you are not in `\(g)`")
        }
        var terms: JobTerms?
        if let process = s.process {
            terms = try Billing.terms(
                process: process, price: s.price, budget: s.budget, quote: s.quote, user: s.user,
                feePercent: feePercent)
        }
        let run: RunRecord
        do {
            run = try await engine.createRun(
                load: s.load, workflow: s.workflow, inputs: s.inputs, outDirectory: nil, user: s.user.name,
                directory: s.directory, process: s.process.map { ($0.id, $0.version) },
                charge: terms.map { ($0.charge, $0.quote) })
        } catch let e as LedgerError {
            throw ApplicationError(e)
        } catch let e as EngineError {
            throw .invalid("\(e)")
        } catch let e as DiagnosticsError {
            throw .diagnostics(e.diagnostics)
        } catch {
            throw .failed("\(error)")
        }
        if !s.share.isEmpty {
            do { try await accounts.shareRun(run.id, with: s.share) } catch { throw .failed("\(error)") }
        }
        start(run.id, s.load)
        return run
    }

    /// Isolation is the operator's decision: only an admin's workflow may leave the
    /// sandbox, or use the host's network; a tenant's may ask for the network only where
    /// the operator gives tenants an outbound one (`--task-network outbound`): otherwise
    /// its task has only a loopback of its own (the host's network would reach every
    /// service of the machine that listens on its loopback).
    public static func checkIsolation(_ load: LoadResult, for user: UserRecord, network: TaskNetwork)
        throws(ApplicationError)
    {
        let networked = load.documents.networkRequests
        if !user.admin, !networked.isEmpty, network == .none {
            throw .forbidden(
                networked.map {
                    """
                    \($0): error: `network: true` is refused: on this server a tenant's tasks have no network but \
                    a loopback of their own (the operator gives tenants none: `heaven serve --task-network none`)
                    """
                }.joined(separator: "\n"))
        }
        let optOuts = load.documents.isolationOptOuts
        if !user.admin, !optOuts.isEmpty {
            throw .forbidden(
                optOuts.map {
                    """
                    \($0): error: `isolation: none` is refused: on this server every task of a tenant runs \
                    sandboxed as the tenant's own uid (only an admin may run tasks outside the sandbox)
                    """
                }.joined(separator: "\n"))
        }
    }
}
