import Foundation
import HeavenTestSupport
import Testing

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

@Suite(
    "The web console in a browser", .serialized,
    Testbed.needs(
        browserAvailable, "chromium, chromium-driver and selenium in a virtual environment (scripts/test.sh)"))
struct ConsoleTests {
    @Test(
        "sign in with a token; the graph shows each task's recorded state and turns running to succeeded live; cancel stops the run; a log follows; one Gantt bar per attempt on its site; another user gets 404; nothing loaded from elsewhere; markup in a log stays text"
    )
    func browser() throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let dave = try s.heaven("users", "add", "dave")
        let python = try #require(seleniumPython)
        let artifacts = ProcessInfo.processInfo.environment["HEAVEN_TEST_ARTIFACTS"] ?? s.work + "/artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        // The server and the browser in a network namespace of their own: nothing leaves.
        let script = """
            ip link set lo up
            HEAVEN_HOME=\(s.home) setsid \(ServerHarness.binary) serve --listen 127.0.0.1:0 --task-ids \(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound) > \(s.work)/serve.out 2> \(s.work)/serve.err < /dev/null &
            server=$!
            for i in $(seq 200); do grep -q listening \(s.work)/serve.out 2>/dev/null && break; sleep 0.05; done
            url=$(sed -n 's/^listening on //p' \(s.work)/serve.out)
            \(python) \(repository)/Tests/HeavenServerTests/Console/browser.py "$url" \(s.home) \(artifacts) \(bob) \(dave) > \(s.work)/report.json 2> \(s.work)/browser.err
            status=$?
            kill $server
            exit $status
            """
        try script.write(toFile: s.work + "/console.sh", atomically: true, encoding: .utf8)
        let status = try ServerHarness.sh(
            "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; unshare -n bash \(s.work)/console.sh",
            shell: "/bin/bash")
        let said = (try? String(contentsOfFile: s.work + "/browser.err", encoding: .utf8)) ?? ""
        #expect(status == 0, "the browser script failed: \(said.suffix(3000))")
        let reportData = (try? Data(contentsOf: URL(fileURLWithPath: s.work + "/report.json"))) ?? Data()
        try? reportData.write(to: URL(fileURLWithPath: artifacts + "/report.json"))
        let report = (try? JSONSerialization.jsonObject(with: reportData)) as? [String: Any] ?? [:]
        let checks = report["checks"] as? [String: [Any]] ?? [:]
        #expect(checks.count >= 14, "\(checks.keys.sorted())")
        for (name, result) in checks.sorted(by: { $0.key < $1.key }) {
            #expect(result.first as? Bool == true, "\(name): \(result.last ?? "")")
        }
        #expect((report["screenshots"] as? [String])?.count == 3)
    }
}

@Suite("The web console's sessions", .serialized)
struct ConsoleSessionTests {
    @Test(
        "a session opens with a valid token only, its cookie HttpOnly and SameSite=Strict; forms need its CSRF token and this origin; signing out ends it on the server; another's run is 404"
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

    @Test("a GeoTIFF output is previewed as a PNG made on the server with GDAL (its first band, at most 1024 px wide)")
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
        // Without the session: nothing.
        #expect(try await s.request("GET", "/console/runs/\(id)/outputs/tif?preview=png").status == 401)
    }
}
