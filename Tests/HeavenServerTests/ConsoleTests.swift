import Foundation
import HeavenTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The Python of the virtual environment with selenium that scripts/test.sh makes
/// (`HEAVEN_SELENIUM_PYTHON`, or its default place).
let seleniumPython: String? = {
    let env = ProcessInfo.processInfo.environment
    let home = env["HOME"] ?? "/root"
    let candidates = [
        env["HEAVEN_SELENIUM_PYTHON"],
        (env["XDG_CACHE_HOME"] ?? home + "/.cache") + "/heaven/selenium-4.50.0/bin/python",
    ].compactMap { $0 }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

let browserAvailable =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") && seleniumPython != nil

/// The Python of the virtual environment with Mozilla's marionette_driver, which drives
/// Firefox (`HEAVEN_MARIONETTE_PYTHON`, or where scripts/test.sh makes it).
let marionettePython: String? = {
    let env = ProcessInfo.processInfo.environment
    let home = env["HOME"] ?? "/root"
    let candidates = [
        env["HEAVEN_MARIONETTE_PYTHON"],
        (env["XDG_CACHE_HOME"] ?? home + "/.cache") + "/heaven/marionette-driver-3.7.1/bin/python",
    ].compactMap { $0 }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

let firefoxAvailable =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/firefox-esr") && marionettePython != nil

/// Runs a browser script of `Console/` with `python` against a new server, the server
/// and the browser in a network namespace of their own (nothing leaves); checks every
/// check of its report passed, at least `checks` of them, and that it saved
/// `screenshots` (into `$HEAVEN_TEST_ARTIFACTS` when set).
func browserChecks(_ script: String, python: String, checks expected: Int, screenshots: Int) throws {
    let s = try ServerHarness()
    let bob = try s.heaven("users", "add", "bob")
    let dave = try s.heaven("users", "add", "dave")
    let artifacts = ProcessInfo.processInfo.environment["HEAVEN_TEST_ARTIFACTS"] ?? s.work + "/artifacts"
    try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
    let shell = """
        ip link set lo up
        HEAVEN_HOME=\(s.home) setsid \(ServerHarness.binary) serve --listen 127.0.0.1:0 --task-ids \
        \(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound) --user \(ServerHarness.serviceAccount) > \(s.work)/serve.out 2>\
         \(s.work)/serve.err < /dev/null &
        server=$!
        for i in $(seq 200); do grep -q listening \(s.work)/serve.out 2>/dev/null && break; sleep 0.05; done
        url=$(sed -n 's/^listening on //p' \(s.work)/serve.out)
        \(python) \(repository)/Tests/HeavenServerTests/Console/\(script) "$url" \(s.home) \(artifacts) \(bob) \(dave) \
        > \(s.work)/report.json 2> \(s.work)/browser.err
        status=$?
        kill $server
        exit $status
        """
    try shell.write(toFile: s.work + "/console.sh", atomically: true, encoding: .utf8)
    chmod(s.work, 0o755)
    let status = try ServerHarness.sh(
        """
        for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; unshare -n \
        bash \(s.work)/console.sh
        """,
        shell: "/bin/bash")
    let said = (try? String(contentsOfFile: s.work + "/browser.err", encoding: .utf8)) ?? ""
    #expect(status == 0, "the browser script failed: \(said.suffix(3000))")
    let reportData = (try? Data(contentsOf: URL(fileURLWithPath: s.work + "/report.json"))) ?? Data()
    try? reportData.write(to: URL(fileURLWithPath: artifacts + "/report-\(script).json"))
    let report = (try? JSONSerialization.jsonObject(with: reportData)) as? [String: Any] ?? [:]
    let checks = report["checks"] as? [String: [Any]] ?? [:]
    #expect(checks.count >= expected, "\(checks.keys.sorted())")
    for (name, result) in checks.sorted(by: { $0.key < $1.key }) {
        #expect(result.first as? Bool == true, "\(name): \(result.last ?? "")")
    }
    #expect((report["screenshots"] as? [String])?.count == screenshots)
}

@Suite(
    "The web console in a browser", .serialized,
    Testbed.needs(
        browserAvailable, "chromium, chromium-driver and selenium in a virtual environment (scripts/test.sh)"),
    .timeLimit(.minutes(15)))
struct ConsoleTests {
    @Test(
        """
        sign in with a token; the graph shows each task's recorded state and turns running to succeeded live; a \
        failed and a timed-out task show their state and reason, the Gantt chart its time axis; cancel stops the \
        run; a log follows; one Gantt bar per attempt on its site; another user gets 404; nothing loaded from \
        elsewhere; markup in a log stays text; a process's form uploads a file; run again
        """
    )
    func browser() throws {
        try browserChecks("browser.py", python: try #require(seleniumPython), checks: 19, screenshots: 5)
    }
}

@Suite(
    "The web console in Firefox", .serialized,
    Testbed.needs(
        firefoxAvailable, "firefox-esr and marionette_driver in a virtual environment (scripts/test.sh)"),
    .timeLimit(.minutes(15)))
struct ConsoleFirefoxTests {
    @Test(
        """
        in Firefox: sign in; the graph and the Gantt chart as recorded; a node turns running to succeeded live; a \
        log's markup stays text; a process's form uploads a file; every page fits a narrow screen
        """
    )
    func firefox() throws {
        try browserChecks("firefox.py", python: try #require(marionettePython), checks: 8, screenshots: 2)
    }
}

@Suite("The web console's sessions", .serialized, .timeLimit(.minutes(15)))
struct ConsoleSessionTests {
    @Test(
        """
        a session opens with a valid token only, its cookie HttpOnly and SameSite=Strict; forms need its CSRF \
        token and this origin; signing out ends it on the server; another's run is 404
        """
    )
    func sessions() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()
        func form(_ fields: String) -> Data { Data(fields.utf8) }
        let formType = "application/x-www-form-urlencoded"
        let refused = try await s.request("POST", "/console/login", body: form("token=hv_nope"), type: formType)
        #expect(refused.status == 401 && refused.text.contains("not a valid one"))
        #expect(refused.headers["set-cookie"] == nil)
        let login = try await s.request("POST", "/console/login", body: form("token=\(bob)"), type: formType)
        #expect(login.status == 303 && login.headers["location"] == "/console")
        let setCookie = login.headers["set-cookie"] ?? ""
        #expect(
            setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict")
                && setCookie.contains("Path=/console"))
        let cookie = "Cookie: " + String(setCookie.split(separator: ";")[0])
        let page = try await s.request("GET", "/console", extraHeaders: [cookie])
        #expect(page.status == 200 && page.text.contains("<span>bob</span>"))
        #expect(page.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(!page.text.contains("<script>") && !page.text.contains("style=\""))
        let csrf = try #require(
            page.text.range(of: #"name="csrf" value=""#).map {
                String(page.text[$0.upperBound...].prefix { $0 != "\"" })
            })
        // Without the session: the login page; the API's bearer tokens are not sessions.
        #expect(try await s.request("GET", "/console").headers["location"] == "/console/login")
        #expect(try await s.request("GET", "/console", token: bob).headers["location"] == "/console/login")
        // A run of bob's, and one of dave's.
        let mine = try #require(
            try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(longRun)).json["id"]
                as? String)
        let his = try #require(
            try await s.request("POST", "/v1/runs", token: dave, body: ServerHarness.submission(quickRun)).json["id"]
                as? String)
        #expect(try await s.request("GET", "/console/runs/\(his)", extraHeaders: [cookie]).status == 404)
        #expect(try await s.request("GET", "/console/runs/\(his)/events", extraHeaders: [cookie]).status == 404)
        #expect(try await s.request("GET", "/console/runs/\(mine)", extraHeaders: [cookie]).status == 200)
        // Cancel: refused without the CSRF token, with a wrong one, and from another origin.
        for (fields, origin) in [("", nil), ("csrf=wrong", nil), ("csrf=\(csrf)", "http://evil.test")]
            as [(String, String?)]
        {
            let r = try await s.request(
                "POST", "/console/runs/\(mine)/cancel", body: form(fields), type: formType,
                extraHeaders: [cookie] + (origin.map { ["Origin: \($0)"] } ?? []))
            #expect(r.status == 403, "\(fields) \(origin ?? ""): \(r.status)")
        }
        #expect(try await s.request("GET", "/v1/runs/\(mine)", token: bob).json["status"] as? String != "cancelled")
        let cancelled = try await s.request(
            "POST", "/console/runs/\(mine)/cancel", body: form("csrf=\(csrf)"), type: formType,
            extraHeaders: [cookie, "Origin: http://127.0.0.1:\(s.port)"])
        #expect(cancelled.status == 303, "\(cancelled.text)")
        _ = try await waitForEnd(s, mine, token: bob)
        // Signing out ends the session on the server: the same cookie opens nothing.
        let out = try await s.request(
            "POST", "/console/logout", body: form("csrf=\(csrf)"), type: formType, extraHeaders: [cookie])
        #expect(out.status == 303 && (out.headers["set-cookie"] ?? "").contains("Max-Age=0"))
        #expect(try await s.request("GET", "/console", extraHeaders: [cookie]).headers["location"] == "/console/login")
        #expect(try await s.request("GET", "/console/runs.table", extraHeaders: [cookie]).status == 401)
    }

    @Test(
        """
        the runs page's stream says `changed` when one of the caller's runs is created and when it ends (woken by \
        the store), not for another tenant's run
        """
    )
    func runsPageWakes() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()
        let login = try await s.request(
            "POST", "/console/login", body: Data("token=\(bob)".utf8), type: "application/x-www-form-urlencoded")
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
        // The stream, read by curl as a browser's EventSource would.
        let file = s.work + "/runs-stream"
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = [
            "-s", "-N", "-m", "60", "-H", cookie, "-o", file, "http://127.0.0.1:\(s.port)/console/runs.events",
        ]
        try curl.run()
        defer { curl.terminate() }
        func changes() -> Int {
            ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").components(separatedBy: "event: changed").count
                - 1
        }
        /// Looks until `count` changes were told (a bounded number of looks, not a clock).
        func told(_ count: Int) async throws -> Bool {
            for _ in 0..<400 {
                if changes() >= count { return true }
                try await Task.sleep(for: .milliseconds(25))
            }
            return false
        }
        // Listening: its first list is read (a comment says so).
        var listening = false
        for _ in 0..<400 where !listening {
            listening = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").contains(": listening")
            if !listening { try await Task.sleep(for: .milliseconds(25)) }
        }
        #expect(listening)
        // Another tenant's run changes the store, not what bob sees. Then bob's run:
        // told when it is created, and again when it is cancelled (each change made
        // after the one before was told: none coalesced with another).
        let his = try #require(
            try await s.request("POST", "/v1/runs", token: dave, body: ServerHarness.submission(quickRun)).json["id"]
                as? String)
        _ = try await waitForEnd(s, his, token: dave)
        let mine = try #require(
            try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(longRun)).json["id"]
                as? String)
        #expect(try await told(1), "\(changes()) changes told")
        #expect(try await s.request("POST", "/v1/runs/\(mine)/cancel", token: bob).status == 202)
        _ = try await waitForEnd(s, mine, token: bob)
        #expect(try await told(2), "\(changes()) changes told")
    }

    @Test(
        """
        a run's live event stream ends once its reader may no longer read: the console's after signing out, the \
        API's after its token is revoked
        """
    )
    func streamsEndWithTheRight() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let formType = "application/x-www-form-urlencoded"
        let login = try await s.request("POST", "/console/login", body: Data("token=\(bob)".utf8), type: formType)
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
        let page = try await s.request("GET", "/console", extraHeaders: [cookie])
        let csrf = try #require(
            page.text.range(of: #"name="csrf" value=""#).map {
                String(page.text[$0.upperBound...].prefix { $0 != "\"" })
            })
        let run = try #require(
            try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(longRun)).json["id"]
                as? String)
        // A second token of bob's follows the run through the API.
        let second = try s.heaven("users", "token", "bob")
        func follow(_ header: String, _ path: String) throws -> Process {
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = [
                "-s", "-N", "-m", "60", "-H", header, "-o", "/dev/null", "http://127.0.0.1:\(s.port)\(path)",
            ]
            try curl.run()
            return curl
        }
        let console = try follow(cookie, "/console/runs/\(run)/events")
        let api = try follow("Authorization: Bearer \(second)", "/v1/runs/\(run)/events")
        defer {
            console.terminate()
            api.terminate()
        }
        // Both follow while the right holds (a look, not a clock: still running).
        try await Task.sleep(for: .milliseconds(500))
        #expect(console.isRunning && api.isRunning)
        // Signed out, and the second token revoked: both streams end (their next look).
        let out = try await s.request(
            "POST", "/console/logout", body: Data("csrf=\(csrf)".utf8), type: formType, extraHeaders: [cookie])
        #expect(out.status == 303)
        try s.heaven("users", "revoke", String(second.split(separator: "_")[1]))
        for _ in 0..<200 where console.isRunning || api.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!console.isRunning, "the console's stream went on after signing out")
        #expect(!api.isRunning, "the API's stream went on after its token was revoked")
        _ = try await s.request("POST", "/v1/runs/\(run)/cancel", token: bob)
    }

    @Test(
        """
        a GeoTIFF output is previewed as a PNG made on the server with GDAL (its first band in grey, at most 1024 \
        px wide), with its legend
        """
    )
    func geotiffPreview() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let band = try Data(contentsOf: URL(fileURLWithPath: repository + "/examples/eo/data/landsat8/l8_B4.tif"))
        let yaml = """
            kind: Workflow
            name: copy
            inputs: {band: {type: file}}
            steps:
              - task: copy
                inputs: {band.tif: '${inputs.band}'}
                run: [gdal_translate, -q, band.tif, copy.tif]
                outputs: {tif: {file: copy.tif}}
            outputs: {tif: '${copy.tif}'}
            """
        let body = try JSONSerialization.data(withJSONObject: [
            "documents": [["path": "w.yaml", "text": yaml]], "inputs": ["band": "band.tif"],
            "files": ["band.tif": band.base64EncodedString()],
        ])
        let created = try await s.request("POST", "/v1/runs", token: bob, body: body)
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        let ended = try await waitForEnd(s, id, token: bob)
        #expect(ended["status"] as? String == "succeeded", "\(ended)")
        let login = try await s.request(
            "POST", "/console/login", body: Data("token=\(bob)".utf8), type: "application/x-www-form-urlencoded")
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
        let page = try await s.request("GET", "/console/runs/\(id)", extraHeaders: [cookie])
        #expect(page.text.contains("/console/runs/\(id)/outputs/tif?preview=png"), "\(page.text.suffix(800))")
        let png = try await s.request("GET", "/console/runs/\(id)/outputs/tif?preview=png", extraHeaders: [cookie])
        #expect(png.status == 200 && png.type == "image/png", "\(png.status) \(png.type)")
        let bytes = [UInt8](png.body)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        // The IHDR chunk: width then height, big-endian, from byte 16.
        if bytes.count > 24 {
            let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }
            #expect(width == 627, "\(width)")
        }
        // Its legend: grey, from the band's minimum to its maximum (as gdalinfo -mm says).
        let legend = try await s.request(
            "GET", "/console/runs/\(id)/outputs/tif?preview=legend", extraHeaders: [cookie])
        #expect(legend.status == 200 && legend.type == "image/svg+xml" && legend.text.contains("data-legend=\"grey\""))
        let range = try Testbed.sh(
            """
            gdalinfo -json -mm \(repository)/examples/eo/data/landsat8/l8_B4.tif | python3 -c 'import json, sys; \
            b = json.load(sys.stdin)[\"bands\"][0]; print(b[\"computedMin\"], b[\"computedMax\"])'
            """
        ).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let values = legend.text.components(separatedBy: "data-value=\"").dropFirst().compactMap {
            Double($0.prefix { $0 != "\"" })
        }
        #expect(range.count == 2 && values.first == range[0] && values.last == range[1], "\(values) \(range)")
        #expect(!legend.text.contains("<script") && !legend.text.contains("no data"), "\(legend.text)")
        // Without the session: nothing.
        #expect(try await s.request("GET", "/console/runs/\(id)/outputs/tif?preview=png").status == 401)
        #expect(try await s.request("GET", "/console/runs/\(id)/outputs/tif?preview=legend").status == 401)
        // A tall raster (20 × 60,000) is previewed within 1,024 pixels on its longer side,
        // never at its own height.
        let tall = """
            kind: Workflow
            name: tall
            steps:
              - task: make
                run: [gdal_create, -of, GTiff, -outsize, '20', '60000', -bands, '1', -ot, Float32, -burn, '0.5', t.tif]
                outputs: {tif: {file: t.tif}}
            outputs: {tif: '${make.tif}'}
            """
        let made = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(tall))
        let tallID = try #require(made.json["id"] as? String, "\(made.text)")
        #expect(try await waitForEnd(s, tallID, token: bob)["status"] as? String == "succeeded")
        let small = try await s.request(
            "GET", "/console/runs/\(tallID)/outputs/tif?preview=png", extraHeaders: [cookie])
        let header = [UInt8](small.body)
        #expect(small.status == 200 && header.count > 24, "\(small.status) \(small.text.prefix(300))")
        if header.count > 24 {
            let (w, h) = (
                header[16..<20].reduce(0) { $0 << 8 | Int($1) }, header[20..<24].reduce(0) { $0 << 8 | Int($1) }
            )
            #expect(w == 1 && h == 1024, "\(w) × \(h)")
        }
    }
}

