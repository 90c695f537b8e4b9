import ArgumentParser
import Foundation
import HeavenApplication
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel

/// `heaven resume RUN [--with FILE...]`
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue an interrupted or failed run without re-running finished tasks.",
        discussion: """
            Attempts that were running when the run stopped are recorded as lost (their \
            processes killed if still alive) and run again as new attempts. The run goes on \
            with the files it was started with.

            After fixing the workflow, `--with` runs the fixed files as a new run that reuses \
            every task instance of this one whose command, environment, input files (by \
            content) and site kind are unchanged, and runs the rest (the same as `heaven run \
            FILE... --resume RUN`); its inputs and output directory are this run's unless given.

              $ heaven resume r1a2b3c
              run r1a2b3c succeeded in 4.1s
              $ heaven resume r1a2b3c --with fixed.yaml
              run r9x8y7z started (…), reusing what run r1a2b3c finished unchanged
            """)

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    @Option(
        name: .customLong("with"),
        help: ArgumentHelp(
            "Run these files (the fixed workflow) as a new run reusing this run's unchanged results.",
            valueName: "FILE"))
    var files: [String] = []

    @Option(
        name: [.customShort("i"), .long],
        help: ArgumentHelp("With --with: a workflow input (default: this run's).", valueName: "NAME=VALUE"))
    var input: [String] = []

    @Option(
        help: ArgumentHelp(
            "Copy the workflow's file outputs into this directory (default: the run's own --out).", valueName: "DIR"))
    var out: String?

    @Option(help: "With --with: the workflow to run when the files hold several.")
    var workflow: String?

    @Flag(help: "Print one JSON object at the end: {run, status, outputs}.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress display.")
    var quiet = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        if let remote = try connection.remote() {
            if !files.isEmpty || !input.isEmpty || workflow != nil {
                throw CLIError(
                    """
                    --with, --input and --workflow are for runs on this machine: through a server, submit the \
                    fixed files with `heaven run`
                    """
                )
            }
            try await remote.resume(run, json: json, quiet: quiet, out: out)
        }
        let (home, stores) = try CLI.openStore()
        var record = try await CLI.findRun(stores.runs, run)
        if !files.isEmpty {
            let load = Loader.load(paths: files)
            if !load.isValid {
                for d in load.diagnostics { CLI.error(d.description) }
                throw ExitCode(2)
            }
            try await RunCommand.start(
                load, workflow: workflow, inputs: input, out: out, reusing: record.id, json: json, quiet: quiet,
                home: home, stores: stores)
            return
        }
        if !input.isEmpty || workflow != nil {
            throw CLIError("--input and --workflow go with --with: a resumed run keeps its own inputs and workflow")
        }
        if record.status == .succeeded {
            // Nothing to resume: where its outputs go, if asked, and its report.
            if let out, HeavenHome.absolute(out) != record.outDirectory {
                record.outDirectory = HeavenHome.absolute(out)
                try await stores.runs.updateRun(record)
            }
            if json { print(CLI.json(record)) } else { CLI.report(record) }
            return
        }
        let engine = Engine(home: home, stores: stores)
        do {
            // The rule every transport applies (HeavenApplication's RunControl).
            record = try await RunControl(engine: engine, runs: stores.runs, ledger: stores.ledger).resume(
                record, drivenHere: false, outDirectory: out.map(HeavenHome.absolute))
        } catch let refused as ApplicationError {
            if let pid = record.driver(alive: Engine.processLiveness) {
                throw CLIError("run \(record.id) is being driven by process \(pid); cancel it or wait for it")
            }
            guard record.status == .cancelled else { throw CLIError("\(refused)") }
            // Here, how to run it again: the same files, reusing what it finished.
            let paths = try await stores.runs.documents(run: record.id).map(\.path)
            let finished = try await stores.runs.succeededOutputs(run: record.id).count
            throw CLIError(
                """
                run \(record.id) was cancelled, and a cancelled run does not resume. To run it again, reusing the \
                \(Wording.count(finished, "task")) it finished: heaven run \(paths.joined(separator: " ")) \
                --resume \(record.id)
                """
            )
        }
        try await RunDriver(engine: engine, stores: stores, json: json, quiet: quiet || json).drive(record.id)
    }
}
