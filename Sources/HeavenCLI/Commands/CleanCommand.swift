import ArgumentParser
import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel

/// `heaven clean RUN`
struct CleanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove a finished run's working directories, here and on the remote sites it used.",
        discussion: """
            A run that did not succeed keeps its directories on remote hosts for inspection; \
            this removes them, and the run's local working directories. The run's record \
            and logs stay (`heaven status`, `heaven logs`); outputs copied with --out stay.

              $ heaven clean r1a2b3c
              run r1a2b3c: removed its directories on grenoble-ssh and here
            """)

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    func run() async throws {
        let (home, stores) = try CLI.openStore()
        let record = try await CLI.findRun(stores.runs, run)
        if record.status == .running, let pid = record.driver(alive: Engine.processLiveness) {
            throw CLIError("run \(record.id) is running (process \(pid)): cancel it first")
        }
        let sites = Set(((try? await stores.runs.attempts(run: record.id)) ?? []).compactMap(\.site))
        let catalog = try await stores.catalog.catalog()
        var cleaned: [String] = []
        let connectors = Engine.siteConnectors(home: home, secrets: stores.secrets)
        for entry in catalog.sites where sites.contains(entry.site.name) {
            // Sites whose tasks' files are on another machine keep the run's directory there.
            if let c = try? connectors.connector(for: entry.site, user: record.user),
                c is any RemoteStaging, let housekeeping = c as? any RunHousekeeping
            {
                await housekeeping.finishRun(record.id, succeeded: true)
                cleaned.append(entry.site.name)
            }
        }
        // Beneath the run's directory, never through a link (its tasks made what is in it).
        let layout = home.layout(record.id)
        do {
            try await TenantFiles.server.remove(layout.workRoot, beneath: layout.root)
        } catch TenantFileError.missing {
        } catch {
            throw CLIError("cannot remove \(layout.workRoot): \(error)")
        }
        cleaned.append("this machine")
        print("run \(record.id): removed its directories on \(cleaned.joined(separator: " and "))")
    }
}
