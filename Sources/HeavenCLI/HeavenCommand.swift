public import ArgumentParser
import Foundation
import HeavenConnectors
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `heaven`: the command line of Heaven.
public struct HeavenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "heaven",
        abstract: "Run workflows on computing resources you do not own, durably.",
        discussion: """
            Describe the workflow (and, optionally, the virtual environment it needs) in YAML, then:

              heaven validate examples/fan-out.yaml
              heaven run examples/fan-out.yaml --input count=8 --out results
              heaven status RUN          # or: heaven runs
              heaven resume RUN          # after a crash, kill -9 or Ctrl-C

            State lives under $HEAVEN_HOME (default ~/.local/share/heaven). \
            With a shared server (`heaven serve`), `heaven login URL < token` makes every command \
            that can talk to a server talk to it until `heaven logout` (`--server URL` or \
            HEAVEN_SERVER names another, with HEAVEN_TOKEN; `--local` keeps to this machine). \
            Diagnostics of Heaven itself: HEAVEN_LOG_LEVEL=debug (default warning).
            Exit status: 0 success, 1 the workflow failed, 2 invalid input or usage.
            """,
        version: "0.1.0",
        subcommands: [
            ValidateCommand.self, RunCommand.self, ResumeCommand.self, StatusCommand.self, RunsCommand.self,
            LogsCommand.self, CancelCommand.self, PlanCommand.self, SitesCommand.self, BenchCommand.self,
            CleanCommand.self, ServeCommand.self, UsersCommand.self, LoginCommand.self, LogoutCommand.self,
            SecretsCommand.self,
            ProcessesCommand.self, ExecuteCommand.self, QuoteCommand.self, AccountCommand.self, AccountsCommand.self,
            BillsCommand.self,
        ])

    public init() {}
}

extension HeavenCommand {
    /// Parses the process's arguments and runs the command they name. Usage errors
    /// exit with status 2 (argument-parser's default is 64), as the contract says.
    public static func runMain(_ arguments: [String]? = nil) async {
        let level =
            ProcessInfo.processInfo.environment["HEAVEN_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // Heaven's state is private (0700 directories, 0600 files); tasks keep the user's umask.
        TaskUmask.set(umask(0o077))
        // A pipe whose reader went away is an error to handle, not a signal that kills us.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let e as CLIError {
            CLI.error("heaven: error: \(e.message)")
            Foundation.exit(e.code)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
