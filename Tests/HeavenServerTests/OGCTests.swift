import Foundation
import HeavenTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The repository (these tests read its examples and the OGC schemas kept in it).
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The OGC test process (examples/processes/echo.yaml).
let echoProcess = (try? String(contentsOfFile: repository + "/examples/processes/echo.yaml", encoding: .utf8)) ?? ""

/// A process that runs until dismissed.
let waitProcess = """
    kind: Workflow
    name: wait
    steps:
      - task: wait
        run: [sleep, '300']
    outputs: {done: 'yes'}
    """

/// Checks a JSON document against a schema of OGC API - Processes 1.0 (the standard's
/// own, unchanged, in Tests/HeavenAPITests/OGC; validate.py says how it reads the one
/// ambiguity of the standard's `oneOf`, a bare string or integer value).
func ogcValid(_ body: Data, _ schema: String, work: String) throws -> String? {
    let file = work + "/doc-\(UUID().uuidString.prefix(8)).json"
    try body.write(to: URL(fileURLWithPath: file))
    let out = file + ".out"
    let status = try ServerHarness.sh(
        "python3 \(repository)/Tests/HeavenAPITests/OGC/validate.py \(schema) \(file) > \(out) 2>&1")
    let said = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    return status == 0 ? nil : "\(schema): \(said)\n\(String(decoding: body, as: UTF8.self).prefix(1500))"
}

/// The path and query of an absolute URL (the server's links are absolute).
func pathOf(_ url: String) -> String {
    guard let u = URL(string: url) else { return url }
    return u.path + (u.query.map { "?" + $0 } ?? "")
}

/// A loopback HTTP server that records what it is asked (Tests/HeavenServerTests/OGC/recorder.py).
final class Recorder: @unchecked Sendable {
    let directory: String
    let log: String
    let port: Int
    let pid: Int32

    init(work: String) throws {
        directory = work + "/served-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        log = directory + ".log"
        let portFile = directory + ".port"
        // Started detached, holding no descriptor of the test process (as the server is).
        _ = try ServerHarness.sh(
            "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; "
                + """
                setsid python3 \(repository)/Tests/HeavenServerTests/OGC/recorder.py \(directory) \(log) \
                \(portFile) > /dev/null 2>&1 < /dev/null & echo $! > \(directory).pid
                """,
            shell: "/bin/bash")
        pid =
            Int32(
                (try String(contentsOfFile: directory + ".pid", encoding: .utf8)).trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? 0
        var found = 0
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let p = Int(text) {
                found = p
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard found > 0 else { throw ServerHarness.Failure("the recording HTTP server did not start") }
        port = found
    }

    deinit { if pid > 0 { kill(pid, SIGKILL) } }

    /// The requests it got: method, path, body.
    var requests: [[String: String]] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String]
        }
    }

    var url: String { "http://127.0.0.1:\(port)" }
}