/// A `multipart/form-data` body as a browser sends it: fields, then files (name, file
/// name, content); and its content type.
func multipart(_ fields: [(String, String)], files: [(String, String, Data)] = []) -> (body: Data, type: String) {
    let boundary = "----heaven\(UUID().uuidString.prefix(12))"
    var body = Data()
    for (name, value) in fields {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
    }
    for (name, file, content) in files {
        body.append(
            Data(
                """
                --\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; \
                filename=\"\(file)\"\r\nContent-Type: text/plain\r\n\r\n
                """
                .utf8))
        body.append(content)
        body.append(Data("\r\n".utf8))
    }
    body.append(Data("--\(boundary)--\r\n".utf8))
    return (body, "multipart/form-data; boundary=\(boundary)")
}

@Suite("The web console's submission pages", .serialized, .timeLimit(.minutes(15)))
struct ConsoleSubmissionTests {
    /// A process with a file, a bounded integer and a choice (the browser tests' too).
    static let scale = try! String(
        contentsOfFile: repository + "/Tests/HeavenServerTests/Console/scale.yaml", encoding: .utf8)

    /// Signs in; the session's cookie header.
    func signIn(_ s: ServerHarness, _ token: String) async throws -> String {
        let login = try await s.request(
            "POST", "/console/login", body: Data("token=\(token)".utf8), type: "application/x-www-form-urlencoded")
        return "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
    }

