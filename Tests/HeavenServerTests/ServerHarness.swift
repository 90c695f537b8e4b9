import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `heaven serve` on 127.0.0.1 (any free port) over a private `$HEAVEN_HOME`,
/// started detached (a long-lived child of the test process would stall Foundation's
/// reaping of every other child), stopped or killed through its pid.
final class ServerHarness: @unchecked Sendable {
    // @unchecked: `pid` and `port` change only in start/kill, called from one test.
    let work: String
    var home: String { work + "/home" }
    var pid: Int32 = 0
    var port: Int = 0

    static var binary: String {
        if let p = ProcessInfo.processInfo.environment["HEAVEN_BIN"] { return p }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "heaven"
        ).path
    }

    init() throws {
        work = NSTemporaryDirectory() + "heaven-server-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work + "/home", withIntermediateDirectories: true)
    }

    deinit {
        if pid > 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: work)
    }

    /// Runs `heaven ARGS` against the home; returns its standard output.
    @discardableResult
    func heaven(_ args: String...) throws -> String {
        let r = try client(args, env: ["HEAVEN_HOME": work + "/home"])
        guard r.status == 0 else {
            throw Failure("heaven \(args.joined(separator: " ")) exited with \(r.status): \(r.stderr)")
        }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `heaven ARGS` with these variables (and no `$HEAVEN_HOME` unless given),
    /// standard input from a file when given.
    func client(_ args: [String], env: [String: String], stdin: String? = nil) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let out = work + "/client.out"
        let err = work + "/client.err"
        // No login of the machine's user is taken for a server unless a test logs in.
        let env = env.merging(["XDG_CONFIG_HOME": work + "/config"]) { given, _ in given }
        let vars = env.map { "\($0.key)=\(ServerHarness.quote($0.value))" }.joined(separator: " ")
        let status = try ServerHarness.sh(
            """
            env -u HEAVEN_HOME -u HEAVEN_SERVER -u HEAVEN_TOKEN \(vars) \(ServerHarness.binary) \
            \(args.map(ServerHarness.quote).joined(separator: " ")) > \(out) 2> \(err) < \(stdin ?? "/dev/null")
            """
        )
        return (
            status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        )
    }

    /// The uids this server's tenants' tasks run as: a range of its own, so servers of
    /// tests that run at once never give one uid to two tenants.
    let taskIDs: ClosedRange<UInt32> = {
        let base = UInt32(200_000 + Int.random(in: 0..<8000) * 100)
        return base...(base + 99)
    }()

    /// Starts the server (isolated with its own uid range unless `options` say otherwise);
    /// returns once it listens.
    /// The service account isolating servers of the tests drop to (`--user`), made once.
    static let serviceAccount: String = {
        let name = "heaven-test"
        if getpwnam(name) == nil {
            _ = try? sh("useradd --system --no-create-home --shell /usr/sbin/nologin \(name)")
        }
        return name
    }()

    func start(_ options: [String]? = nil, prefix: String = "") throws {
        var options = options ?? ["--task-ids", "\(taskIDs.lowerBound)-\(taskIDs.upperBound)"]
        // An isolating server started as root drops to its service account.
        if options.contains("--task-ids"), !options.contains("--user"), geteuid() == 0 {
            options += ["--user", ServerHarness.serviceAccount]
        }
        // The test's directory is the service account's: its home is reached through it,
        // and an admin's unconfined tasks (which run as that account) leave traces there.
        chmod(work, 0o755)
        if geteuid() == 0, let account = getpwnam(ServerHarness.serviceAccount) {
            chown(work, account.pointee.pw_uid, account.pointee.pw_gid)
        }
        let out = work + "/serve.out"
        try? FileManager.default.removeItem(atPath: out)
        // The server must hold no descriptor of ours (Foundation waits for its own pipes
        // to close before it reports a child's exit): all but 0-2 are closed first.
        _ = try ServerHarness.sh(
            "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; "
                + """
                HEAVEN_HOME=\(work)/home setsid \(prefix) \(ServerHarness.binary) serve --listen 127.0.0.1:0 \
                \(options.map(ServerHarness.quote).joined(separator: " ")) > \(out) 2> \(work)/serve.err < \
                /dev/null & echo $! > \(work)/serve.pid
                """,
            shell: "/bin/bash")
        pid =
            Int32(
                (try String(contentsOfFile: work + "/serve.pid", encoding: .utf8)).trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? 0
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: out, encoding: .utf8),
                let line = text.split(separator: "\n").first,
                let p = line.split(separator: ":").last.flatMap({ Int($0) })
            {
                port = p
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure(
            "the server did not start: \((try? String(contentsOfFile: work + "/serve.err", encoding: .utf8)) ?? "")")
    }

    /// Kills the server with SIGKILL (nothing is flushed, nothing is said).
    func kill9() {
        if pid > 0 { kill(pid, SIGKILL) }
        // Dead once gone or a zombie (`Z`: its parent, not this test, reaps it; a zombie
        // still answers kill(pid, 0), and waiting for it to go took 2 s).
        func running() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let state = stat[stat.index(after: close)...].split(separator: " ").first
            return state != "Z" && state != "X"
        }
        for _ in 0..<100 where pid > 0 && running() { Thread.sleep(forTimeInterval: 0.02) }
        pid = 0
    }

    struct Reply {
        var status: Int
        var body: Data
        var type: String
        /// Response headers, by lowercased name.
        var headers: [String: String] = [:]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request, made with curl (URLSession's async requests stall on Linux here);
    /// `token` nil sends no Authorization header, `authorization` sends one as is.
    func request(
        _ method: String, _ path: String, token: String? = nil, authorization: String? = nil, body: Data? = nil,
        type: String? = "application/json", extraHeaders: [String] = []
    ) async throws -> Reply {
        let tag = UUID().uuidString.prefix(8)
        let out = "\(work)/reply-\(tag)"
        let meta = "\(work)/meta-\(tag)"
        let head = "\(work)/head-\(tag)"
        defer {
            unlink(out)
            unlink(meta)
            unlink(head)
        }
        var command =
            "curl -s -S -m 30 -X \(method) -o \(out) -D \(head) -w '%{http_code} %{content_type}' -H 'Expect:'"
        if let token { command += " -H \(ServerHarness.quote("Authorization: Bearer \(token)"))" }
        if let authorization { command += " -H \(ServerHarness.quote("Authorization: \(authorization)"))" }
        for h in extraHeaders { command += " -H \(ServerHarness.quote(h))" }
        if let body {
            let file = "\(work)/body-\(tag)"
            try body.write(to: URL(fileURLWithPath: file))
            command += " --data-binary @\(file)"
            if let type { command += " -H \(ServerHarness.quote("Content-Type: \(type)"))" }
        }
        command += " \(ServerHarness.quote("http://127.0.0.1:\(port)\(path)")) > \(meta)"
        let status = try ServerHarness.sh(command)
        guard status == 0 else { throw Failure("curl failed (\(status)) on \(method) \(path)") }
        let parts = (try String(contentsOfFile: meta, encoding: .utf8)).split(separator: " ", maxSplits: 1)
        let data = (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data()
        var headers: [String: String] = [:]
        for line in ((try? String(contentsOfFile: head, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return Reply(
            status: Int(parts.first ?? "") ?? 0, body: data, type: parts.count > 1 ? String(parts[1]) : "",
            headers: headers)
    }

    /// A run submission body.
    static func submission(_ yaml: String, share: [String] = [], inputs: [String: Any] = [:], workflow: String? = nil)
        -> Data
    {
        var object: [String: Any] = ["documents": [["path": "w.yaml", "text": yaml]]]
        if let workflow { object["workflow"] = workflow }
        if !share.isEmpty { object["share"] = share }
        if !inputs.isEmpty { object["inputs"] = inputs }
        return try! JSONSerialization.data(withJSONObject: object)
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    static func sh(_ command: String, shell: String = "/bin/sh") throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: shell)
        p.arguments = ["-c", command]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
