import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A workflow of one task whose standard output becomes the run's output `v`.
func probe(_ shell: String, extra: String = "") -> String {
    """
    kind: Workflow
    name: probe
    steps:
      - task: t
    \(extra.isEmpty ? "" : extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n")    shell: \
    '\(shell.replacingOccurrences(of: "'", with: "''"))'
        outputs: {v: {stdout: text}}
    outputs: {v: '${t.v}'}
    """
}

/// Every file and directory under `root` (not following links), with its permission
/// bits, whether it is a link, and its owner (through FileManager, which does not follow
/// the last link).
func tree(_ root: String) -> [(path: String, mode: Int, link: Bool, uid: UInt32)] {
    var out: [(String, Int, Bool, UInt32)] = []
    func walk(_ path: String) {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return }
        let type = a[.type] as? FileAttributeType
        out.append(
            (
                path, (a[.posixPermissions] as? Int) ?? 0, type == .typeSymbolicLink,
                (a[.ownerAccountID] as? NSNumber)?.uint32Value ?? UInt32.max
            ))
        if type == .typeDirectory {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { walk(path + "/" + name) }
        }
    }
    walk(root)
    return out
}

/// The owner of `path` (not following a last link), nil when it is not there.
func owner(_ path: String) -> UInt32? {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.ownerAccountID] as? NSNumber)?.uint32Value
}

/// The processes of this machine whose environment holds `needle`.
func processes(holding needle: String) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name -> Int32? in
        guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/environ") else {
            return nil
        }
        return String(decoding: data, as: UTF8.self).contains(needle) ? pid : nil
    }
}

