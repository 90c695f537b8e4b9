import Foundation
import HTTPTypes
import HeavenAPI
import HeavenCore
import HeavenEngine
import HeavenModel
import Hummingbird

/// Charging on the value of services: balances and credits, bills, quotes, a process's
/// accounts; and the terms on which a priced process's job is accepted (a budget or
/// an accepted quote, reserved from the caller's balance; 402 otherwise).
struct ChargingRoutes {
    let server: HeavenServer
    var store: any Store { server.store }
    var publishing: Publishing { Publishing(store: server.store) }

    static let account = APIParameter(
        "account", in: .path, .string(pattern: "^((user|group):[A-Za-z0-9._-]+|operator|[A-Za-z0-9._-]+)$"),
        "`user:NAME`, `group:NAME`, `operator`, or a user's name")
    static let quoteID = APIParameter("quoteID", in: .path, .string(), "the quote's id")
    static let billID = APIParameter("id", in: .path, .string(), "the bill's id (its job's id)")
    /// How long a quote holds.
    static let quoteLifetime: TimeInterval = 3600

    func register(_ routes: inout APIRoutes) {
        routes.add(
            APIOperation(
                "GET", "/v1/account", "The caller's balances, and their groups', by currency", tag: "charging",
                responses: [APIResponse(200, "the accounts", .json(AccountList.self))])
        ) { _, context in
            let user = try context.user
            var accounts = [AccountView(account: LedgerAccount.user(user.name), balances: [:])]
            accounts += user.groups.sorted().map { AccountView(account: LedgerAccount.group($0), balances: [:]) }
            for i in accounts.indices {
                accounts[i] = AccountView(
                    account: accounts[i].account, balances: try await store.balances(of: accounts[i].account))
            }
            return AccountList(accounts: accounts)
        }
        routes.add(
            APIOperation(
                "GET", "/v1/accounts",
                "Every account's balances, and every currency's sum over them (zero: the ledger balances) (admins)",
                tag: "charging",
                responses: [
                    APIResponse(200, "the accounts", .json(AccountList.self)), APIResponse(403, "not an admin"),
                ])
        ) { _, context in
            guard try context.user.admin else { throw Problem(.forbidden, "only admins see every account") }
            let all = try await store.allBalances()
            return AccountList(
                accounts: all.keys.sorted().map { AccountView(account: $0, balances: all[$0] ?? [:]) },
                totals: try await store.ledgerTotals())
        }
        routes.add(
            APIOperation(
                "POST", "/v1/accounts/{account}/credit",
                "Credit an account (admins): the amount comes from the `mint` account, whose balance is minus every credit given",
                tag: "charging", parameters: [ChargingRoutes.account], request: CreditRequest.self,
                responses: [
                    APIResponse(200, "the account's balances after the credit", .json(AccountView.self)),
                    APIResponse(400, "not an amount, or a currency that is not one"), APIResponse(403, "not an admin"),
                    APIResponse(404, "no such user or group"),
                ])
        ) { request, context in
            let user = try context.user
            guard user.admin else { throw Problem(.forbidden, "only admins credit accounts") }
            let account = try await holder(try context.parameters.require("account"))
            let credit = try await body(CreditRequest.self, of: request, context)
            let currency = credit.currency ?? "credits"
            guard Price.isCurrency(currency) else {
                throw Problem(
                    .badRequest, "`\(currency)` is not a currency: `credits`, or an ISO 4217 code such as EUR")
            }
            guard let amount = Money(value: credit.amount), amount > .zero else {
                throw Problem(
                    .badRequest,
                    "`amount`: a credit is a positive amount of at most \(Money.maximum), not \(credit.amount)")
            }
            _ = try await store.post(
                LedgerTransaction(
                    id: "credit:\(UUID().uuidString.lowercased())", kind: .credit,
                    memo: credit.memo ?? "credited by \(user.name)",
                    lines: [LedgerLine(LedgerAccount.mint, -amount, currency), LedgerLine(account, amount, currency)]),
                funding: nil)
            return AccountView(account: account, balances: try await store.balances(of: account))
        }
        routes.add(
            APIOperation(
                "GET", "/v1/bills",
                "The bills of priced jobs the caller paid for or published (an admin: every bill), newest first",
                tag: "charging",
                parameters: [
                    APIParameter("limit", in: .query, .integer(minimum: 1, maximum: 1000), "at most this many (100)")
                ], responses: [APIResponse(200, "the bills", .json(BillList.self))])
        ) { request, context in
            let user = try context.user
            let limit = try Access.query("limit", of: request, as: Int.self) ?? 100
            guard (1...1000).contains(limit) else { throw Problem(.badRequest, "`limit` is between 1 and 1000") }
            let charges = try await store.charges(
                involving: user.admin ? nil : LedgerAccount.user(user.name), limit: limit)
            var bills: [BillView] = []
            for c in charges { bills.append(try await bill(c)) }
            return BillList(bills: bills)
        }
        routes.add(
            APIOperation(
                "GET", "/v1/bills/{id}", "A job's bill: its payer, its publisher and admins only", tag: "charging",
                parameters: [ChargingRoutes.billID],
                responses: [APIResponse(200, "the bill", .json(BillView.self)), APIResponse(404, "no such bill")])
        ) { _, context in
            let user = try context.user
            let id = try context.parameters.require("id")
            guard let c = try await store.charge(job: id), ChargingRoutes.mayRead(c, user) else {
                throw Problem(.notFound, "no bill \(id)")
            }
            return try await bill(c)
        }
        routes.addRaw(
            APIOperation(
                "POST", "/processes/{processID}/quotation",
                "A quote for executing a priced process with these inputs: the fixed part, plus the per-output parts estimated from its past jobs of similar input size",
                tag: "charging", parameters: [ProcessRoutes.processID], request: ExecuteRequest.self,
                responses: [
                    APIResponse(
                        201, "the quote (`Location`: where to accept it); a free process's is 0", .json(QuoteView.self)),
                    APIResponse(
                        400,
                        "an input that is unknown, missing, of the wrong type or out of bounds (`InvalidParameterValue`)"
                    ),
                    APIResponse(404, "no such process"),
                ])
        ) { request, context in
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
            try await store.saveQuote(quote)
            let base = ProcessRoutes.base(request)
            var response = reply(quoteView(quote, base: base), status: .created)
            response.headers[.location] = base + "/quotations/" + quote.id
            return response
        }
        routes.add(
            APIOperation(
                "GET", "/quotations/{quoteID}", "A quote (its asker's only)", tag: "charging",
                parameters: [ChargingRoutes.quoteID],
                responses: [APIResponse(200, "the quote", .json(QuoteView.self)), APIResponse(404, "no such quote")])
        ) { request, context in
            let user = try context.user
            let id = try context.parameters.require("quoteID")
            guard let q = try await store.quote(id), q.user == user.name || user.admin else {
                throw Problem(.notFound, "no quote \(id)")
            }
            return quoteView(q, base: ProcessRoutes.base(request))
        }
        routes.addRaw(
            APIOperation(
                "POST", "/quotations/{quoteID}",
                "Accept a quote: execute the process with the inputs it was asked for, its amount as the budget (as `/processes/{id}/execution` answers)",
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
        ) { request, context in
            let user = try context.user
            let id = try context.parameters.require("quoteID")
            guard let q = try await store.quote(id), q.user == user.name else {
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
                    "process `\(q.process)` is now version \(process.version), not the \(q.processVersion) quoted: ask for another quote"
                )
            }
            let execute = try JSONDecoder().decode(ExecuteRequest.self, from: Data(q.request.utf8))
            return try await JobRoutes(server: server).run(request, process: process, execute, by: user, quote: q)
        }
        routes.add(
            APIOperation(
                "GET", "/processes/{processID}/stats",
                "A process's accounts (its publisher and admins): jobs, the value they earned, the fee, what their resources cost, the margin",
                tag: "charging", parameters: [ProcessRoutes.processID],
                responses: [
                    APIResponse(200, "the accounts", .json(ProcessStats.self)),
                    APIResponse(403, "not its publisher"), APIResponse(404, "no such process"),
                ])
        ) { _, context in
            let user = try context.user
            let id = try context.parameters.require("processID")
            let process = try await ProcessRoutes.answer { try await publishing.visible(id, to: user) }
            guard process.isOwned(by: user) else {
                throw Problem(.forbidden, "process `\(id)`'s accounts are its publisher's (\(process.owner))")
            }
            return try await stats(process)
        }
    }