    func field(_ name: String, in page: String) -> String? {
        page.range(of: "name=\"\(name)\" value=\"").map { String(page[$0.upperBound...].prefix { $0 != "\"" }) }
    }

    func runs(_ s: ServerHarness, _ token: String) async throws -> Int {
        ((try await s.request("GET", "/v1/runs", token: token).json["runs"]) as? [Any])?.count ?? -1
    }

    @Test(
        """
        a process's page has a form generated from its inputs (a file, bounded numbers, choices); it starts a job \
        with the uploaded file; every mistake shows the form again with what is wrong and starts nothing; run \
        again reuses the earlier file; another tenant sees neither the private process nor the earlier run's file
        """
    )
    func processForm() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()
        let deployed = try await s.request(
            "POST", "/processes?visibility=public", token: bob, body: Data(Self.scale.utf8), type: "application/yaml")
        #expect(deployed.status == 201, "\(deployed.text)")
        let secret = Self.scale.replacingOccurrences(of: "name: scale", with: "name: secret")
        #expect(
            try await s.request("POST", "/processes", token: bob, body: Data(secret.utf8), type: "application/yaml")
                .status == 201)
        let bobs = try await signIn(s, bob)
        let daves = try await signIn(s, dave)
        let list = try await s.request("GET", "/console/processes", extraHeaders: [bobs])
        #expect(
            list.status == 200 && list.text.contains("data-process=\"scale\"") && list.text.contains("Scale a count"))
        #expect(list.text.contains("data-process=\"secret\""))
        let theirs = try await s.request("GET", "/console/processes", extraHeaders: [daves]).text
        #expect(theirs.contains("data-process=\"scale\"") && !theirs.contains("data-process=\"secret\""))
        // The form, from the description.
        let page = try await s.request("GET", "/console/processes/scale", extraHeaders: [bobs])
        #expect(page.status == 200)
        for expected in [
            #"enctype="multipart/form-data""#, #"name="text" type="file" required"#,
            #"name="factor" type="number" step="1" min="1" max="10" value="2""#,
            #"<select id="in-unit" name="unit" required"#, #"<option value="words">words</option>"#,
        ] {
            #expect(page.text.contains(expected), "\(expected) not in \(page.text)")
        }
        let csrf = try #require(field(".csrf", in: page.text))
        let text = Data("one two three".utf8)
        func send(_ path: String, _ fields: [(String, String)], files: [(String, String, Data)] = [], as cookie: String)
            async throws -> ServerHarness.Reply
        {
            let (body, type) = multipart(fields, files: files)
            return try await s.request("POST", path, body: body, type: type, extraHeaders: [cookie])
        }
        let before = try await runs(s, bob)
        // Mistakes: the form again, saying what is wrong; no run, no file left behind.
        let mistakes: [([(String, String)], [(String, String, Data)], String)] = [
            (
                [("factor", "30"), ("unit", "words")], [("text", "t.txt", text)],
                "input `factor` must be at most 10, not 30"
            ),
            ([("factor", "abc"), ("unit", "words")], [("text", "t.txt", text)], "input `factor` must be an integer"),
            ([("unit", "bytes")], [("text", "t.txt", text)], "input `unit` must be one of"),
            (
                [("factr", "3"), ("unit", "words")], [("text", "t.txt", text)],
                "no input `factr` (did you mean `factor`?)"
            ),
            ([("unit", "words")], [("text", "", Data())], "input `text` needs a file"),
            ([("factor", "3")], [("text", "t.txt", text)], "input `unit` (string) is required"),
            (
                [("unit", "words")], [("text", "t.txt", text), ("factor", "f.txt", text)],
                "field `factor` is not a file input"
            ),
        ]
        for (fields, files, said) in mistakes {
            let r = try await send(
                "/console/processes/scale/execution", [(".csrf", csrf)] + fields, files: files, as: bobs)
            #expect(r.status == 400 && r.text.contains("id=\"submit-error\""), "\(fields): \(r.status)")
            #expect(r.text.contains(said), "\(said) not in \(r.text)")
            #expect(r.text.contains("name=\"text\" type=\"file\""), "the form is shown again")
        }
        let notMultipart = try await s.request(
            "POST", "/console/processes/scale/execution", body: Data("unit=words".utf8),
            type: "application/x-www-form-urlencoded", extraHeaders: [bobs])
        #expect(notMultipart.status == 415 && notMultipart.text.contains("multipart/form-data"))
        // Headers without end: refused once past 64 KiB, nothing kept.
        let boundary = "----huge"
        let huge = Data(
            ("--\(boundary)\r\nContent-Disposition: form-data; name=\"unit\"\r\nX-Pad: "
                + String(repeating: "a", count: 100_000)).utf8)
        let refused = try await s.request(
            "POST", "/console/processes/scale/execution", body: huge,
            type: "multipart/form-data; boundary=\(boundary)", extraHeaders: [bobs])
        #expect(refused.status == 400 && refused.text.contains("64 KiB of headers"), "\(refused.status)")
        let stale = try await send(
            "/console/processes/scale/execution", [(".csrf", "hv_wrong"), ("unit", "words")],
            files: [("text", "t.txt", text)], as: bobs)
        #expect(stale.status == 403)
        #expect(try await runs(s, bob) == before)
        let uploads = s.work + "/home/server/uploads"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: uploads)) ?? []).isEmpty)
        // The job: the uploaded file, the numbers as sent.
        let started = try await send(
            "/console/processes/scale/execution", [(".csrf", csrf), ("factor", "3"), ("unit", "words")],
            files: [("text", "t.txt", text)], as: bobs)
        #expect(started.status == 303, "\(started.text)")
        let job = String((started.headers["location"] ?? "").dropFirst("/console/runs/".count))
        let ended = try await waitForEnd(s, job, token: bob)
        #expect((ended["outputs"] as? [String: Any])?["n"] as? String == "9 words", "\(ended)")
        #expect(try await s.request("GET", "/jobs/\(job)", token: bob).json["processID"] as? String == "scale")
        // Run again: the form filled with the job's inputs; its file taken again when none is chosen.
        let runPage = try await s.request("GET", "/console/runs/\(job)", extraHeaders: [bobs])
        #expect(runPage.text.contains("href=\"/console/processes/scale?from=\(job)\""))
        let again = try await s.request("GET", "/console/processes/scale?from=\(job)", extraHeaders: [bobs]).text
        #expect(again.contains(#"name="factor" type="number" step="1" min="1" max="10" value="3""#))
        #expect(again.contains(#"<option value="words" selected>"#) && again.contains("use <code>t.txt</code> again"))
        #expect(field(".from", in: again) == job)
        let rerun = try await send(
            "/console/processes/scale/execution",
            [(".csrf", csrf), (".from", job), ("factor", "4"), ("unit", "lines")],
            files: [("text", "", Data())], as: bobs)
        #expect(rerun.status == 303, "\(rerun.text)")
        let second = String((rerun.headers["location"] ?? "").dropFirst("/console/runs/".count))
        #expect(
            (try await waitForEnd(s, second, token: bob)["outputs"] as? [String: Any])?["n"] as? String == "12 lines")
        // Another tenant: the private process is not found; bob's job neither fills their
        // form nor gives them its file.
        #expect(try await s.request("GET", "/console/processes/secret", extraHeaders: [daves]).status == 404)
        let daveCSRF = try #require(
            field(".csrf", in: try await s.request("GET", "/console/processes/scale", extraHeaders: [daves]).text))
        let hidden = try await send(
            "/console/processes/secret/execution", [(".csrf", daveCSRF), ("unit", "words")],
            files: [("text", "t.txt", text)], as: daves)
        #expect(hidden.status == 404)
        let filled = try await s.request("GET", "/console/processes/scale?from=\(job)", extraHeaders: [daves]).text
        #expect(!filled.contains("value=\"\(job)\"") && !filled.contains("t.txt"))
        let borrowed = try await send(
            "/console/processes/scale/execution", [(".csrf", daveCSRF), (".from", job), ("unit", "words")],
            files: [("text", "", Data())], as: daves)
        #expect(borrowed.status == 400 && borrowed.text.contains("input `text` needs a file"))
        #expect(try await runs(s, dave) == 0)
    }

    @Test(
        """
        the NDVI showcase published as a process runs from its console form with the two bands uploaded; its page \
        shows the NDVI previewed with the quicklook's stretch and ramp and its legend, and the quicklook
        """
    )
    func ndviFromTheConsole() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let yaml = try String(contentsOfFile: repository + "/examples/eo/ndvi.yaml", encoding: .utf8)
        let deployed = try await s.request(
            "POST", "/processes", token: bob, body: Data(yaml.utf8), type: "application/yaml")
        #expect(deployed.status == 201, "\(deployed.text)")
        let bobs = try await signIn(s, bob)
        let page = try await s.request("GET", "/console/processes/ndvi", extraHeaders: [bobs]).text
        #expect(
            page.contains(#"name="red" type="file" required"#) && page.contains(#"name="nir" type="file" required"#))
        #expect(page.contains(#"name="tile" type="number" step="1" min="1" value="256""#))
        let csrf = try #require(field(".csrf", in: page))
        let bands = repository + "/examples/eo/data/landsat8/"
        let (body, type) = multipart(
            [(".csrf", csrf), ("tile", "128")],
            files: [
                ("red", "l8_B4.tif", try Data(contentsOf: URL(fileURLWithPath: bands + "l8_B4.tif"))),
                ("nir", "l8_B5.tif", try Data(contentsOf: URL(fileURLWithPath: bands + "l8_B5.tif"))),
            ])
        let started = try await s.request(
            "POST", "/console/processes/ndvi/execution", body: body, type: type, extraHeaders: [bobs])
        #expect(started.status == 303, "\(started.text)")
        let job = String((started.headers["location"] ?? "").dropFirst("/console/runs/".count))
        let ended = try await waitForEnd(s, job, token: bob, seconds: 120)
        #expect(ended["status"] as? String == "succeeded", "\(ended)")
        #expect((ended["outputs"] as? [String: Any])?["tiles"] as? Int == 25, "\(ended)")
        let shown = try await s.request("GET", "/console/runs/\(job)", extraHeaders: [bobs]).text
        #expect(shown.contains("/console/runs/\(job)/outputs/ndvi?preview=png"))
        #expect(shown.contains("src=\"/console/runs/\(job)/outputs/quicklook\""))
        let quicklook = try await s.request("GET", "/console/runs/\(job)/outputs/quicklook", extraHeaders: [bobs])
        #expect(quicklook.status == 200 && quicklook.type == "image/png")
        // The NDVI (one Float32 band) previewed as the quicklook draws it: stretched from its
        // 2nd to its 98th percentile over the brown-to-green ramp, its legend beside it.
        #expect(shown.contains("/console/runs/\(job)/outputs/ndvi?preview=legend"))
        let stats = try await s.request("GET", "/console/runs/\(job)/outputs/stats", extraHeaders: [bobs]).json
        let legend = try await s.request(
            "GET", "/console/runs/\(job)/outputs/ndvi?preview=legend", extraHeaders: [bobs])
        #expect(legend.status == 200 && legend.type == "image/svg+xml", "\(legend.status) \(legend.type)")
        #expect(legend.text.contains("data-legend=\"ramp\"") && legend.text.contains("no data"), "\(legend.text)")
        let values = legend.text.components(separatedBy: "data-value=\"").dropFirst().compactMap {
            Double($0.prefix { $0 != "\"" })
        }
        let (p2, p98) = (stats["p2"] as? Double ?? .nan, stats["p98"] as? Double ?? .nan)
        #expect(
            values.count == 3 && abs(values[0] - p2) < 0.01 && abs(values[2] - p98) < 0.01,
            "legend \(values), stats \(p2) to \(p98)")
        let preview = try await s.request("GET", "/console/runs/\(job)/outputs/ndvi?preview=png", extraHeaders: [bobs])
        #expect(preview.status == 200 && preview.type == "image/png")
        let file = s.work + "/preview.png"
        try preview.body.write(to: URL(fileURLWithPath: file))
        // Kept for a look when asked (the legend is well-formed XML either way).
        let svg = s.work + "/legend.svg"
        try legend.body.write(to: URL(fileURLWithPath: svg))
        if let artifacts = ProcessInfo.processInfo.environment["HEAVEN_TEST_ARTIFACTS"] {
            _ = try ServerHarness.sh("mkdir -p \(artifacts) && cp \(file) \(svg) \(artifacts)/")
        }
        #expect(
            try ServerHarness.sh("python3 -c 'import sys, xml.etree.ElementTree as x; x.parse(sys.argv[1])' \(svg)")
                == 0)
        let colours = try ServerHarness.sh(
            """
            /usr/bin/python3 -c 'import numpy, sys; from PIL import Image; a = \
            numpy.asarray(Image.open(sys.argv[1]).convert(\"RGB\")).astype(int); 
            """
                + """
                near = lambda c: (numpy.abs(a - c).sum(axis=-1) < 90).mean(); sys.exit(0 if near([140, 81, 10]) > \
                0.01 and near([26, 120, 50]) > 0.01 else 1)' \(file)
                """
        )
        #expect(colours == 0, "the NDVI preview is not stretched over the ramp")
        let asked = try await s.request(
            "GET", "/console/runs/\(job)/outputs/ndvi?preview=nonsense", extraHeaders: [bobs])
        #expect(asked.status == 400, "\(asked.text)")
    }

    @Test("an expanded foreach of 520 instances shows them 500 at a time, with the way to the others")
    func expandedPages() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let yaml = """
            kind: Workflow
            name: many
            steps:
              - foreach: ${range(520)}
                as: i
                name: each
                steps:
                  - task: t
                    run: ['true']
            """
        let made = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(yaml))
        let id = try #require(made.json["id"] as? String, "\(made.text)")
        #expect(try await waitForEnd(s, id, token: bob, seconds: 120)["status"] as? String == "succeeded")
        let login = try await s.request(
            "POST", "/console/login", body: Data("token=\(bob)".utf8), type: "application/x-www-form-urlencoded")
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])
        func tasks(_ page: String) -> Int { page.components(separatedBy: "data-task=\"each#").count - 1 }
        let collapsed = try await s.request("GET", "/console/runs/\(id)", extraHeaders: [cookie]).text
        #expect(collapsed.contains("data-task=\"each#*\"") && tasks(collapsed) == 1, "\(collapsed.suffix(2000))")
        let first = try await s.request("GET", "/console/runs/\(id)?expand=each", extraHeaders: [cookie]).text
        #expect(tasks(first) == 500 && first.contains("1–500 of 520"), "\(tasks(first))")
        #expect(first.contains("href=\"?expand=each&amp;from=500\">next</a>") && !first.contains(">previous</a>"))
        let rest = try await s.request("GET", "/console/runs/\(id)?expand=each&from=500", extraHeaders: [cookie]).text
        #expect(tasks(rest) == 20 && rest.contains("501–520 of 520") && rest.contains("data-task=\"each#519/t\""))
        #expect(rest.contains("href=\"?expand=each&amp;from=0\">previous</a>") && !rest.contains(">next</a>"))
    }

    @Test("the sites page lists each site with its kind, nodes and health, and each grant with its use")
    func sitesPage() async throws {
        let s = try ServerHarness()
        let admin = try s.heaven("users", "add", "alice", "--admin")
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let none = try await s.request(
            "POST", "/console/login", body: Data("token=\(bob)".utf8), type: "application/x-www-form-urlencoded")
        let cookie = "Cookie: " + String((none.headers["set-cookie"] ?? "").split(separator: ";")[0])
        let empty = try await s.request("GET", "/console/sites", extraHeaders: [cookie])
        #expect(empty.text.contains("No site is registered") && empty.text.contains("No grants."), "\(empty.text)")
        for (path, yaml) in [
            (
                "/v1/sites",
                "kind: Site\nname: box\nconnector: local\nnodes: [{name: n1, cores: 2}, {name: n2, cores: 4}]\n"
            ),
            ("/v1/grants", "kind: Grant\nname: box-for-bob\nsite: box\nto: user:bob\nlimits: {core-hours: 100}\n"),
        ] {
            let r = try await s.request(
                "POST", path, token: admin, body: try JSONSerialization.data(withJSONObject: ["yaml": yaml]))
            #expect(r.status < 300, "\(r.text)")
        }
        let page = try await s.request("GET", "/console/sites", extraHeaders: [cookie]).text
        #expect(
            page.contains(
                "<tr data-site=\"box\" data-state=\"up\"><td>box</td><td>local</td>"
                    + "<td>n1 (2 cores), n2 (4 cores)</td><td>up</td></tr>"
            ), "\(page)")
        #expect(
            page.contains("<tr><td>box-for-bob</td><td>box</td><td>user:bob</td><td>0.00 of 100 core-hours</td></tr>"),
            "\(page)")
    }

    @Test(
        """
        run again: a workflow run's page offers its form filled with the run's inputs; the new run has the new \
        inputs; another tenant gets 404
        """
    )
    func runAgain() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        try s.start()
        let yaml = """
            kind: Workflow
            name: greet
            inputs: {who: {type: string, default: world}, times: {type: number}, loud: {type: boolean, default: false}}
            steps:
              - task: say
                run: [echo, 'hello ${inputs.who} ${inputs.times} ${inputs.loud}']
                outputs: {said: {stdout: text}}
            outputs: {said: '${say.said}'}
            """
        let created = try await s.request(
            "POST", "/v1/runs", token: bob, body: ServerHarness.submission(yaml, inputs: ["times": 1.5]))
        let first = try #require(created.json["id"] as? String, "\(created.text)")
        _ = try await waitForEnd(s, first, token: bob)
        let bobs = try await signIn(s, bob)
        let page = try await s.request("GET", "/console/runs/\(first)", extraHeaders: [bobs])
        #expect(page.text.contains("href=\"/console/runs/\(first)/again\""))
        let form = try await s.request("GET", "/console/runs/\(first)/again", extraHeaders: [bobs]).text
        #expect(form.contains(#"name="times" type="number" step="any" value="1.5" required"#), "\(form)")
        #expect(form.contains(#"name="who" type="text" value="world""#))
        #expect(form.contains(#"<option value="false" selected>false</option>"#))
        let csrf = try #require(field(".csrf", in: form))
        let (body, type) = multipart([(".csrf", csrf), ("who", "you"), ("times", "2"), ("loud", "true")])
        let r = try await s.request(
            "POST", "/console/runs/\(first)/again", body: body, type: type, extraHeaders: [bobs])
        #expect(r.status == 303, "\(r.text)")
        let second = String((r.headers["location"] ?? "").dropFirst("/console/runs/".count))
        #expect(second != first)
        let ended = try await waitForEnd(s, second, token: bob)
        #expect((ended["outputs"] as? [String: Any])?["said"] as? String == "hello you 2 true", "\(ended)")
        let daves = try await signIn(s, dave)
        #expect(try await s.request("GET", "/console/runs/\(first)/again", extraHeaders: [daves]).status == 404)
        let (theirs, theirType) = multipart([(".csrf", csrf), ("times", "3")])
        #expect(
            try await s.request(
                "POST", "/console/runs/\(first)/again", body: theirs, type: theirType, extraHeaders: [daves]
            ).status == 404)
        #expect(try await runs(s, dave) == 0)
    }

    @Test(
        """
        the Gantt chart draws the time a task waited for a slot before its attempt; the placement shows each link \
        with the bandwidth between its machines' sites and what it asks; a task waiting for its next attempt is \
        `waiting`
        """
    )
    func queuedAndLinks() async throws {
        let s = try ServerHarness()
        let alice = try s.heaven("users", "add", "alice", "--admin")
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let site =
            """
            kind: Site\nname: box\nconnector: local\nowner: user:bob\nnodes: [{name: n, count: 2, cores: 1, \
            bandwidth: 1Gbps}]\n
            """
        let registered = try await s.request(
            "POST", "/v1/sites", token: alice, body: try JSONSerialization.data(withJSONObject: ["yaml": site]))
        #expect(registered.status < 300, "\(registered.text)")
        // Two tasks on one one-core machine: one waits for the other's end.
        let yaml = """
            kind: Topology
            name: pair
            machines: [{name: m}, {name: b}]
            links: [{between: [m, b], bandwidth: '>= 100Mbps'}]
            ---
            kind: Workflow
            name: queue
            topology: pair
            steps:
              - parallel:
                  - task: one
                    on: m
                    run: [sleep, '0.2']
                  - task: two
                    on: m
                    run: [sleep, '0.2']
                  - task: three
                    on: b
                    run: ['true']
            """
        let created = try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(yaml))
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        let ended = try await waitForEnd(s, id, token: bob)
        #expect(ended["status"] as? String == "succeeded", "\(ended)")
        let bobs = try await signIn(s, bob)
        let gantt = try await s.request("GET", "/console/runs/\(id)/gantt", extraHeaders: [bobs]).text
        let queued = gantt.components(separatedBy: "data-queued=\"").dropFirst().map {
            String($0.prefix { $0 != "\"" })
        }
        #expect(queued.count == 1 && ["one#1", "two#1"].contains(queued.first ?? ""), "\(queued) \(gantt)")
        #expect(gantt.contains("queued") && gantt.contains("for a slot"))
        let page = try await s.request("GET", "/console/runs/\(id)", extraHeaders: [bobs]).text
        #expect(page.contains("data-link=\"m-b\""), "\(page)")
        // A task waiting for its next attempt (after a failure) is `waiting`, saying why.
        let flaky = """
            kind: Workflow
            name: flaky
            steps:
              - task: flaky
                shell: 'exit 3'
                retries: {count: 1, backoff: 10m}
            """
        let retried = try #require(
            try await s.request("POST", "/v1/runs", token: bob, body: ServerHarness.submission(flaky)).json["id"]
                as? String)
        var graph = ""
        for _ in 0..<300 {
            graph = try await s.request("GET", "/console/runs/\(retried)/graph", extraHeaders: [bobs]).text
            if graph.contains("data-state=\"waiting\"") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(graph.contains(#"data-task="flaky" data-state="waiting""#), "\(graph)")
        #expect(graph.contains("waiting: "), "the node says why")
        _ = try await s.request("POST", "/v1/runs/\(retried)/cancel", token: bob)
        #expect(try await waitForEnd(s, retried, token: bob)["status"] as? String == "cancelled")
        #expect(page.contains("within box") && page.contains("1Gbps") && page.contains("at least 100Mbps"), "\(page)")
    }
}