/// Tenants of a shared server, tried as a hostile tenant would: every task runs as the
/// tenant's own uid inside the sandbox, whatever the workflow says, and sees nothing
/// of the host, the server or the other tenants.
@Suite("Hostile tenants", .serialized, .timeLimit(.minutes(15)))
struct HostileTenantTests {
    @Test("a tenant's task cannot read or touch the host, the server's state or another tenant's work")
    func hostileMatrix() async throws {
        let s = try ServerHarness()
        let admin = try s.heaven("users", "add", "root-admin", "--admin")
        let victim = try s.heaven("users", "add", "victim")
        let mallory = try s.heaven("users", "add", "mallory")
        // A registered SSH site whose key file lies outside /root, /home and /tmp.
        let keys = "/var/tmp/heaven-test-keys-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: keys) }
        try "-----BEGIN OPENSSH PRIVATE KEY-----\nSITE-KEY-MATERIAL\n".write(
            toFile: keys + "/id", atomically: true, encoding: .utf8)
        chmod(keys + "/id", 0o600)
        // Started with a supplementary group on purpose (root has none here): neither the
        // serving process nor a task may keep it.
        try s.start(nil, prefix: "setpriv --groups 0,4242 --")
        let site =
            """
            kind: Site\nname: far\nconnector: {kind: ssh, host: far.example, identity: \(keys)/id}\nnodes: \
            [{name: n, cores: 1}]\n
            """
        let registered = try await s.request(
            "POST", "/v1/sites", token: admin, body: try JSONSerialization.data(withJSONObject: ["yaml": site]))
        #expect(registered.status == 201, "\(registered.text)")

        // The victim's long task holds a secret in its environment and a file in its run.
        let secret = "victims-secret-\(UUID().uuidString)"
        let set = try await s.request(
            "PUT", "/v1/secrets/token", token: victim,
            body: try JSONSerialization.data(withJSONObject: ["value": secret]))
        #expect(set.status == 204)
        let victimRun = try await s.request(
            "POST", "/v1/runs", token: victim,
            body: ServerHarness.submission(
                """
                kind: Workflow\nname: holds\nsteps:\n  - task: hold\n    env: {TOKEN: {secret: token}}\n    \
                shell: 'echo private > mine.txt; exec sleep 60'\n
                """
            ))
        let held = try #require(victimRun.json["id"] as? String)
        // Wait for the state the probes need: the victim's process runs and holds the secret.
        let deadline = Date().addingTimeInterval(20)
        while processes(holding: secret).isEmpty
            || !FileManager.default.fileExists(atPath: "\(s.home)/runs/\(held)/work/hold/mine.txt")
        {
            guard Date() < deadline else { throw ServerHarness.Failure("the victim's task never started") }
            try await Task.sleep(for: .milliseconds(50))
        }

        // `isolation: none` is refused from a tenant, on the task or on the workflow, saying where.
        let optOut = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(
                "kind: Workflow\nname: out\nsteps:\n  - task: t\n    isolation: none\n    run: [id]\n"))
        #expect(optOut.status == 403, "\(optOut.text)")
        #expect(
            (optOut.json["detail"] as? String ?? "").hasPrefix("w.yaml:5:5: error: `isolation: none` is refused"),
            "\(optOut.text)")
        let workflowOptOut = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(
                "kind: Workflow\nname: out\nisolation: none\nsteps:\n  - task: t\n    run: [id]\n"))
        #expect(
            workflowOptOut.status == 403 && (workflowOptOut.json["detail"] as? String ?? "").hasPrefix("w.yaml:3:1:"),
            "\(workflowOptOut.text)")

        // Each probe prints `denied` when the attempt fails as it must, anything else otherwise.
        let home = s.home
        let probes: [(what: String, shell: String, extra: String, expected: String)] = [
            ("who it runs as", "id -u; id -g; id -G", "", ""),
            ("/etc/shadow", "cat /etc/shadow >/dev/null 2>&1 && echo LEAK || echo denied", "", "denied"),
            ("/root", #"[ -z "$(ls -A /root 2>/dev/null)" ] && echo denied || ls -A /root"#, "", "denied"),
            ("the database", "cat \(home)/heaven.sqlite >/dev/null 2>&1 && echo LEAK || echo denied", "", "denied"),
            ("the secrets' key", "cat \(home)/secret.key >/dev/null 2>&1 && echo LEAK || echo denied", "", "denied"),
            (
                "another tenant's run", "cat \(home)/runs/\(held)/work/hold/mine.txt 2>/dev/null || echo denied", "",
                "denied"
            ),
            (
                "the list of runs", "ls \(home)/runs 2>/dev/null | grep -q \(held) && echo LEAK || echo denied", "",
                "denied"
            ),
            (
                "an SSH site's identity", #"c=$(cat \#(keys)/id 2>/dev/null); [ -n "$c" ] && echo LEAK || echo denied"#,
                "", "denied"
            ),
            (
                "another tenant's environment",
                "grep -ls \(secret) /proc/*/environ 2>/dev/null | grep -q . && echo LEAK || echo denied", "", "denied"
            ),
            // Only its own processes (and the sandbox's own init, pid 1, which it cannot touch).
            (
                "another tenant's processes",
                "ps -eo pid=,uid= | awk -v me=$(id -u) '$1 != 1 && $2 != me' | grep -q . && echo LEAK || echo denied",
                "", "denied"
            ),
            ("the sandbox's init", "kill -9 1 2>/dev/null && echo LEAK || echo denied", "", "denied"),
            (
                "writes outside its directory",
                """
                for p in /usr/local/x /var/tmp/x /etc/x \(home)/x \(home)/runs/\(held)/x ../x; do touch $p \
                2>/dev/null && echo LEAK $p; done; echo denied
                """,
                "", "denied"
            ),
            (
                "the network (its topology allows none)",
                """
                python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", \(s.port)), 2); \
                print(\"LEAK\")' 2>/dev/null || echo denied
                """,
                "", "denied"
            ),
            ("the server's environment", "env | grep -q '^HEAVEN_HOME=' && echo LEAK || echo denied", "", "denied"),
            // No user namespace (seccomp); `unshare` itself must be there, or the probe says so.
            (
                "a user namespace of its own",
                """
                command -v unshare >/dev/null || echo missing; unshare -U true 2>/dev/null && echo LEAK || echo \
                denied
                """,
                "", "denied"
            ),
        ]
        var ids: [String: String] = [:]
        for p in probes {
            let r = try await s.request(
                "POST", "/v1/runs", token: mallory, body: ServerHarness.submission(probe(p.shell, extra: p.extra)))
            #expect(r.status == 201, "\(p.what): \(r.text)")
            ids[p.what] = r.json["id"] as? String
        }
        var taskID = ""
        for p in probes {
            let ended = try await waitForEnd(s, ids[p.what] ?? "", token: mallory)
            let v = ((ended["outputs"] as? [String: Any])?["v"] as? String ?? "").trimmingCharacters(
                in: .whitespacesAndNewlines)
            if p.what == "who it runs as" {
                // The tenant's own uid from the operator's range, as its only group: not root.
                let lines = v.split(separator: "\n").map(String.init)
                #expect(lines.count == 3 && lines[0] == lines[1] && lines[1] == lines[2], "\(v)")
                #expect(UInt32(lines.first ?? "").map { s.taskIDs.contains($0) } == true, "\(v)")
                taskID = lines.first ?? ""
                continue
            }
            #expect(v == p.expected, "\(p.what): \(ended)")
        }
        // The victim's process did hold the secret all along (so the probe could have found it).
        #expect(!processes(holding: secret).isEmpty)

        // Another tenant gets another uid; the same tenant keeps theirs.
        let victimWho = try await s.request(
            "POST", "/v1/runs", token: victim, body: ServerHarness.submission(probe("id -u")))
        let victimUID =
            ((try await waitForEnd(s, victimWho.json["id"] as? String ?? "", token: victim))["outputs"]
            as? [String: Any])?["v"] as? String
        #expect(victimUID.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } != taskID)
        #expect(
            victimUID.flatMap { UInt32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map {
                s.taskIDs.contains($0)
            } == true)

        // An admin may opt out: the task then runs as the server's account (its service account).
        let adminRun = try await s.request(
            "POST", "/v1/runs", token: admin,
            body: ServerHarness.submission(probe("id -u", extra: "isolation: none")))
        #expect(adminRun.status == 201, "\(adminRun.text)")
        let adminOut = try await waitForEnd(s, adminRun.json["id"] as? String ?? "", token: admin)
        let service = try #require(getpwnam(ServerHarness.serviceAccount)).pointee.pw_uid
        #expect((adminOut["outputs"] as? [String: Any])?["v"] as? String == "\(service)", "\(adminOut)")

        // A tenant registers no SSH site on a host the operator did not allow.
        let farHost = try await s.request(
            "POST", "/v1/sites", token: mallory,
            body: try JSONSerialization.data(withJSONObject: [
                "yaml":
                    """
                kind: Site\nname: mine\nconnector: {kind: ssh, host: 10.1.2.3, identity: {secret: k}}\nnodes: \
                [{name: n, cores: 1}]\n
                """
            ]))
        #expect(
            farHost.status == 403
                && (farHost.json["detail"] as? String ?? "").contains("host `10.1.2.3` is not one the operator allows"),
            "\(farHost.text)")

        let cancel = try await s.request("POST", "/v1/runs/\(held)/cancel", token: victim)
        #expect(cancel.status == 202)
        _ = try await waitForEnd(s, held, token: victim)

        // Every state file is private: no bit for the group or others, anywhere, but the
        // search bit of a run's directory (its tenant reaches their working directories).
        let runs = Set(try FileManager.default.contentsOfDirectory(atPath: home + "/runs").map { home + "/runs/" + $0 })
        let wide = tree(home).filter {
            !$0.link && $0.mode & 0o077 != 0
                && !((runs.contains($0.path) || $0.path.hasSuffix("/work")) && $0.mode & 0o777 == 0o711)
        }
        #expect(wide.isEmpty, "\(wide.map { "\($0.path) \(String($0.mode & 0o777, radix: 8))" })")
        // Working directories belong to their tenant; the rest (logs) to the server's account.
        let account = try #require(getpwnam(ServerHarness.serviceAccount)).pointee.pw_uid
        var tenants = 0
        for run in runs {
            #expect(owner(run + "/logs") == account)
            #expect(owner(run) == account)
            #expect(owner(run + "/work") == account)
            // A task's directory is its tenant's (an admin's unconfined task's: the server's).
            for task in try FileManager.default.contentsOfDirectory(atPath: run + "/work") {
                let uid = owner(run + "/work/" + task)
                #expect(uid.map { s.taskIDs.contains($0) || $0 == account } == true, "\(run)/work/\(task)")
                if let uid, s.taskIDs.contains(uid) { tenants += 1 }
            }
        }
        #expect(tenants > 10, "only \(tenants) working directories of tenants")
    }

    @Test("one tenant's fork bomb and memory hog stay bounded: the server and another tenant's run carry on")
    func boundedTasks() async throws {
        let s = try ServerHarness()
        let mallory = try s.heaven("users", "add", "mallory")
        let other = try s.heaven("users", "add", "other")
        try s.start(["--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--task-processes", "200"])
        let hog = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(
                probe(
                    "python3 -c 'x = bytearray(1024 * 1024 * 1024); print(len(x))'", extra: "resources: {memory: 64MiB}"
                )))
        // Every process forks for ever, retrying when the kernel refuses: pressure sustained until the timeout.
        let bomb = "perl -e 'while (1) { fork // select(undef, undef, undef, 0.01) }'"
        let bombRun = try await s.request(
            "POST", "/v1/runs", token: mallory,
            body: ServerHarness.submission(probe(bomb, extra: "timeout: 8s")))
        let bombID = try #require(bombRun.json["id"] as? String)
        // Wait for the bomb to reach its bound (the count the kernel keeps for its group).
        let deadline = Date().addingTimeInterval(20)
        var peak = 0
        while peak < 200 {
            guard Date() < deadline else { break }
            for dir in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/pids")) ?? []
            where dir.hasPrefix("heaven-") {
                for t in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/pids/" + dir)) ?? []
                where t.hasPrefix("t") {
                    let n =
                        Int(
                            (try? String(
                                contentsOfFile: "/sys/fs/cgroup/pids/\(dir)/\(t)/pids.current", encoding: .utf8))?
                                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
                    peak = max(peak, n)
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Never past its bound (without one, the bomb would reach thousands). It reaches
        // the bound here in a second; once, in a loaded CI run, the sampled peak stayed at 4
        // for no reason found yet: the peak is reported, the bound is what is asserted.
        #expect(peak <= 200, "the fork bomb's group went past its bound of 200 processes (peak \(peak))")
        // And it had one: without a pids group (a peak of 0 seen), the bound would be nobody's.
        #expect(peak > 0, "no pids group was made for the fork bomb's task")
        if peak < 200 { print("note: the fork bomb's sampled peak was \(peak) of 200") }
        // Meanwhile the server answers and another tenant's run goes through.
        let health = try await s.request("GET", "/healthz")
        #expect(health.status == 200)
        let fine = try await s.request(
            "POST", "/v1/runs", token: other, body: ServerHarness.submission(probe("echo fine")))
        let fineEnd = try await waitForEnd(s, fine.json["id"] as? String ?? "", token: other)
        #expect(
            fineEnd["status"] as? String == "succeeded"
                && (fineEnd["outputs"] as? [String: Any])?["v"] as? String == "fine", "\(fineEnd)")
        let hogEnd = try await waitForEnd(s, hog.json["id"] as? String ?? "", token: mallory)
        #expect(hogEnd["status"] as? String == "failed", "\(hogEnd)")
        #expect((hogEnd["error"] as? String ?? "").contains("went past its memory limit of 64MiB"), "\(hogEnd)")
        let bombEnd = try await waitForEnd(s, bombID, token: mallory)
        #expect(
            bombEnd["status"] as? String == "failed" && (bombEnd["error"] as? String ?? "").contains("timed out"),
            "\(bombEnd)")
        // Nothing of the bomb is left.
        #expect(processes(holding: "HEAVEN_RUN=\(bombID)").isEmpty)
    }

    @Test("a server refuses to serve when it cannot isolate tenants, says what is missing; --no-isolation is announced")
    func refusesWithoutIsolation() async throws {
        let s = try ServerHarness()
        _ = try s.heaven("users", "add", "root-admin", "--admin")
        let binary = ServerHarness.binary
        func serve(_ prefix: String, _ args: String, home: String? = nil) throws -> (status: Int32, stderr: String) {
            let err = s.work + "/refuse.err"
            let status = try ServerHarness.sh(
                """
                \(prefix) env HEAVEN_HOME=\(home ?? s.home) \(binary) serve --listen 127.0.0.1:0 \(args) > \
                /dev/null 2> \(err) < /dev/null
                """,
                shell: "/bin/bash")
            return (status, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        }
        // As a root that is no real one (uid 0 of a user namespace): it tries a confined task
        // before serving, and no task of it can become a tenant's uid.
        let fakeRoot = try serve(
            "unshare -U -r",
            "--task-ids \(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound) --user \(ServerHarness.serviceAccount)",
            home: s.work + "/userns-home"
        )
        #expect(fakeRoot.status == 2, "\(fakeRoot)")
        #expect(
            fakeRoot.stderr.contains(
                """
                a confined task (`true` as uid \(s.taskIDs.lowerBound)) could not start: the sandbox could not \
                drop to the tenant's ids
                """
            ), "\(fakeRoot.stderr)")
        // Without an id range, or with one that holds a real account's uid.
        let noIDs = try serve("", "")
        #expect(noIDs.status == 2 && noIDs.stderr.contains("pass --task-ids FIRST-LAST"), "\(noIDs)")
        // As root without a service account to drop to.
        #expect(noIDs.stderr.contains("started as root without --user"), "\(noIDs)")
        let nobody = try serve("", "--task-ids 65000-65535")
        #expect(nobody.status == 2 && nobody.stderr.contains("belongs to the account `nobody`"), "\(nobody)")
        #expect(nobody.stderr.contains("belongs to the group `nogroup`"), "\(nobody)")
        // --no-isolation starts, says so at start and on /healthz.
        try s.start(["--no-isolation"])
        let health = try await s.request("GET", "/healthz")
        #expect(health.json["isolation"] as? String == "none", "\(health.text)")
        let said = (try? String(contentsOfFile: s.work + "/serve.err", encoding: .utf8)) ?? ""
        #expect(said.contains("--no-isolation: every task runs as this server's own account"), "\(said)")
    }
}
