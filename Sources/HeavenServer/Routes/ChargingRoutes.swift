import Foundation
import HTTPTypes
import HeavenAPI
import HeavenApplication
import HeavenCore
import HeavenEngine
import HeavenModel
import Hummingbird

/// Charging on the value of services: balances and credits, bills, quotes, a process's
/// accounts; and the terms on which a priced process's job is accepted (a budget or
/// an accepted quote, reserved from the caller's balance; 402 otherwise).
struct ChargingRoutes {
    let server: HeavenServer
    var stores: Stores { server.stores }
    var publishing: Publishing { Publishing(processes: server.stores.processes) }

    static let account = APIParameter(
        "account", in: .path, .string(pattern: "^((user|group):[A-Za-z0-9._-]+|operator|[A-Za-z0-9._-]+)$"),
        "`user:NAME`, `group:NAME`, `operator`, or a user's name")
    static let quoteID = APIParameter("quoteID", in: .path, .string(), "the quote's id")
    static let billID = APIParameter("id", in: .path, .string(), "the bill's id (its job's id)")

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.add(Operations.getAccount) { try await getAccount($0, $1) }
        routes.add(Operations.getAccounts) { try await getAccounts($0, $1) }
        routes.add(Operations.credit) { try await credit($0, $1) }
        routes.add(Operations.getBills) { try await getBills($0, $1) }
        routes.add(Operations.getBill) { try await getBill($0, $1) }
        routes.addRaw(Operations.quotation) { try await quotation($0, $1) }
        routes.add(Operations.getQuote) { try await getQuote($0, $1) }
        routes.addRaw(Operations.accept) { try await accept($0, $1) }
        routes.add(Operations.getStats) { try await getStats($0, $1) }
    }

    // MARK: Handlers

    /// The caller's balances and their groups'.
    func getAccount(_: Request, _ context: HeavenContext) async throws -> AccountList {
        let user = try context.user
        var accounts = [AccountView(account: LedgerAccount.user(user.name), balances: [:])]
        accounts += user.groups.sorted().map { AccountView(account: LedgerAccount.group($0), balances: [:]) }
        for i in accounts.indices {
            accounts[i] = AccountView(
                account: accounts[i].account, balances: try await stores.ledger.balances(of: accounts[i].account))
        }
        return AccountList(accounts: accounts)
    }

    /// Every account's balances and the totals (admins).
    func getAccounts(_: Request, _ context: HeavenContext) async throws -> AccountList {
        guard try context.user.admin else { throw Problem(.forbidden, "only admins see every account") }
        let all = try await stores.ledger.allBalances()
        return AccountList(
            accounts: all.keys.sorted().map { AccountView(account: $0, balances: all[$0] ?? [:]) },
            totals: try await stores.ledger.ledgerTotals())
    }

    /// Credits an account from the mint (admins).
    func credit(_ request: Request, _ context: HeavenContext) async throws -> AccountView {
        let user = try context.user
        guard user.admin else { throw Problem(.forbidden, "only admins credit accounts") }
        let name = try context.parameters.require("account")
        let credit = try await body(CreditRequest.self, of: request, context)
        do {
            let done = try await server.billing.credit(
                name, amount: credit.amount, currency: credit.currency, memo: credit.memo, by: user)
            return AccountView(account: done.account, balances: done.balances)
        } catch {
            throw Problem(error, invalid: .badRequest)
        }
    }

    /// The bills the caller paid or published (an admin: every bill).
    func getBills(_ request: Request, _ context: HeavenContext) async throws -> BillList {
        let user = try context.user
        let limit = try Access.query("limit", of: request, as: Int.self) ?? 100
        guard (1...1000).contains(limit) else { throw Problem(.badRequest, "`limit` is between 1 and 1000") }
        let charges = try await stores.ledger.charges(
            involving: user.admin ? nil : LedgerAccount.user(user.name), limit: limit)
        var bills: [BillView] = []
        for c in charges { bills.append(try await bill(c)) }
        return BillList(bills: bills)
    }

    /// A bill, for its payer, its publisher and admins.
    func getBill(_: Request, _ context: HeavenContext) async throws -> BillView {
        let user = try context.user
        let id = try context.parameters.require("id")
        guard let c = try await stores.ledger.charge(job: id), ChargingRoutes.mayRead(c, user) else {
            throw Problem(.notFound, "no bill \(id)")
        }
        return try await bill(c)
    }

    /// A quote for a priced process's execution.
    func quotation(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let id = try context.parameters.require("processID")
        let process = try await ProcessRoutes.answer { try await publishing.visible(id, to: user) }
        let (_, workflow) = try await ProcessRoutes.answer { try server.processes.parsed(process) }
        let execute = try await body(ExecuteRequest.self, of: request, context)
        // The inputs are checked as an execution would check them (nothing fetched).
        let jobs = JobRoutes(server: server)
        _ = try await jobs.bind(execute.inputs ?? [:], to: workflow, in: nil)
        _ = try jobs.checked(execute.subscriber)
        let quote = try await estimate(process, workflow.price, execute, for: user)
        try await stores.ledger.saveQuote(quote)
        let base = ProcessRoutes.base(request)
        var response = reply(quoteView(quote, base: base), status: .created)
        response.headers[.location] = base + "/quotations/" + quote.id
        return response
    }

    /// A quote, for its asker.
    func getQuote(_ request: Request, _ context: HeavenContext) async throws -> QuoteView {
        let user = try context.user
        let id = try context.parameters.require("quoteID")
        guard let q = try await stores.ledger.quote(id), q.user == user.name || user.admin else {
            throw Problem(.notFound, "no quote \(id)")
        }
        return quoteView(q, base: ProcessRoutes.base(request))
    }

    /// Accepts a quote: the execution it was asked for.
    func accept(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let id = try context.parameters.require("quoteID")
        guard let q = try await stores.ledger.quote(id), q.user == user.name else {
            throw Problem(.notFound, "no quote \(id)")
        }
        if let job = q.job { throw Problem(.conflict, "quote \(id) was already accepted (job \(job))") }
        if q.expiresAt < Date() {
            throw Problem(.conflict, "quote \(id) expired at \(q.expiresAt.formatted(.iso8601)): ask for another")
        }
        let process = try await ProcessRoutes.answer { try await publishing.visible(q.process, to: user) }
        guard process.version == q.processVersion else {
            throw Problem(
                .conflict,
                """
                process `\(q.process)` is now version \(process.version), not the \(q.processVersion) quoted: \
                ask for another quote
                """
            )
        }
        let execute = try JSONDecoder().decode(ExecuteRequest.self, from: Data(q.request.utf8))
        return try await JobRoutes(server: server).run(request, process: process, execute, by: user, quote: q)
    }

    /// A process's accounts, for its publisher and admins.
    func getStats(_: Request, _ context: HeavenContext) async throws -> ProcessStats {
        let user = try context.user
        let id = try context.parameters.require("processID")
        let process = try await ProcessRoutes.answer { try await publishing.visible(id, to: user) }
        guard process.isOwned(by: user) else {
            throw Problem(.forbidden, "process `\(id)`'s accounts are its publisher's (\(process.owner))")
        }
        return try await stats(process)
    }

    // MARK: Terms of a job

    /// A price as people read it (`Billing.describe`).
    static func describe(_ p: Price) -> String { Billing.describe(p) }

    /// 402 Payment Required.
    static let paymentRequiredStatus = HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")

    static func paymentRequired(_ detail: String, missing: String) -> Problem {
        Problem(paymentRequiredStatus, detail, extra: ["missing": missing])
    }

    /// A refusal of the ledger as a 402 (the balance), or a 409 (a used quote).
    static func paymentRequired(_ e: LedgerError) -> Problem { Problem(ApplicationError(e)) }

    // MARK: Accounts, bills, statistics

    static func mayRead(_ c: JobCharge, _ user: UserRecord) -> Bool {
        user.admin || c.payer == LedgerAccount.user(user.name) || c.publisher == LedgerAccount.user(user.name)
    }

    func bill(_ c: JobCharge) async throws -> BillView {
        let b = try await server.billing.bill(c)
        return BillView(
            charge: c, status: b.status,
            costs: JobCosts(currency: c.currency, value: b.value, resources: b.resources, fee: b.fee, budget: c.budget),
            settled: b.settled, movements: b.movements)
    }

    func stats(_ process: ProcessRecord) async throws -> ProcessStats {
        let price = try? server.processes.parsed(process).workflow.price
        let e = try await server.billing.earnings(of: process, currency: price?.currency)
        return ProcessStats(
            processID: process.id, currency: e.currency, jobs: e.jobs, succeeded: e.succeeded, value: e.value,
            fee: e.fee, resources: e.resources)
    }

    // MARK: Quotes

    func quoteView(_ q: Quote, base: String) -> QuoteView {
        QuoteView(
            q,
            links: [
                OGCLink(href: base + "/quotations/" + q.id, rel: "self", type: "application/json", title: "this quote"),
                OGCLink(
                    href: base + "/processes/" + ProcessRoutes.segment(q.process), rel: OGC.Rel.processDescription,
                    type: "application/json", title: "the process"),
            ] + (q.job.map { [OGCLink(href: base + "/jobs/" + $0, rel: "monitor", type: "application/json")] } ?? []))
    }

    /// A quote for an execute request (`Billing.estimate`), its inputs' size counted as
    /// `Charging.inputBytes` counts a job's.
    func estimate(_ process: ProcessRecord, _ priced: Price?, _ execute: ExecuteRequest, for user: UserRecord)
        async throws -> Quote
    {
        try await server.billing.estimate(
            process, priced, size: ChargingRoutes.inputBytes(execute),
            request: String(decoding: try JSONEncoder().encode(execute), as: UTF8.self), for: user)
    }

    /// The size of an execute request's inputs, as `Charging.inputBytes` counts a
    /// job's: inline files' bytes and texts' (0 for links, whose size is not known).
    static func inputBytes(_ e: ExecuteRequest) -> Int64 {
        var total: Int64 = 0
        for (_, v) in e.inputs ?? [:] {
            switch v {
            case .string(let s): total += Int64(s.utf8.count)
            case .object(let o):
                guard case .string(let content)? = o["value"] else { continue }
                if case .string(let enc)? = o["encoding"], enc.lowercased() == "base64" {
                    total += Int64(Data(base64Encoded: content, options: .ignoreUnknownCharacters)?.count ?? 0)
                } else {
                    total += Int64(content.utf8.count)
                }
            default: continue
            }
        }
        return total
    }
}

