public import Foundation
public import HeavenCore
import HeavenEngine
public import HeavenModel

/// The terms on which a priced job is accepted: its charge, made once the run exists,
/// and the quote it uses, if any.
public struct JobTerms: Sendable {
    public let charge: @Sendable (RunRecord) -> JobCharge
    public let quote: String?
}

/// Billing's use cases: crediting an account, the terms of a priced job, the quote of
/// what it may cost. (Settlement is the engine's, at the job's end: `Charging`.)
public struct Billing: Sendable {
    /// How long a quote may be accepted.
    public static let quoteLifetime: TimeInterval = 3600

    let runs: any RunStore
    let ledger: any LedgerStore
    let accounts: any AccountStore
    /// The bytes of a run's output files, by path (read as the run's tenant).
    let sizes: @Sendable (RunRecord) async throws -> @Sendable (String) -> Int64?

    public init(
        runs: any RunStore, ledger: any LedgerStore, accounts: any AccountStore,
        sizes: @escaping @Sendable (RunRecord) async throws -> @Sendable (String) -> Int64?
    ) {
        self.runs = runs
        self.ledger = ledger
        self.accounts = accounts
        self.sizes = sizes
    }

    /// The account `name` names: `user:NAME` (a user's; a bare name too), `group:NAME` (a
    /// group some user is in), or `operator`.
    public func holder(_ name: String) async throws(ApplicationError) -> String {
        let account = name.contains(":") || name == LedgerAccount.operator ? name : LedgerAccount.user(name)
        do {
            if account.hasPrefix("user:") {
                guard try await accounts.user(String(account.dropFirst(5))) != nil else {
                    throw ApplicationError.notFound("no user \(account.dropFirst(5))")
                }
            } else if account.hasPrefix("group:") {
                let group = String(account.dropFirst(6))
                guard try await accounts.users().contains(where: { $0.groups.contains(group) }) else {
                    throw ApplicationError.notFound("no user is in group \(group)")
                }
            } else if account != LedgerAccount.operator {
                throw ApplicationError.invalid("`\(name)` is not an account: user:NAME, group:NAME or operator")
            }
        } catch let e as ApplicationError {
            throw e
        } catch {
            throw .failed("\(error)")
        }
        return account
    }

    /// An admin's credit to `account` (`holder`'s form), from the `mint` account: the
    /// account's balances after it.
    public func credit(
        _ account: String, amount: Double, currency: String?, memo: String?, by user: UserRecord
    ) async throws(ApplicationError) -> (account: String, balances: [String: Money]) {
        guard user.admin else { throw .forbidden("only admins credit accounts") }
        let account = try await holder(account)
        let currency = currency ?? "credits"
        guard Price.isCurrency(currency) else {
            throw .invalid("`\(currency)` is not a currency: `credits`, or an ISO 4217 code such as EUR")
        }
        guard let money = Money(value: amount), money > .zero else {
            throw .invalid("`amount`: a credit is a positive amount of at most \(Money.maximum), not \(amount)")
        }
        do {
            _ = try await ledger.post(
                LedgerTransaction(
                    id: "credit:\(UUID().uuidString.lowercased())", kind: .credit,
                    memo: memo ?? "credited by \(user.name)",
                    lines: [LedgerLine(LedgerAccount.mint, -money, currency), LedgerLine(account, money, currency)]),
                funding: nil)
            return (account, try await ledger.balances(of: account))
        } catch {
            throw .failed("\(error)")
        }
    }

    /// A priced job's bill: its terms, how its run stands, what it cost so far, whether it
    /// is settled, and every movement it caused.
    public struct Bill: Sendable {
        public var charge: JobCharge
        public var status: RunStatus
        public var value: Money
        public var resources: Money
        public var fee: Money
        public var settled: Bool
        public var movements: [LedgerTransaction]
    }

    /// The bill of the job `charge` is the terms of.
    public func bill(_ charge: JobCharge) async throws -> Bill {
        let movements = try await ledger.transactions(job: charge.job)
        let (value, resources, fee, settled) = Charging.costs(charge, movements)
        let status = try await runs.run(charge.job)?.status ?? .failed
        return Bill(
            charge: charge, status: status, value: value, resources: resources, fee: fee, settled: settled,
            movements: movements)
    }

    /// What a published process earned: its priced jobs, those that succeeded, the value,
    /// fee and resources of those in `currency` (its price's).
    public struct Earnings: Sendable, Equatable {
        public var currency: String
        public var jobs: Int
        public var succeeded: Int
        public var value: Money
        public var fee: Money
        public var resources: Money

        public init(currency: String, jobs: Int, succeeded: Int, value: Money, fee: Money, resources: Money) {
            self.currency = currency
            self.jobs = jobs
            self.succeeded = succeeded
            self.value = value
            self.fee = fee
            self.resources = resources
        }
    }