    // MARK: Terms of a job

    /// The terms on which a job of `process` is accepted (nil: it is free), or 402
    /// saying what is missing: a budget, one in the price's currency, one that covers
    /// the fixed part.
    static func terms(
        process: ProcessRecord, price: Price?, budget: Budget?, quote: Quote?, user: UserRecord, feePercent: Double
    ) throws -> (terms: (RunRecord) -> JobCharge, quote: String?)? {
        guard let price else { return nil }
        let amount: Money
        let currency: String
        if let quote {
            (amount, currency) = (quote.amount, quote.currency)
        } else {
            guard let budget else {
                throw paymentRequired(
                    "process `\(process.id)` is priced (\(describe(price))): send a budget, \"budget\": {\"amount\": A, \"currency\": \"\(price.currency)\"}, or accept a quote (POST /processes/\(process.id)/quotation)",
                    missing: "budget")
            }
            guard let m = Money(value: budget.amount), m >= .zero else {
                throw Problem(
                    .unprocessableContent,
                    "`budget.amount`: a budget is an amount from 0 to \(Money.maximum), not \(budget.amount)")
            }
            (amount, currency) = (m, budget.currency ?? price.currency)
        }
        guard currency == price.currency else {
            throw paymentRequired(
                "the budget is in \(currency), the price of `\(process.id)` in \(price.currency)", missing: "currency")
        }
        guard amount >= price.run else {
            throw paymentRequired(
                "a budget of \(amount) \(currency) is below the fixed part of the price of `\(process.id)`, \(price.run) \(currency) per run",
                missing: "budget")
        }
        let payer = LedgerAccount.user(user.name)
        let publisher = LedgerAccount.user(process.owner)
        return (
            { run in
                JobCharge(
                    job: run.id, process: process.id, payer: payer, publisher: publisher, currency: currency,
                    budget: amount, feePercent: feePercent, quote: quote?.id)
            }, quote?.id
        )
    }

