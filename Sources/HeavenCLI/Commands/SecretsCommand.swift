import ArgumentParser
import Foundation
import HeavenAPI
import HeavenCore
import HeavenEngine

struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Your secrets: values your tasks get in their environment, never recorded in clear.",
        discussion: """
            A task names a secret in its `env` (`env: {TOKEN: {secret: copernicus}}`); the \
            value is sealed (AES-GCM) in the store and opened only to start the task. \
            With --server (or HEAVEN_SERVER), your secrets on that server.

              $ heaven secrets set copernicus < token.txt
              $ heaven secrets list
            """,
        subcommands: [SecretsSetCommand.self, SecretsListCommand.self, SecretsDeleteCommand.self],
        defaultSubcommand: SecretsListCommand.self)
}

func checkSecretName(_ name: String) throws {
    if let problem = Secrets.nameProblem(name) { throw CLIError("\(problem) (got `\(name)`)") }
}

struct SecretsSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set a secret; its value is read from standard input (one line, or all of it with --all).")

    @Argument(help: "The secret's name.") var name: String
    @Flag(help: "Read all of standard input (several lines), not just its first line.") var all = false
    @OptionGroup var connection: ServerOption

    func run() async throws {
        try checkSecretName(name)
        var value: String
        if all {
            value = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let line = readLine(strippingNewline: true) else { throw CLIError("no value on standard input") }
            value = line
        }
        if value.isEmpty { throw CLIError("the value is empty") }
        if let remote = try connection.remote() {
            _ = try await remote.data("PUT", "/v1/secrets/\(name)", body: SecretValue(value: value))
        } else {
            let (home, stores) = try CLI.openStore()
            try await Secrets(home: home, store: stores.secrets).set(owner: CLI.user(), name: name, value: value)
        }
        value = ""
        print("secret \(name) set")
    }
}

struct SecretsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List your secrets' names (never their values).")

    @OptionGroup var connection: ServerOption

    func run() async throws {
        var rows = [["SECRET", "SET"]]
        if let remote = try connection.remote() {
            for s in try await remote.send("GET", "/v1/secrets", as: SecretList.self).secrets {
                rows.append([s.name, ISO8601DateFormatter().string(from: s.updated)])
            }
        } else {
            let (_, stores) = try CLI.openStore()
            for s in try await stores.secrets.secretNames(owner: CLI.user()) {
                rows.append([s.name, ISO8601DateFormatter().string(from: s.updated)])
            }
        }
        if rows.count == 1 {
            print("no secrets (set one with `heaven secrets set NAME < file`)")
            return
        }
        print(PlanCommand.table(rows))
    }
}

struct SecretsDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a secret.")

    @Argument(help: "The secret's name.") var name: String
    @OptionGroup var connection: ServerOption

    func run() async throws {
        try checkSecretName(name)
        if let remote = try connection.remote() {
            _ = try await remote.data("DELETE", "/v1/secrets/\(name)")
        } else {
            let (_, stores) = try CLI.openStore()
            guard try await stores.secrets.deleteSecret(owner: CLI.user(), name: name) else {
                throw CLIError("no secret \(name)")
            }
        }
        print("secret \(name) deleted")
    }
}
