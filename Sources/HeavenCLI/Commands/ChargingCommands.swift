import ArgumentParser
import Foundation
import HeavenAPI
import HeavenApplication
import HeavenCore
import HeavenEngine
import HeavenModel

/// `heaven accounts`: an admin's view of the ledger: credits, every balance.
struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Credit accounts and list every balance (admins; without --server: this machine's store).",
        discussion: """
            Accounts are `user:NAME`, `group:NAME` and `operator` (the platform's fee). A \
            credit comes from the `mint` account, whose balance is minus every credit ever \
            given: the sum over all accounts is always zero.

              $ heaven accounts credit carol 100
              $ heaven accounts credit group:eo 50 --currency EUR
              $ heaven accounts list
            """,
        subcommands: [AccountsCreditCommand.self, AccountsListCommand.self], defaultSubcommand: AccountsListCommand.self
    )
}

struct AccountsCreditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credit", abstract: "Give an account money (from the mint).")

    @Argument(help: "The account: a user's name, user:NAME, group:NAME or operator.") var account: String
    @Argument(help: "The amount (at most six decimal places).") var amount: String
    @Option(help: "The currency: credits, or an ISO 4217 code.") var currency = "credits"
    @Option(help: "Why, as the ledger keeps it.") var memo: String?
    @OptionGroup var connection: ServerOption

    func validate() throws {
        guard let m = Money(amount), m > .zero else {
            throw ValidationError("AMOUNT is a positive amount such as 100 or 2.5 (got `\(amount)`)")
        }
        guard Price.isCurrency(currency) else {
            throw ValidationError("--currency takes `credits` or an ISO 4217 code such as EUR (got `\(currency)`)")
        }
    }

    func run() async throws {
        let m = Money(amount)!
        if let remote = try connection.remote() {
            let v = try await remote.send(
                "POST", "/v1/accounts/\(Remote.segment(account))/credit",
                body: CreditRequest(amount: m.value, currency: currency, memo: memo), as: AccountView.self)
            print("\(v.account): \(AccountsCommand.balances(v.balances))")
            return
        }
        // Here, the one who may write this machine's store is its admin.
        let (_, stores) = try CLI.openStore()
        let billing = Billing(runs: stores.runs, ledger: stores.ledger, accounts: stores.accounts) { _ in { _ in nil } }
        do {
            let done = try await billing.credit(
                account, amount: m.value, currency: currency, memo: memo ?? "credited by \(CLI.user())",
                by: UserRecord(name: CLI.user(), admin: true))
            print("\(done.account): \(AccountsCommand.balances(done.balances.mapValues(\.value)))")
        } catch .notFound(let why) {
            throw CLIError("\(why) (add one with `heaven users add NAME`)")
        } catch {
            throw CLIError("\(error)")
        }
    }
}

struct AccountsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Every account's balances, and every currency's total (always zero).")

    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ServerOption

    func run() async throws {
        let list: AccountList
        if let remote = try connection.remote() {
            list = try await remote.send("GET", "/v1/accounts", as: AccountList.self)
        } else {
            let (_, stores) = try CLI.openStore()
            let all = try await stores.ledger.allBalances()
            list = AccountList(
                accounts: all.keys.sorted().map { AccountView(account: $0, balances: all[$0] ?? [:]) },
                totals: try await stores.ledger.ledgerTotals())
        }
        if json { return CLI.printJSON(list) }
        var rows = [["ACCOUNT", "BALANCE"]]
        for a in list.accounts { rows.append([a.account, AccountsCommand.balances(a.balances)]) }
        print(PlanCommand.table(rows))
        if let totals = list.totals { print("totals: \(AccountsCommand.balances(totals, zero: true))") }
    }
}

extension AccountsCommand {
    /// `12.5 credits, 3 EUR` (or `nothing`).
    static func balances(_ b: [String: Double], zero: Bool = false) -> String {
        let shown = b.keys.sorted().map { "\(Money(value: b[$0]!) ?? .zero) \($0)" }
        return shown.isEmpty ? (zero ? "0" : "nothing") : shown.joined(separator: ", ")
    }
}

/// `heaven account`: the caller's balances.
struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account", abstract: "Your balances, and your groups', by currency.",
        discussion: """
              $ heaven account --server http://127.0.0.1:8080
              user:carol: 16.588364 credits
            """)

    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ServerOption

    func run() async throws {
        let list: AccountList
        if let remote = try connection.remote() {
            list = try await remote.send("GET", "/v1/account", as: AccountList.self)
        } else {
            let (_, stores) = try CLI.openStore()
            let me = LedgerAccount.user(CLI.user())
            list = AccountList(accounts: [AccountView(account: me, balances: try await stores.ledger.balances(of: me))])
        }
        if json { return CLI.printJSON(list) }
        for a in list.accounts { print("\(a.account): \(AccountsCommand.balances(a.balances))") }
    }
}

