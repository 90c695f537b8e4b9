import Foundation
import HeavenAPI
import HeavenApplication
import HeavenCore
import HeavenLanguage
import HeavenModel
import Hummingbird

/// Who may see and change what, and the request's parts every resource reads: the one
/// place the routes ask.
struct Access: Sendable {
    let server: HeavenServer
    var stores: Stores { server.stores }

    /// A run the caller may see: theirs, shared with one of their groups, or any for an
    /// admin. Another's run is "not found" (its existence is not revealed). Its id is the
    /// path parameter `parameter` (a job's is `jobID`), and `notFound` says it is not there.
    func visibleRun(
        _ context: HeavenContext, parameter: String = "id",
        notFound: (String) -> Problem = { Problem(.notFound, "no run \($0)") }
    ) async throws -> RunRecord {
        let user = try context.user
        let id = try context.parameters.require(parameter)
        guard let run = try await run(id, visibleTo: user) else { throw notFound(id) }
        return run
    }

    /// Run `id` if `user` may see it (nil when it is absent or not theirs to see): what the
    /// API and the console's sessions both ask.
    func run(_ id: String, visibleTo user: UserRecord) async throws -> RunRecord? {
        try await server.queries.run(id, readBy: user)
    }

    /// Why `user` may not change `run` they can see (shared with them to read only), or nil.
    static func changeRefusal(_ user: UserRecord, _ run: RunRecord) -> Problem? {
        user.admin || run.user == user.name
            ? nil
            : Problem(
                .forbidden, "run \(run.id) belongs to \(run.user); it is shared with you to read, not to change")
    }

    /// A run the caller may change: their own, or any for an admin.
    func ownedRun(
        _ context: HeavenContext, parameter: String = "id",
        notFound: (String) -> Problem = { Problem(.notFound, "no run \($0)") }
    ) async throws -> RunRecord {
        let run = try await visibleRun(context, parameter: parameter, notFound: notFound)
        if let refusal = Access.changeRefusal(try context.user, run) { throw refusal }
        return run
    }

    /// Refuses `user` what a run's tasks printed when the run is a priced job whose results
    /// were withheld (over its budget): its logs would hand the values out. Its
    /// process's publisher and admins still see them.
    func checkNotWithheld(_ run: RunRecord, for user: UserRecord) async throws {
        guard run.withheld, !user.admin else { return }
        if let charge = try await stores.ledger.charge(job: run.id), charge.publisher == LedgerAccount.user(user.name) {
            return
        }
        throw Problem(
            .forbidden,
            """
            job \(run.id)'s results are withheld (the price of what it delivered went past its budget): so are \
            its tasks' logs
            """
        )
    }

    /// Whether the caller owns a registered site (as its owner, or through a group).
    func owns(_ user: UserRecord, _ entry: Catalog.SiteEntry) -> Bool {
        Access.names(entry.site.owner ?? Principal(.user, entry.registeredBy), user)
    }

    /// Whether a principal is `user` or one of their groups.
    static func names(_ p: Principal, _ user: UserRecord) -> Bool {
        p == Principal(.user, user.name) || (p.kind == .group && user.groups.contains(p.name))
    }

    /// YAML documents, loaded and checked; only documents of the allowed kinds.
    func load(documents: [DocumentFile]?, yaml: String?, allowed: Set<String>) throws -> LoadResult {
        var sources: [SourceFile] = []
        if let yaml { sources.append(SourceFile(path: "request.yaml", text: yaml)) }
        for (i, d) in (documents ?? []).enumerated() {
            let path = d.path.map { ($0 as NSString).lastPathComponent } ?? "document-\(i + 1).yaml"
            sources.append(SourceFile(path: path, text: d.text))
        }
        guard !sources.isEmpty else { throw Problem(.badRequest, "no documents: send `documents` (or `yaml`)") }
        if sources.contains(where: { $0.text.isEmpty }) {
            throw Problem(.badRequest, "a document is empty: send its YAML text")
        }
        let load = Loader.load(sources: sources, readingDisk: false)
        guard load.isValid else {
            throw Problem(.unprocessableContent, load.diagnostics.map(\.description).joined(separator: "\n"))
        }
        let d = load.documents
        let present: [(String, Int)] = [
            ("Site", d.sites.count), ("Grant", d.grants.count), ("Topology", d.topologies.count),
            ("Workflow", d.workflows.count),
        ]
        for (kind, count) in present where count > 0 && !allowed.contains(kind) {
            let hint =
                kind == "Site" ? " (register sites with POST /v1/sites)" : kind == "Grant" ? " (POST /v1/grants)" : ""
            throw Problem(.unprocessableContent, "\(kind) documents are not accepted here\(hint)")
        }
        return load
    }

    /// A query parameter of the type the API document gives it: nil when absent, a 400
    /// problem when given twice or not of that type (a boolean is `true`/`false`, or `1`/`0`).
    static func query<T: LosslessStringConvertible>(_ name: String, of request: Request, as type: T.Type) throws -> T? {
        try query(name, of: request, as: type, in: nil)
    }

    /// An integer query parameter that must lie in `range` (400 otherwise).
    static func query(_ name: String, of request: Request, as type: Int.Type, in range: ClosedRange<Int>) throws -> Int?
    {
        try query(name, of: request, as: type, in: Optional(range))
    }

    private static func query<T: LosslessStringConvertible>(
        _ name: String, of request: Request, as type: T.Type, in range: ClosedRange<Int>?
    ) throws -> T? {
        let values = request.uri.queryParameters.getAll(name)
        guard let text = values.first else { return nil }
        guard values.count == 1 else {
            throw Problem(.badRequest, "query parameter `\(name)` is given \(values.count) times")
        }
        let value: T?
        if T.self == Bool.self {
            value = (["true": true, "1": true, "false": false, "0": false] as [String: Bool])[text] as? T
        } else {
            value = T(text)
        }
        guard let value else {
            throw Problem(
                .badRequest,
                """
                query parameter `\(name)` must be \(T.self == Bool.self ? "true or false" : "an integer"), not \
                `\(text)`
                """
            )
        }
        if let range, let n = value as? Int, !range.contains(n) {
            throw Problem(
                .badRequest,
                "query parameter `\(name)` must be from \(range.lowerBound) to \(range.upperBound), not \(n)")
        }
        return value
    }
}
