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
            b.isEmpty ? "nothing" : b.keys.sorted().map { "\(b[$0]!) \(h($0))" }.joined(separator: ", ")
        }
        var mine = [LedgerAccount.user(c.user.name)] + c.user.groups.sorted().map(LedgerAccount.group)
        mine = mine.filter { !$0.isEmpty }
        var rows: [String] = []
        for a in mine {
            rows.append(
                """
                <tr \
                data-account=\"\(h(a))\"><td>\(h(a))</td><td>\(balances(try await stores.ledger.balances(of: a)))</td>\
                </tr>
                """
            )
        }
        let charges = try await stores.ledger.charges(
            involving: c.user.admin ? nil : LedgerAccount.user(c.user.name), limit: 200)
        var bills: [String] = []
        for charge in charges {
            let (value, resources, fee, settled) = Charging.costs(
                charge, try await stores.ledger.transactions(job: charge.job))
            let cur = h(charge.currency)
            bills.append(
                """
                <tr data-bill=\"\(h(charge.job))\"><td><a \
                href=\"/console/runs/\(h(charge.job))\">\(h(charge.job))</a></td><td>\(h(charge.process))</td><td>\
                \(h(charge.payer))</td><td>\(h(charge.publisher))</td><td>\(value) \
                \(cur)</td><td>\(fee) \(cur)</td><td>\(resources) \(cur)</td><td>\(charge.budget) \
                \(cur)</td><td>\(settled ? "settled" : "held")</td></tr>
                """
            )
        }
        var values: [String: Any] = [
            "accounts": "<table><tr><th>Account</th><th>Balance</th></tr>\(rows.joined())</table>",
            "bills": bills.isEmpty
                ? "<p class=\"hint\">No bills: priced jobs you run or publish appear here.</p>"
                : "<table><tr><th>Job</th><th>Process</th><th>Payer</th><th>Publisher</th><th>Value</th><th>Fee</th>"
                    + "<th>Resources</th><th>Budget</th><th></th></tr>\(bills.joined())</table>",
            "csrf": c.session.csrf,
        ]
        if let notice { values["notice"] = "credited \(notice.removingPercentEncoding ?? notice)" }
        if c.user.admin {
            let all = try await stores.ledger.allBalances()
            let everyone = all.keys.sorted().map {
                "<tr data-account=\"\(h($0))\"><td>\(h($0))</td><td>\(balances(all[$0] ?? [:]))</td></tr>"
            }
            let totals = try await stores.ledger.ledgerTotals()
            values["admin"] =
                """
                <table><tr><th>Account</th><th>Balance</th></tr>\(everyone.joined())</table><p class=\"hint\" \
                id=\"totals\">totals: \(totals.isEmpty ? "0" : balances(totals)) (the ledger balances: always \
                zero)</p>
                """
        }
        return page("account", title: "Account", values, caller: c)
    }
}