/// `heaven bills`: the bills of priced jobs the caller paid or published.
struct BillsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bills",
        abstract: "The bills of priced jobs you paid for or published (one in full with its id).",
        discussion: """
              $ heaven bills --server http://127.0.0.1:8080
              $ heaven bills JOB --server http://127.0.0.1:8080
            """)

    @Argument(help: "A job's id: its bill in full, every movement.") var id: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ServerOption

    func run() async throws {
        guard let remote = try connection.remote() else {
            throw CLIError("bills are a server's: name it with --server (or HEAVEN_SERVER)")
        }
        if let id {
            let b = try await remote.send("GET", "/v1/bills/\(Remote.segment(id))", as: BillView.self)
            if json { return CLI.printJSON(b) }
            print(
                """
                job \(b.job) of \(b.process): \
                \(b.status.rawValue)\(b.settled ? ", settled" : ", open (its budget is held)")
                """
            )
            print("payer \(b.payer), publisher \(b.publisher)")
            print(BillsCommand.costs(b.costs))
            for m in b.movements {
                print("  \(m.kind): \(m.memo)")
                for l in m.lines {
                    print(
                        "    \(l.account) \(l.amount >= 0 ? "+" : "")\(Money(value: l.amount) ?? .zero) \(l.currency)")
                }
            }
            return
        }
        let list = try await remote.send("GET", "/v1/bills", as: BillList.self)
        if json { return CLI.printJSON(list) }
        if list.bills.isEmpty { return print("no bills") }
        var rows = [["JOB", "PROCESS", "STATUS", "PAYER", "PUBLISHER", "VALUE", "RESOURCES", "FEE", "BUDGET"]]
        for b in list.bills {
            let c = b.costs
            rows.append([
                b.job, b.process, b.status.rawValue, b.payer, b.publisher, BillsCommand.amount(c.value, c.currency),
                BillsCommand.amount(c.resources, c.currency), BillsCommand.amount(c.fee, c.currency),
                BillsCommand.amount(c.budget, c.currency),
            ])
        }
        print(PlanCommand.table(rows))
    }

    static func amount(_ v: Double, _ currency: String) -> String { "\(Money(value: v) ?? .zero) \(currency)" }

    static func costs(_ c: JobCosts) -> String {
        """
        value \(amount(c.value, c.currency)) (fee \(amount(c.fee, c.currency))), resources \
        \(amount(c.resources, c.currency)), budget \(amount(c.budget, c.currency))
        """
    }
}

/// `heaven processes stats`: a process's accounts, for its publisher.
struct ProcessesStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "A process's accounts (its publisher's): jobs, value earned, fee, resources paid, margin.",
        discussion: """
              $ heaven processes stats ndvi-grid --server http://127.0.0.1:8080
              ndvi-grid: 1 priced job, 1 paid for
              value 3.411636 credits − fee 0.341163 credits − resources 0.013215 credits = margin 3.057258 credits
            """)

    @Argument(help: "The process's id.") var id: String
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ServerOption

    func run() async throws {
        guard let remote = try connection.remote() else {
            throw CLIError("a process's accounts are a server's: name it with --server (or HEAVEN_SERVER)")
        }
        let s = try await remote.send("GET", "/processes/\(Remote.segment(id))/stats", as: ProcessStats.self)
        if json { return CLI.printJSON(s) }
        let a = { (v: Double) in BillsCommand.amount(v, s.currency) }
        print("\(s.processID): \(s.jobs) priced job\(s.jobs == 1 ? "" : "s"), \(s.succeeded) paid for")
        print("value \(a(s.value)) − fee \(a(s.fee)) − resources \(a(s.resources)) = margin \(a(s.margin))")
    }
}

/// Inputs given on the command line (`NAME=VALUE`, a file as `NAME=PATH`, as `heaven
/// run` takes it) as an execute request's, typed by the process's description.
enum CommandInputs {
    static func request(_ given: [String], description d: ProcessBody) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for item in given {
            guard let eq = item.firstIndex(of: "=") else {
                throw CLIError("--input takes NAME=VALUE (a file: NAME=PATH), not `\(item)`")
            }
            let name = String(item[..<eq])
            let text = String(item[item.index(after: eq)...])
            guard let input = d.inputs[name] else {
                let known = d.inputs.keys.sorted()
                throw CLIError(
                    "process `\(d.id)` has no input `\(name)`"
                        + (known.isEmpty ? "" : " (it has: \(known.joined(separator: ", ")))"))
            }
            var type = ""
            var binary = false
            if case .object(let s) = input.schema {
                if case .string(let t)? = s["type"] { type = t }
                binary = s["contentEncoding"] == .string("binary")
            }
            if binary {
                guard let data = FileManager.default.contents(atPath: text) else {
                    throw CLIError(CLI.fileInputProblem(name: name, path: text))
                }
                out[name] = .object([
                    "value": .string(data.base64EncodedString()), "encoding": .string("base64"),
                    "mediaType": .string(ProcessDescription.mediaType(of: text) ?? "application/octet-stream"),
                ])
                continue
            }
            switch type {
            case "integer":
                guard let i = Int(text) else { throw CLIError("input `\(name)` is an integer, not `\(text)`") }
                out[name] = .int(i)
            case "number":
                guard let x = Double(text) else { throw CLIError("input `\(name)` is a number, not `\(text)`") }
                out[name] = .double(x)
            case "boolean":
                guard text == "true" || text == "false" else {
                    throw CLIError("input `\(name)` is true or false, not `\(text)`")
                }
                out[name] = .bool(text == "true")
            case "array", "object":
                guard let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                    throw CLIError(
                        "input `\(name)` is JSON (\(type == "array" ? "a list" : "an object")), not `\(text)`")
                }
                out[name] = v
            default: out[name] = .string(text)
            }
        }
        return out
    }
}

