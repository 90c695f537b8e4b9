import Foundation
import HeavenAPI
import HeavenApplication
import HeavenCore
import HeavenEngine
import HeavenModel
import Hummingbird

/// The console's account page: the caller's balances and bills; for an admin, every
/// account, every currency's total, and a form to credit an account.
extension ConsoleRoutes {
    func registerAccounts(on router: Router<HeavenContext>) {
        router.get("/console/account") { request, _ in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            return try await accountPage(c, notice: request.uri.queryParameters.get("credited").map { String($0) })
        }
        router.post("/console/accounts/credit") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            try ConsoleRoutes.sameOrigin(request)
            let fields = try await ConsoleRoutes.form(request, context)
            try ConsoleRoutes.checkCSRF(fields["csrf"], c)
            guard c.user.admin else { throw Problem(.forbidden, "only admins credit accounts") }
            let currency = (fields["currency"] ?? "").isEmpty ? "credits" : fields["currency"]!
            guard let amount = Money(fields["amount"] ?? "") else {
                throw Problem(.badRequest, "a credit is a positive amount in credits or an ISO 4217 currency")
            }
            let account: String
            do {
                account = try await server.billing.credit(
                    fields["account"] ?? "", amount: amount.value, currency: currency,
                    memo: "credited by \(c.user.name) from the console", by: c.user
                ).account
            } catch let e as ApplicationError {
                throw Problem(e, invalid: .badRequest)
            }
            return ConsoleRoutes.redirect(
                "/console/account?credited=\(RunRoutes.pathSegment("\(amount) \(currency) to \(account)"))")
        }
    }

    func accountPage(_ c: Caller, notice: String?) async throws -> Response {
        func balances(_ b: [String: Money]) -> String {
            b.isEmpty ? "nothing" : b.keys.sorted().map { "\(b[$0]!) \($0)" }.joined(separator: ", ")
        }
        var mine = [LedgerAccount.user(c.user.name)] + c.user.groups.sorted().map(LedgerAccount.group)
        mine = mine.filter { !$0.isEmpty }
        var accounts: [AccountPageView.Balance] = []
        for a in mine { accounts.append(.init(account: a, balance: balances(try await stores.ledger.balances(of: a)))) }
        let charges = try await stores.ledger.charges(
            involving: c.user.admin ? nil : LedgerAccount.user(c.user.name), limit: 200)
        var bills: [AccountPageView.Bill] = []
        for charge in charges {
            let (value, resources, fee, settled) = Charging.costs(
                charge, try await stores.ledger.transactions(job: charge.job))
            let cur = charge.currency
            bills.append(
                .init(
                    job: charge.job, process: charge.process, payer: charge.payer, publisher: charge.publisher,
                    value: "\(value) \(cur)", fee: "\(fee) \(cur)", resources: "\(resources) \(cur)",
                    budget: "\(charge.budget) \(cur)", state: settled ? "settled" : "held"))
        }
        var values = AccountPageView(accounts: accounts, bills: bills, noBills: bills.isEmpty, csrf: c.session.csrf)
        values.notice = notice.map { "credited \($0.removingPercentEncoding ?? $0)" }
        if c.user.admin {
            let all = try await stores.ledger.allBalances()
            let totals = try await stores.ledger.ledgerTotals()
            values.admin = .init(
                everyone: all.keys.sorted().map { .init(account: $0, balance: balances(all[$0] ?? [:])) },
                totals: totals.isEmpty ? "0" : balances(totals))
        }
        return page("account", title: "Account", values, caller: c)
    }
}