/// The operations, as the API document describes them.
extension ChargingRoutes {
    enum Operations {
        static let getAccount =
            APIOperation(
                "GET", "/v1/account", "The caller's balances, and their groups', by currency", tag: "charging",
                responses: [APIResponse(200, "the accounts", .json(AccountList.self))])

        static let getAccounts =
            APIOperation(
                "GET", "/v1/accounts",
                "Every account's balances, and every currency's sum over them (zero: the ledger balances) (admins)",
                tag: "charging",
                responses: [
                    APIResponse(200, "the accounts", .json(AccountList.self)), APIResponse(403, "not an admin"),
                ])

        static let credit =
            APIOperation(
                "POST", "/v1/accounts/{account}/credit",
                """
                Credit an account (admins): the amount comes from the `mint` account, whose balance is minus \
                every credit given
                """,
                tag: "charging", parameters: [ChargingRoutes.account], request: CreditRequest.self,
                responses: [
                    APIResponse(200, "the account's balances after the credit", .json(AccountView.self)),
                    APIResponse(400, "not an amount, or a currency that is not one"), APIResponse(403, "not an admin"),
                    APIResponse(404, "no such user or group"),
                ])

        static let getBills =
            APIOperation(
                "GET", "/v1/bills",
                "The bills of priced jobs the caller paid for or published (an admin: every bill), newest first",
                tag: "charging",
                parameters: [
                    APIParameter("limit", in: .query, .integer(minimum: 1, maximum: 1000), "at most this many (100)")
                ], responses: [APIResponse(200, "the bills", .json(BillList.self))])