/// `heaven quote`: what executing a process with these inputs is expected to cost.
struct QuoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quote",
        abstract: "Ask a server for a quote: what executing a priced process with these inputs should cost.",
        discussion: """
            The quote holds an hour; accept it with `heaven execute --quote ID`.

              $ heaven quote ndvi --input red=B04.tif --input nir=B08.tif --server http://127.0.0.1:8080
            """)

    @Argument(help: "The process's id.") var process: String
    @Option(
        name: .customLong("input"),
        help: "An input, NAME=VALUE (a file: NAME=PATH, as for `heaven run`); repeat for several.")
    var inputs: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ServerOption

    func run() async throws {
        guard let remote = try connection.remote() else {
            throw CLIError("quotes are a server's: name it with --server (or HEAVEN_SERVER)")
        }
        let d = try await remote.send("GET", "/processes/\(Remote.segment(process))", as: ProcessBody.self)
        let request = ExecuteRequest(inputs: try CommandInputs.request(inputs, description: d), response: .document)
        let q = try await remote.send(
            "POST", "/processes/\(Remote.segment(process))/quotation", body: request, as: QuoteView.self)
        if json { return CLI.printJSON(q) }
        print("quote \(q.id): \(BillsCommand.amount(q.amount, q.currency)), until \(q.expires.formatted(.iso8601))")
        let top = q.maximum.map { BillsCommand.amount($0, q.currency) } ?? "unknown"
        print("range: \(BillsCommand.amount(q.minimum, q.currency)) to \(top)")
        print(q.basis)
    }
}

/// `heaven execute`: a process executed on a server, waited for, its outputs printed.
struct ExecuteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "execute",
        abstract: "Execute a published process on a server (a priced one within --budget, or an accepted --quote).",
        discussion: """
              $ heaven execute echo --input message=hello --server http://127.0.0.1:8080
              $ heaven execute ndvi --input red=B04.tif --input nir=B08.tif --budget 10
              $ heaven execute --quote q3f2a...
            """)

    @Argument(help: "The process's id (not with --quote).") var process: String?
    @Option(
        name: .customLong("input"),
        help: "An input, NAME=VALUE (a file: NAME=PATH, as for `heaven run`); repeat for several.")
    var inputs: [String] = []
    @Option(help: "The most the job may cost (a priced process), reserved from your balance until it ends.")
    var budget: String?
    @Option(help: "The budget's currency (the price's when left out).") var currency: String?
    @Option(help: "Accept this quote: execute with its inputs, its amount as the budget.") var quote: String?
    @Flag(help: "Print the results document as JSON.") var json = false
    @OptionGroup var connection: ServerOption

    func validate() throws {
        if (process == nil) == (quote == nil) {
            throw ValidationError("name a process, or accept a --quote (one of them)")
        }
        if let budget, Money(budget).map({ $0 >= .zero }) != true {
            throw ValidationError("--budget takes an amount such as 10 or 2.5 (got `\(budget)`)")
        }
    }

    func run() async throws {
        guard let remote = try connection.remote() else {
            throw CLIError("processes run on a server: name it with --server (or HEAVEN_SERVER)")
        }
        let results: Data
        if let quote {
            results = try await remote.data("POST", "/quotations/\(Remote.segment(quote))", body: EmptyBody())
        } else {
            let id = process!
            let d = try await remote.send("GET", "/processes/\(Remote.segment(id))", as: ProcessBody.self)
            var request = ExecuteRequest(
                inputs: try CommandInputs.request(inputs, description: d), response: .document)
            if let budget { request.budget = Budget(amount: Money(budget)!.value, currency: currency) }
            results = try await remote.data("POST", "/processes/\(Remote.segment(id))/execution", body: request)
        }
        if json { return print(String(decoding: results, as: UTF8.self)) }
        let object = try? APICoding.decoder.decode([String: JSONValue].self, from: results)
        for (name, value) in (object ?? [:]).sorted(by: { $0.key < $1.key }) {
            if case .string(let href)? = value["href"] {
                print("\(name): \(href)")
            } else {
                print("\(name): \(value.jsonText)")
            }
        }
        if object == nil { print(String(decoding: results, as: UTF8.self)) }
    }

    struct EmptyBody: Encodable {}
}