@Suite("OGC API - Processes", .serialized, .timeLimit(.minutes(15)))
struct OGCTests {
    @Test(
        """
        landing page, conformance and API document are public and valid; processes deploy (YAML), conflict, \
        replace with a higher version, undeploy, by their publisher only
        """
    )
    func publishing() async throws {
        let s = try ServerHarness()
        let alice = try s.heaven("users", "add", "alice", "--admin")
        let bob = try s.heaven("users", "add", "bob", "--group", "eo")
        let carol = try s.heaven("users", "add", "carol", "--group", "eo")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()

        let landing = try await s.request("GET", "/")
        #expect(landing.status == 200)
        #expect(try ogcValid(landing.body, "landingPage.yaml", work: s.work) == nil)
        let links = landing.json["links"] as? [[String: String]] ?? []
        let desc = links.first { $0["rel"] == "service-desc" }
        #expect(desc?["type"] == "application/vnd.oai.openapi+json;version=3.0", "\(landing.text)")
        for rel in [
            "http://www.opengis.net/def/rel/ogc/1.0/conformance", "http://www.opengis.net/def/rel/ogc/1.0/processes",
            "http://www.opengis.net/def/rel/ogc/1.0/job-list",
        ] {
            #expect(links.contains { $0["rel"] == rel && ($0["href"] ?? "").hasPrefix("http://127.0.0.1:") }, "\(rel)")
        }
        let conformance = try await s.request("GET", "/conformance")
        #expect(try ogcValid(conformance.body, "confClasses.yaml", work: s.work) == nil)
        let classes = conformance.json["conformsTo"] as? [String] ?? []
        for c in ["core", "ogc-process-description", "json", "html", "oas30", "job-list", "callback", "dismiss"] {
            #expect(classes.contains("http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/\(c)"), "\(c)")
        }
        #expect(classes.contains("http://www.opengis.net/spec/ogcapi-processes-2/1.0/conf/deploy-replace-undeploy"))
        let api = try await s.request("GET", "/api")
        #expect(api.status == 200 && api.type == "application/vnd.oai.openapi+json;version=3.0")
        let paths = (api.json["paths"] as? [String: Any]).map { Set($0.keys) } ?? []
        #expect(
            paths.isSuperset(of: [
                "/", "/conformance", "/api", "/processes", "/processes/{processID}", "/processes/{processID}/execution",
                "/processes/{processID}/package", "/jobs", "/jobs/{jobID}", "/jobs/{jobID}/results",
                "/jobs/{jobID}/results/{output}", "/v1/runs",
            ]), "\(paths.sorted())")
        #expect(api.json["openapi"] as? String == "3.0.3")
        // HTML for a person: asked by `f=html`, or by a browser's Accept header.
        let home = try await s.request("GET", "/?f=html")
        #expect(home.status == 200 && home.type.hasPrefix("text/html"), "\(home.type)")
        #expect(home.text.contains("<a href=\"http://127.0.0.1:\(s.port)/processes?f=html\">"), "\(home.text)")
        #expect(
            !home.text.contains("<script")
                && home.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        let browser = try await s.request(
            "GET", "/conformance",
            extraHeaders: ["Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"])
        #expect(browser.type.hasPrefix("text/html") && browser.text.contains("conf/dismiss"))
        #expect(try await s.request("GET", "/conformance", extraHeaders: ["Accept: */*"]).type == "application/json")
        #expect(links.contains { $0["rel"] == "alternate" && $0["type"] == "text/html" })

