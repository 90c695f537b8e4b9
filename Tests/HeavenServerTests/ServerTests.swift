import Foundation
import HeavenCore
import HeavenEngine
import HeavenServer
import HeavenStore
import Hummingbird
import Testing

#if canImport(Glibc)
    import Glibc
#endif

let longRun = """
    kind: Workflow
    name: long
    steps:
      - task: wait
        run: [sleep, '30']
    """

let quickRun = """
    kind: Workflow
    name: quick
    steps:
      - task: hello
        shell: 'echo hello > greeting.txt; echo done'
        outputs: {greeting: {file: greeting.txt}, said: {stdout: text}}
    outputs: {greeting: '${hello.greeting}', said: '${hello.said}'}
    """

/// Polls a run until it ends (the time only bounds a test gone wrong: the suite's
/// process may be stalled a while by its neighbours on a busy machine).
func waitForEnd(_ s: ServerHarness, _ id: String, token: String, seconds: Double = 120) async throws -> [String: Any] {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        let r = try await s.request("GET", "/v1/runs/\(id)", token: token)
        if let status = r.json["status"] as? String, ["succeeded", "failed", "cancelled"].contains(status) {
            return r.json
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ServerHarness.Failure("run \(id) did not end in \(seconds)s")
}

@Suite("The HTTP API", .serialized, .timeLimit(.minutes(15)))
struct ServerTests {
    @Test("every route × every kind of caller gets the status it should: no leak between tenants")
    func authorizationMatrix() async throws {
        let s = try ServerHarness()
        let alice = try s.heaven("users", "add", "alice", "--admin")
        let bob = try s.heaven("users", "add", "bob", "--group", "eo")
        let carol = try s.heaven("users", "add", "carol", "--group", "eo")
        let dave = try s.heaven("users", "add", "dave")
        let expired = try s.heaven("users", "token", "bob", "--expires", "1s")
        let revoked = try s.heaven("users", "token", "bob")
        try s.heaven("users", "revoke", String(revoked.split(separator: "_")[1]))
        try s.start([
            "--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--site-hosts", "ssh.allowed.test",
        ])
        // Wait until the expiring token has expired (the state the matrix needs).
        let expiry = Date().addingTimeInterval(20)
        while try await s.request("GET", "/v1/me", token: expired).status != 401 {
            guard Date() < expiry else { throw ServerHarness.Failure("the one-second token never expired") }
            try await Task.sleep(for: .milliseconds(50))
        }

        // Bob's private run (still running), his shared one (finished), and alice's.
        let privateRun = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(longRun))
        #expect(privateRun.status == 201, "\(privateRun.text)")
        let mine = try #require(privateRun.json["id"] as? String)
        let sharedRun = try await s.request(
            "POST", "/v1/runs", token: bob, body: ServerHarness.submission(quickRun, share: ["eo"]))
        let shared = try #require(sharedRun.json["id"] as? String)
        _ = try await waitForEnd(s, shared, token: bob)
        let aliceRun = try await s.request("POST", "/v1/runs", token: alice, body: ServerHarness.submission(quickRun))
        let hers = try #require(aliceRun.json["id"] as? String)
        _ = try await waitForEnd(s, hers, token: alice)

        // Bob's processes: private, for his group, public.
        for (id, visibility) in [("quick", "private"), ("quick-eo", "group:eo"), ("quick-public", "public")] {
            let r = try await s.request(
                "POST", "/processes?visibility=\(visibility)", token: bob,
                body: Data(quickRun.replacingOccurrences(of: "name: quick", with: "name: \(id)").utf8),
                type: "application/yaml")
            #expect(r.status == 201, "\(r.text)")
        }
        let replacement = try JSONSerialization.data(withJSONObject: [
            "documents": [["text": quickRun.replacingOccurrences(of: "name: quick", with: "name: quick-eo")]]
        ])
        // An execute request that names an input the process does not have: refused (400)
        // after the caller was found allowed to run it, so no run is made.
        let unknownInput = Data(#"{"inputs": {"nope": 1}}"#.utf8)

        let site = """
            kind: Site
            name: bobs-box
            connector: local
            owner: user:bob
            nodes: [{name: n, cores: 2}]
            """
        // A tenant's SSH site: an allowed host, their own key (a secret); never a key file
        // of the server's, another host, or a connector that runs on the server itself.
        func sshSite(_ name: String, host: String, identity: String) -> String {
            """
            kind: Site\nname: \(name)\nconnector: {kind: ssh, host: \(host), identity: \(identity)}\nowner: \
            user:bob\nnodes: [{name: n, cores: 1}]\n
            """
        }
        let tenantSSH = sshSite("bobs-host", host: "ssh.allowed.test", identity: "{secret: bobs-key}")
        let otherHost = sshSite("elsewhere", host: "ssh.not-allowed.test", identity: "{secret: bobs-key}")
        let serverKey = sshSite("with-servers-key", host: "ssh.allowed.test", identity: "/root/.ssh/id_ed25519")
        let localSlurm =
            "kind: Site\nname: bobs-slurm\nconnector: {kind: slurm}\nowner: user:bob\nnodes: [{name: n, cores: 1}]\n"
        let grant = """
            kind: Grant
            name: eo-on-bobs-box
            site: bobs-box
            to: group:eo
            """
        let plan = """
            kind: Topology
            name: t
            machines: [{name: m}]
            """
        func docs(_ yaml: String) -> Data {
            try! JSONSerialization.data(withJSONObject: ["documents": [["text": yaml]]])
        }

        enum Caller: String, CaseIterable {
            case none, malformed, expired, revoked, other, group, owner, admin
        }
        func send(_ caller: Caller, _ method: String, _ path: String, _ body: Data?) async throws -> ServerHarness.Reply
        {
            switch caller {
            case .none: try await s.request(method, path, body: body)
            case .malformed: try await s.request(method, path, authorization: "Bearer not-a-token", body: body)
            case .expired: try await s.request(method, path, token: expired, body: body)
            case .revoked: try await s.request(method, path, token: revoked, body: body)
            case .other: try await s.request(method, path, token: dave, body: body)
            case .group: try await s.request(method, path, token: carol, body: body)
            case .owner: try await s.request(method, path, token: bob, body: body)
            case .admin: try await s.request(method, path, token: alice, body: body)
            }
        }
        // Expected statuses for other, group, owner, admin (the four without a valid
        // token always get 401 on protected routes).
        struct Row {
            var method: String
            var path: String
            var body: Data?
            var open = false
            /// For a route that reads a token only when sent: what a caller without one gets.
            var anonymous: Int? = nil
            var other: Int
            var group: Int
            var owner: Int
            var admin: Int
        }
        let rows: [Row] = [
            Row(method: "GET", path: "/healthz", open: true, other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/openapi.json", open: true, other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/me", other: 200, group: 200, owner: 200, admin: 200),
            // OGC API - Processes: the service's description is public; processes by their visibility.
            Row(method: "GET", path: "/", open: true, other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/conformance", open: true, other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/api", open: true, other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/processes", anonymous: 200, other: 200, group: 200, owner: 200, admin: 200),
            Row(
                method: "GET", path: "/processes/quick", anonymous: 404, other: 404, group: 404, owner: 200,
                admin: 200),
            Row(
                method: "GET", path: "/processes/quick-eo", anonymous: 404, other: 404, group: 200, owner: 200,
                admin: 200),
            Row(
                method: "GET", path: "/processes/quick-public", anonymous: 200, other: 200, group: 200, owner: 200,
                admin: 200),
            Row(
                method: "GET", path: "/processes/quick/package", anonymous: 404, other: 404, group: 404, owner: 200,
                admin: 200),
            Row(
                method: "POST", path: "/processes/quick/execution", body: unknownInput, other: 404, group: 404,
                owner: 400, admin: 400),
            Row(
                method: "POST", path: "/processes/quick-eo/execution", body: unknownInput, other: 404, group: 400,
                owner: 400, admin: 400),
            Row(
                method: "POST", path: "/processes/quick-public/execution", body: unknownInput, other: 400, group: 400,
                owner: 400, admin: 400),
            Row(
                method: "PUT", path: "/processes/quick-eo", body: replacement, other: 404, group: 403, owner: 204,
                admin: 204),
            Row(method: "DELETE", path: "/processes/quick", other: 404, group: 404, owner: 204, admin: 404),
            Row(method: "DELETE", path: "/processes/quick-eo", other: 404, group: 403, owner: 204, admin: 404),
            // Jobs are runs, with their authorization.
            Row(method: "GET", path: "/jobs", other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/jobs/\(mine)", other: 404, group: 404, owner: 200, admin: 200),
            Row(method: "GET", path: "/jobs/\(shared)", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/jobs/\(hers)", other: 404, group: 404, owner: 404, admin: 200),
            // Not ready while it runs (the owner's too).
            Row(method: "GET", path: "/jobs/\(mine)/results", other: 404, group: 404, owner: 404, admin: 404),
            Row(method: "GET", path: "/jobs/\(shared)/results", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/jobs/\(shared)/results/said", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/jobs/\(hers)/results/greeting", other: 404, group: 404, owner: 404, admin: 200),
            Row(method: "GET", path: "/v1/runs", other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/runs/\(mine)", other: 404, group: 404, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/runs/\(shared)", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/runs/\(hers)", other: 404, group: 404, owner: 404, admin: 200),
            Row(method: "GET", path: "/v1/runs/\(shared)/logs", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/runs/\(shared)/logs/hello", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/runs/\(mine)/logs/wait", other: 404, group: 404, owner: 200, admin: 200),
            // A private run's logs and events: not for a member of the owner's group either.
            Row(method: "GET", path: "/v1/runs/\(mine)/logs", other: 404, group: 404, owner: 200, admin: 200),
            Row(
                method: "GET", path: "/v1/runs/\(mine)/events?follow=0", other: 404, group: 404, owner: 200,
                admin: 200),
            Row(
                method: "GET", path: "/v1/runs/\(shared)/events?follow=0", other: 404, group: 200, owner: 200,
                admin: 200),
            Row(
                method: "GET", path: "/v1/runs/\(shared)/outputs/greeting", other: 404, group: 200, owner: 200,
                admin: 200),
            Row(
                method: "GET", path: "/v1/runs/\(hers)/outputs/greeting", other: 404, group: 404, owner: 404, admin: 200
            ),
            Row(method: "GET", path: "/v1/runs/\(shared)/events", other: 404, group: 200, owner: 200, admin: 200),
            Row(method: "POST", path: "/v1/runs/\(shared)/cancel", other: 404, group: 403, owner: 409, admin: 409),
            Row(method: "POST", path: "/v1/runs/\(hers)/cancel", other: 404, group: 404, owner: 404, admin: 409),
            Row(method: "GET", path: "/v1/sites", other: 200, group: 200, owner: 200, admin: 200),
            // A local site runs on the server's own machine: an admin's act (here for bob).
            Row(method: "POST", path: "/v1/sites", body: docs(site), other: 403, group: 403, owner: 403, admin: 201),
            Row(
                method: "POST", path: "/v1/sites", body: docs(tenantSSH), other: 403, group: 403, owner: 201, admin: 201
            ),
            Row(
                method: "POST", path: "/v1/sites", body: docs(otherHost), other: 403, group: 403, owner: 403, admin: 201
            ),
            Row(
                method: "POST", path: "/v1/sites", body: docs(serverKey), other: 403, group: 403, owner: 403, admin: 201
            ),
            Row(
                method: "POST", path: "/v1/sites", body: docs(localSlurm), other: 403, group: 403, owner: 403,
                admin: 201),
            Row(method: "GET", path: "/v1/grants", other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "POST", path: "/v1/grants", body: docs(grant), other: 403, group: 403, owner: 201, admin: 201),
            Row(method: "POST", path: "/v1/plan", body: docs(plan), other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "GET", path: "/v1/audit", other: 403, group: 403, owner: 403, admin: 200),
            Row(method: "GET", path: "/metrics", other: 403, group: 403, owner: 403, admin: 200),
            // Secrets are each caller's own: setting, listing and deleting touch only theirs.
            Row(
                method: "PUT", path: "/v1/secrets/probe", body: Data(#"{"value": "v"}"#.utf8), other: 204, group: 204,
                owner: 204, admin: 204),
            Row(method: "GET", path: "/v1/secrets", other: 200, group: 200, owner: 200, admin: 200),
            Row(method: "DELETE", path: "/v1/secrets/probe", other: 204, group: 204, owner: 204, admin: 204),
            Row(method: "DELETE", path: "/v1/secrets/probe", other: 404, group: 404, owner: 404, admin: 404),
            // Dismissing a job: its owner's or an admin's (then again: it stays dismissed).
            Row(method: "DELETE", path: "/jobs/\(shared)", other: 404, group: 403, owner: 200, admin: 200),
            Row(method: "DELETE", path: "/jobs/\(hers)", other: 404, group: 404, owner: 404, admin: 200),
            // Last: the owner cancels the running run (then the admin finds it cancelling).
            Row(method: "POST", path: "/v1/runs/\(mine)/cancel", other: 404, group: 404, owner: 202, admin: 202),
        ]
        var failures: [String] = []
        for row in rows {
            for caller in Caller.allCases {
                let expected: Int
                switch caller {
                case .none: expected = row.open ? 200 : row.anonymous ?? 401
                case .malformed, .expired, .revoked: expected = row.open ? 200 : 401
                case .other: expected = row.other
                case .group: expected = row.group
                case .owner: expected = row.owner
                case .admin: expected = row.admin
                }
                let reply = try await send(caller, row.method, row.path, row.body)
                if reply.status != expected {
                    failures.append(
                        """
                        \(row.method) \(row.path) as \(caller.rawValue): \(reply.status), expected \(expected): \
                        \(reply.text.prefix(200))
                        """
                    )
                }
                if reply.status >= 400 && !reply.type.hasPrefix("application/problem+json") {
                    failures.append(
                        "\(row.method) \(row.path) as \(caller.rawValue): \(reply.status) is not a problem document")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")

        // Lists show only what each may see.
        func ids(_ token: String) async throws -> Set<String> {
            let r = try await s.request("GET", "/v1/runs", token: token)
            return Set(((r.json["runs"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String })
        }
        #expect(try await ids(bob) == [mine, shared])
        #expect(try await ids(carol) == [shared])
        #expect(try await ids(dave) == [])
        #expect(try await ids(alice) == [mine, shared, hers])

        // The audit log holds every state-changing request: who, what, the status.
        let audit = try await s.request("GET", "/v1/audit", token: alice)
        let entries = (audit.json["audit"] as? [[String: Any]]) ?? []
        #expect(
            entries.contains {
                $0["user"] as? String == "bob" && $0["path"] as? String == "/v1/runs/\(mine)/cancel"
                    && $0["status"] as? Int == 202
            })
        #expect(
            entries.contains {
                $0["user"] is NSNull && $0["method"] as? String == "POST" && $0["status"] as? Int == 401
            })
        #expect(!entries.contains { $0["method"] as? String == "GET" })
        let cancelled = try await waitForEnd(s, mine, token: bob)
        #expect(cancelled["status"] as? String == "cancelled")

        // Prometheus text: tasks by state, their durations and queue wait, HTTP latency by route and status.
        let metrics = try await s.request("GET", "/metrics", token: alice).text
        for needle in [
            #"heaven_task_attempts_total{status="succeeded"} 2"#, "heaven_tasks_running 0",
            "heaven_task_duration_seconds_bucket",
            "heaven_task_queue_wait_seconds_count", #"http_route="/v1/runs/{id}""#, #"http_response_status_code="404""#,
        ] {
            #expect(metrics.contains(needle), "no `\(needle)` in:\n\(metrics.prefix(3000))")
        }

        // Submitting: no run without a valid token; with one, a run of the caller's own,
        // seen by them (and admins) only.
        let before = try await ids(alice)
        var created: [Caller: String] = [:]
        for caller in Caller.allCases {
            let reply = try await send(caller, "POST", "/v1/runs", ServerHarness.submission(quickRun))
            switch caller {
            case .none, .malformed, .expired, .revoked:
                #expect(
                    reply.status == 401 && reply.type.hasPrefix("application/problem+json"), "\(caller): \(reply.text)")
            default:
                #expect(reply.status == 201, "\(caller): \(reply.text)")
                created[caller] = reply.json["id"] as? String
            }
        }
        #expect(try await ids(alice) == before.union(created.values), "runs appeared without a valid token")
        #expect(try await ids(dave) == Set([created[.other]].compactMap { $0 }))
        #expect(try await ids(carol) == Set([shared] + [created[.group]].compactMap { $0 }))
        for id in created.values { _ = try await waitForEnd(s, id, token: alice) }
    }

    @Test("malformed, oversized and mistyped requests get 4xx problem details, never a 500")
    func badRequests() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        func check(_ reply: ServerHarness.Reply, _ status: Int, _ detail: String, _ line: UInt = #line) {
            #expect(reply.status == status, "\(reply.text)")
            #expect(reply.type.hasPrefix("application/problem+json"))
            #expect((reply.json["detail"] as? String ?? "").contains(detail), "\(reply.text)")
        }
        check(
            try await s.request("POST", "/v1/runs", token: bob, body: Data("kind: Workflow".utf8), type: "text/yaml"),
            415, "application/json")
        check(
            try await s.request("POST", "/v1/runs", token: bob, body: Data("{not json".utf8)), 400, "not a JSON object")
        check(try await s.request("POST", "/v1/runs", token: bob, body: Data("[1, 2]".utf8)), 400, "not a JSON object")
        check(
            try await s.request("POST", "/v1/runs", token: bob, body: Data(#"{"documents": "x"}"#.utf8)), 400,
            "`documents` must be a list")
        check(try await s.request("POST", "/v1/runs", token: bob, body: Data("{}".utf8)), 400, "no documents")
        check(
            try await s.request(
                "POST", "/v1/runs", token: bob,
                body: ServerHarness.submission("kind: Workflow\nname: w\nsteps:\n  - task: a\n    rnu: [true]\n")),
            422, "w.yaml:5:5: error: unknown key `rnu`")
        check(
            try await s.request(
                "POST", "/v1/runs", token: bob,
                body: ServerHarness.submission(
                    "kind: Site\nname: s\nconnector: local\nnodes: [{name: n, cores: 1}]\n")),
            422, "Site documents are not accepted here")
        check(
            try await s.request(
                "POST", "/v1/runs", token: bob,
                body: try JSONSerialization.data(withJSONObject: ["yaml": quickRun, "inputs": [1]])),
            400, "`inputs` must be a JSON object")
        let big = Data(repeating: UInt8(ascii: "a"), count: 33 * 1024 * 1024)
        check(try await s.request("POST", "/v1/runs", token: bob, body: big), 413, "larger than")
        check(try await s.request("GET", "/v1/nothing", token: bob), 404, "no such resource")
        // A known path asked with a method it does not answer: 405, saying which it answers.
        let wrong = try await s.request("DELETE", "/v1/runs", token: bob)
        check(wrong, 405, "DELETE is not allowed on /v1/runs: it answers GET, POST")
        #expect(wrong.headers["allow"] == "GET, POST", "\(wrong.headers)")
        let patch = try await s.request("PATCH", "/v1/runs/anything/cancel", token: bob)
        check(patch, 405, "it answers POST")
        #expect(patch.headers["allow"] == "POST")
        // A task may not read another path of the server's machine.
        let escape = try await s.request(
            "POST", "/v1/runs", token: bob,
            body: ServerHarness.submission(
                "kind: Workflow\nname: w\nsteps:\n  - task: steal\n    inputs: {x: /etc/hostname}\n    run: [cat, x]\n")
        )
        #expect(escape.status == 201)
        let ended = try await waitForEnd(s, escape.json["id"] as? String ?? "", token: bob)
        #expect(ended["status"] as? String == "failed")
        #expect((ended["error"] as? String ?? "").contains("outside the run's files"), "\(ended)")
        // Tasks are sandboxed: other runs and Heaven's state are hidden (the server would
        // not have started without its sandbox).
        do {
            let peek = try await s.request(
                "POST", "/v1/runs", token: bob,
                body: ServerHarness.submission(
                    """
                    kind: Workflow\nname: w\nsteps:\n  - task: peek\n    shell: 'ls \(s.home)/runs; ls \
                    \(s.home)'\n    outputs: {seen: {stdout: text}}\noutputs: {seen: '${peek.seen}'}\n
                    """
                ))
            let id = peek.json["id"] as? String ?? ""
            let seen = try await waitForEnd(s, id, token: bob)
            // No state: not the database, not the other runs (the list of runs holds its own
            // run only: the mount point of its directory).
            #expect((seen["outputs"] as? [String: Any])?["seen"] as? String == "\(id)\nruns", "\(seen)")
            // Its own working directory, by its absolute path (as GDAL reaches files): the
            // directories above it that the sandbox makes are searchable.
            let absolute = try await s.request(
                "POST", "/v1/runs", token: bob,
                body: ServerHarness.submission(
                    """
                    kind: Workflow\nname: w\nsteps:\n  - task: own\n    shell: 'echo mine > x; cat \"$PWD/x\"'\n  \
                      outputs: {said: {stdout: text}}\noutputs: {said: '${own.said}'}\n
                    """
                ))
            let read = try await waitForEnd(s, absolute.json["id"] as? String ?? "", token: bob)
            #expect((read["outputs"] as? [String: Any])?["said"] as? String == "mine", "\(read)")
        }
        // Files uploaded with a run: its file inputs name them; names stay plain.
        let counted = """
            kind: Workflow
            name: count
            inputs: {data: {type: file}}
            steps:
              - task: count
                inputs: {data.txt: '${inputs.data}'}
                shell: 'wc -l < data.txt'
                outputs: {lines: {stdout: json}}
            outputs: {lines: '${count.lines}'}
            """
        let upload = try await s.request(
            "POST", "/v1/runs", token: bob,
            body: try JSONSerialization.data(withJSONObject: [
                "yaml": counted, "inputs": ["data": "scene.txt"],
                "files": ["scene.txt": Data("a\nb\nc\n".utf8).base64EncodedString()],
            ]))
        #expect(upload.status == 201, "\(upload.text)")
        let uploaded = try await waitForEnd(s, upload.json["id"] as? String ?? "", token: bob)
        #expect((uploaded["outputs"] as? [String: Any])?["lines"] as? Int == 3, "\(uploaded)")
        check(
            try await s.request(
                "POST", "/v1/runs", token: bob,
                body: try JSONSerialization.data(withJSONObject: ["yaml": counted, "files": ["../escape": "eA=="]])),
            400, "must be a plain name")
        check(
            try await s.request(
                "POST", "/v1/runs", token: bob,
                body: try JSONSerialization.data(withJSONObject: ["yaml": counted, "files": ["x": "not base64!"]])),
            400, "base64")
        // Path traversal in output and log names.
        let ok = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(quickRun))
        let id = ok.json["id"] as? String ?? ""
        _ = try await waitForEnd(s, id, token: bob)
        for path in [
            "/v1/runs/\(id)/outputs/..%2F..%2Fheaven.sqlite", "/v1/runs/\(id)/logs/..%2F..%2Fheaven.sqlite",
            "/v1/runs/..%2F\(id)",
        ] {
            let r = try await s.request("GET", path, token: bob)
            #expect(r.status == 404, "\(path): \(r.status) \(r.text)")
        }
        let file = try await s.request("GET", "/v1/runs/\(id)/outputs/greeting", token: bob)
        #expect(file.status == 200 && file.text == "hello\n")
        let said = try await s.request("GET", "/v1/runs/\(id)/outputs/said", token: bob)
        #expect(said.json["value"] as? String == "done")
    }

    @Test("a server killed with SIGKILL mid-run and started again finishes the run; no finished task runs twice")
    func crashAndRestart() async throws {
        let s = try ServerHarness()
        // An admin's workflow may leave the sandbox: its tasks leave traces outside their
        // directories, so executions are counted by what they did, not by the store.
        let bob = try s.heaven("users", "add", "bob", "--admin")
        try s.start()
        let trace = s.work + "/trace"
        func step(_ name: String, _ value: Int, sleep: Bool = false) -> String {
            """
              - task: \(name)
                isolation: none
                shell: 'echo \(name) start >> \(trace); \(sleep ? "sleep 6; " : "")echo \(name) end >> \(trace); echo \
            \(value)'
                outputs: {v: {stdout: json}}

            """
        }
        let yaml =
            "kind: Workflow\nname: steps\nsteps:\n" + step("one", 1) + step("two", 2, sleep: true) + step("three", 3)
            + "outputs: {sum: '${one.v + two.v + three.v}'}\n"
        let created = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(yaml))
        let id = try #require(created.json["id"] as? String)
        func attempts() async throws -> [(task: String, attempt: Int, status: String)] {
            let r = try await s.request("GET", "/v1/runs/\(id)/logs", token: bob)
            return ((r.json["logs"] as? [[String: Any]]) ?? []).map {
                ($0["task"] as? String ?? "", $0["attempt"] as? Int ?? 0, $0["status"] as? String ?? "")
            }
        }
        for _ in 0..<200 {
            if try await attempts().contains(where: { $0.task == "two" && $0.status == "running" }) { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        s.kill9()
        try s.start()
        let run = try await waitForEnd(s, id, token: bob)
        #expect(run["status"] as? String == "succeeded", "\(run)")
        #expect((run["outputs"] as? [String: Any])?["sum"] as? Int == 6)
        let all = try await attempts()
        let summary = all.map { "\($0.task)#\($0.attempt) \($0.status)" }
        #expect(summary == ["one#1 succeeded", "two#1 lost", "two#2 succeeded", "three#1 succeeded"], "\(summary)")
        // What the tasks did: `one` ran once; `two` started twice (its first run lost with
        // the server) and ended once; `three` ran once.
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(
            lines.filter { $0 == "one start" }.count == 1 && lines.filter { $0 == "one end" }.count == 1, "\(lines)")
        #expect(
            lines.filter { $0 == "two start" }.count == 2 && lines.filter { $0 == "two end" }.count == 1, "\(lines)")
        #expect(
            lines.filter { $0 == "three start" }.count == 1 && lines.filter { $0 == "three end" }.count == 1, "\(lines)"
        )
    }

    @Test("the logs of tasks inside a foreach read through a server: their keys (with `#`) survive URLs both ways")
    func foreachLogsThroughServer() async throws {
        let s = try ServerHarness()
        let token = try s.heaven("users", "add", "bob")
        try s.start()
        let url = "http://127.0.0.1:\(s.port)"
        let yaml = """
            kind: Workflow
            name: squares
            steps:
              - foreach: ${range(3)}
                as: n
                steps:
                  - task: square
                    shell: 'echo square of ${n} is $((${n} * ${n}))'
            """
        let created = try await s.request("POST", "/v1/runs", token: token, body: ServerHarness.submission(yaml))
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        #expect((try await waitForEnd(s, id, token: token))["status"] as? String == "succeeded")
        // Every log URL the API lists answers the log (its `#` percent-encoded).
        let listed = try await s.request("GET", "/v1/runs/\(id)/logs", token: token)
        let urls = ((listed.json["logs"] as? [[String: Any]]) ?? []).compactMap { $0["url"] as? String }
        #expect(urls.count == 3 && urls.allSatisfy { $0.contains("%23") && !$0.contains("#") }, "\(urls)")
        var texts: [String] = []
        for u in urls {
            let r = try await s.request("GET", u, token: token)
            #expect(r.status == 200, "\(u): \(r.text)")
            texts.append(r.text)
        }
        #expect(texts.sorted() == ["square of 0 is 0\n", "square of 1 is 1\n", "square of 2 is 4\n"], "\(texts)")
        // The command line through the server: every instance's log, by the task's name.
        let env = ["HEAVEN_SERVER": url, "HEAVEN_TOKEN": token]
        let logs = try s.client(["logs", id, "square"], env: env)
        #expect(logs.status == 0, "\(logs)")
        #expect(logs.stdout.components(separatedBy: "==> ").count == 4, "\(logs.stdout)")
        for n in 0..<3 { #expect(logs.stdout.contains("square of \(n) is \(n * n)\n"), "\(logs.stdout)") }
        // An error is never printed as a log, nor followed by exit 0.
        let missing = try s.client(["logs", id, "nosuch"], env: env)
        #expect(
            missing.status == 2 && missing.stdout.isEmpty && missing.stderr.contains("no task `nosuch`"), "\(missing)")
    }

    @Test("through a server, a run is named by a unique prefix of its id, as here; an ambiguous one says which runs")
    func runPrefixesThroughServer() async throws {
        let s = try ServerHarness()
        let token = try s.heaven("users", "add", "bob")
        try s.start()
        var ids: [String] = []
        for _ in 0..<2 {
            let created = try await s.request(
                "POST", "/v1/runs", token: token, body: ServerHarness.submission(quickRun))
            let id = try #require(created.json["id"] as? String, "\(created.text)")
            _ = try await waitForEnd(s, id, token: token)
            ids.append(id)
        }
        let env = ["HEAVEN_SERVER": "http://127.0.0.1:\(s.port)", "HEAVEN_TOKEN": token]
        // The shortest prefix of the first id that the second does not share.
        let common = zip(ids[0], ids[1]).prefix { $0 == $1 }.count
        let prefix = String(ids[0].prefix(common + 1))
        let status = try s.client(["status", prefix], env: env)
        #expect(status.status == 0 && status.stdout.hasPrefix("run \(ids[0]) "), "\(status)")
        #expect(status.stdout.contains("  hello  succeeded  #1"), "\(status.stdout)")
        let logs = try s.client(["logs", prefix, "hello"], env: env)
        #expect(logs.status == 0 && logs.stdout.contains("done"), "\(logs)")
        let ambiguous = try s.client(["status", String(ids[0].prefix(common))], env: env)
        #expect(ambiguous.status == 2 && ambiguous.stderr.contains("names several runs"), "\(ambiguous)")
        let none = try s.client(["status", "zz-no-such-run"], env: env)
        #expect(none.status == 2 && none.stderr.contains("404"), "\(none)")
    }

    @Test(
        """
        through a server, `run --out DIR` downloads the outputs as a local run names them; Ctrl-C detaches, \
        saying how to follow and cancel the run; `resume` resumes there
        """
    )
    func clientParity() async throws {
        let s = try ServerHarness()
        let token = try s.heaven("users", "add", "bob")
        try s.start()
        let env = ["HEAVEN_SERVER": "http://127.0.0.1:\(s.port)", "HEAVEN_TOKEN": token]
        let files = s.work + "/files.yaml"
        try """
        kind: Workflow
        name: files
        steps:
          - foreach: ${range(3)}
            as: i
            steps:
              - task: part
                shell: 'echo ${i} > part.txt'
                outputs: {f: {file: part.txt}}
          - task: total
            shell: 'echo 3 > total.txt'
            outputs: {f: {file: total.txt}}
        outputs: {total: '${total.f}', parts: '${part.f}', count: '${len(part.f)}'}
        """.write(toFile: files, atomically: true, encoding: .utf8)
        let out = s.work + "/downloaded"
        let run = try s.client(["run", files, "--out", out, "--json"], env: env)
        #expect(run.status == 0, "\(run)")
        #expect((try? String(contentsOfFile: out + "/total.txt", encoding: .utf8)) == "3\n")
        for i in 0..<3 {
            #expect((try? String(contentsOfFile: out + "/parts/\(i)-part.txt", encoding: .utf8)) == "\(i)\n")
        }
        let printed = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any]
        let outputs = printed?["outputs"] as? [String: Any]
        #expect(outputs?["total"] as? String == out + "/total.txt", "\(run.stdout)")
        #expect((outputs?["parts"] as? [String])?.last == out + "/parts/2-part.txt", "\(run.stdout)")
        #expect(outputs?["count"] as? Int == 3)
        // The API names files by URL and file name, never by the server's path.
        let id = try #require(printed?["run"] as? String)
        let view = try await s.request("GET", "/v1/runs/\(id)", token: token)
        #expect(!view.text.contains(s.home), "\(view.text)")
        let item = try await s.request("GET", "/v1/runs/\(id)/outputs/parts?item=1", token: token)
        #expect(item.status == 200 && item.text == "1\n", "\(item.text)")
        let beyond = try await s.request("GET", "/v1/runs/\(id)/outputs/parts?item=3", token: token)
        #expect(beyond.status == 404)

        // Ctrl-C: the client lets go, the run goes on on the server.
        let slow = s.work + "/slow.yaml"
        try "kind: Workflow\nname: slow\nsteps:\n  - task: wait\n    run: [sleep, '30']\n"
            .write(toFile: slow, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ServerHarness.binary)
        p.arguments = ["run", slow]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "HEAVEN_HOME")
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var running: String?
        for _ in 0..<200 where running == nil {
            let list = try await s.request("GET", "/v1/runs", token: token)
            let runs = list.json["runs"] as? [[String: Any]] ?? []
            running =
                runs.first { $0["workflow"] as? String == "slow" && $0["status"] as? String == "running" }?["id"]
                as? String
            try await Task.sleep(for: .milliseconds(50))
        }
        let slowID = try #require(running)
        // The client draws progress as a local run does (a line a second off a terminal).
        try await Task.sleep(for: .milliseconds(1300))
        kill(p.processIdentifier, SIGINT)
        let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        #expect(said.contains("] 0 done · 1 running · 0 retried\n"), "\(said)")
        #expect(
            said.contains(
                """
                detached: run \(slowID) goes on on http://127.0.0.1:\(s.port); `heaven status \(slowID)` follows \
                it, `heaven cancel \(slowID)` stops it
                """
            ), "\(said)")
        let still = try await s.request("GET", "/v1/runs/\(slowID)", token: token)
        #expect(still.json["status"] as? String == "running")
        #expect(try s.client(["cancel", slowID], env: env).status == 0)
        #expect(try await waitForEnd(s, slowID, token: token)["status"] as? String == "cancelled")

        // resume through the server: a succeeded run has nothing to resume; a failed one
        // goes on there, its finished tasks kept.
        let done = try s.client(["resume", slowID], env: env)
        #expect(done.status == 2 && done.stderr.contains("a cancelled run does not resume"), "\(done)")
        let flaky = s.work + "/flaky.yaml"
        try """
        kind: Workflow
        name: flaky
        steps:
          - task: first
            run: [echo, one]
          - task: second
            shell: '[ "$HEAVEN_ATTEMPT" -gt 1 ] || exit 3; echo two'
            outputs: {v: {stdout: text}}
        outputs: {v: '${second.v}'}
        """.write(toFile: flaky, atomically: true, encoding: .utf8)
        let failed = try s.client(["run", flaky, "--json"], env: env)
        #expect(failed.status == 1, "\(failed)")
        let failedID = try #require(
            ((try? JSONSerialization.jsonObject(with: Data(failed.stdout.utf8))) as? [String: Any])?["run"] as? String)
        let resumed = try s.client(["resume", String(failedID.prefix(10)), "--json"], env: env)
        #expect(resumed.status == 0, "\(resumed)")
        let after = (try? JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8))) as? [String: Any]
        #expect((after?["outputs"] as? [String: Any])?["v"] as? String == "two", "\(resumed.stdout)")
        let attempts = try await s.request("GET", "/v1/runs/\(failedID)/logs", token: token)
        let firsts = (attempts.json["logs"] as? [[String: Any]] ?? []).filter { $0["task"] as? String == "first" }
        #expect(firsts.count == 1, "the finished task ran again: \(attempts.text)")
    }

    @Test(
        """
        the command line as a client: run, status, runs, logs, cancel and plan through the server; login kept \
        0600, used until logout, --local
        """
    )
    func commandLineClient() async throws {
        let s = try ServerHarness()
        let token = try s.heaven("users", "add", "bob", "--group", "eo")
        let admin = try s.heaven("users", "add", "root-admin", "--admin")
        try s.start()
        let url = "http://127.0.0.1:\(s.port)"
        let tokenFile = s.work + "/token"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let config = s.work + "/config"
        // Login checks the token, keeps it 0600.
        let login = try s.client(["login", url], env: ["XDG_CONFIG_HOME": config], stdin: tokenFile)
        #expect(login.status == 0 && login.stdout == "logged in to \(url) as bob (groups: eo)\n", "\(login)")
        let attributes = try FileManager.default.attributesOfItem(atPath: config + "/heaven/login.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let bad = try s.client(["login", url], env: ["XDG_CONFIG_HOME": config + "2"], stdin: "/dev/null")
        #expect(bad.status == 2 && bad.stderr.contains("no token on standard input"))

        let env = ["XDG_CONFIG_HOME": config, "HEAVEN_SERVER": url]
        let workflow = s.work + "/w.yaml"
        try quickRun.write(toFile: workflow, atomically: true, encoding: .utf8)
        let run = try s.client(["run", workflow, "--json"], env: env)
        #expect(run.status == 0, "\(run)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "succeeded" && object["workflow"] as? String == "quick")
        let id = try #require(object["run"] as? String)
        #expect(
            (object["outputs"] as? [String: Any])?["greeting"] as? String == "\(url)/v1/runs/\(id)/outputs/greeting")
        let status = try s.client(["status", id], env: env)
        #expect(status.stdout.hasPrefix("run \(id) (workflow quick, by bob): succeeded"), "\(status)")
        #expect(status.stdout.contains("  hello  succeeded  #1"))
        let runs = try s.client(["runs", "--json"], env: env)
        #expect(runs.stdout.contains("\"run\":\"\(id)\""))
        let logs = try s.client(["logs", id, "hello"], env: env)
        #expect(logs.stdout == "==> hello (attempt 1, succeeded) output <==\ndone\n", "\(logs)")
        let events = try s.client(["logs", id], env: env)
        #expect(events.stdout.contains("created   run of workflow `quick` created"))
        // A file input of this machine travels with the run.
        let data = s.work + "/numbers.txt"
        try "1\n2\n3\n4\n".write(toFile: data, atomically: true, encoding: .utf8)
        let counting = s.work + "/count.yaml"
        try """
        kind: Workflow
        name: count
        inputs: {data: {type: file}}
        steps:
          - task: count
            inputs: {data.txt: '${inputs.data}'}
            shell: 'wc -l < data.txt'
            outputs: {lines: {stdout: json}}
        outputs: {lines: '${count.lines}'}
        """.write(toFile: counting, atomically: true, encoding: .utf8)
        let counted = try s.client(["run", counting, "--input", "data=\(data)", "--json"], env: env)
        #expect(counted.status == 0 && counted.stdout.contains("\"lines\":4"), "\(counted)")
        // A long run cancelled from the command line.
        try longRun.write(toFile: workflow, atomically: true, encoding: .utf8)
        let submitted = try await s.request("POST", "/v1/runs", token: token, body: ServerHarness.submission(longRun))
        let long = try #require(submitted.json["id"] as? String)
        let cancel = try s.client(["cancel", long], env: env)
        #expect(cancel.stdout == "run \(long): cancel requested (the server stops its tasks)\n", "\(cancel)")
        #expect((try await waitForEnd(s, long, token: token))["status"] as? String == "cancelled")
        // Plan: the same table as here, from the server's catalog.
        let topology = s.work + "/t.yaml"
        try "kind: Topology\nname: t\nmachines: [{name: m, count: 2}]\n".write(
            toFile: topology, atomically: true, encoding: .utf8)
        _ = try await s.request(
            "POST", "/v1/sites", token: admin,
            body: try JSONSerialization.data(withJSONObject: [
                "yaml": "kind: Site\nname: box\nconnector: local\nowner: user:bob\nnodes: [{name: n, cores: 4}]\n"
            ]))
        let plan = try s.client(["plan", topology], env: env)
        #expect(plan.status == 0 && plan.stdout.hasPrefix("topology t for user bob: placed on box"), "\(plan)")
        // Errors say where: an unknown run, a server that does not answer, no token.
        let unknown = try s.client(["status", "nope"], env: env)
        #expect(unknown.status == 2 && unknown.stderr.contains("404: no run nope"))
        let noToken = try s.client(["runs"], env: ["HEAVEN_SERVER": url, "XDG_CONFIG_HOME": s.work + "/none"])
        #expect(noToken.status == 2 && noToken.stderr.contains("no token for \(url)"))

        // After login, a command names no server and talks to the login's (saying so);
        // --local keeps to this machine; logout forgets it.
        let home = s.work + "/bob-home"
        let logged = ["XDG_CONFIG_HOME": config, "HEAVEN_HOME": home]
        let listed = try s.client(["runs", "--json"], env: logged)
        #expect(listed.status == 0 && listed.stdout.contains("\"run\":\"\(id)\""), "\(listed)")
        #expect(listed.stderr == "heaven: \(url) (from `heaven login`; --local for this machine)\n", "\(listed)")
        let deployed = try s.client(["processes", "list"], env: logged)
        #expect(deployed.status == 0 && deployed.stderr.contains("from `heaven login`"), "\(deployed)")
        let local = try s.client(["runs", "--local", "--json"], env: logged)
        #expect(local.status == 0 && !local.stdout.contains(id) && local.stderr.isEmpty, "\(local)")
        let both = try s.client(["runs", "--local", "--server", url], env: logged)
        #expect(both.status == 2 && both.stderr.contains("--local and --server"), "\(both)")
        let logout = try s.client(["logout"], env: logged)
        #expect(logout.status == 0 && logout.stdout == "logged out of \(url)\n", "\(logout)")
        #expect(!FileManager.default.fileExists(atPath: config + "/heaven/login.json"))
        let after = try s.client(["runs", "--json"], env: logged)
        #expect(after.status == 0 && !after.stdout.contains(id) && after.stderr.isEmpty, "\(after)")
        #expect(try s.client(["logout"], env: logged).stdout == "not logged in\n")
        // A login file Heaven did not write is an error, never taken for "not logged in".
        try FileManager.default.createDirectory(atPath: config + "/heaven", withIntermediateDirectories: true)
        try "garbage".write(toFile: config + "/heaven/login.json", atomically: true, encoding: .utf8)
        // ... and one others may read (or have written) is not used, as ssh does with its keys.
        let open = try s.client(["runs"], env: logged)
        #expect(open.status == 2 && open.stderr.contains("readable by you alone (mode 0600)"), "\(open)")
        chmod(config + "/heaven/login.json", 0o600)
        let garbled = try s.client(["runs"], env: logged)
        #expect(garbled.status == 2 && garbled.stderr.contains("not a login Heaven wrote"), "\(garbled)")
    }

    @Test("the command line follows no redirect: a server that answers 302 elsewhere never sends the token there")
    func clientFollowsNoRedirect() throws {
        let s = try ServerHarness()
        let redirecting = try Recorder(work: s.work)
        let elsewhere = try Recorder(work: s.work)
        let server = "\(redirecting.url)/redirect?to=\(elsewhere.url)/stolen"
        let r = try s.client(["runs"], env: ["HEAVEN_SERVER": server, "HEAVEN_TOKEN": "hv_secret"])
        #expect(r.status == 2 && r.stderr.contains("302"), "\(r)")
        #expect(redirecting.requests.count == 1, "\(redirecting.requests)")
        #expect(elsewhere.requests.isEmpty, "the client followed the redirect: \(elsewhere.requests)")
    }

    @Test(
        """
        secrets: set by their owner, given only to the owner's tasks, listed by name, never returned or stored in \
        clear
        """
    )
    func secrets() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()
        let value = "copernicus-\(UUID().uuidString)"
        let put = try await s.request(
            "PUT", "/v1/secrets/copernicus", token: bob,
            body: try JSONSerialization.data(withJSONObject: ["value": value]))
        #expect(put.status == 204, "\(put.text)")
        let bad = try await s.request("PUT", "/v1/secrets/Bad%20Name", token: bob, body: Data(#"{"value": "x"}"#.utf8))
        #expect(bad.status == 400)
        let list = try await s.request("GET", "/v1/secrets", token: bob)
        #expect(list.text.contains("\"name\":\"copernicus\"") && !list.text.contains(value))
        #expect(!(try await s.request("GET", "/v1/secrets", token: dave)).text.contains("copernicus"))
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - task: use
                env: {TOKEN: {secret: copernicus}}
                shell: 'echo "${#TOKEN}"'
                outputs: {length: {stdout: json}}
            outputs: {length: '${use.length}'}
            """.replacingOccurrences(of: "${#", with: "$${#")
        let mine = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(yaml))
        let ran = try await waitForEnd(s, mine.json["id"] as? String ?? "", token: bob)
        #expect((ran["outputs"] as? [String: Any])?["length"] as? Int == value.count, "\(ran)")
        let theirs = try await s.request("POST", "/v1/runs", token: dave, body: ServerHarness.submission(yaml))
        let refused = try await waitForEnd(s, theirs.json["id"] as? String ?? "", token: dave)
        #expect((refused["error"] as? String ?? "").contains("secret `copernicus` is not set for dave"), "\(refused)")
        // Nowhere in clear: not the database (nor its WAL and shared memory), not a run's
        // files or logs, not what the server printed.
        let everywhere = tree(s.home).map(\.path) + [s.work + "/serve.out", s.work + "/serve.err"]
        #expect(
            everywhere.contains(s.home + "/heaven.sqlite-shm") && everywhere.contains(s.home + "/heaven.sqlite-wal"))
        for file in everywhere {
            let data = FileManager.default.contents(atPath: file) ?? Data()
            #expect(data.range(of: Data(value.utf8)) == nil, "\(file) holds the secret in clear")
        }
        let key = try FileManager.default.attributesOfItem(atPath: s.home + "/secret.key")
        #expect((key[.posixPermissions] as? Int) == 0o600)
        #expect((try await s.request("DELETE", "/v1/secrets/copernicus", token: bob)).status == 204)
    }

    @Test(
        """
        events stream live: a request made while the run goes on gets every event up to its end, then the stream \
        closes
        """
    )
    func liveEvents() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let yaml = """
            kind: Workflow
            name: slow
            steps:
              - task: first
                run: [sleep, '1']
              - task: second
                run: [sleep, '1']
            """
        let created = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(yaml))
        let id = try #require(created.json["id"] as? String)
        // The request comes before the tasks ran and ends only with the run: it gets the
        // final event. (A gate opened once the stream's headers arrive blocked a cooperative
        // thread under CI load; to redo without a blocking client.)
        let stream = try await s.request("GET", "/v1/runs/\(id)/events", token: bob)
        #expect(stream.status == 200 && stream.type.hasPrefix("text/event-stream"))
        // Each event: its id, its kind, its data.
        let events = stream.text.components(separatedBy: "\n\n").compactMap {
            block -> (id: Int, kind: String, data: String)? in
            let lines = block.split(separator: "\n").map(String.init)
            guard let id = lines.first(where: { $0.hasPrefix("id: ") }).flatMap({ Int($0.dropFirst(4)) }),
                let kind = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7),
                let data = lines.first(where: { $0.hasPrefix("data: ") })?.dropFirst(6)
            else { return nil }
            return (id, String(kind), String(data))
        }
        let kinds = events.map(\.kind)
        #expect(kinds.first == "created" && kinds.last == "succeeded", "\(kinds)")
        // The task's start and end, as they happened, before the run's end.
        let tasks = events.filter { $0.kind.hasPrefix("task-") }
        #expect(tasks.map(\.kind) == ["task-started", "task-ended", "task-started", "task-ended"], "\(kinds)")
        #expect(tasks.last?.data.contains("succeeded (attempt 1) on ") == true, "\(tasks)")
        // Stored events have increasing ids; a task's event carries the position it came at.
        let ids = events.filter { !$0.kind.hasPrefix("task-") }.map(\.id)
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        // Resuming after an id gives only what came later.
        let rest = try await s.request("GET", "/v1/runs/\(id)/events?after=\(ids[ids.count - 2])", token: bob)
        let later = rest.text.split(separator: "\n").filter { $0.hasPrefix("event: ") && !$0.contains("task-") }
        #expect(later == ["event: succeeded"], "\(rest.text)")
    }

    @Test("the OpenAPI document describes exactly the routes the server has")
    func openAPI() async throws {
        let home = NSTemporaryDirectory() + "heaven-openapi-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: home + "/heaven.sqlite")
        let server = HeavenServer(home: HeavenHome(root: home), stores: Stores(store))
        let router = server.router()
        let served = Set(
            router.routes.map { r in
                "\(r.method.rawValue) "
                    + "\(r.path)".split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                    .joined(separator: "/")
            }.map { $0.replacingOccurrences(of: " ", with: " /") }
                // The web console's pages are not operations of the API (docs/console.md).
                .filter { !$0.contains(" /console") })
        let doc = try #require(try JSONSerialization.jsonObject(with: server.openAPIDocument) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.0.3")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, ops) in paths {
            for method in ops.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        #expect(
            served == documented,
            """
            served only: \(served.subtracting(documented).sorted()); documented only: \
            \(documented.subtracting(served).sorted())
            """
        )
        // Every operation says what its errors look like.
        for (path, ops) in paths {
            for (method, op) in ops {
                let responses = (op as? [String: Any])?["responses"] as? [String: Any]
                #expect(responses?["default"] != nil, "\(method) \(path) documents no error response")
            }
        }
    }
}
