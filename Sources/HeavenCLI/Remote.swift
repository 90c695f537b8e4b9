import ArgumentParser
import Foundation
import HeavenAPI
import HeavenBroker
import HeavenCore
import HeavenEngine
import HeavenModel
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `--server URL` and `--local`: the Heaven server a command talks to, or this
/// machine; the one declaration every command that can be a client shares.
struct ServerOption: ParsableArguments {
    @Option(
        help:
            """
            A Heaven server to talk to (or $HEAVEN_SERVER, or the one of `heaven login`); its token: \
            $HEAVEN_TOKEN or `heaven login`.
            """
    )
    var server: String?

    @Flag(help: "Use this machine's state ($HEAVEN_HOME), not a server (not even the one of `heaven login`).")
    var local = false

    func validate() throws {
        if local && server != nil { throw ValidationError("--local and --server name two places: give one") }
    }

    /// The server named, if any (an error when there is no token for it).
    func remote() throws -> Remote? { try Remote.resolve(server, local: local) }
}

/// The command line as a client of `heaven serve`: the server comes from `--server`,
/// `$HEAVEN_SERVER` or the last `heaven login` (in that order; `--local` for none),
/// the token from `$HEAVEN_TOKEN` or the login file (`~/.config/heaven/login.json`,
/// mode 0600).
struct Remote {
    let server: URL
    let token: String

    static var loginFile: String {
        let config = ProcessInfo.processInfo.environment["XDG_CONFIG_HOME"] ?? (NSHomeDirectory() + "/.config")
        return config + "/heaven/login.json"
    }

    struct Login: Codable {
        var server: String
        var token: String
    }

    /// The remembered login; an error when the file is there but unreadable (never
    /// taken silently for "not logged in", which would act on this machine instead).
    static func savedLogin() throws -> Login? {
        let file = loginFile
        var st = stat()
        guard lstat(file, &st) == 0 else { return nil }
        // As ssh does with its keys: a login file another user could have written (or
        // read) is not used.
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(), st.st_mode & 0o077 == 0 else {
            throw CLIError(
                "\(file) is not a file of yours readable by you alone (mode 0600): not used; remove it and log in again"
            )
        }
        guard let data = FileManager.default.contents(atPath: file),
            let login = try? JSONDecoder().decode(Login.self, from: data)
        else { throw CLIError("\(file): not a login Heaven wrote; remove it (`heaven logout`) and log in again") }
        return login
    }

    /// The server to talk to, if any; fails when there is no token for it. A server
    /// that comes from `heaven login` alone is named on standard error, once per command.
    static func resolve(_ option: String?, local: Bool = false) throws -> Remote? {
        if local { return nil }
        let env = ProcessInfo.processInfo.environment
        guard let text = option ?? env["HEAVEN_SERVER"] else {
            guard let login = try savedLogin() else { return nil }
            let url = try serverURL(login.server, what: "\(loginFile) names")
            CLI.error("heaven: \(url.absoluteString) (from `heaven login`; --local for this machine)")
            return Remote(server: url, token: login.token)
        }
        let url = try serverURL(text, what: "--server takes")
        // A named server: $HEAVEN_TOKEN, or the login's token when the login is that server's.
        let token =
            try env["HEAVEN_TOKEN"] ?? (savedLogin().flatMap { $0.server == url.absoluteString ? $0.token : nil })
        guard let token else {
            throw CLIError(
                "no token for \(url.absoluteString): set HEAVEN_TOKEN, or run `heaven login \(url.absoluteString)`")
        }
        return Remote(server: url, token: token)
    }

