import ArgumentParser
import Foundation
import HeavenModel
import HeavenServer
import HeavenStore

#if canImport(Glibc)
    import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Heaven as a shared service: the HTTP API v1 for many users at once.",
        discussion: """
            The engine and the broker run inside the server; runs that a previous server
            left unfinished are resumed when it starts. Every route but /healthz and
            /openapi.json needs a bearer token: create users and tokens with `heaven users`.

              $ heaven users add alice --group eo --admin      # prints alice's token, once
              $ heaven serve --listen 127.0.0.1:8080
              $ curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/runs
            """)

    @Option(help: "Address and port to listen on (port 0: any free port, printed at start).")
    var listen = "127.0.0.1:8080"

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else { CLI.fail("--listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got `\(listen)`)") }
        let host = String(listen[..<colon])
        let (home, store) = try CLI.openStore()
        let server = HeavenServer(home: home, store: store)
        let resumed = try await server.resumeInterrupted()
        if !resumed.isEmpty { CLI.error("resuming \(resumed.count) unfinished run(s): \(resumed.joined(separator: ", "))") }
        if try await store.users().isEmpty {
            CLI.error("no users yet: create one with `heaven users add NAME --admin` (it prints a token)")
        }
        try await server.serve(host: host, port: port) { bound in
            // One line on standard output, for scripts that started it with port 0.
            let line = "listening on http://\(host):\(bound)\n"
            _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        }
    }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage the accounts of a shared server (run on the server's machine, against $HEAVEN_HOME).",
        subcommands: [UsersAddCommand.self, UsersListCommand.self, UsersTokenCommand.self, UsersRevokeCommand.self],
        defaultSubcommand: UsersListCommand.self)
}

/// Parses `30d`, `12h`, `90m`: a token's lifetime.
func lifetime(_ text: String?) -> Date? {
    guard let text else { return nil }
    guard case .success(let q) = Quantity.parse(text, as: .seconds), q.value > 0 else {
        CLI.fail("--expires takes a duration such as 30d, 12h or 90m (got `\(text)`)")
    }
    return Date().addingTimeInterval(q.value)
}

struct UsersAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Create a user (or change their groups and role) and print a new token for them, once.",
        discussion: """
              $ heaven users add alice --group eo --admin
              $ heaven users add bob --group eo --expires 30d
            """)

    @Argument(help: "The user's name.") var name: String
    @Option(name: .customLong("group"), help: "A group the user belongs to (repeat for several).") var groups: [String] = []
    @Flag(help: "Make the user an admin (sees and manages everything, reads the audit log).") var admin = false
    @Option(help: "The token's lifetime (e.g. 30d); none: until revoked.") var expires: String?

    func run() async throws {
        guard name.range(of: "^[a-z_][a-z0-9_.-]{0,63}$", options: .regularExpression) != nil else {
            CLI.fail("a user name is lowercase letters, digits, `_`, `.` or `-`, starting with a letter (got `\(name)`)")
        }
        let until = lifetime(expires)
        let (_, store) = try CLI.openStore()
        let existing = try await store.user(name)
        try await store.saveUser(
            UserRecord(name: name, groups: groups, admin: admin, createdAt: existing?.createdAt ?? Date()))
        let (id, token) = try await Tokens.issue(for: name, store: store, label: "created by heaven users add", expires: until)
        CLI.error("\(existing == nil ? "created" : "updated") user \(name)\(admin ? " (admin)" : "")\(groups.isEmpty ? "" : " in \(groups.joined(separator: ", "))"); token \(id)\(until.map { " expires \(ISO8601DateFormatter().string(from: $0))" } ?? ""), shown only now:")
        print(token)
    }
}

struct UsersTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Print a new token for an existing user, once.")

    @Argument(help: "The user's name.") var name: String
    @Option(help: "The token's lifetime (e.g. 30d); none: until revoked.") var expires: String?

    func run() async throws {
        let until = lifetime(expires)
        let (_, store) = try CLI.openStore()
        guard try await store.user(name) != nil else { CLI.fail("no user \(name) (create it with `heaven users add`)") }
        let (id, token) = try await Tokens.issue(for: name, store: store, expires: until)
        CLI.error("token \(id) for \(name), shown only now:")
        print(token)
    }
}

struct UsersListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List users and their tokens (never the tokens' secrets).")

    func run() async throws {
        let (_, store) = try CLI.openStore()
        let users = try await store.users()
        if users.isEmpty {
            print("no users (create one with `heaven users add NAME --admin`)")
            return
        }
        let f = ISO8601DateFormatter()
        var rows = [["USER", "GROUPS", "ROLE", "TOKENS"]]
        for u in users {
            let tokens = try await store.tokens(user: u.name).map { t in
                t.id + (t.revokedAt != nil ? " (revoked)" : t.expiresAt.map { $0 <= Date() ? " (expired)" : " (until \(f.string(from: $0)))" } ?? "")
            }
            rows.append([u.name, u.groups.joined(separator: ","), u.admin ? "admin" : "user", tokens.joined(separator: " ")])
        }
        print(PlanCommand.table(rows))
    }
}

struct UsersRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token by its id (from `heaven users list`).")

    @Argument(help: "The token's id (the 8 characters after `hv_`).") var token: String

    func run() async throws {
        let (_, store) = try CLI.openStore()
        guard try await store.revokeToken(token) else { CLI.fail("no live token \(token)") }
        print("token \(token) revoked")
    }
}
