import ArgumentParser
import Foundation
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel

/// `heaven run FILE...`
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the workflow found in the files.",
        discussion: """
            Every transition is recorded under $HEAVEN_HOME before it is acted upon: after a \
            crash, `kill -9` or Ctrl-C, `heaven resume RUN` finishes the run without running \
            finished tasks again.

              $ heaven run examples/fan-out.yaml --input count=4 --out results --json
              {"outputs":{"total":"results/total.txt"},"run":"r…","status":"succeeded",…}
            """)

    @Argument(help: "YAML files holding the workflow (and the workflows it calls, topologies, sites).")
    var files: [String]

    @Option(name: [.customShort("i"), .long], help: ArgumentHelp("A workflow input.", valueName: "NAME=VALUE"))
    var input: [String] = []

    @Option(help: ArgumentHelp("Copy the workflow's file outputs into this directory.", valueName: "DIR"))
    var out: String?

    @Option(help: "The workflow to run when the files hold several.")
    var workflow: String?

    @Option(
        help: ArgumentHelp(
            """
            Reuse the results of an earlier run's task instances whose command, environment, input files and site \
            kind are unchanged (its inputs and --out are the defaults).
            """,
            valueName: "RUN"))
    var resume: String?

    @Flag(help: "Print one JSON object at the end: {run, status, outputs}.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress display.")
    var quiet = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        let load = Loader.load(paths: files)
        if !load.isValid {
            for d in load.diagnostics { CLI.error(d.description) }
            throw ExitCode(2)
        }
        if let remote = try connection.remote() {
            if resume != nil { throw CLIError("--resume is for runs on this machine, not through a server yet") }
            let declared = (try? Engine.mainWorkflow(in: load.documents, named: workflow))?.inputs ?? []
            try await remote.submit(
                files, workflow: workflow, inputs: CLI.inputs(input), declared: declared, json: json, quiet: quiet,
                out: out)
        }
        let (home, stores) = try CLI.openStore()
        var earlier: String?
        if let resume { earlier = try await CLI.findRun(stores.runs, resume).id }
        try await RunCommand.start(
            load, workflow: workflow, inputs: input, out: out, reusing: earlier, json: json, quiet: quiet, home: home,
            stores: stores)
    }

    /// Creates a run of the files and drives it to its end, here.
    static func start(
        _ load: LoadResult, workflow: String?, inputs: [String], out: String?, reusing: String?, json: Bool,
        quiet: Bool,
        home: HeavenHome, stores: Stores
    ) async throws {
        let engine = Engine(home: home, stores: stores)
        let run: RunRecord
        do {
            run = try await engine.createRun(
                load: load, workflow: workflow, inputs: CLI.inputs(inputs), outDirectory: out, user: CLI.user(),
                directory: FileManager.default.currentDirectoryPath, reusing: reusing)
        } catch let e as EngineError {
            throw CLIError("\(e)")
        } catch {
            throw CLIError("\(error)")
        }
        if !json && !quiet {
            CLI.error(
                "run \(run.id) started (state in \(home.root))"
                    + (reusing.map { ", reusing what run \($0) finished unchanged" } ?? ""))
        }
        try await RunDriver(engine: engine, stores: stores, json: json, quiet: quiet || json).drive(
            run.id, load: load)
    }
}