    /// A server's URL (`http(s)://host:port`, no trailing `/`), or exit 2 saying what it
    /// takes; plain HTTP to another machine is said to send the token in clear.
    static func serverURL(_ text: String, what: String) throws -> URL {
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text),
            url.scheme == "http" || url.scheme == "https"
        else { throw CLIError("\(what) a URL such as http://127.0.0.1:8080 (got `\(text)`)") }
        if url.scheme == "http", let host = url.host, !["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) {
            CLI.error("heaven: warning: \(url.absoluteString) is plain HTTP: your token crosses the network in clear")
        }
        return url
    }

    // MARK: Requests

    /// The client's session: it follows no redirect (a redirect would carry the bearer
    /// token to wherever it points); the server's API never answers with one.
    static let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)

    final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
            newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
        ) {
            completionHandler(nil)
        }
    }

    struct Reply {
        var status: Int
        var data: Data
    }

    /// A request; its answer whatever its status (`body`: an API type, as JSON).
    func call(_ method: String, _ path: String, body: (any Encodable)? = nil) async throws -> Reply {
        guard let url = URL(string: server.absoluteString + path) else {
            throw CLIError("not a valid request path: \(path)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = try APICoding.encoder.encode(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        request.timeoutInterval = 60
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await Remote.session.data(for: request)
        } catch {
            throw CLIError("cannot reach \(server.absoluteString): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return Reply(status: status, data: data)
    }

    /// A successful answer's bytes, or the server's problem as the error (exit 2): never
    /// an error's body taken for what was asked.
    func data(_ method: String, _ path: String, body: (any Encodable)? = nil) async throws -> Data {
        try check(try await call(method, path, body: body))
    }

    /// A reply's bytes when it succeeded; the server's problem as the error otherwise.
    func check(_ r: Reply) throws -> Data {
        guard (200..<300).contains(r.status) else {
            let detail =
                (try? APICoding.decoder.decode(ProblemDetails.self, from: r.data))?.detail
                ?? String(decoding: r.data, as: UTF8.self)
            throw CLIError("\(server.absoluteString): \(r.status): \(detail)")
        }
        return r.data
    }

    /// A successful answer as the API type the route answers with.
    func send<Output: APIObject>(
        _ method: String, _ path: String, body: (any Encodable)? = nil, as type: Output.Type
    ) async throws -> Output {
        let data = try await data(method, path, body: body)
        do {
            return try APICoding.decoder.decode(Output.self, from: data)
        } catch {
            throw CLIError(
                "\(server.absoluteString): \(method) \(path) answered what is not a \(Output.self): \(error)")
        }
    }

    static func documents(_ files: [String]) throws -> [DocumentFile] {
        try files.map { path in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIError("cannot read \(path)")
            }
            return DocumentFile(path: (path as NSString).lastPathComponent, text: text)
        }
    }

    // MARK: Records from the API's types

    /// A run of the API as the command line shows runs (file outputs as their URLs).
    func record(_ v: RunView) -> RunRecord {
        let outputs = v.outputs?.mapValues { value -> Value in
            if case .object(let o) = value, case .string(let url)? = o["file"] {
                return .string(server.absoluteString + url)
            }
            if case .array(let items) = value {
                return .list(
                    items.map { item in
                        if case .object(let o) = item, case .string(let url)? = o["file"] {
                            return .string(server.absoluteString + url)
                        }
                        return (try? Value(jsonData: Data(item.jsonText.utf8))) ?? .null
                    })
            }
            return (try? Value(jsonData: Data(value.jsonText.utf8))) ?? .null
        }
        return RunRecord(
            id: v.id, workflow: v.workflow, user: v.user, status: v.status, inputs: [:], outputs: outputs,
            error: v.error, createdAt: v.created, startedAt: v.started, finishedAt: v.finished)
    }

    /// A path segment: a run id as the user typed it, a task's flat key (whose `#` a URL
    /// would take for a fragment).
    static func segment(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// A run by its id or, as in local mode, a unique prefix of it (among the runs the
    /// caller may see).
    func run(_ id: String) async throws -> RunRecord {
        let exact = try await call("GET", "/v1/runs/\(Remote.segment(id))")
        if exact.status == 404, !id.isEmpty {
            let matches = try await send("GET", "/v1/runs?limit=1000", as: RunList.self).runs.filter {
                $0.id.hasPrefix(id)
            }
            if matches.count > 1 {
                throw CLIError("`\(id)` names several runs: \(matches.map(\.id).joined(separator: ", "))")
            }
            if let only = matches.first {
                return record(try await send("GET", "/v1/runs/\(Remote.segment(only.id))", as: RunView.self))
            }
        }
        let data = try check(exact)
        do {
            return record(try APICoding.decoder.decode(RunView.self, from: data))
        } catch {
            throw CLIError("\(server.absoluteString): GET /v1/runs/\(id) answered what is not a RunView: \(error)")
        }
    }

    func runs(limit: Int) async throws -> [RunRecord] {
        try await send("GET", "/v1/runs?limit=\(min(1000, max(1, limit)))", as: RunList.self).runs.map(record)
    }

    func attempts(_ id: String) async throws -> [AttemptRecord] {
        try await send("GET", "/v1/runs/\(Remote.segment(id))/logs", as: LogList.self).logs.map { a in
            AttemptRecord(
                runID: id, taskKey: a.task, task: a.task, number: a.attempt, status: a.status, site: a.site,
                startedAt: a.started, finishedAt: a.finished, exitCode: a.exit.map(Int32.init), error: a.error,
                node: a.node)
        }
    }

    func runAndAttempts(_ id: String) async throws -> (RunRecord, [AttemptRecord]) {
        let run = try await run(id)
        return (run, try await attempts(run.id))
    }

    func plan(_ files: [String]) async throws -> Result<Placement, Refusal> {
        let r = try await send(
            "POST", "/v1/plan", body: Documents(documents: Remote.documents(files)), as: PlanResult.self)
        if r.placed, let placement = r.placement { return .success(placement) }
        return .failure(Refusal(topology: r.topology, reasons: r.reasons ?? []))
    }

    /// Submits a run and follows it to its end (progress lines unless quiet).
    /// File inputs given as paths of this machine are uploaded with the run (and given
    /// to it by their name); the same for file inputs whose default is a relative path.
    /// Downloads a finished run's file outputs into `directory`, named as `heaven run
    /// --out` names them here (a list of files in a directory named after the output);
    /// returns the outputs with the files' local paths.
    func download(_ id: String, into directory: String) async throws -> [String: Value] {
        let view = try await send("GET", "/v1/runs/\(Remote.segment(id))", as: RunView.self)
        // Each file is fetched under its own name into a directory of its own, then put in
        // place by the exporter of local runs (same names, same atomic copies).
        let staging = NSTemporaryDirectory() + "heaven-download-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        var fetched = 0
        func fetch(_ value: JSONValue, output: String) async throws -> Value {
            guard case .object(let o) = value, case .string(let url)? = o["file"] else {
                return (try? Value(jsonData: Data(value.jsonText.utf8))) ?? .null
            }
            fetched += 1
            let dir = staging + "/\(fetched)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let target = dir + "/" + Remote.fileName(o["name"], or: output)
            guard FileManager.default.createFile(atPath: target, contents: try await data("GET", url)) else {
                throw CLIError("cannot write `\(target)`")
            }
            return .file(target)
        }
        var outputs: [String: Value] = [:]
        for (name, value) in view.outputs ?? [:] {
            if case .array(let items) = value {
                var list: [Value] = []
                for item in items { list.append(try await fetch(item, output: name)) }
                outputs[name] = .list(list)
            } else {
                outputs[name] = try await fetch(value, output: name)
            }
        }
        do {
            return try OutputExporter(directory: HeavenHome.absolute(directory)).export(outputs)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// A downloaded file's name: the server's, if it is a plain file name.
    static func fileName(_ given: JSONValue?, or fallback: String) -> String {
        guard case .string(let n)? = given, !n.isEmpty, !n.contains("/"), n != ".", n != ".." else { return fallback }
        return n
    }

    func submit(
        _ files: [String], workflow: String?, inputs given: [String: Value], declared: [InputDeclaration], json: Bool,
        quiet: Bool, out: String? = nil
    ) async throws -> Never {
        var body = RunSubmission(documents: try Remote.documents(files), workflow: workflow)
        var inputs = given
        var uploads: [String: String] = [:]
        let cwd = FileManager.default.currentDirectoryPath
        let base = files.first.map { (($0 as NSString).deletingLastPathComponent as NSString) } ?? (cwd as NSString)
        func text(_ v: Value?) -> String? {
            switch v {
            case .string(let p)?, .file(let p)?: p
            default: nil
            }
        }
        for d in declared where d.type == .file {
            let path: String
            if let p = text(given[d.name]) {
                path = p.hasPrefix("/") ? p : cwd + "/" + p
            } else if given[d.name] == nil, let p = text(d.defaultValue), !p.hasPrefix("/") {
                path =
                    (base.length == 0 ? cwd : base.hasPrefix("/") ? String(base) : cwd + "/" + String(base)) + "/" + p
            } else {
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError(CLI.fileInputProblem(name: d.name, path: text(given[d.name]) ?? path))
            }
            var name = (path as NSString).lastPathComponent
            if uploads[name] != nil { name = d.name + "-" + name }
            uploads[name] = data.base64EncodedString()
            inputs[d.name] = .string(name)
        }
        if !uploads.isEmpty { body.files = uploads }
        if !inputs.isEmpty {
            body.inputs = inputs.mapValues {
                (try? APICoding.decoder.decode(JSONValue.self, from: Data($0.plain.jsonText.utf8))) ?? .null
            }
        }
        let created = record(try await send("POST", "/v1/runs", body: body, as: RunView.self))
        if !json && !quiet { CLI.error("run \(created.id) started on \(server.absoluteString)") }
        try await watch(created, json: json, quiet: quiet, out: out)
    }

    /// Resumes a failed or interrupted run on the server, then follows it to its end.
    func resume(_ id: String, json: Bool, quiet: Bool, out: String?) async throws -> Never {
        let run = try await run(id)
        let resumed = record(
            try await send("POST", "/v1/runs/\(Remote.segment(run.id))/resume", body: nil, as: RunView.self))
        if !json && !quiet { CLI.error("run \(resumed.id) resumed on \(server.absoluteString)") }
        try await watch(resumed, json: json, quiet: quiet, out: out)
    }

    /// Follows a run on the server to its end: its status as it changes, the report at
    /// the end (its outputs downloaded into `out`), the exit status of its end.
    func watch(_ created: RunRecord, json: Bool, quiet: Bool, out: String?) async throws -> Never {
        // Ctrl-C leaves the run to the server: this command only watches it.
        let server = self.server.absoluteString
        let detach = SignalTrap { _ in
            CLI.error(
                """
                \ndetached: run \(created.id) goes on on \(server); `heaven status \(created.id)` follows it, \
                `heaven cancel \(created.id)` stops it
                """
            )
            exit(CLI.exitCode(.interrupted))
        }
        defer { detach.cancel() }
        // Progress as local runs show it, drawn from the run's event stream (its tasks'
        // starts and ends): on a terminal one line redrawn with the running tasks' names,
        // otherwise a line when it changes (at most one a second).
        let tty = CLI.isTerminal
        let started = Date()
        var last = ""
        var lastPrint = Date.distantPast
        var drawn = false
        let stream = EventStream()
        if !json && !quiet, let url = URL(string: server + "/v1/runs/\(Remote.segment(created.id))/events") {
            stream.start(url, token: token)
        }
        defer { stream.stop() }
        while true {
            let view = try await send("GET", "/v1/runs/\(Remote.segment(created.id))", as: RunView.self)
            if view.status.isFinal {
                if drawn { CLI.error("\u{1B}[2K\r", newline: false) }
                var now = try await run(created.id)
                if let out, now.status == .succeeded { now.outputs = try await download(now.id, into: out) }
                if json { print(CLI.json(now)) } else { CLI.report(now) }
                throw ExitCode(CLI.exitCode(now.status))
            }
            if !json && !quiet {
                let p = stream.progress.withLock { $0 }
                // Until the stream says anything (or if it broke), the run's attempt counts.
                let t = view.attempts ?? AttemptTally(running: 0, succeeded: 0, failed: 0)
                let live = p.seen && !p.ended
                let counts = live ? (p.done, p.running.count, p.retried) : (t.succeeded, t.running, t.failed)
                let line =
                    view.status == .running
                    ? "\(counts.0) done · \(counts.1) running · \(counts.2) retried" : view.status.rawValue
                let elapsed = Wording.duration(Date().timeIntervalSince(started))
                if tty {
                    let names = live ? p.running.values.sorted { $0.since < $1.since }.prefix(3).map(\.task) : []
                    var text = "\(elapsed) \(line)"
                    if !names.isEmpty {
                        text += " · " + names.joined(separator: ", ") + (p.running.count > 3 ? ", …" : "")
                    }
                    if text.count > 120 { text = String(text.prefix(119)) + "…" }
                    CLI.error("\u{1B}[2K\r" + text, newline: false)
                    drawn = true
                } else if line != last, Date().timeIntervalSince(lastPrint) >= 1 {
                    CLI.error("[\(elapsed)] \(line)")
                    last = line
                    lastPrint = Date()
                }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
    }
}

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Remember a server and your token for it (the token is read from standard input).",
        discussion: """
            The token is checked with the server, then kept in ~/.config/heaven/login.json \
            (mode 0600). Afterwards every command that can talk to a server talks to this one \
            (and says so on standard error) unless told otherwise: `--server URL` or \
            HEAVEN_SERVER for another, `--local` for this machine's state. `heaven logout` \
            forgets it.

              $ heaven login http://127.0.0.1:8080 < token.txt
              logged in to http://127.0.0.1:8080 as bob (groups: eo)
              $ heaven runs
              heaven: http://127.0.0.1:8080 (from `heaven login`; --local for this machine)
              ...
            """)

    @Argument(help: "The server's URL.") var server: String

    func run() async throws {
        guard let line = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces), !line.isEmpty else {
            throw CLIError("no token on standard input (e.g. `heaven login URL < token.txt`)")
        }
        let url = try Remote.serverURL(server, what: "the server is")
        let remote = Remote(server: url, token: line)
        let me = try await remote.send("GET", "/v1/me", as: Me.self)
        let file = Remote.loginFile
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let data = try JSONEncoder().encode(Remote.Login(server: url.absoluteString, token: line))
        // Created 0600 before anything is written into it.
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot write \(file)") }
        fchmod(fd, 0o600)
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let groups = me.groups
        print(
            """
            logged in to \(url.absoluteString) as \
            \(me.name)\(groups.isEmpty ? "" : " (groups: \(groups.joined(separator: ", ")))")
            """
        )
    }
}

struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Forget the server and token `heaven login` remembered.",
        discussion: """
            Removes ~/.config/heaven/login.json; commands then use this machine's state \
            unless --server or HEAVEN_SERVER names a server. The token itself stays valid \
            on the server (revoke it there with `heaven users revoke`).

              $ heaven logout
              logged out of http://127.0.0.1:8080
            """)

    func run() throws {
        let file = Remote.loginFile
        let server = (try? Remote.savedLogin())??.server
        guard FileManager.default.fileExists(atPath: file) else { return print("not logged in") }
        do {
            try FileManager.default.removeItem(atPath: file)
        } catch {
            throw CLIError("cannot remove \(file): \(error.localizedDescription)")
        }
        print(server.map { "logged out of \($0)" } ?? "logged out (removed \(file))")
    }
}
