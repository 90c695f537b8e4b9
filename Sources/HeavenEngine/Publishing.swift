import Foundation
public import HeavenCore
public import HeavenLanguage
public import HeavenModel
import Synchronization

/// Why a process could not be published, replaced, undeployed or found.
public enum PublishingError: Error, Sendable, CustomStringConvertible {
    /// The documents are invalid (`file:line:col` diagnostics), or hold what a process cannot.
    case invalid(String)
    /// A process with this id exists (publish a new version with `replace`).
    case duplicated(String)
    /// No process with this id that the caller may see.
    case notFound(String)
    /// The caller may see it, but not change it.
    case forbidden(String)

    public var description: String {
        switch self {
        case .invalid(let m), .forbidden(let m): m
        case .duplicated(let id):
            """
            a process `\(id)` is already published: replace it (`heaven processes deploy --replace`, PUT \
            /processes/\(id)) or undeploy it first
            """
        case .notFound(let id): "no process `\(id)`"
        }
    }
}

/// Published processes as parsed, by id and version: a server describes and runs the
/// same few processes again and again, and reading YAML costs more than running a
/// small task. At most `capacity` are kept.
public final class ParsedProcesses: Sendable {
    private struct Entry: Sendable {
        var version: String
        var updatedAt: Date
        var load: LoadResult
        var workflow: Workflow
    }
    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    public init(capacity: Int = 256) { self.capacity = capacity }

    /// The process's documents loaded and its workflow (`Publishing.load`), parsed once
    /// per version.
    public func parsed(_ p: ProcessRecord) throws -> (load: LoadResult, workflow: Workflow) {
        if let e = entries.withLock({ $0[p.id] }), e.version == p.version, e.updatedAt == p.updatedAt {
            return (e.load, e.workflow)
        }
        let (load, workflow) = try Publishing.load(Publishing.sources(p))
        entries.withLock { all in
            if all.count >= capacity, all[p.id] == nil, let any = all.keys.first { all.removeValue(forKey: any) }
            all[p.id] = Entry(version: p.version, updatedAt: p.updatedAt, load: load, workflow: workflow)
        }
        return (load, workflow)
    }
}

/// Workflows published as processes (OGC API - Processes): what the command line and
/// the server both do to deploy, replace, undeploy, find and run them.
public struct Publishing: Sendable {
    public let processes: any ProcessStore

    public init(processes: any ProcessStore) { self.processes = processes }

    /// A process's documents loaded and checked: its workflow (the one the others do not
    /// call), and everything a run of it needs. Only Topology, Workflow and Price documents; a
    /// file named by `call:` must be among `sources` (nothing is read from disk).
    public static func load(_ sources: [SourceFile]) throws -> (load: LoadResult, workflow: Workflow) {
        guard !sources.isEmpty else { throw PublishingError.invalid("no documents: send the workflow's YAML") }
        let load = Loader.load(sources: sources, readingDisk: false)
        guard load.isValid else {
            throw PublishingError.invalid(load.diagnostics.map(\.description).joined(separator: "\n"))
        }
        if !load.documents.sites.isEmpty || !load.documents.grants.isEmpty {
            throw PublishingError.invalid(
                "a process holds Workflow (and Topology) documents only: register sites and grants on their own")
        }
        do {
            return (load, try Engine.mainWorkflow(in: load.documents, named: nil))
        } catch let e as EngineError {
            throw PublishingError.invalid("\(e)")
        }
    }

    /// The documents of a process as the loader reads them.
    public static func sources(_ p: ProcessRecord) -> [SourceFile] {
        p.documents.map { SourceFile(path: $0.path, text: $0.text) }
    }

    /// Publishes the workflow of `sources` as a new process of `user`'s.
    public func deploy(_ sources: [SourceFile], by user: UserRecord, visibility: ProcessVisibility) async throws
        -> ProcessRecord
    {
        let (load, workflow) = try Publishing.load(sources)
        try check(load, visibility: visibility, user: user)
        let now = Date()
        let record = ProcessRecord(
            id: workflow.name, version: workflow.version ?? "1.0.0", owner: user.name, visibility: visibility,
            documents: load.sources.map { ProcessDocument(path: $0.path, text: $0.text) }, createdAt: now,
            updatedAt: now)
        guard try await processes.deployProcess(record) else { throw PublishingError.duplicated(workflow.name) }
        return record
    }

    /// Replaces process `id` (its publisher's, or an admin's) with the workflow of
    /// `sources`, whose name must be `id`: a higher version; jobs already running keep
    /// the documents they started with. `visibility` nil keeps the current one.
    public func replace(_ id: String, with sources: [SourceFile], by user: UserRecord, visibility: ProcessVisibility?)
        async throws -> ProcessRecord
    {
        let current = try await owned(id, by: user)
        let (load, workflow) = try Publishing.load(sources)
        guard workflow.name == id else {
            throw PublishingError.invalid(
                "the workflow is `\(workflow.name)`, not `\(id)`: a process is replaced by a workflow of the same name")
        }
        try check(load, visibility: visibility ?? current.visibility, user: user)
        var record = current
        record.version = ProcessRecord.nextVersion(after: current.version, declared: workflow.version)
        record.visibility = visibility ?? current.visibility
        record.documents = load.sources.map { ProcessDocument(path: $0.path, text: $0.text) }
        record.updatedAt = Date()
        guard try await processes.replaceProcess(record) else { throw PublishingError.notFound(id) }
        return record
    }

    /// Undeploys process `id` (its publisher's, or an admin's); its jobs go on.
    public func undeploy(_ id: String, by user: UserRecord) async throws {
        _ = try await owned(id, by: user)
        guard try await processes.undeployProcess(id) else { throw PublishingError.notFound(id) }
    }

    /// Process `id` if `user` may see it (nil: anonymous); not found otherwise (another's
    /// private process is not revealed).
    public func visible(_ id: String, to user: UserRecord?) async throws -> ProcessRecord {
        guard let p = try await processes.process(id), p.isVisible(to: user) else { throw PublishingError.notFound(id) }
        return p
    }

    /// Process `id` if `user` may change it.
    func owned(_ id: String, by user: UserRecord) async throws -> ProcessRecord {
        let p = try await visible(id, to: user)
        guard p.isOwned(by: user) else {
            throw PublishingError.forbidden(
                "process `\(id)` is \(p.owner)'s: only its publisher (or an admin) changes it")
        }
        return p
    }

    /// What only an admin may publish, and groups a user may publish to.
    func check(_ load: LoadResult, visibility: ProcessVisibility, user: UserRecord) throws {
        if case .group(let g) = visibility, !user.admin, !user.groups.contains(g) {
            throw PublishingError.forbidden("you can publish to your own groups only; you are not in `\(g)`")
        }
        let optOuts = load.documents.isolationOptOuts
        if !user.admin, !optOuts.isEmpty {
            throw PublishingError.forbidden(
                optOuts.map {
                    """
                    \($0): error: `isolation: none` is refused: a tenant's process runs sandboxed (only an admin \
                    may publish tasks outside the sandbox)
                    """
                }.joined(separator: "\n"))
        }
    }
}