        // Deploy: YAML in, 201 with Location; the description follows the standard.
        func deploy(
            _ yaml: String, _ token: String?, visibility: String? = nil, method: String = "POST", id: String = ""
        )
            async throws -> ServerHarness.Reply
        {
            try await s.request(
                method, "/processes\(id.isEmpty ? "" : "/" + id)\(visibility.map { "?visibility=" + $0 } ?? "")",
                token: token, body: Data(yaml.utf8), type: "application/yaml")
        }
        let created = try await deploy(echoProcess, bob)
        #expect(created.status == 201, "\(created.text)")
        #expect(created.headers["location"]?.hasSuffix("/processes/echo") == true, "\(created.headers)")
        #expect(try ogcValid(created.body, "processSummary.yaml", work: s.work) == nil)
        let again = try await deploy(echoProcess, alice)
        #expect(again.status == 409)
        #expect(
            again.json["type"] as? String
                == "http://www.opengis.net/def/exceptions/ogcapi-processes-2/1.0/duplicated-process")
        let notYAML = try await s.request("POST", "/processes", token: bob, body: Data("x".utf8), type: "text/plain")
        #expect(notYAML.status == 415, "\(notYAML.text)")
        let broken = try await deploy("kind: Workflow\nname: b\nsteps:\n  - task: t\n    rn: [true]\n", bob)
        #expect(broken.status == 422)
        #expect((broken.json["detail"] as? String ?? "").contains("process.yaml:5:5"), "\(broken.text)")
        // A `call:` may not read the server's files.
        let reading = try await deploy(
            "kind: Workflow\nname: r\nsteps:\n  - call: /etc/passwd\n    name: p\n", bob)
        #expect(reading.status == 422)
        #expect((reading.json["detail"] as? String ?? "").contains("not among the files sent"), "\(reading.text)")

        // Private: its publisher and admins see it; another user, even of its group, and anonymous callers do not.
        let description = try await s.request("GET", "/processes/echo", token: bob)
        #expect(description.status == 200)
        #expect(try ogcValid(description.body, "process.yaml", work: s.work) == nil)
        #expect(description.json["version"] as? String == "1.0.0")
        for (who, token) in [("carol", carol), ("dave", dave), ("anonymous", nil)] as [(String, String?)] {
            let r = try await s.request("GET", "/processes/echo", token: token)
            #expect(r.status == 404, "\(who): \(r.status)")
            #expect(
                r.json["type"] as? String
                    == "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-process")
            let list = try await s.request("GET", "/processes", token: token)
            #expect(list.status == 200 && !list.text.contains("\"echo\""), "\(who)")
            #expect(try ogcValid(list.body, "processList.yaml", work: s.work) == nil)
        }
        #expect(try await s.request("GET", "/processes/echo", token: alice).status == 200)
        // A list with a process in it, as the standard's schema says (its summary, links, versions).
        let listed = try await s.request("GET", "/processes", token: bob)
        #expect(
            (listed.json["processes"] as? [[String: Any]])?.map { $0["id"] as? String } == ["echo"], "\(listed.text)")
        #expect(try ogcValid(listed.body, "processList.yaml", work: s.work) == nil)
        let described = try await s.request("GET", "/processes/echo?f=html", token: bob)
        #expect(
            described.type.hasPrefix("text/html") && described.text.contains("<dt>inputs</dt>"), "\(described.text)")
        #expect(described.text.contains("<dt>message</dt>") && described.text.contains("Echo"))
        // Only the publisher (or an admin) replaces it: the version increases.
        #expect(try await deploy(echoProcess, carol, method: "PUT", id: "echo").status == 404)
        let group = try await deploy(echoProcess, bob, visibility: "group:eo", method: "PUT", id: "echo")
        #expect(group.status == 204, "\(group.text)")
        #expect(try await s.request("GET", "/processes/echo", token: carol).status == 200)
        #expect(try await s.request("GET", "/processes/echo", token: dave).status == 404)
        let byCarol = try await deploy(echoProcess, carol, method: "PUT", id: "echo")
        #expect(byCarol.status == 403, "\(byCarol.text)")
        #expect(try await s.request("DELETE", "/processes/echo", token: carol).status == 403)
        let replaced = try await deploy(echoProcess, bob, visibility: "public", method: "PUT", id: "echo")
        #expect(replaced.status == 204)
        let anonymous = try await s.request("GET", "/processes/echo")
        #expect(anonymous.status == 200)
        #expect(anonymous.json["version"] as? String == "1.0.2", "\(anonymous.text)")
        let renamed = try await deploy(
            echoProcess.replacingOccurrences(of: "name: echo", with: "name: other"), bob,
            method: "PUT", id: "echo")
        #expect(renamed.status == 422, "\(renamed.text)")
        let package = try await s.request("GET", "/processes/echo/package")
        #expect(package.status == 200 && package.text == echoProcess)
        #expect(package.type.hasPrefix("application/yaml"))
        // Not in another's group, and a visibility that is not one: refused.
        #expect(try await deploy(waitProcess, dave, visibility: "group:eo").status == 403)
        #expect(try await deploy(waitProcess, dave, visibility: "everyone").status == 400)
        // Paging: a `next` link while more remain.
        for i in 0..<3 {
            let r = try await deploy(
                waitProcess.replacingOccurrences(of: "name: wait", with: "name: wait\(i)"), dave, visibility: "public")
            #expect(r.status == 201)
        }
        let page = try await s.request("GET", "/processes?limit=2")
        #expect((page.json["processes"] as? [Any])?.count == 2)
        let next = (page.json["links"] as? [[String: String]])?.first { $0["rel"] == "next" }?["href"]
        let rest = try await s.request("GET", pathOf(try #require(next)))
        #expect((rest.json["processes"] as? [[String: Any]])?.count == 2, "\(rest.text)")
        // Undeploy: 204, then gone; jobs of it stay.
        #expect(try await s.request("DELETE", "/processes/echo", token: bob).status == 204)
        #expect(try await s.request("GET", "/processes/echo", token: bob).status == 404)
        #expect(try await s.request("DELETE", "/processes/echo", token: bob).status == 404)
    }

    @Test(
        """
        execution: sync raw and document, async with Location, inputs checked before anything runs (400 \
        InvalidParameterValue), jobs listed and filtered, results by value and by reference
        """
    )
    func execution() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()
        let deployed = try await s.request(
            "POST", "/processes?visibility=public", token: bob, body: Data(echoProcess.utf8), type: "application/yaml")
        #expect(deployed.status == 201)
        func execute(_ body: String, _ token: String? = nil, prefer: String? = nil) async throws
            -> ServerHarness.Reply
        {
            try await s.request(
                "POST", "/processes/echo/execution", token: token ?? bob, body: Data(body.utf8),
                extraHeaders: prefer.map { ["Prefer: \($0)"] } ?? [])
        }
        // Sync, raw, one output: the value itself.
        let raw = try await execute(#"{"inputs": {"message": "hello"}, "outputs": {"echo": {}}}"#)
        #expect(
            raw.status == 200 && raw.text == "hello" && raw.type.hasPrefix("text/plain"), "\(raw.status) \(raw.text)")
        // Sync, raw, several: multipart/related, a part per output.
        let multi = try await execute(#"{"inputs": {"message": "hi"}}"#)
        #expect(multi.type.hasPrefix("multipart/related"), "\(multi.type)")
        #expect(multi.text.contains("Content-ID: <echo>") && multi.text.contains("\r\n\r\nhi\r\n"), "\(multi.text)")
        // Sync, document, a file inline: the results document.
        let content = Data("abcdef".utf8).base64EncodedString()
        let document = try await execute(
            #"{"inputs": {"message": "hello", "file": {"value": "\#(content)", "encoding": "base64", "#
                + #""mediaType": "text/plain"}}, "response": "document"}"#
        )
        #expect(document.status == 200, "\(document.text)")
        #expect(document.json["echo"] as? String == "hello" && document.json["bytes"] as? Int == 6, "\(document.text)")
        #expect(try ogcValid(document.body, "results.yaml", work: s.work) == nil)
        // The validator is the standard's: a value of no branch, or a list without its
        // links, fails it.
        #expect(try ogcValid(Data(#"{"echo": {"size": 6}}"#.utf8), "results.yaml", work: s.work) != nil)
        #expect(try ogcValid(Data(#"{"processes": []}"#.utf8), "processList.yaml", work: s.work) != nil)
        // Raw by reference: 204 and a Link per output.
        let refs = try await execute(
            #"{"inputs": {"message": "x"}, "outputs": {"echo": {"transmissionMode": "reference"}}}"#)
        #expect(refs.status == 204, "\(refs.text)")
        let link = refs.headers["link"] ?? ""
        #expect(
            link.contains("/results/echo>") && link.contains("rel=\"http://www.opengis.net/def/rel/ogc/1.0/results\""),
            "\(refs.headers)")
        let linked = pathOf(String(link.dropFirst().prefix { $0 != ">" }))
        let byLink = try await s.request("GET", linked, token: bob)
        #expect(byLink.status == 200 && byLink.text == "x", "\(linked): \(byLink.status) \(byLink.text)")
        #expect(try await s.request("GET", linked, token: dave).status == 404)

        // Bad inputs: 400, InvalidParameterValue, no job.
        let before = try await s.request("GET", "/jobs?limit=1000", token: bob)
        let count = (before.json["jobs"] as? [Any])?.count ?? -1
        for (body, says) in [
            (#"{"inputs": {"mesage": "x"}}"#, "no input `mesage` (did you mean `message`?)"),
            (#"{"inputs": {}}"#, "input `message` (string) is required"),
            (#"{"inputs": {"message": 3}}"#, "must be a string"),
            (#"{"inputs": {"message": "x", "file": "not a file"}}"#, "is a file"),
            (#"{"inputs": {"message": "x"}, "outputs": {"nothing": {}}}"#, "no output `nothing`"),
            (#"{"inputs": {"message": "x", "file": {"value": "%%%", "encoding": "base64"}}}"#, "not base64"),
        ] {
            let r = try await execute(body)
            #expect(r.status == 400, "\(body): \(r.status) \(r.text)")
            #expect(
                r.json["type"] as? String
                    == "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/InvalidParameterValue")
            #expect((r.json["detail"] as? String ?? "").contains(says), "\(r.text)")
            #expect(try ogcValid(r.body, "exception.yaml", work: s.work) == nil)
        }
        let after = try await s.request("GET", "/jobs?limit=1000", token: bob)
        #expect((after.json["jobs"] as? [Any])?.count == count)

        // Async: 201, Location, statusInfo; then the job, its results, its place in the list.
        let started = try await execute(#"{"inputs": {"message": "later"}}"#, prefer: "respond-async")
        #expect(started.status == 201, "\(started.text)")
        #expect(started.headers["preference-applied"] == "respond-async")
        let location = try #require(started.headers["location"])
        #expect(try ogcValid(started.body, "statusInfo.yaml", work: s.work) == nil)
        let jobID = try #require(started.json["jobID"] as? String)
        #expect(location.hasSuffix("/jobs/\(jobID)"))
        #expect(started.json["processID"] as? String == "echo" && started.json["type"] as? String == "process")
        let jobPage = try await s.request("GET", "/jobs/\(jobID)?f=html", token: bob)
        #expect(jobPage.type.hasPrefix("text/html") && jobPage.text.contains("<dt>status</dt>"), "\(jobPage.text)")
        #expect(try await s.request("GET", "/jobs?f=html", token: bob).text.contains("<table>"))
        var status: [String: Any] = [:]
        var progress: [Int] = []
        for _ in 0..<300 {
            let r = try await s.request("GET", "/jobs/\(jobID)", token: bob)
            #expect(try ogcValid(r.body, "statusInfo.yaml", work: s.work) == nil)
            status = r.json
            if let p = status["progress"] as? Int { progress.append(p) }
            if ["successful", "failed", "dismissed"].contains(status["status"] as? String ?? "") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status["status"] as? String == "successful", "\(status)")
        #expect(progress == progress.sorted() && progress.last == 100, "\(progress)")
        #expect(status["created"] != nil && status["started"] != nil && status["finished"] != nil)
        let results = try await s.request("GET", "/jobs/\(jobID)/results", token: bob)
        #expect(results.json["echo"] as? String == "later", "\(results.text)")
        #expect(results.json["bytes"] == nil, "a null output is not in the document: \(results.text)")
        // The same run through API v1.
        let run = try await s.request("GET", "/v1/runs/\(jobID)", token: bob)
        #expect(run.status == 200 && run.json["status"] as? String == "succeeded")
        // Another tenant sees nothing of it.
        for path in ["/jobs/\(jobID)", "/jobs/\(jobID)/results", "/jobs/\(jobID)/results/echo"] {
            let r = try await s.request("GET", path, token: dave)
            #expect(r.status == 404, "\(path)")
            #expect(
                r.json["type"] as? String == "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-job")
        }
        #expect(try await s.request("DELETE", "/jobs/\(jobID)", token: dave).status == 404)
        #expect(try await s.request("GET", "/jobs").status == 401)
        let others = try await s.request("GET", "/jobs", token: dave)
        #expect((others.json["jobs"] as? [Any])?.isEmpty == true, "\(others.text)")

        // The list: valid, filtered, paged.
        let list = try await s.request("GET", "/jobs?processID=echo&status=successful&limit=2", token: bob)
        #expect(try ogcValid(list.body, "jobList.yaml", work: s.work) == nil)
        let jobs = list.json["jobs"] as? [[String: Any]] ?? []
        #expect(jobs.count == 2 && jobs.allSatisfy { $0["status"] as? String == "successful" }, "\(list.text)")
        #expect((list.json["links"] as? [[String: String]])?.contains { $0["rel"] == "next" } == true)
        #expect((try await s.request("GET", "/jobs?status=failed", token: bob).json["jobs"] as? [Any])?.isEmpty == true)
        #expect(
            (try await s.request("GET", "/jobs?processID=other", token: bob).json["jobs"] as? [Any])?.isEmpty == true)
        #expect(
            (try await s.request("GET", "/jobs?datetime=../2000-01-01T00:00:00Z", token: bob).json["jobs"] as? [Any])?
                .isEmpty == true)
        let recent = try await s.request("GET", "/jobs?datetime=2000-01-01T00:00:00Z/..&limit=1000", token: bob)
        #expect((recent.json["jobs"] as? [Any])?.count == (after.json["jobs"] as? [Any]).map { $0.count + 1 })
        #expect(
            (try await s.request("GET", "/jobs?minDuration=3600", token: bob).json["jobs"] as? [Any])?.isEmpty == true)
        #expect(try await s.request("GET", "/jobs?status=done", token: bob).status == 400)
        #expect(try await s.request("GET", "/jobs?datetime=yesterday", token: bob).status == 400)
        #expect(try await s.request("GET", "/jobs?type=workflow", token: bob).status == 400)
    }

    @Test(
        """
        dismiss stops a running job for real (its process is gone) and removes its results; results are not ready \
        while it runs
        """
    )
    func dismiss() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let deployed = try await s.request(
            "POST", "/processes", token: bob, body: Data(waitProcess.utf8), type: "application/yaml")
        #expect(deployed.status == 201, "\(deployed.text)")
        let started = try await s.request(
            "POST", "/processes/wait/execution", token: bob, body: Data("{}".utf8),
            extraHeaders: ["Prefer: respond-async"])
        let jobID = try #require(started.json["jobID"] as? String, "\(started.text)")
        // Its task's processes hold the run's id in their environment.
        let marker = "HEAVEN_RUN=\(jobID)"
        // Its task runs.
        for _ in 0..<400 where processes(holding: marker).isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!processes(holding: marker).isEmpty, "the task never started")
        let running = try await s.request("GET", "/jobs/\(jobID)", token: bob)
        #expect(running.json["status"] as? String == "running", "\(running.text)")
        let early = try await s.request("GET", "/jobs/\(jobID)/results", token: bob)
        #expect(early.status == 404)
        #expect(
            early.json["type"] as? String
                == "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/result-not-ready")
        let dismissed = try await s.request("DELETE", "/jobs/\(jobID)", token: bob)
        #expect(dismissed.status == 200, "\(dismissed.text)")
        #expect(dismissed.json["status"] as? String == "dismissed")
        #expect(try ogcValid(dismissed.body, "statusInfo.yaml", work: s.work) == nil)
        // The answer came after the work stopped: the process is gone.
        #expect(processes(holding: marker).isEmpty, "the task still runs after the dismissal")
        #expect(try await s.request("GET", "/jobs/\(jobID)/results", token: bob).status == 404)
        #expect(try await s.request("GET", "/jobs/\(jobID)", token: bob).json["status"] as? String == "dismissed")

        // A finished job dismissed: its result files go.
        let echo = try await s.request(
            "POST", "/processes", token: bob,
            body: Data(
                """
                kind: Workflow\nname: file\nsteps:\n  - task: t\n    shell: 'echo data > out.txt'\n    outputs: \
                {f: {file: out.txt}}\noutputs: {f: '${t.f}'}\n
                """
                .utf8),
            type: "application/yaml")
        #expect(echo.status == 201)
        let done = try await s.request(
            "POST", "/processes/file/execution", token: bob, body: Data(#"{"response": "document"}"#.utf8))
        let href = try #require((done.json["f"] as? [String: Any])?["href"] as? String, "\(done.text)")
        #expect((done.json["f"] as? [String: Any])?["type"] as? String == "text/plain")
        let path = String(pathOf(href).dropFirst())
        let file = try await s.request("GET", "/" + path, token: bob)
        #expect(file.status == 200 && file.text == "data\n")
        let fileJob = String(path.split(separator: "/")[1])
        let output = try #require(
            FileManager.default.enumerator(atPath: s.home + "/runs/\(fileJob)")?.compactMap { $0 as? String }.first {
                $0.hasSuffix("out.txt")
            })
        #expect(try await s.request("DELETE", "/jobs/\(fileJob)", token: bob).status == 200)
        #expect(!FileManager.default.fileExists(atPath: s.home + "/runs/\(fileJob)/" + output))
        #expect(try await s.request("GET", "/" + path, token: bob).status == 404)
    }

    @Test(
        """
        href inputs: fetched only from allowed hosts (redirects too), within the size limit; never file:// nor \
        another host; callbacks only to allowed hosts
        """
    )
    func outbound() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let allowed = try Recorder(work: s.work)
        let other = try Recorder(work: s.work)
        try Data(repeating: 65, count: 1000).write(to: URL(fileURLWithPath: allowed.directory + "/small.txt"))
        try Data(repeating: 65, count: 5000).write(to: URL(fileURLWithPath: allowed.directory + "/large.bin"))
        try Data("secret".utf8).write(to: URL(fileURLWithPath: other.directory + "/inside.txt"))
        try s.start(["--no-isolation", "--fetch-allow", "127.0.0.1:\(allowed.port)", "--fetch-limit", "4KiB"])
        let deployed = try await s.request(
            "POST", "/processes", token: bob, body: Data(echoProcess.utf8), type: "application/yaml")
        #expect(deployed.status == 201)
        func execute(_ href: String, subscriber: String = "") async throws -> ServerHarness.Reply {
            try await s.request(
                "POST", "/processes/echo/execution", token: bob,
                body: Data(
                    #"{"inputs": {"message": "m", "file": {"href": "\#(href)"}}, "response": "document"\#(subscriber)}"#
                        .utf8))
        }
        let fetched = try await execute(allowed.url + "/small.txt")
        #expect(fetched.status == 200 && fetched.json["bytes"] as? Int == 1000, "\(fetched.text)")
        #expect(allowed.requests.contains { $0["path"] == "/small.txt" })
        for (href, says) in [
            (other.url + "/inside.txt", "is not one this server fetches from"),
            ("file:///etc/passwd", "only http and https"),
            ("http://no-such-host.invalid/x.tif", "is not one this server fetches from"),
            ("ftp://127.0.0.1:\(allowed.port)/small.txt", "only http and https"),
            (allowed.url + "/redirect?to=" + other.url + "/inside.txt", "redirected elsewhere"),
            (allowed.url + "/large.bin", "over the limit"),
            (allowed.url + "/missing.txt", "HTTP 404"),
        ] {
            let r = try await execute(href)
            #expect(r.status == 400, "\(href): \(r.status) \(r.text)")
            #expect((r.json["detail"] as? String ?? "").contains(says), "\(href): \(r.text)")
        }
        #expect(other.requests.isEmpty, "the server reached a host it was not allowed: \(other.requests)")

        // Callbacks: refused to a host not allowed; sent (results, then nothing else) to an allowed one.
        let refused = try await execute(
            allowed.url + "/small.txt", subscriber: #", "subscriber": {"successUri": "\#(other.url)/done"}"#)
        #expect(refused.status == 400, "\(refused.text)")
        let subscribed = try await s.request(
            "POST", "/processes/echo/execution", token: bob,
            body: Data(
                (#"{"inputs": {"message": "called back"}, "subscriber": {"successUri": "\#(allowed.url)/done", "#
                    + #""inProgressUri": "\#(allowed.url)/going"}}"#).utf8), extraHeaders: ["Prefer: respond-async"])
        #expect(subscribed.status == 201, "\(subscribed.text)")
        var calls: [[String: String]] = []
        for _ in 0..<200 {
            calls = allowed.requests.filter { $0["method"] == "POST" }
            if calls.contains(where: { $0["path"] == "/done" }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let done = try #require(calls.first { $0["path"] == "/done" }, "no callback: \(allowed.requests)")
        #expect(done["body"]?.contains("called back") == true, "\(done)")
        let going = calls.first { $0["path"] == "/going" }
        #expect(going?["body"]?.contains("\"jobID\"") == true, "\(calls)")
        #expect(other.requests.isEmpty)
    }
}
