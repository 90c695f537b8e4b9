import ArgumentParser
import Foundation
import HeavenAPI
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel

/// `heaven processes`: workflows published as OGC API - Processes processes.
struct ProcessesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processes",
        abstract: "Publish workflows as processes (OGC API - Processes), list, describe and undeploy them.",
        discussion: """
            A process is a published workflow: its id is the workflow's name, its inputs \
            and outputs are described as JSON Schema, and any OGC API - Processes client \
            (OWSLib, QGIS, curl) runs it through `heaven serve` (see docs/ogc.md). With \
            --server (or HEAVEN_SERVER), the processes of that server; otherwise this \
            machine's store.

              $ heaven processes deploy examples/processes/echo.yaml --visibility public
              $ heaven processes list
              $ heaven processes describe echo
              $ heaven processes deploy --replace examples/processes/echo.yaml
              $ heaven processes undeploy echo
            """,
        subcommands: [
            ProcessesDeployCommand.self, ProcessesListCommand.self, ProcessesDescribeCommand.self,
            ProcessesUndeployCommand.self, ProcessesStatsCommand.self,
        ],
        defaultSubcommand: ProcessesListCommand.self)

    /// The caller in this machine's store: its only user, who owns everything in it.
    static func localUser() -> UserRecord { UserRecord(name: CLI.user(), admin: true) }

    /// A publishing error as the command line says it.
    static func run<T>(_ step: () async throws -> T) async throws -> T {
        do { return try await step() } catch let e as PublishingError { throw CLIError("\(e)") }
    }
}

struct ProcessesDeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Publish a workflow (with the workflows it calls) as a process, or replace it with --replace.")

    @Argument(help: "The workflow's YAML files (the files it calls are read too).")
    var files: [String]

    @Option(help: "Who may see and execute it: private, group:NAME (one of your groups) or public.")
    var visibility: String?

    @Flag(help: "Replace the published process of the same id (a higher version; running jobs keep theirs).")
    var replace = false

    @OptionGroup var connection: ServerOption

    func validate() throws {
        if let visibility, ProcessVisibility(visibility) == nil {
            throw ValidationError("--visibility takes private, public or group:NAME (got `\(visibility)`)")
        }
    }

    func run() async throws {
        // The files and those they call, read here and sent (or stored) as they are.
        let load = Loader.load(paths: files)
        guard load.isValid else { throw CLIError(load.diagnostics.map(\.description).joined(separator: "\n")) }
        let chosen = visibility.flatMap(ProcessVisibility.init)
        if let remote = try connection.remote() {
            let (_, workflow) = try await ProcessesCommand.run { try Publishing.load(load.sources) }
            let documents = Documents(documents: ProcessesDeployCommand.relative(load.sources))
            let query = chosen.map { "?visibility=\(Remote.segment($0.description))" } ?? ""
            if replace {
                _ = try await remote.data("PUT", "/processes/\(Remote.segment(workflow.name))\(query)", body: documents)
                let p = try await remote.send(
                    "GET", "/processes/\(Remote.segment(workflow.name))", as: ProcessBody.self)
                print("process \(p.id) replaced: version \(p.version), \(p.visibility ?? "private")")
            } else {
                let p = try await remote.send(
                    "POST", "/processes\(query.isEmpty ? "?visibility=private" : query)", body: documents,
                    as: ProcessSummary.self)
                print("process \(p.id) deployed: version \(p.version), \(p.visibility ?? "private")")
            }
            return
        }
        let (_, stores) = try CLI.openStore()
        let publishing = Publishing(processes: stores.processes)
        let user = ProcessesCommand.localUser()
        let p = try await ProcessesCommand.run {
            if replace {
                let (_, workflow) = try Publishing.load(load.sources)
                return try await publishing.replace(workflow.name, with: load.sources, by: user, visibility: chosen)
            }
            return try await publishing.deploy(load.sources, by: user, visibility: chosen ?? .private)
        }
        print("process \(p.id) \(replace ? "replaced" : "deployed"): version \(p.version), \(p.visibility)")
    }

    /// The files as sent to a server: named relative to the first one's directory (a
    /// `call:` names them so), never by this machine's absolute paths.
    static func relative(_ sources: [SourceFile]) -> [DocumentFile] {
        let root = ((sources.first?.path ?? "") as NSString).deletingLastPathComponent
        return sources.map { s in
            var path = s.path
            if !root.isEmpty, path.hasPrefix(root + "/") { path = String(path.dropFirst(root.count + 1)) }
            return DocumentFile(path: path, text: s.text)
        }
    }
}

