import Foundation
import HeavenModel
import HeavenTestSupport
import Testing

/// A priced process on a priced site: `words` splits a text into its words (a list
/// output, priced per item) on machine `m`, which the broker places on erin's `box`
/// (36 credits per core-hour: 0.01 per core-second).
let wordsProcess = """
    kind: Topology
    name: env
    machines: [{name: m}]
    ---
    kind: Workflow
    name: words
    title: The words of a text
    topology: env
    inputs:
      text: {type: string}
      pause: {type: number, default: 0}
    price:
      currency: credits
      run: 3
      outputs:
        words: {item: 0.5}
    steps:
      - task: split
        on: m
        run: [python3, -c, 'import json, sys, time; time.sleep(float(sys.argv[2])); \
    print(json.dumps(sys.argv[1].split()))', '${inputs.text}', '${inputs.pause}']
        outputs: {words: {stdout: json}}
    outputs: {words: '${split.words}'}
    """

/// A server with a priced site and the `words` process: alice (admin), bob (its
/// publisher), carol (a user, in group eo), dave (another), erin (the site's owner).
struct ChargingBed {
    let s: ServerHarness
    let alice: String
    let bob: String
    let carol: String
    let dave: String
    let erin: String

    init(fee: Int = 10) async throws {
        s = try ServerHarness()
        alice = try s.heaven("users", "add", "alice", "--admin")
        bob = try s.heaven("users", "add", "bob")
        carol = try s.heaven("users", "add", "carol", "--group", "eo")
        dave = try s.heaven("users", "add", "dave")
        erin = try s.heaven("users", "add", "erin")
        try s.start(["--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--platform-fee", "\(fee)"])
        let site = """
            kind: Site
            name: box
            connector: local
            owner: user:erin
            price: 36
            nodes: [{name: n, cores: 2}]
            """
        let grant = "kind: Grant\nname: box-for-eo\nsite: box\nto: group:eo\n"
        for (path, yaml) in [("/v1/sites", site), ("/v1/grants", grant)] {
            let registered = try await s.request(
                "POST", path, token: alice, body: try JSONSerialization.data(withJSONObject: ["yaml": yaml]))
            #expect(registered.status < 300, "\(registered.text)")
        }
        let deployed = try await s.request(
            "POST", "/processes?visibility=public", token: bob, body: Data(wordsProcess.utf8), type: "application/yaml")
        #expect(deployed.status == 201, "\(deployed.text)")
    }

    func credit(_ account: String, _ amount: Double) async throws {
        let r = try await s.request(
            "POST", "/v1/accounts/\(account)/credit", token: alice,
            body: try JSONSerialization.data(withJSONObject: ["amount": amount]))
        #expect(r.status == 200, "\(r.text)")
    }

    func balance(_ token: String) async throws -> Double {
        let accounts = try await s.request("GET", "/v1/account", token: token).json["accounts"] as? [[String: Any]]
        return ((accounts?.first?["balances"] as? [String: Any])?["credits"] as? Double) ?? 0
    }

    func execute(_ token: String, _ body: [String: Any], async: Bool = true) async throws -> ServerHarness.Reply {
        try await s.request(
            "POST", "/processes/words/execution", token: token, body: try JSONSerialization.data(withJSONObject: body),
            extraHeaders: async ? ["Prefer: respond-async"] : [])
    }

    /// The job's id from an accepted execution.
    func job(_ r: ServerHarness.Reply) -> String? { r.json["jobID"] as? String }

    func totals() async throws -> [String: Any] {
        try await s.request("GET", "/v1/accounts", token: alice).json["totals"] as? [String: Any] ?? [:]
    }

    /// Every account's balance in credits, by account (an admin's view).
    func balances() async throws -> [String: Double] {
        let list = try await s.request("GET", "/v1/accounts", token: alice).json["accounts"] as? [[String: Any]] ?? []
        var out: [String: Double] = [:]
        for a in list {
            out[a["account"] as? String ?? ""] = (a["balances"] as? [String: Any])?["credits"] as? Double ?? 0
        }
        return out
    }
}

func close(_ a: Double, _ b: Double, within: Double = 1e-6) -> Bool { abs(a - b) <= within }