    /// The earnings of `process`, priced in `currency` (nil: its jobs' own), from its last
    /// 100,000 priced jobs: their movements read at once, a run's status only where no value
    /// came in.
    public func earnings(of process: ProcessRecord, currency priced: String?) async throws -> Earnings {
        let charges = try await ledger.charges(process: process.id, limit: 100_000)
        let currency = priced ?? charges.first?.currency ?? "credits"
        let counted = charges.filter { $0.currency == currency }
        let movements = try await ledger.transactions(jobs: counted.map(\.job))
        var e = Earnings(
            currency: currency, jobs: charges.count, succeeded: 0, value: .zero, fee: .zero, resources: .zero)
        for c in counted {
            let costs = Charging.costs(c, movements[c.job] ?? [])
            e.value += costs.value
            e.fee += costs.fee
            e.resources += costs.resources
            if costs.value > .zero {
                e.succeeded += 1
            } else if try await runs.run(c.job)?.status == .succeeded {
                e.succeeded += 1
            }
        }
        return e
    }

    /// The terms on which a job of `process` is accepted (nil: it is free), or what is
    /// missing: a budget (`budget`: amount and currency, the price's when none), one in the
    /// price's currency, one that covers the fixed part. An accepted `quote` stands for
    /// the budget.
    public static func terms(
        process: ProcessRecord, price: Price?, budget: (amount: Double, currency: String?)?, quote: Quote?,
        user: UserRecord, feePercent: Double
    ) throws(ApplicationError) -> JobTerms? {
        guard let price else { return nil }
        let amount: Money
        let currency: String
        if let quote {
            (amount, currency) = (quote.amount, quote.currency)
        } else {
            guard let budget else {
                throw .paymentRequired(
                    """
                    process `\(process.id)` is priced (\(describe(price))): send a budget, \"budget\": \
                    {\"amount\": A, \"currency\": \"\(price.currency)\"}, or accept a quote (POST \
                    /processes/\(process.id)/quotation)
                    """,
                    missing: "budget")
            }
            guard let m = Money(value: budget.amount), m >= .zero else {
                throw .outOfRange(
                    "`budget.amount`: a budget is an amount from 0 to \(Money.maximum), not \(budget.amount)")
            }
            (amount, currency) = (m, budget.currency ?? price.currency)
        }
        guard currency == price.currency else {
            throw .paymentRequired(
                "the budget is in \(currency), the price of `\(process.id)` in \(price.currency)", missing: "currency")
        }
        guard amount >= price.run else {
            throw .paymentRequired(
                """
                a budget of \(amount) \(currency) is below the fixed part of the price of `\(process.id)`, \
                \(price.run) \(currency) per run
                """,
                missing: "budget")
        }
        let payer = LedgerAccount.user(user.name)
        let publisher = LedgerAccount.user(process.owner)
        let quoteID = quote?.id
        return JobTerms(
            charge: { run in
                JobCharge(
                    job: run.id, process: process.id, payer: payer, publisher: publisher, currency: currency,
                    budget: amount, feePercent: feePercent, quote: quoteID)
            }, quote: quoteID)
    }

    /// A price as people read it: `3 credits per run + 0.5 per item of tiles + ...`.
    public static func describe(_ p: Price) -> String {
        let parts = p.outputs.keys.sorted().map { name in
            let (unit, amount) = p.outputs[name]!
            return "\(amount) per \(unit == .item ? "item" : "megabyte") of `\(name)`"
        }
        return (["\(p.run) \(p.currency) per run"] + parts).joined(separator: " + ")
    }

    /// A quote for inputs of `size` bytes (`request`: the execute request it answers, as
    /// sent): the fixed part, plus each priced output's part estimated from the past
    /// successful jobs of the process whose inputs were of a size like these (within a
    /// factor of two; all of them when the size is not known), at the most any of them
    /// delivered per byte of input — or, without history, the fixed part only, saying so.
    public func estimate(
        _ process: ProcessRecord, _ priced: Price?, size: Int64, request: String, for user: UserRecord
    ) async throws -> Quote {
        let now = Date()
        let id = "q" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(15)
        guard let price = priced else {
            return Quote(
                id: id, process: process.id, processVersion: process.version, user: user.name, amount: .zero,
                currency: "credits", basis: "the process is free", request: request, createdAt: now,
                expiresAt: now.addingTimeInterval(Billing.quoteLifetime))
        }
        var history: [(bytes: Int64, parts: [String: Money])] = []
        for c in try await ledger.charges(process: process.id, limit: 1000) {
            guard let run = try await runs.run(c.job), run.status == .succeeded, let outputs = run.outputs else {
                continue
            }
            let size = try await sizes(run)
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
                """
                no history: no past job of `\(process.id)` with inputs of a similar size (\(size) bytes) to \
                estimate its outputs from; this is the fixed part only (\(price.run) \(price.currency)): the cost \
                ranges from it upward, the outputs' parts coming on top (\(Billing.describe(price)))
                """
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
            let similarSize =
                "with inputs of a similar size (\(size) bytes, within a factor of two) delivered, "
                + "scaled to this input size"
            basis =
                """
                the fixed part (\(price.run) \(price.currency)) plus, for each priced output, the most that \
                \(similar.count) past job\(similar.count == 1 ? "" : "s") of `\(process.id)` \
                \(size > 0 ? similarSize : "delivered")
                """
        }
        return Quote(
            id: id, process: process.id,
            processVersion: process.version, user: user.name, amount: amount, currency: price.currency, basis: basis,
            request: request, createdAt: now, expiresAt: now.addingTimeInterval(Billing.quoteLifetime),
            minimum: minimum, maximum: maximum)
    }
}
