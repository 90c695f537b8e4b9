import Foundation
import HeavenTestSupport
import Testing

/// schemathesis (PyPI), where scripts/test.sh installs it.
let schemathesis: String? =
    ["/usr/local/bin/schemathesis", "/root/.pyenv/shims/schemathesis", "/usr/bin/schemathesis"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }
    ?? (try? Testbed.sh("command -v schemathesis"))?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

@Suite(
    "The API against its document", .serialized,
    Testbed.needs(schemathesis != nil, "schemathesis (pip install schemathesis)"), .timeLimit(.minutes(15)))
struct ContractTests {
    @Test(
        """
        schemathesis: every request generated from /api (the same document as /openapi.json: API v1 and OGC API - \
        Processes; valid and not) gets an answer the document allows, never a server error
        """
    )
    func schemathesisFindsNothing() async throws {
        let tool = try #require(schemathesis)
        let s = try ServerHarness()
        let token = try s.heaven("users", "add", "alice", "--admin")
        try s.start()
        // A finished run, so that the routes of one run answer with data, not 404.
        let created = try await s.request("POST", "/v1/runs", token: token, body: ServerHarness.submission(quickRun))
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        _ = try await waitForEnd(s, id, token: token)
        // A published process and a job of it, for the routes of OGC API - Processes.
        let deployed = try await s.request(
            "POST", "/processes?visibility=public", token: token, body: Data(echoProcess.utf8), type: "application/yaml"
        )
        #expect(deployed.status == 201, "\(deployed.text)")
        let job = try await s.request(
            "POST", "/processes/echo/execution", token: token,
            body: Data(#"{"inputs": {"message": "hi"}, "response": "document"}"#.utf8))
        #expect(job.status == 200, "\(job.text)")
        let jobs = try await s.request("GET", "/jobs?processID=echo", token: token)
        let jobID = try #require((jobs.json["jobs"] as? [[String: Any]])?.first?["jobID"] as? String, "\(jobs.text)")
        // 422 is what a request valid by the document gets when a YAML file it carries
        // breaks the language's own rules (which a JSON schema cannot state).
        let config = """
            [checks.positive_data_acceptance]
            expected-statuses = ["2xx", 401, 403, 404, 409, 422]

            [parameters]
            "path.id" = "\(id)"
            "path.task" = "hello"
            "path.name" = "greeting"
            "path.processID" = "echo"
            "path.jobID" = "\(jobID)"
            "path.output" = "echo"

            # An execute request valid by the document may still name inputs the process
            # does not have, or leave out those it needs: 400 (InvalidParameterValue).
            [[operations]]
            include-path = "/processes/{processID}/execution"
            checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422]

            # A quotation checks the inputs as an execution does.
            [[operations]]
            include-path = "/processes/{processID}/quotation"
            checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422]

            # `datetime` matching the document's pattern may still be no date (month 13).
            [[operations]]
            include-path = "/jobs"
            checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401]
            """
        try config.write(toFile: s.work + "/schemathesis.toml", atomically: true, encoding: .utf8)
        let out = s.work + "/schemathesis.out"
        let status = try ServerHarness.sh(
            "cd \(s.work) && \(tool) --config-file schemathesis.toml run http://127.0.0.1:\(s.port)/api"
                + " -H 'Authorization: Bearer \(token)' --checks all --max-examples 25 --seed 1 --no-color"
                + " > \(out) 2>&1")
        let report = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(status == 0, "schemathesis found problems:\n\(report.suffix(6000))")
        // Every operation of the document was exercised (schemathesis counts them).
        func number(after label: String) -> Int? {
            guard let r = report.range(of: label) else { return nil }
            return Int(report[r.upperBound...].prefix { $0.isNumber })
        }
        let total = number(after: "selected / ")
        #expect(total != nil && total! > 15 && number(after: "Tested: ") == total, "\(report.suffix(2000))")
    }
}