@Suite("Charging on the value of services", .serialized, .timeLimit(.minutes(15)))
struct ChargingTests {
    @Test(
        """
        a user pays a priced process's published value within their budget; the publisher gets it less the fee \
        and pays the site's owner for the cores; the publisher's margin is value − fee − resources (checked by \
        hand from the recorded attempts); 402 for each missing thing; a price over budget fails the job unpaid
        """
    )
    func valueAndResources() async throws {
        let b = try await ChargingBed()
        let description = try await b.s.request("GET", "/processes/words", token: b.carol)
        let price = try #require(description.json["price"] as? [String: Any], "\(description.text)")
        #expect(price["run"] as? Double == 3 && price["currency"] as? String == "credits")
        #expect(((price["outputs"] as? [String: Any])?["words"] as? [String: Any])?["item"] as? Double == 0.5)
        try await b.credit("carol", 20)
        // 402, each cause said, and no job made.
        let causes: [([String: Any], String, String)] = [
            (["inputs": ["text": "a b"]], "budget", "send a budget"),
            (["inputs": ["text": "a b"], "budget": ["amount": 10, "currency": "EUR"]], "currency", "is in EUR"),
            (["inputs": ["text": "a b"], "budget": ["amount": 2.5]], "budget", "below the fixed part"),
            (["inputs": ["text": "a b"], "budget": ["amount": 25]], "balance", "holds 20 credits"),
        ]
        for (body, missing, said) in causes {
            let r = try await b.execute(b.carol, body)
            #expect(r.status == 402, "\(body): \(r.status) \(r.text)")
            #expect(
                r.json["missing"] as? String == missing && (r.json["detail"] as? String ?? "").contains(said),
                "\(r.text)")
        }
        #expect((try await b.s.request("GET", "/jobs", token: b.carol).json["jobs"] as? [Any])?.isEmpty == true)
        #expect(try await b.balance(b.carol) == 20)
        // A job within its budget: 3 + 4 × 0.5 = 5 paid; the budget's rest comes back.
        let accepted = try await b.execute(b.carol, ["inputs": ["text": "w x y z"], "budget": ["amount": 8]])
        #expect(accepted.status == 201, "\(accepted.text)")
        let job = try #require(b.job(accepted))
        let ended = try await waitForEnd(b.s, job, token: b.carol)
        #expect(ended["status"] as? String == "succeeded", "\(ended)")
        #expect(try await b.balance(b.carol) == 15)
        let status = try await b.s.request("GET", "/jobs/\(job)", token: b.carol).json
        let costs = try #require(status["costs"] as? [String: Any], "\(status)")
        #expect(costs["value"] as? Double == 5 && costs["fee"] as? Double == 0.5 && costs["budget"] as? Double == 8)
        let usage = try #require(status["usage"] as? [String: Any])
        #expect(usage["wall-seconds"] as? Double ?? -1 >= 0 && usage["bytes-staged"] as? Int == 7)
        #expect((status["links"] as? [[String: Any]])?.contains { $0["rel"] as? String == "bill" } == true)
        // The budget was held while the job ran, then settled: 5 paid, 3 back.
        let movements = try await b.s.request("GET", "/v1/bills/\(job)", token: b.carol).json["movements"]
        let reserve = (movements as? [[String: Any]])?.first { $0["kind"] as? String == "reserve" }
        #expect(
            (reserve?["lines"] as? [[String: Any]])?.contains {
                $0["account"] as? String == "user:carol" && $0["amount"] as? Double == -8
            } == true, "\(movements ?? "")")
        // The site's owner is paid for the cores, at 0.01 per core-second of each attempt.
        let logs = try await b.s.request("GET", "/v1/runs/\(job)/logs", token: b.carol).json["logs"] as? [[String: Any]]
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var coreSeconds = 0.0
        for a in logs ?? [] {
            let start = iso.date(from: a["started"] as? String ?? "")!
            let end = iso.date(from: a["finished"] as? String ?? "")!
            #expect(a["site"] as? String == "box")
            coreSeconds += end.timeIntervalSince(start)
        }
        let resources = try #require(costs["resources"] as? Double)
        #expect(close(resources, 0.01 * coreSeconds, within: 0.0001), "\(resources) for \(coreSeconds) core-seconds")
        #expect(resources > 0)
        let balances = try await b.balances()
        #expect(close(balances["user:erin"] ?? 0, resources))
        #expect(balances["operator"] == 0.5)
        // The publisher's margin: value − fee − resources, and what bob now holds.
        let stats = try await b.s.request("GET", "/processes/words/stats", token: b.bob).json
        #expect(stats["value"] as? Double == 5 && stats["fee"] as? Double == 0.5)
        #expect(close(stats["margin"] as? Double ?? 0, 5 - 0.5 - resources))
        #expect(close(balances["user:bob"] ?? 0, 4.5 - resources))
        #expect(try await b.s.request("GET", "/processes/words/stats", token: b.carol).status == 403)
        // A price over the budget: the job fails, its results withheld, nothing charged.
        let over = try await b.execute(b.carol, ["inputs": ["text": "a b c d e f g h i"], "budget": ["amount": 6]])
        let overJob = try #require(b.job(over), "\(over.text)")
        let failed = try await waitForEnd(b.s, overJob, token: b.carol)
        #expect(failed["status"] as? String == "failed")
        #expect(
            (try await b.s.request("GET", "/jobs/\(overJob)", token: b.carol).json["message"] as? String ?? "")
                .contains("exceeds its budget"))
        #expect(try await b.s.request("GET", "/jobs/\(overJob)/results", token: b.carol).status != 200)
        // Withheld means withheld: not through its tasks' logs either (what `split` printed
        // is the very result); an admin still reads them.
        let withheldLog = try await b.s.request("GET", "/v1/runs/\(overJob)/logs/split", token: b.carol)
        #expect(withheldLog.status == 403 && !withheldLog.text.contains("\"i\""), "\(withheldLog.text)")
        let adminLog = try await b.s.request("GET", "/v1/runs/\(overJob)/logs/split", token: b.alice)
        #expect(adminLog.status == 200 && adminLog.text.contains("\"i\""), "\(adminLog.status) \(adminLog.text)")
        #expect(try await b.balance(b.carol) == 15)
        // A dismissed job is not charged either; its resources are still the publisher's.
        let long = try await b.execute(b.carol, ["inputs": ["text": "a", "pause": 30], "budget": ["amount": 4]])
        let longJob = try #require(b.job(long), "\(long.text)")
        for _ in 0..<200 {
            let logs = try await b.s.request("GET", "/v1/runs/\(longJob)/logs", token: b.carol).json["logs"] as? [Any]
            if logs?.isEmpty == false { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await b.s.request("DELETE", "/jobs/\(longJob)", token: b.carol).status == 200)
        _ = try await waitForEnd(b.s, longJob, token: b.carol)
        #expect(try await b.balance(b.carol) == 15)
        let bill = try await b.s.request("GET", "/v1/bills/\(longJob)", token: b.carol).json
        #expect((bill["costs"] as? [String: Any])?["value"] as? Double == 0 && bill["settled"] as? Bool == true)
        // The ledger balances, and every job's hold is empty.
        #expect(try await b.totals()["credits"] as? Double == 0)
        #expect(try await b.balances().keys.allSatisfy { !$0.hasPrefix("hold:") })
    }

    @Test(
        """
        who sees which bill: its payer, its publisher and admins; no one else (not the site's owner); credits are \
        an admin's
        """
    )
    func billMatrix() async throws {
        let b = try await ChargingBed()
        try await b.credit("carol", 10)
        let r = try await b.execute(b.carol, ["inputs": ["text": "a"], "budget": ["amount": 4]])
        let job = try #require(b.job(r), "\(r.text)")
        _ = try await waitForEnd(b.s, job, token: b.carol)
        for (who, token, status) in [
            ("payer", b.carol, 200), ("publisher", b.bob, 200), ("admin", b.alice, 200), ("another", b.dave, 404),
            ("the site's owner", b.erin, 404),
        ] {
            #expect(try await b.s.request("GET", "/v1/bills/\(job)", token: token).status == status, "\(who)")
            let listed = try await b.s.request("GET", "/v1/bills", token: token).text.contains(job)
            #expect(listed == (status == 200), "\(who) lists it: \(listed)")
        }
        #expect(try await b.s.request("GET", "/v1/bills/\(job)").status == 401)
        for token in [b.carol, b.bob, b.dave] {
            let credit = try await b.s.request(
                "POST", "/v1/accounts/carol/credit", token: token, body: Data(#"{"amount": 5}"#.utf8))
            #expect(credit.status == 403)
            #expect(try await b.s.request("GET", "/v1/accounts", token: token).status == 403)
        }
        #expect(
            try await b.s.request(
                "POST", "/v1/accounts/nobody/credit", token: b.alice, body: Data(#"{"amount": 5}"#.utf8)
            ).status == 404)
        #expect(
            try await b.s.request(
                "POST", "/v1/accounts/carol/credit", token: b.alice, body: Data(#"{"amount": -5}"#.utf8)
            ).status == 400)
        // The console's account page: balances and bills; an admin's, every account and a credit form.
        func signIn(_ token: String) async throws -> String {
            let login = try await b.s.request(
                "POST", "/console/login", body: Data("token=\(token)".utf8), type: "application/x-www-form-urlencoded")
            return "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
        }
        let carols = try await signIn(b.carol)
        let mine = try await b.s.request("GET", "/console/account", extraHeaders: [carols]).text
        #expect(mine.contains("data-account=\"user:carol\"") && mine.contains("6.5 credits"), "\(mine)")
        #expect(mine.contains("data-bill=\"\(job)\"") && !mine.contains("id=\"credit\""))
        let daves = try await signIn(b.dave)
        #expect(!(try await b.s.request("GET", "/console/account", extraHeaders: [daves]).text.contains(job)))
        let alices = try await signIn(b.alice)
        let admin = try await b.s.request("GET", "/console/account", extraHeaders: [alices]).text
        #expect(
            admin.contains("id=\"credit\"") && admin.contains("data-account=\"mint\"") && admin.contains("totals: 0"))
        func csrf(_ page: String) -> String {
            page.range(of: #"name="csrf" value=""#).map { String(page[$0.upperBound...].prefix { $0 != "\"" }) } ?? ""
        }
        let form = "application/x-www-form-urlencoded"
        let credited = try await b.s.request(
            "POST", "/console/accounts/credit", body: Data("csrf=\(csrf(admin))&account=carol&amount=5".utf8),
            type: form, extraHeaders: [alices])
        #expect(credited.status == 303)
        #expect(try await b.balance(b.carol) == 11.5)
        let refused = try await b.s.request(
            "POST", "/console/accounts/credit", body: Data("csrf=\(csrf(mine))&account=carol&amount=5".utf8),
            type: form, extraHeaders: [carols])
        #expect(refused.status == 403)
        #expect(try await b.balance(b.carol) == 11.5)
        // The command line says the same.
        let env = ["HEAVEN_SERVER": "http://127.0.0.1:\(b.s.port)", "HEAVEN_TOKEN": b.carol]
        let account = try b.s.client(["account"], env: env)
        #expect(account.status == 0 && account.stdout.contains("user:carol: 11.5 credits"), "\(account)")
        let bills = try b.s.client(["bills"], env: env)
        #expect(bills.status == 0 && bills.stdout.contains(job) && bills.stdout.contains("3.5 credits"), "\(bills)")
        let stats = try b.s.client(["processes", "stats", "words"], env: env.merging(["HEAVEN_TOKEN": b.bob]) { $1 })
        #expect(stats.status == 0 && stats.stdout.contains("1 priced job, 1 paid for"), "\(stats)")
    }

    @Test(
        """
        quotes: no history says so; with history, the estimate covers a similar job; accepted once as the job's \
        budget; another's quote is not found
        """
    )
    func quotes() async throws {
        let b = try await ChargingBed(fee: 0)
        try await b.credit("carol", 50)
        func quote(_ text: String, _ token: String) async throws -> [String: Any] {
            let r = try await b.s.request(
                "POST", "/processes/words/quotation", token: token,
                body: try JSONSerialization.data(withJSONObject: ["inputs": ["text": text]]))
            #expect(r.status == 201, "\(r.text)")
            return r.json
        }
        let first = try await quote("a b c d", b.carol)
        #expect(
            first["amount"] as? Double == 3 && (first["basis"] as? String ?? "").hasPrefix("no history"), "\(first)")
        #expect(first["minimum"] as? Double == 3 && first["maximum"] == nil, "no history: no upper bound known")
        let bad = try await b.s.request(
            "POST", "/processes/words/quotation", token: b.carol, body: Data(#"{"inputs": {"txt": "a"}}"#.utf8))
        #expect(bad.status == 400 && bad.text.contains("did you mean `text`"))
        // History: a job of 4 words (input of 7 bytes) delivered 2 credits of words.
        let r = try await b.execute(b.carol, ["inputs": ["text": "a b c d"], "budget": ["amount": 10]])
        _ = try await waitForEnd(b.s, try #require(b.job(r)), token: b.carol)
        let second = try await quote("e f g h", b.carol)
        #expect(second["amount"] as? Double == 5, "\(second)")
        #expect(second["minimum"] as? Double == 5 && second["maximum"] as? Double == 5)
        let id = try #require(second["id"] as? String)
        #expect(try await b.s.request("GET", "/quotations/\(id)", token: b.dave).status == 404)
        #expect(try await b.s.request("POST", "/quotations/\(id)", token: b.dave).status == 404)
        let before = try await b.balance(b.carol)
        let accepted = try await b.s.request(
            "POST", "/quotations/\(id)", token: b.carol, extraHeaders: ["Prefer: respond-async"])
        #expect(accepted.status == 201, "\(accepted.text)")
        let job = try #require(b.job(accepted))
        let bill = try await b.s.request("GET", "/v1/bills/\(job)", token: b.carol).json
        #expect((bill["costs"] as? [String: Any])?["budget"] as? Double == 5 && bill["quote"] as? String == id)
        #expect(try await waitForEnd(b.s, job, token: b.carol)["status"] as? String == "succeeded")
        #expect(try await b.balance(b.carol) == before - 5)
        let again = try await b.s.request("POST", "/quotations/\(id)", token: b.carol)
        #expect(again.status == 409 && again.text.contains("already accepted"))
        // The command line asks for one too.
        let cli = try b.s.client(
            ["quote", "words", "--input", "text=a b c d"],
            env: ["HEAVEN_SERVER": "http://127.0.0.1:\(b.s.port)", "HEAVEN_TOKEN": b.carol])
        #expect(cli.status == 0 && cli.stdout.hasPrefix("quote q") && cli.stdout.contains("5 credits"), "\(cli)")
    }

    @Test(
        """
        50 jobs submitted at once against a balance that covers 20 of their budgets: exactly 20 accepted, the \
        balance never below zero
        """
    )
    func concurrentBudgets() async throws {
        let b = try await ChargingBed()
        try await b.credit("carol", 100)
        // The jobs last (a pause far longer than the submissions): no budget comes back
        // while the others are being submitted.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<50 {
                group.addTask {
                    try await b.execute(b.carol, ["inputs": ["text": "w\(i)", "pause": 600], "budget": ["amount": 5]])
                        .status
                }
            }
            var all: [Int] = []
            for try await s in group { all.append(s) }
            return all
        }
        #expect(statuses.filter { $0 == 201 }.count == 20, "\(statuses.sorted())")
        #expect(statuses.filter { $0 == 402 }.count == 30, "\(statuses.sorted())")
        #expect(try await b.balance(b.carol) == 0)
        let jobs = try await b.s.request("GET", "/jobs?limit=100", token: b.carol).json["jobs"] as? [[String: Any]]
        #expect(jobs?.count == 20)
        // Dismissed: nothing charged, every budget back.
        for j in jobs ?? [] {
            let id = j["jobID"] as? String ?? ""
            #expect(try await b.s.request("DELETE", "/jobs/\(id)", token: b.carol).status == 200)
            _ = try await waitForEnd(b.s, id, token: b.carol)
        }
        #expect(try await b.balance(b.carol) == 100)
        #expect(try await b.totals()["credits"] as? Double == 0)
    }

    @Test(
        """
        the server killed with SIGKILL during 20 priced jobs — twice exactly between a job's end and its \
        settlement (a trace point holds it there), twice at random moments — then restarted: every job succeeds \
        and is charged exactly once, and every account's movements add up: the payer's, the publisher's, the site \
        owner's, the platform's
        """
    )
    func killedWhileCharging() async throws {
        let b = try await ChargingBed()
        try await b.credit("carol", 1000)
        var generator = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0..<UInt64.max, using: &generator)
        var random = SplitMix(state: seed)
        let options = ["--task-ids", "\(b.s.taskIDs.lowerBound)-\(b.s.taskIDs.upperBound)", "--platform-fee", "10"]
        // The server at `settle`: a priced run ended, its bill not yet written. Held there, it
        // appends the run's id to `trace` and waits for its kill.
        let trace = b.s.work + "/trace"
        func held() -> [String] {
            ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n").map {
                String($0.dropFirst("settle ".count))
            }
        }
        func restart(aimed: Bool) throws {
            b.s.kill9()
            try b.s.start(options, prefix: aimed ? "env HEAVEN_TRACE_HOLD=settle:\(trace)" : "")
        }
        try restart(aimed: true)
        var jobs: [String] = []
        var aimed: [String] = []
        for i in 0..<20 {
            let r = try await b.execute(
                b.carol, ["inputs": ["text": "a b \(i)", "pause": Double(i % 4) * 0.1], "budget": ["amount": 10]])
            if let j = b.job(r) { jobs.append(j) }
            guard i % 5 == 4 else { continue }
            if (i / 5) % 2 == 0 {
                // Aimed: once a job is held between its end and its settlement (its bill not
                // settled, its run not ended), the kill.
                let before = held().count
                for _ in 0..<600 where held().count == before { try await Task.sleep(for: .milliseconds(50)) }
                let job = try #require(held().dropFirst(before).first, "no job reached its settlement, seed \(seed)")
                let bill = try await b.s.request("GET", "/v1/bills/\(job)", token: b.carol).json
                let kinds = (bill["movements"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
                // Its reservation and what its attempts used are written, its settlement not.
                #expect(
                    kinds.first == "reserve" && !kinds.contains("settle") && !kinds.contains("release")
                        && bill["status"] as? String == "running", "\(job) held at its settlement: \(bill)")
                aimed.append(job)
                try restart(aimed: false)
            } else {
                // At a random moment.
                try await Task.sleep(for: .milliseconds(Int.random(in: 0..<400, using: &random)))
                try restart(aimed: i < 15)
            }
        }
        #expect(jobs.count == 20, "seed \(seed)")
        #expect(aimed.count == 2 && Set(aimed).isSubset(of: jobs), "\(aimed)")
        var succeeded: [String] = []
        for j in jobs {
            let ended = try await waitForEnd(b.s, j, token: b.carol, seconds: 60)
            if ended["status"] as? String == "succeeded" { succeeded.append(j) }
        }
        #expect(succeeded.count == jobs.count, "seed \(seed): \(succeeded.count) of \(jobs.count) succeeded")
        // Each job: one reservation, then exactly one settlement (succeeded) or release (not);
        // what each account received, from its bill.
        var value = 0.0
        var fee = 0.0
        var resources = 0.0
        for j in jobs {
            let bill = try await b.s.request("GET", "/v1/bills/\(j)", token: b.carol).json
            let kinds = (bill["movements"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            let paid = succeeded.contains(j)
            #expect(kinds.filter { $0 == "reserve" }.count == 1, "seed \(seed), \(j): \(kinds)")
            #expect(kinds.filter { $0 == "settle" }.count == (paid ? 1 : 0), "seed \(seed), \(j): \(kinds)")
            #expect(kinds.filter { $0 == "release" }.count == (paid ? 0 : 1), "seed \(seed), \(j): \(kinds)")
            let costs = bill["costs"] as? [String: Any] ?? [:]
            #expect(costs["value"] as? Double == (paid ? 4.5 : 0), "seed \(seed), \(j): \(bill)")
            value += costs["value"] as? Double ?? 0
            fee += costs["fee"] as? Double ?? 0
            resources += costs["resources"] as? Double ?? 0
        }
        #expect(resources > 0 && close(fee, value * 0.1), "fee \(fee), resources \(resources) of \(value)")
        let balances = try await b.balances()
        #expect(close(balances["user:carol"] ?? 0, 1000 - value), "seed \(seed): \(balances)")
        #expect(close(balances["user:bob"] ?? 0, value - fee - resources), "seed \(seed): \(balances)")
        #expect(close(balances["user:erin"] ?? 0, resources), "seed \(seed): \(balances)")
        #expect(close(balances["operator"] ?? 0, fee), "seed \(seed): \(balances)")
        #expect(try await b.totals()["credits"] as? Double == 0, "seed \(seed)")
        #expect(balances.keys.allSatisfy { !$0.hasPrefix("hold:") }, "seed \(seed)")
    }

    @Test(
        """
        the NDVI showcase sold: priced at deploy by a Price document, quoted, executed within budget for exactly \
        the published price of what it delivered; the site's owner paid for the cores; the publisher's margin; \
        the console shows the price, asks a budget, refuses too small a one, and shows the job's costs
        """
    )
    func ndviSold() async throws {
        let b = try await ChargingBed()
        let site = """
            kind: Site
            name: workstation
            connector: local
            owner: user:erin
            price: 3.6
            nodes: [{name: ws, cores: 8, memory: 16GiB, software: [gdal]}]
            """
        for (path, yaml) in [
            ("/v1/sites", site), ("/v1/grants", "kind: Grant\nname: ws-for-eo\nsite: workstation\nto: group:eo\n"),
        ] {
            let r = try await b.s.request(
                "POST", path, token: b.alice, body: try JSONSerialization.data(withJSONObject: ["yaml": yaml]))
            #expect(r.status < 300, "\(r.text)")
        }
        let eo = repository + "/examples/eo/"
        let env = ["HEAVEN_SERVER": "http://127.0.0.1:\(b.s.port)"]
        let deploy = try b.s.client(
            [
                "processes", "deploy", eo + "grid.yaml", eo + "ndvi.yaml", eo + "ndvi-price.yaml", "--visibility",
                "public",
            ],
            env: env.merging(["HEAVEN_TOKEN": b.bob]) { $1 })
        #expect(deploy.status == 0, "\(deploy)")
        try await b.credit("carol", 20)
        let carol = env.merging(["HEAVEN_TOKEN": b.carol]) { $1 }
        let bands = ["--input", "red=\(eo)data/landsat8/l8_B4.tif", "--input", "nir=\(eo)data/landsat8/l8_B5.tif"]
        // A file input is a path, as for `heaven run`; `@PATH` (curl's way) is named as the slip.
        let at = try b.s.client(["quote", "ndvi-grid", "--input", "red=@\(eo)data/landsat8/l8_B4.tif"], env: carol)
        #expect(at.status == 2 && at.stderr.contains("give its path without `@` (red=\(eo)data"), "\(at)")
        let quote = try b.s.client(["quote", "ndvi-grid"] + bands, env: carol)
        #expect(
            quote.status == 0 && quote.stdout.contains(": 2 credits") && quote.stdout.contains("no history"), "\(quote)"
        )
        let run = try b.s.client(["execute", "ndvi-grid"] + bands + ["--budget", "10", "--json"], env: carol)
        #expect(run.status == 0, "\(run)")
        let jobs = try await b.s.request("GET", "/jobs?processID=ndvi-grid", token: b.carol).json["jobs"]
        let job = try #require((jobs as? [[String: Any]])?.first?["jobID"] as? String)
        // Exactly the published price: 2 + 1 per megabyte of the NDVI delivered.
        let ndvi = try await b.s.request("GET", "/jobs/\(job)/results/ndvi", token: b.carol)
        #expect(ndvi.status == 200 && ndvi.body.count > 100_000)
        let price = 2 + Double(ndvi.body.count) / 1_000_000
        let bill = try await b.s.request("GET", "/v1/bills/\(job)", token: b.carol).json
        let costs = try #require(bill["costs"] as? [String: Any], "\(bill)")
        #expect(close(costs["value"] as? Double ?? 0, price), "\(costs) for \(ndvi.body.count) bytes")
        #expect(close(try await b.balance(b.carol), 20 - price))
        let resources = costs["resources"] as? Double ?? 0
        #expect(resources > 0)
        #expect(close(try await b.balance(b.erin), resources))
        let stats = try b.s.client(
            ["processes", "stats", "ndvi-grid", "--json"], env: env.merging(["HEAVEN_TOKEN": b.bob]) { $1 })
        let margin =
            (try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])?["margin"] as? Double
        let fee = costs["fee"] as? Double ?? 0
        let bobHolds = try await b.balance(b.bob)
        #expect(close(margin ?? 0, price - fee - resources) && close(bobHolds, price - fee - resources))
        #expect(try await b.totals()["credits"] as? Double == 0)
        // The same scene quoted again: what that job cost.
        let again = try b.s.client(["quote", "ndvi-grid", "--json"] + bands, env: carol)
        let amount =
            (try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])?["amount"] as? Double
        #expect(close(amount ?? 0, price), "\(again)")
        // The console: the price, a budget asked for, too small a one refused, the job's costs.
        let login = try await b.s.request(
            "POST", "/console/login", body: Data("token=\(b.carol)".utf8), type: "application/x-www-form-urlencoded")
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
        let page = try await b.s.request("GET", "/console/processes/ndvi-grid", extraHeaders: [cookie]).text
        #expect(page.contains("id=\"price\"") && page.contains("2 credits per run + 1 per megabyte of `ndvi`"))
        #expect(page.contains(#"name=".budget" type="number" step="any" min="2""#), "\(page)")
        let csrf = try #require(
            page.range(of: #"name=".csrf" value=""#).map { String(page[$0.upperBound...].prefix { $0 != "\"" }) })
        let red = try Data(contentsOf: URL(fileURLWithPath: eo + "data/landsat8/l8_B4.tif"))
        let nir = try Data(contentsOf: URL(fileURLWithPath: eo + "data/landsat8/l8_B5.tif"))
        let (low, lowType) = multipart(
            [(".csrf", csrf), (".budget", "1")], files: [("red", "red.tif", red), ("nir", "nir.tif", nir)])
        let refused = try await b.s.request(
            "POST", "/console/processes/ndvi-grid/execution", body: low, type: lowType, extraHeaders: [cookie])
        #expect(refused.status == 402 && refused.text.contains("below the fixed part"), "\(refused.status)")
        let (ok, okType) = multipart(
            [(".csrf", csrf), (".budget", "5")], files: [("red", "red.tif", red), ("nir", "nir.tif", nir)])
        let started = try await b.s.request(
            "POST", "/console/processes/ndvi-grid/execution", body: ok, type: okType, extraHeaders: [cookie])
        #expect(started.status == 303, "\(started.text)")
        let second = String((started.headers["location"] ?? "").dropFirst("/console/runs/".count))
        #expect(try await waitForEnd(b.s, second, token: b.carol, seconds: 120)["status"] as? String == "succeeded")
        let shown = try await b.s.request("GET", "/console/runs/\(second)", extraHeaders: [cookie]).text
        #expect(shown.contains("id=\"costs\"") && shown.contains("data-movement=\"settle\""), "\(shown)")
        // An estimate from the form: the quote's amount, the budget set to it.
        let (ask, askType) = multipart(
            [(".csrf", csrf), (".action", "quote")], files: [("red", "red.tif", red), ("nir", "nir.tif", nir)])
        let estimated = try await b.s.request(
            "POST", "/console/processes/ndvi-grid/execution", body: ask, type: askType, extraHeaders: [cookie])
        #expect(estimated.status == 200 && estimated.text.contains("id=\"submit-notice\""), "\(estimated.text)")
        #expect(estimated.text.contains("estimated at \(Money(value: price) ?? .zero) credits"), "\(estimated.text)")
        #expect(
            estimated.text.contains(
                "name=\".budget\" type=\"number\" step=\"any\" min=\"2\" value=\"\(Money(value: price) ?? .zero)\""))
        // Its publisher sees its accounts there.
        let bobLogin = try await b.s.request(
            "POST", "/console/login", body: Data("token=\(b.bob)".utf8), type: "application/x-www-form-urlencoded")
        let bobs = "Cookie: " + String((bobLogin.headers["set-cookie"] ?? "").split(separator: ";")[0])
        let publisher = try await b.s.request("GET", "/console/processes/ndvi-grid", extraHeaders: [bobs]).text
        #expect(
            publisher.contains("id=\"accounts\"") && publisher.contains("2 paid for") && publisher.contains("margin"))
        #expect(!page.contains("id=\"accounts\""), "a buyer does not see the publisher's accounts")
    }
}