struct ProcessesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the processes you may see, by id.")

    @Flag(help: "Print the OGC API - Processes summaries as JSON.")
    var json = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        var summaries: [ProcessSummary] = []
        if let remote = try connection.remote() {
            var path: String? = "/processes?limit=1000"
            while let p = path {
                let page = try await remote.send("GET", p, as: ProcessList.self)
                summaries += page.processes
                path = page.links.first { $0.rel == "next" }.flatMap { URL(string: $0.href) }.map {
                    $0.path + ($0.query.map { "?" + $0 } ?? "")
                }
            }
        } else {
            let (_, stores) = try CLI.openStore()
            for p in try await stores.processes.processes(
                visibleTo: ProcessesCommand.localUser(), limit: 100_000, offset: 0)
            {
                let (_, workflow) = try await ProcessesCommand.run { try Publishing.load(Publishing.sources(p)) }
                summaries.append(
                    ProcessDescription.summary(
                        workflow, version: p.version, visibility: p.visibility.description, owner: p.owner))
            }
        }
        if json {
            print(String(decoding: try APICoding.encoder.encode(summaries), as: UTF8.self))
            return
        }
        if summaries.isEmpty {
            print("no processes (publish one with `heaven processes deploy FILE`)")
            return
        }
        var rows = [["PROCESS", "VERSION", "VISIBILITY", "OWNER", "TITLE"]]
        for s in summaries {
            rows.append([s.id, s.version, s.visibility ?? "", s.owner ?? "", s.title ?? ""])
        }
        print(PlanCommand.table(rows))
    }
}

struct ProcessesDescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe", abstract: "Describe a process: its inputs and outputs, as a client sees them.")

    @Argument(help: "The process's id.") var id: String

    @Flag(help: "Print the OGC API - Processes description (JSON).")
    var json = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        let d: ProcessBody
        if let remote = try connection.remote() {
            d = try await remote.send("GET", "/processes/\(Remote.segment(id))", as: ProcessBody.self)
        } else {
            let (_, stores) = try CLI.openStore()
            let p = try await ProcessesCommand.run {
                try await Publishing(processes: stores.processes).visible(id, to: ProcessesCommand.localUser())
            }
            let (_, workflow) = try await ProcessesCommand.run { try Publishing.load(Publishing.sources(p)) }
            d = ProcessDescription.of(
                workflow,
                summary: ProcessDescription.summary(
                    workflow, version: p.version, visibility: p.visibility.description, owner: p.owner))
        }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try e.encode(d), as: UTF8.self))
            return
        }
        print("\(d.id) \(d.version)\(d.title.map { ": \($0)" } ?? "")")
        if let text = d.description { print(text) }
        print("visibility: \(d.visibility ?? "private"), published by \(d.owner ?? "?")")
        print("inputs:")
        if d.inputs.isEmpty { print("  (none)") }
        for (name, i) in d.inputs.sorted(by: { $0.key < $1.key }) {
            let optional = i.minOccurs == 0 ? " (optional)" : ""
            print("  \(name): \(i.schema.jsonText)\(optional)\(i.description.map { " — \($0)" } ?? "")")
        }
        print("outputs:")
        if d.outputs.isEmpty { print("  (none)") }
        for (name, o) in d.outputs.sorted(by: { $0.key < $1.key }) {
            print("  \(name): \(o.schema.jsonText)\(o.description.map { " — \($0)" } ?? "")")
        }
    }
}

struct ProcessesUndeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undeploy", abstract: "Undeploy a process you published (its jobs go on).")

    @Argument(help: "The process's id.") var id: String

    @OptionGroup var connection: ServerOption

    func run() async throws {
        if let remote = try connection.remote() {
            _ = try await remote.data("DELETE", "/processes/\(Remote.segment(id))")
        } else {
            let (_, stores) = try CLI.openStore()
            try await ProcessesCommand.run {
                try await Publishing(processes: stores.processes).undeploy(id, by: ProcessesCommand.localUser())
            }
        }
        print("process \(id) undeployed")
    }
}
