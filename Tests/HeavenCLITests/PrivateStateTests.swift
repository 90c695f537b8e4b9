import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Private state", .timeLimit(.minutes(15)))
struct PrivateStateTests {
    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
    }

    @Test(
        """
        Heaven's state is made private (0700, 0600) and narrowed when found wider; the user's outputs keep the \
        user's umask
        """
    )
    func privateState() throws {
        let h = try HeavenBinary()
        let yaml = try h.write(
            "w.yaml",
            """
            kind: Workflow\nname: w\nsteps:\n  - task: t\n    shell: 'echo x > made.txt'\n    outputs: {f: {file: \
            made.txt}}\noutputs: {f: '${t.f}'}\n
            """
        )
        // Heaven's own files must not follow the user's umask (022 here).
        let run = try h.run(["run", yaml, "--out", h.work + "/out", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = HeavenBinary.json(run.stdout)["run"] as? String ?? ""
        #expect(mode(h.home) == 0o700)
        #expect(mode(h.home + "/heaven.sqlite") == 0o600)
        // The WAL and shared-memory files exist while a process has the database open (a
        // command that ends cleanly closes it and SQLite removes them): private when there.
        for file in ["heaven.sqlite-wal", "heaven.sqlite-shm"]
        where FileManager.default.fileExists(atPath: h.home + "/" + file) {
            #expect(mode(h.home + "/" + file) == 0o600, "\(file): \(String(mode(h.home + "/" + file), radix: 8))")
        }
        for dir in ["runs", "runs/\(id)", "runs/\(id)/logs", "runs/\(id)/work"] {
            #expect(mode(h.home + "/" + dir) == 0o700, "\(dir): \(String(mode(h.home + "/" + dir), radix: 8))")
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: h.home + "/runs/\(id)/logs")
        #expect(!logs.isEmpty && logs.allSatisfy { mode(h.home + "/runs/\(id)/logs/" + $0) == 0o600 }, "\(logs)")
        // What the task made, and its copy under --out, are as the user makes files.
        // The test process's umask (read, not set: other tests run meanwhile), which heaven inherited.
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let mask = try #require(
            status.split(separator: "\n").first { $0.hasPrefix("Umask:") }.flatMap {
                Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8)
            })
        #expect(mode(h.work + "/out") == 0o777 & ~mask)
        #expect(mode(h.work + "/out/made.txt") == 0o666 & ~mask)
        // Left wider by hand (or an older version): narrowed at the next command, saying so.
        chmod(h.home, 0o755)
        chmod(h.home + "/heaven.sqlite", 0o644)
        chmod(h.home + "/runs", 0o755)
        let runs = try h.run("runs")
        #expect(runs.status == 0)
        #expect(runs.stderr.contains("heaven: note: state made private: \(h.home) was 755, now 700"), "\(runs.stderr)")
        #expect(runs.stderr.contains("\(h.home)/heaven.sqlite was 644, now 600"), "\(runs.stderr)")
        #expect(mode(h.home) == 0o700 && mode(h.home + "/heaven.sqlite") == 0o600 && mode(h.home + "/runs") == 0o700)
    }
}