    /// A price as people read it: `3 credits per run + 0.5 per item of tiles + ...`.
    static func describe(_ p: Price) -> String {
        let parts = p.outputs.keys.sorted().map { name in
            let (unit, amount) = p.outputs[name]!
            return "\(amount) per \(unit == .item ? "item" : "megabyte") of `\(name)`"
        }
        return (["\(p.run) \(p.currency) per run"] + parts).joined(separator: " + ")
    }

    /// 402 Payment Required.
    static let paymentRequiredStatus = HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")

    static func paymentRequired(_ detail: String, missing: String) -> Problem {
        Problem(paymentRequiredStatus, detail, extra: ["missing": missing])
    }

    /// A refusal of the ledger as a 402 (the balance), or a 409 (a used quote).
    static func paymentRequired(_ e: LedgerError) -> Problem {
        switch e {
        case .insufficient(let account, let currency, let balance, let needed):
            Problem(
                paymentRequiredStatus,
                "\(account) holds \(balance) \(currency), less than the budget of \(needed) \(currency): ask an admin for credit, or send a smaller budget",
                extra: ["missing": "balance", "balance": "\(balance)", "needed": "\(needed)", "currency": currency])
        case .quote(let why): Problem(.conflict, why)
        case .unbalanced(let id): Problem(.internalServerError, "movement \(id) does not add up to zero")
        }
    }

    // MARK: Accounts, bills, statistics

    /// The account an admin credits: `user:NAME` (a user's; a bare name too),
    /// `group:NAME` (a group some user is in), or `operator`.
    func holder(_ name: String) async throws -> String {
        let account = name.contains(":") || name == LedgerAccount.operator ? name : LedgerAccount.user(name)
        if account.hasPrefix("user:") {
            guard try await store.user(String(account.dropFirst(5))) != nil else {
                throw Problem(.notFound, "no user \(account.dropFirst(5))")
            }
        } else if account.hasPrefix("group:") {
            let group = String(account.dropFirst(6))
            guard try await store.users().contains(where: { $0.groups.contains(group) }) else {
                throw Problem(.notFound, "no user is in group \(group)")
            }
        } else if account != LedgerAccount.operator {
            throw Problem(.badRequest, "`\(name)` is not an account: user:NAME, group:NAME or operator")
        }
        return account
    }

    static func mayRead(_ c: JobCharge, _ user: UserRecord) -> Bool {
        user.admin || c.payer == LedgerAccount.user(user.name) || c.publisher == LedgerAccount.user(user.name)
    }

    func bill(_ c: JobCharge) async throws -> BillView {
        let movements = try await store.transactions(job: c.job)
        let (value, resources, fee, settled) = Charging.costs(c, movements)
        let status = try await store.run(c.job)?.status ?? .failed
        return BillView(
            charge: c, status: status,
            costs: JobCosts(currency: c.currency, value: value, resources: resources, fee: fee, budget: c.budget),
            settled: settled, movements: movements)
    }

