import Foundation
import HeavenTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A workflow whose task `plant` makes something in its working directory (`make`, a
/// shell line) and prints a path to it, which is then given to a called workflow's
/// `type: file` input and comes back as the run's output `leak`: the way a tenant makes
/// the server take a path of their choosing for a file of their run.
func planted(_ make: String, print path: String) -> String {
    """
    kind: Workflow
    name: plant
    steps:
      - task: plant
        shell: '\(make.replacingOccurrences(of: "'", with: "''")); echo "$PWD/\(path)"'
        outputs: {p: {stdout: text}}
      - call: pass
        name: passed
        with: {f: '${plant.p}'}
    outputs: {leak: '${passed.f}'}
    ---
    kind: Workflow
    name: pass
    inputs: {f: {type: file}}
    steps:
      - task: noop
        run: ['true']
    outputs: {f: '${inputs.f}'}
    """
}

/// The server as a confused deputy, tried as a hostile tenant would (issue 27): every
/// path a tenant can influence is reached as the tenant, beneath its run, never through
/// a link; nothing a tenant sends crashes or stalls the server. Each probe has a positive
/// control, so that a probe that cannot work (a missing tool) cannot pass as refused.
@Suite("The server is no confused deputy", .serialized, .timeLimit(.minutes(5)))
struct ConfusedDeputyTests {
    /// A file of the host's the tenant must never get: root's, 0600, outside every run.
    static func victim() throws -> (dir: String, file: String, content: String) {
        let dir = "/var/tmp/heaven-victim-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/tree/deeper", withIntermediateDirectories: true)
        let content = "VICTIM-\(UUID().uuidString)"
        try content.write(toFile: dir + "/secret", atomically: false, encoding: .utf8)
        try content.write(toFile: dir + "/tree/deeper/kept", atomically: false, encoding: .utf8)
        chmod(dir + "/secret", 0o600)
        return (dir, dir + "/secret", content)
    }

    @Test(
        """
        a chain of links to a host file given back as a file: refused, never served, never deleted; a file input \
        names only what the tenant may read, with one answer whether it exists or not
        """
    )
    func chains() async throws {
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        let eve = try s.heaven("users", "add", "eve")
        let v = try ConfusedDeputyTests.victim()
        defer { try? FileManager.default.removeItem(atPath: v.dir) }
        let shared = s.work + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        chmod(s.work, 0o755)
        chmod(shared, 0o755)
        try "PUBLIC".write(toFile: shared + "/open.txt", atomically: false, encoding: .utf8)
        chmod(shared + "/open.txt", 0o644)
        try "PRIVATE".write(toFile: shared + "/closed.txt", atomically: false, encoding: .utf8)
        chmod(shared + "/closed.txt", 0o600)
        // With a supplementary group on purpose: the server's groups must reach no tenant's open.
        try s.start(
            ["--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--share-dir", shared],
            prefix: "setpriv --groups 0,4242 --")

        // Positive control: a file output of the run is served.
        let fine = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(
                """
                kind: Workflow\nname: f\nsteps:\n  - task: t\n    shell: 'echo fine > out.txt'\n    outputs: {o: \
                {file: out.txt}}\noutputs: {o: '${t.o}'}\n
                """
            ))
        let fineID = try #require(fine.json["id"] as? String, "\(fine.text)")
        #expect(try await waitForEnd(s, fineID, token: mallory)["status"] as? String == "succeeded")
        let served = try await s.request("GET", "/v1/runs/\(fineID)/outputs/o", token: mallory)
        #expect(served.status == 200 && served.text == "fine\n", "\(served.status) \(served.text)")

        // The two-link chain (`ln -s b a; ln -s VICTIM b`), and a link to a directory.
        for (make, path) in [
            ("ln -s b a; ln -s \(v.file) b", "a"), ("ln -s \(v.dir) d", "d/secret"), ("ln -s \(v.dir)/tree t", "t"),
        ] {
            let r = try await s.request(
                "POST", "/v1/runs", token: mallory,
                body: ServerHarness.submission(planted(make, print: path), workflow: "plant"))
            let id = try #require(r.json["id"] as? String, "\(r.text)")
            let ended = try await waitForEnd(s, id, token: mallory)
            #expect(ended["status"] as? String == "failed", "\(ended)")
            #expect((ended["error"] as? String ?? "").contains("is not a file this run may read"), "\(ended)")
            let leak = try await s.request("GET", "/v1/runs/\(id)/outputs/leak", token: mallory)
            #expect(leak.status == 404 && !leak.text.contains(v.content), "\(leak.text)")
            // Dismissed (OGC's DELETE /jobs/ID): what the chain names is never removed.
            let dismissed = try await s.request("DELETE", "/jobs/\(id)", token: mallory)
            #expect(dismissed.status == 200, "\(dismissed.text)")
            #expect(FileManager.default.fileExists(atPath: v.file))
            #expect(FileManager.default.fileExists(atPath: v.dir + "/tree/deeper/kept"))
        }

        // Absolute paths as file inputs: the same answer whether the file exists or not.
        let workflow =
            """
            kind: Workflow\nname: w\ninputs: {f: {type: file}}\nsteps:\n  - task: t\n    inputs: {x: \
            '${inputs.f}'}\n    run: [cat, x]\n    outputs: {v: {stdout: text}}\noutputs: {v: '${t.v}'}\n
            """
        var details: [String] = []
        for path in [v.file, v.dir + "/no-such-file", "/etc/shadow", shared + "/closed.txt", shared + "/../secret"] {
            let r = try await s.request(
                "POST", "/v1/runs", token: mallory, body: ServerHarness.submission(workflow, inputs: ["f": path]))
            #expect(r.status == 422, "\(path): \(r.text)")
            details.append((r.json["detail"] as? String ?? "").replacingOccurrences(of: path, with: "PATH"))
        }
        #expect(Set(details).count == 1, "\(details)")
        #expect(details.first?.contains("is not a file this run may read") == true, "\(details)")
        // Positive control: a file under a directory the operator shares, readable by all.
        let open = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(workflow, inputs: ["f": shared + "/open.txt"]))
        let openID = try #require(open.json["id"] as? String, "\(open.text)")
        let openEnd = try await waitForEnd(s, openID, token: mallory)
        #expect((openEnd["outputs"] as? [String: Any])?["v"] as? String == "PUBLIC", "\(openEnd)")
        // A file of one of the tenant's own runs, named by run and output; another's run, or
        // none, gets one answer.
        let reused = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(workflow, inputs: ["f": ["run": fineID, "output": "o"]]))
        let reusedID = try #require(reused.json["id"] as? String, "\(reused.text)")
        let reusedEnd = try await waitForEnd(s, reusedID, token: mallory)
        #expect((reusedEnd["outputs"] as? [String: Any])?["v"] as? String == "fine", "\(reusedEnd)")
        var answers: Set<String> = []
        for (token, run) in [(eve, fineID), (eve, "rnosuchrun")] {
            let r = try await s.request(
                "POST", "/v1/runs", token: token,
                body: ServerHarness.submission(workflow, inputs: ["f": ["run": run, "output": "o"]]))
            #expect(r.status == 422, "\(r.text)")
            answers.insert((r.json["detail"] as? String ?? "").replacingOccurrences(of: run, with: "RUN"))
        }
        #expect(answers.count == 1, "\(answers)")
        #expect(try await s.request("GET", "/healthz").status == 200)
    }

    @Test("a FIFO, /dev/zero or / given as a file never stalls the server, also after a restart")
    func noStall() async throws {
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        try s.start()
        // A FIFO made by a task, as a file input of a called workflow and as a staged input;
        // devices and the root as file inputs. Two of each at once (two cores).
        let staged = """
            kind: Workflow
            name: staged
            steps:
              - task: plant
                shell: 'mkfifo f; echo "$PWD/f"'
                outputs: {p: {stdout: text}}
              - task: use
                inputs: {x: '${plant.p}'}
                run: [cat, x]
            """
        var ids: [String] = []
        for _ in 0..<2 {
            for body in [
                ServerHarness.submission(planted("mkfifo f", print: "f"), workflow: "plant"),
                ServerHarness.submission(staged),
            ] {
                let r = try await s.request("POST", "/v1/runs", token: mallory, body: body)
                ids.append(try #require(r.json["id"] as? String, "\(r.text)"))
            }
        }
        for path in ["/dev/zero", "/", "/proc/self/fd/0"] {
            let r = try await s.request(
                "POST", "/v1/runs", token: mallory,
                body: ServerHarness.submission(
                    """
                    kind: Workflow\nname: w\ninputs: {f: {type: file}}\nsteps:\n  - task: t\n    run: [cat, \
                    '${inputs.f}']\n
                    """,
                    inputs: ["f": path]))
            #expect(r.status == 422, "\(path): \(r.text)")
        }
        for id in ids {
            let ended = try await waitForEnd(s, id, token: mallory)
            #expect(ended["status"] as? String == "failed", "\(ended)")
        }
        let health = try await s.request("GET", "/healthz")
        #expect(health.status == 200)
        // And after a restart, nothing blocks either.
        s.kill9()
        try s.start()
        #expect(try await s.request("GET", "/healthz").status == 200)
        let again = try await s.request("GET", "/v1/runs", token: mallory)
        #expect(again.status == 200)
    }

    @Test(
        """
        a preview is made in the tenant's sandbox by GDAL's GeoTIFF driver only: no VRT over a host file, no \
        request to a port
        """
    )
    func previews() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdal_translate") else {
            Issue.record("this test needs gdal-bin (scripts/test.sh installs it)")
            return
        }
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        let v = try ConfusedDeputyTests.victim()
        defer { try? FileManager.default.removeItem(atPath: v.dir) }
        // A listener on this machine's loopback: the server must never call it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        listen(listener, 16)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        _ = fcntl(listener, F_SETFL, O_NONBLOCK)
        try s.start()
        let login = try await s.request(
            "POST", "/console/login", body: Data("token=\(mallory)".utf8), type: "application/x-www-form-urlencoded")
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").split(separator: ";")[0])

        func vrt(_ band: String) -> String {
            """
            <VRTDataset rasterXSize="16" rasterYSize="16">
              <VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">
                <SourceFilename relativetoVRT="0">\(band)</SourceFilename>
                <ImageOffset>0</ImageOffset><PixelOffset>1</PixelOffset><LineOffset>16</LineOffset>
              </VRTRasterBand>
            </VRTDataset>
            """
        }
        let cases = [
            ("raw", vrt(v.file)), ("curl", vrt("/vsicurl/http://127.0.0.1:\(port)/x.tif")),
        ]
        for (name, text) in cases {
            let yaml =
                """
                kind: Workflow\nname: p\nsteps:\n  - task: t\n    run: [python3, -c, 'import sys; open(\"x.tif\", \
                \"w\").write(sys.argv[1])', '\(text.replacingOccurrences(of: "'", with: "''"))']\n    outputs: \
                {o: {file: x.tif}}\noutputs: {o: '${t.o}'}\n
                """
            let r = try await s.request("POST", "/v1/runs", token: mallory, body: ServerHarness.submission(yaml))
            let id = try #require(r.json["id"] as? String, "\(name): \(r.text)")
            #expect(try await waitForEnd(s, id, token: mallory)["status"] as? String == "succeeded")
            let png = try await s.request(
                "GET", "/console/runs/\(id)/outputs/o?preview=png", extraHeaders: [cookie])
            #expect(png.status != 200, "\(name): a preview was made: \(png.type)")
            #expect(!png.text.contains(v.content), "\(name)")
        }
        // Nobody knocked on the listener's port.
        var peer = sockaddr()
        var size = socklen_t(MemoryLayout<sockaddr>.size)
        let knocked = accept(listener, &peer, &size)
        #expect(knocked < 0, "the server (or its GDAL) connected to 127.0.0.1:\(port)")
        if knocked >= 0 { close(knocked) }
        // Positive control: a real GeoTIFF made by the task is previewed.
        let tif =
            """
            kind: Workflow\nname: p\nsteps:\n  - task: t\n    run: [gdal_translate, -q, -of, GTiff, -outsize, \
            '32', '32', /usr/share/gdal/gdalicon.png, x.tif]\n    outputs: {o: {file: x.tif}}\noutputs: {o: \
            '${t.o}'}\n
            """
        let made = try await s.request("POST", "/v1/runs", token: mallory, body: ServerHarness.submission(tif))
        let madeID = try #require(made.json["id"] as? String, "\(made.text)")
        let madeEnd = try await waitForEnd(s, madeID, token: mallory)
        #expect(madeEnd["status"] as? String == "succeeded", "\(madeEnd)")
        let preview = try await s.request(
            "GET", "/console/runs/\(madeID)/outputs/o?preview=png", extraHeaders: [cookie])
        #expect(preview.status == 200 && preview.type == "image/png", "\(preview.status) \(preview.text)")
        #expect(Array(preview.body.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }

    @Test(
        """
        a price that cannot be represented is refused at deploy, naming the field; a huge one is never charged \
        and never traps
        """
    )
    func overflow() async throws {
        let s = try ServerHarness()
        let admin = try s.heaven("users", "add", "root-admin", "--admin")
        let mallory = try s.heaven("users", "add", "mallory")
        try s.start()
        func process(_ amount: String, name: String) -> String {
            """
            kind: Workflow
            name: \(name)
            price: {currency: credits, run: 0, outputs: {items: {item: \(amount)}}}
            steps:
              - task: t
                run: [echo, '[1, 2]']
                outputs: {items: {stdout: json}}
            outputs: {items: '${t.items}'}
            """
        }
        let refused = try await s.request(
            "POST", "/processes", token: mallory, body: Data(process("9223372036854.775807", name: "boom").utf8),
            type: "application/yaml")
        #expect(refused.status == 422, "\(refused.text)")
        #expect((refused.json["detail"] as? String ?? "").contains("must be an amount"), "\(refused.text)")
        // The largest price there is, times two items: beyond any budget, so withheld, never charged.
        let deployed = try await s.request(
            "POST", "/processes?visibility=public", token: mallory,
            body: Data(process("1000000000000", name: "dear").utf8), type: "application/yaml")
        #expect(deployed.status == 201, "\(deployed.text)")
        let credit = try await s.request(
            "POST", "/v1/accounts/mallory/credit", token: admin, body: Data(#"{"amount": 1000000000000}"#.utf8))
        #expect(credit.status == 200, "\(credit.text)")
        let tooMuch = try await s.request(
            "POST", "/processes/dear/execution", token: mallory,
            body: Data(#"{"inputs": {}, "budget": {"amount": 1e300}}"#.utf8))
        #expect(tooMuch.status == 422 && tooMuch.text.contains("budget.amount"), "\(tooMuch.text)")
        let job = try await s.request(
            "POST", "/processes/dear/execution", token: mallory,
            body: Data(#"{"inputs": {}, "budget": {"amount": 1000000000000}}"#.utf8),
            extraHeaders: ["Prefer: respond-async"])
        let id = try #require(job.json["jobID"] as? String, "\(job.text)")
        let ended = try await waitForEnd(s, id, token: mallory)
        #expect(ended["status"] as? String == "failed", "\(ended)")
        #expect((ended["error"] as? String ?? "").contains("nothing is charged"), "\(ended)")
        #expect(try await s.request("GET", "/healthz").status == 200)
    }

    @Test("a run that crashed the server twice is set aside as failed and the server serves; kill -9 is no crash")
    func crashLoop() async throws {
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        let hold = ServerHarness.submission(
            "kind: Workflow\nname: hold\nsteps:\n  - task: t\n    run: [sleep, '600']\n")
        try s.start()
        let crashing = try #require(
            try await s.request("POST", "/v1/runs", token: mallory, body: hold).json["id"] as? String)
        func running(_ id: String) async throws {
            for _ in 0..<200 {
                let r = try await s.request("GET", "/v1/runs/\(id)", token: mallory)
                if (r.json["attempts"] as? [String: Any])?["running"] as? Int == 1 { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ServerHarness.Failure("run \(id) never ran")
        }
        // A crash is a fault of the server's own (SIGSEGV here, as a trap would be).
        for _ in 0..<2 {
            try await running(crashing)
            kill(s.pid, SIGSEGV)
            // The crash is noted before the runtime's backtrace (which takes seconds): then it goes.
            for _ in 0..<200 {
                if let note = FileManager.default.contents(atPath: s.home + "/server/crashed"), !note.isEmpty { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            s.kill9()
            try s.start()
        }
        let setAside = try await waitForEnd(s, crashing, token: mallory)
        #expect(setAside["status"] as? String == "failed", "\(setAside)")
        #expect((setAside["error"] as? String ?? "").contains("set aside: the server crashed 2 times"), "\(setAside)")
        #expect(try await s.request("GET", "/healthz").status == 200)
        // Killed with SIGKILL twice: resumed each time, never set aside.
        let killed = try #require(
            try await s.request("POST", "/v1/runs", token: mallory, body: hold).json["id"] as? String)
        for _ in 0..<2 {
            try await running(killed)
            s.kill9()
            try s.start()
        }
        try await running(killed)
        let cancel = try await s.request("POST", "/v1/runs/\(killed)/cancel", token: mallory)
        #expect(cancel.status == 202)
        _ = try await waitForEnd(s, killed, token: mallory)
    }

    @Test(
        """
        the serving process is its service account's, every thread, with no capability and no group; only the \
        helper is root
        """
    )
    func privilegeSeparation() async throws {
        guard geteuid() == 0 else {
            Issue.record("this test needs root (scripts/test.sh runs as root)")
            return
        }
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        // With a supplementary group on purpose: none may survive the drop.
        try s.start(nil, prefix: "setpriv --groups 0,4242 --")
        let account = try #require(getpwnam(ServerHarness.serviceAccount)).pointee
        func status(_ path: String) -> [String: String] {
            var fields: [String: String] = [:]
            for line in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return fields
        }
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(s.pid)/task")
        #expect(!threads.isEmpty)
        for t in threads {
            let st = status("/proc/\(s.pid)/task/\(t)/status")
            let uids = (st["Uid"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
            #expect(uids == Array(repeating: "\(account.pw_uid)", count: 4), "thread \(t): Uid \(st["Uid"] ?? "?")")
            #expect((st["Gid"] ?? "").split(whereSeparator: \.isWhitespace).allSatisfy { $0 == "\(account.pw_gid)" })
            #expect((st["Groups"] ?? "x").isEmpty, "thread \(t): Groups \(st["Groups"] ?? "?")")
            for cap in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
                #expect(st[cap] == "0000000000000000", "thread \(t): \(cap) \(st[cap] ?? "?")")
            }
        }
        // Its sandbox helper, its child, is root's (positive control: it can be found).
        var helper: Int32 = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")"), stat.contains("(heaven-sandbox)") || stat.contains("(heaven)")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == s.pid { helper = pid }
        }
        #expect(helper > 0, "no sandbox helper under the server")
        #expect(status("/proc/\(helper)/status")["Uid"]?.hasPrefix("0") == true)
        // And it serves: a tenant's task runs and its output is served.
        let r = try await s.request("POST", "/v1/runs", token: mallory, body: ServerHarness.submission(probe("id -u")))
        let ended = try await waitForEnd(s, try #require(r.json["id"] as? String, "\(r.text)"), token: mallory)
        let uid = UInt32(
            ((ended["outputs"] as? [String: Any])?["v"] as? String ?? "").trimmingCharacters(
                in: .whitespacesAndNewlines))
        #expect(uid.map { s.taskIDs.contains($0) } == true, "\(ended)")
    }

    @Test(
        """
        a tenant's topology that asks for the network is refused where it asks; an admin's task has it (and \
        reaches the port the probe aims at)
        """
    )
    func network() async throws {
        let s = try ServerHarness()
        let admin = try s.heaven("users", "add", "root-admin", "--admin")
        let mallory = try s.heaven("users", "add", "mallory")
        try s.start()
        for (path, doc) in [
            ("/v1/sites", "kind: Site\nname: here\nconnector: local\nnodes: [{name: n, cores: 2}]\n"),
            ("/v1/grants", "kind: Grant\nname: g\nsite: here\nto: user:root-admin\n"),
        ] {
            let r = try await s.request(
                "POST", path, token: admin, body: try JSONSerialization.data(withJSONObject: ["yaml": doc]))
            #expect(r.status < 300, "\(r.text)")
        }
        let yaml = """
            kind: Topology
            name: net
            machines:
              - {name: m, network: true}
            ---
            kind: Workflow
            name: reach
            topology: net
            steps:
              - task: t
                on: m
                run: [python3, -c, 'import socket; socket.create_connection(("127.0.0.1", \(s.port)), 2); \
            print("reached")']
                outputs: {v: {stdout: text}}
            outputs: {v: '${t.v}'}
            """
        let refused = try await s.request("POST", "/v1/runs", token: mallory, body: ServerHarness.submission(yaml))
        #expect(refused.status == 403, "\(refused.text)")
        #expect(
            (refused.json["detail"] as? String ?? "").hasPrefix("w.yaml:4:5: error: `network: true` is refused"),
            "\(refused.text)")
        // Positive control: the same probe, an admin's, reaches the server's port.
        let allowed = try await s.request("POST", "/v1/runs", token: admin, body: ServerHarness.submission(yaml))
        let id = try #require(allowed.json["id"] as? String, "\(allowed.text)")
        let ended = try await waitForEnd(s, id, token: admin)
        #expect((ended["outputs"] as? [String: Any])?["v"] as? String == "reached", "\(ended)")
    }

    /// `--task-network outbound`: a tenant's task whose machine asks for the network gets a
    /// namespace of its own that reaches another host (a network namespace made here, the
    /// positive control) but not the server's port on the loopback, not the host's loopback
    /// through slirp's gateway, and not any other address of the host.
    @Test(.timeLimit(.minutes(3)))
    func outboundNetwork() async throws {
        try Testbed.require(
            getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/slirp4netns"),
            "root and slirp4netns (apt-get install slirp4netns)")
        let tag = String(UUID().uuidString.prefix(6).lowercased())
        let ns = "hv\(tag)o"
        let net = 251 + Int.random(in: 0..<4)
        let (outside, hostSide) = ("10.200.\(net).2", "10.200.\(net).1")
        let (port, hostPort) = (Int.random(in: 20000..<30000), Int.random(in: 20000..<30000))
        // A listener answers `name` to every connection for a minute, then goes.
        func listener(_ address: String, _ port: Int, _ name: String) -> String {
            """
            python3 -c 'import \
            socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,\
            1)\ns.bind((\"\(address)\",\(port)))\ns.listen(16)\ns.settimeout(60)\ntry:\n \
             while True:\n    c,_=s.accept();c.sendall(b\"\(name)\");c.close()\nexcept Exception: pass' \
            >/dev/null 2>&1 &
            """
        }
        defer {
            _ = try? ServerHarness.sh(
                """
                ip netns pids \(ns) 2>/dev/null | xargs -r kill; pkill -f 'bind\\(\\(\"0.0.0.0\",\(hostPort)\\)' \
                ; ip netns del \(ns) 2>/dev/null; ip link del \(ns)a 2>/dev/null; ip netns list | grep -q '^hv' \
                || ip route del blackhole 10.200.0.0/16 2>/dev/null; true
                """
            )
        }
        // The blackhole first: nothing in the range can leave the machine. (The listeners
        // keep no descriptor of ours: Foundation waits for its pipes to close.)
        let made = try ServerHarness.sh(
            """
            for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
            set -e
            ip route show type blackhole | grep -q '^blackhole 10.200.0.0/16' || ip route add blackhole 10.200.0.0/16
            ip netns add \(ns)
            ip link add \(ns)a type veth peer name \(ns)b
            ip link set \(ns)b netns \(ns)
            ip addr add \(hostSide)/30 dev \(ns)a
            ip link set \(ns)a up
            ip netns exec \(ns) ip addr add \(outside)/30 dev \(ns)b
            ip netns exec \(ns) ip link set \(ns)b up
            ip netns exec \(ns) ip link set lo up
            ip netns exec \(ns) \(listener(outside, port, "outside"))
            \(listener("0.0.0.0", hostPort, "host"))
            sleep 0.3
            """, shell: "/bin/bash")
        #expect(made == 0)
        let hostAddresses = (try? Testbed.sh("ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1")) ?? ""
        let addresses = hostAddresses.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        #expect(addresses.contains(hostSide) && addresses.contains("127.0.0.1"), "\(addresses)")
        // Positive controls from the host: both listeners answer.
        #expect(
            try Testbed.sh(
                """
                python3 -c 'import \
                socket;print(socket.create_connection((\"\(outside)\",\(port)),3).recv(16).decode())'
                """
            ).contains("outside"))
        #expect(
            try Testbed.sh(
                """
                python3 -c 'import \
                socket;print(socket.create_connection((\"\(hostSide)\",\(hostPort)),3).recv(16).decode())'
                """
            ).contains("host"))

        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        try s.start(["--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--task-network", "outbound"])
        let health = try await s.request("GET", "/healthz")
        #expect(health.json["network"] as? String == "outbound", "\(health.text)")
        var targets: [[Any]] = [
            ["outside", outside, port], ["server-loopback", "127.0.0.1", s.port],
            ["slirp-gateway", "10.0.2.2", s.port],
        ]
        for a in addresses { targets.append(["host " + a, a, hostPort]) }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: targets), as: UTF8.self)
        let yaml = """
            kind: Topology
            name: net
            machines:
              - {name: m, network: true}
            ---
            kind: Workflow
            name: reach
            topology: net
            steps:
              - task: t
                on: m
                run:
                  - python3
                  - -c
                  - |
                    import json, socket, sys
                    out = {}
                    for name, host, port in json.loads(sys.argv[1]):
                        try:
                            c = socket.create_connection((host, port), 3)
                            out[name] = c.recv(16).decode() or "connected"
                        except Exception as e:
                            out[name] = "denied: " + type(e).__name__
                    print(json.dumps(out))
                  - '\(json)'
                outputs: {v: {stdout: text}}
            outputs: {v: '${t.v}'}
            """
        let r = try await s.request("POST", "/v1/runs", token: mallory, body: ServerHarness.submission(yaml))
        let id = try #require(r.json["id"] as? String, "\(r.text)")
        let ended = try await waitForEnd(s, id, token: mallory, seconds: 60)
        let text = try #require((ended["outputs"] as? [String: Any])?["v"] as? String, "\(ended)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String], "\(text)")
        #expect(seen["outside"] == "outside", "\(seen)")
        for (name, result) in seen where name != "outside" {
            #expect(result.hasPrefix("denied"), "\(name): \(result)")
        }
        #expect(seen.count == targets.count, "\(seen)")
    }

    /// `--task-disk`: what a tenant's task writes is bounded (one big file, many files,
    /// files removed but held open, /tmp), by the operator's default or its machine's
    /// declared `disk`, with a clear failure; a task within its bound succeeds.
    @Test(.timeLimit(.minutes(3)))
    func diskBound() async throws {
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        try s.start(["--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--task-disk", "20MiB"])
        let health = try await s.request("GET", "/healthz")
        #expect(health.json["taskDisk"] as? Int == 20 * 1_048_576, "\(health.text)")
        func workflow(_ shell: String, disk: String? = nil) -> String {
            """
            kind: Topology
            name: box
            machines:
              - {name: m\(disk.map { ", disk: \($0)" } ?? "")}
            ---
            kind: Workflow
            name: write
            topology: box
            steps:
              - task: t
                on: m
                timeout: 60s
                shell: '\(shell.replacingOccurrences(of: "'", with: "''"))'
                outputs: {v: {stdout: text}}
            outputs: {v: '${t.v}'}
            """
        }
        let cases: [(name: String, shell: String, disk: String?, fails: Bool)] = [
            ("within", "head -c 10485760 /dev/zero > a && echo ok", nil, false),
            ("one big file", "head -c 31457280 /dev/zero > a; echo wrote", nil, true),
            (
                "many files",
                "for i in 1 2 3 4 5 6 7 8; do head -c 5242880 /dev/zero > f$i; done; sleep 30; echo wrote", nil, true
            ),
            (
                "removed but open",
                """
                python3 -c 'import os,time; fs=[open(\"x%d\" % i, \"wb\") for i in range(8)]; \
                [(f.write(bytes(5242880)), f.flush(), os.unlink(f.name)) for f in fs]; time.sleep(30)'; echo wrote
                """,
                nil, true
            ),
            // Empty files take inodes: 50,000 of them count 512 bytes each (24MiB).
            (
                "empty files",
                "python3 -c '[open(\"e%d\" % i, \"w\").close() for i in range(50000)]'; sleep 30; echo wrote", nil, true
            ),
            // A machine's `disk` (the tenant's word) may lower the operator's bound, never raise it.
            ("declared more", "head -c 31457280 /dev/zero > a; echo wrote", "64MiB", true),
            ("declared less", "head -c 10485760 /dev/zero > a; echo wrote", "8MiB", true),
        ]
        var ids: [String: String] = [:]
        for c in cases {
            let r = try await s.request(
                "POST", "/v1/runs", token: mallory, body: ServerHarness.submission(workflow(c.shell, disk: c.disk)))
            ids[c.name] = try #require(r.json["id"] as? String, "\(c.name): \(r.text)")
        }
        for c in cases {
            let ended = try await waitForEnd(s, ids[c.name]!, token: mallory, seconds: 60)
            if c.fails {
                #expect(ended["status"] as? String == "failed", "\(c.name): \(ended)")
                #expect(
                    (ended["error"] as? String ?? "").contains(
                        "went past its disk bound of \(c.disk == "8MiB" ? "8MiB" : "20MiB")"),
                    "\(c.name): \(ended)")
            } else {
                #expect(ended["status"] as? String == "succeeded", "\(c.name): \(ended)")
            }
        }
        // /tmp is bounded too: the task's own write fails there (no space left).
        let tmp = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(workflow("head -c 31457280 /dev/zero > /tmp/a || echo refused")))
        let tmpEnd = try await waitForEnd(s, tmp.json["id"] as? String ?? "", token: mallory, seconds: 60)
        #expect((tmpEnd["outputs"] as? [String: Any])?["v"] as? String == "refused", "\(tmpEnd)")
    }
}