        static let getBill =
            APIOperation(
                "GET", "/v1/bills/{id}", "A job's bill: its payer, its publisher and admins only", tag: "charging",
                parameters: [ChargingRoutes.billID],
                responses: [APIResponse(200, "the bill", .json(BillView.self)), APIResponse(404, "no such bill")])

        static let quotation =
            APIOperation(
                "POST", "/processes/{processID}/quotation",
                """
                A quote for executing a priced process with these inputs: the fixed part, plus the per-output \
                parts estimated from its past jobs of similar input size
                """,
                tag: "charging", parameters: [ProcessRoutes.processID], request: ExecuteRequest.self,
                responses: [
                    APIResponse(
                        201, "the quote (`Location`: where to accept it); a free process's is 0",
                        .json(QuoteView.self)),
                    APIResponse(
                        400,
                        """
                        an input that is unknown, missing, of the wrong type or out of bounds \
                        (`InvalidParameterValue`)
                        """
                    ),
                    APIResponse(404, "no such process"),
                ])

        static let getQuote =
            APIOperation(
                "GET", "/quotations/{quoteID}", "A quote (its asker's only)", tag: "charging",
                parameters: [ChargingRoutes.quoteID],
                responses: [APIResponse(200, "the quote", .json(QuoteView.self)), APIResponse(404, "no such quote")])

        static let accept =
            APIOperation(
                "POST", "/quotations/{quoteID}",
                """
                Accept a quote: execute the process with the inputs it was asked for, its amount as the budget \
                (as `/processes/{id}/execution` answers)
                """,
                tag: "charging",
                parameters: [
                    ChargingRoutes.quoteID,
                    APIParameter(
                        "Prefer", in: .header, .string(), "`respond-async`: answer at once with the job's status"),
                ],
                responses: [
                    APIResponse(200, "the result", .json(Results.self), or: [("*/*", JobRoutes.rawResult)]),
                    APIResponse(201, "the job, started (`Prefer: respond-async`)", .json(StatusInfo.self)),
                    APIResponse(402, "the balance cannot cover the quoted amount"),
                    APIResponse(404, "no such quote"),
                    APIResponse(409, "the quote expired, was already accepted, or its process changed"),
                ])

        static let getStats =
            APIOperation(
                "GET", "/processes/{processID}/stats",
                """
                A process's accounts (its publisher and admins): jobs, the value they earned, the fee, what their \
                resources cost, the margin
                """,
                tag: "charging", parameters: [ProcessRoutes.processID],
                responses: [
                    APIResponse(200, "the accounts", .json(ProcessStats.self)),
                    APIResponse(403, "not its publisher"), APIResponse(404, "no such process"),
                ])
    }
}