    func stats(_ process: ProcessRecord) async throws -> ProcessStats {
        let charges = try await store.charges(process: process.id, limit: 100_000)
        var value = Money.zero
        var fee = Money.zero
        var resources = Money.zero
        var succeeded = 0
        var currency = charges.first?.currency ?? "credits"
        if let price = try? server.processes.parsed(process).workflow.price { currency = price.currency }
        for c in charges where c.currency == currency {
            let costs = Charging.costs(c, try await store.transactions(job: c.job))
            value += costs.value
            fee += costs.fee
            resources += costs.resources
            if costs.value > .zero {
                succeeded += 1
            } else if try await store.run(c.job)?.status == .succeeded {
                succeeded += 1
            }
        }
        return ProcessStats(
            processID: process.id, currency: currency, jobs: charges.count, succeeded: succeeded, value: value,
            fee: fee,
            resources: resources)
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

    /// A quote: the fixed part, plus each priced output's part estimated from the past
    /// successful jobs of the process whose inputs were of a size like these (within a
    /// factor of two; all of them when the size is not known), at the most any of them
    /// delivered per byte of input — or, without history, the fixed part only, saying so.
    func estimate(_ process: ProcessRecord, _ priced: Price?, _ execute: ExecuteRequest, for user: UserRecord)
        async throws -> Quote
    {
        try await estimate(
            process, priced, size: ChargingRoutes.inputBytes(execute),
            request: String(decoding: try JSONEncoder().encode(execute), as: UTF8.self), for: user)
    }

    /// A quote for inputs of `size` bytes (`request`: the execute request it answers).
    func estimate(_ process: ProcessRecord, _ priced: Price?, size: Int64, request: String, for user: UserRecord)
        async throws -> Quote
    {
        let now = Date()
        let id = "q" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(15)
        guard let price = priced else {
            return Quote(
                id: id, process: process.id, processVersion: process.version, user: user.name, amount: .zero,
                currency: "credits", basis: "the process is free", request: request, createdAt: now,
                expiresAt: now.addingTimeInterval(ChargingRoutes.quoteLifetime))
        }
        var history: [(bytes: Int64, parts: [String: Money])] = []
        for c in try await store.charges(process: process.id, limit: 1000) {
            guard let run = try await store.run(c.job), run.status == .succeeded, let outputs = run.outputs else {
                continue
            }
            let size = try await server.size(of: run)
            history.append((Charging.inputBytes(run), Charging.delivered(price, outputs: outputs, size: size).parts))
        }
        let similar =
            size > 0
            ? history.filter {
                $0.bytes > 0 && Double($0.bytes) <= 2 * Double(size) && 2 * Double($0.bytes) >= Double(size)
            }
            : history
        var amount = price.run
        var minimum = price.run
        var maximum: Money? = price.run
        let basis: String
        if price.outputs.isEmpty {
            basis = "the fixed part of the price, \(price.run) \(price.currency) per run: nothing else is priced"
        } else if similar.isEmpty {
            maximum = nil
            basis =
                "no history: no past job of `\(process.id)` with inputs of a similar size (\(size) bytes) to estimate its outputs from; this is the fixed part only (\(price.run) \(price.currency)): the cost ranges from it upward, the outputs' parts coming on top (\(ChargingRoutes.describe(price)))"
        } else {
            for name in price.outputs.keys {
                // The most any similar job delivered, scaled to this one's input size.
                let scaled = similar.map { job -> Money in
                    let part = job.parts[name] ?? .zero
                    return size > 0 && job.bytes > 0 ? part.times(Double(size) / Double(job.bytes)) : part
                }
                amount += scaled.max() ?? .zero
                minimum += scaled.min() ?? .zero
            }
            maximum = amount
            basis =
                "the fixed part (\(price.run) \(price.currency)) plus, for each priced output, the most that \(similar.count) past job\(similar.count == 1 ? "" : "s") of `\(process.id)` \(size > 0 ? "with inputs of a similar size (\(size) bytes, within a factor of two) delivered, scaled to this input size" : "delivered")"
        }
        return Quote(
            id: id, process: process.id,
            processVersion: process.version, user: user.name, amount: amount, currency: price.currency, basis: basis,
            request: request, createdAt: now, expiresAt: now.addingTimeInterval(ChargingRoutes.quoteLifetime),
            minimum: minimum, maximum: maximum)
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
