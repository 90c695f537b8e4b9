import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Broker commands and concurrent processes", .serialized, .timeLimit(.minutes(15)))
struct BrokerCommandTests {
    static let sites = """
        kind: Site
        name: grenoble
        owner: user:someone
        price: 0.1
        nodes:
          - {name: ws, count: 2, cores: 2, memory: 4GiB, software: [gdal]}
        links: [{to: sophia, bandwidth: 100Mbps, latency: 10ms}]
        ---
        kind: Site
        name: sophia
        owner: user:someone
        nodes:
          - {name: c, count: 2, cores: 2, memory: 8GiB, tags: [cluster]}
        ---
        kind: Grant
        name: all-grenoble
        site: grenoble
        to: user:USER
        ---
        kind: Grant
        name: all-sophia
        site: sophia
        to: user:USER
        ---

        """

    static var user: String {
        if let pw = getpwuid(getuid()), let n = pw.pointee.pw_name { return String(cString: n) }
        return "root"
    }

    @Test("`heaven plan` prints the placement, or every failed constraint with exit status 1")
    func plan() throws {
        let h = try HeavenBinary()
        let sites = BrokerCommandTests.sites.replacingOccurrences(of: "USER", with: BrokerCommandTests.user)
        let ok = try h.write(
            "ok.yaml",
            sites
                + """
                kind: Topology\nname: env\nmachines:\n  - {name: splitter, software: [gdal]}\n  - {name: workers, \
                count: 2, tags: [cluster]}\nlinks:\n  - {between: [splitter, workers], bandwidth: '>= 10Mbps'}\n
                """
        )
        let placed = try h.run("plan", ok)
        #expect(placed.status == 0, "\(placed.stderr)")
        #expect(placed.stdout.contains("topology env for user \(BrokerCommandTests.user): placed on grenoble, sophia"))
        #expect(placed.stdout.contains("splitter  0         grenoble  ws/0"))
        let bad = try h.write(
            "bad.yaml",
            sites
                + """
                kind: Topology\nname: env\nmachines:\n  - {name: splitter, software: [gdal]}\n  - {name: workers, \
                count: 2, cores: 4, tags: [cluster]}\n
                """
        )
        let refused = try h.run("plan", bad)
        #expect(refused.status == 1)
        #expect(
            refused.stdout == """
                topology `env` cannot be placed:
                  workers: grenoble: 2 cores < 4 required
                  workers: sophia: 2 cores < 4 required

                """)
        let json = try h.run("plan", bad, "--json")
        #expect(json.stdout.contains("\"refused\""))
    }

    @Test("two `heaven run` processes on one 2-core site never run more than 2 tasks at once")
    func twoProcesses() throws {
        let h = try HeavenBinary()
        let trace = h.work + "/trace"
        try FileManager.default.createDirectory(atPath: trace, withIntermediateDirectories: true)
        func workflow(_ name: String) throws -> String {
            try h.write(
                "\(name).yaml",
                """
                kind: Site
                name: tiny
                nodes: [{name: n, cores: 2}]
                ---
                kind: Topology
                name: env-\(name)
                machines: [{name: m, count: 2}]
                ---
                kind: Workflow
                name: \(name)
                topology: env-\(name)
                steps:
                  - foreach: ${range(4)}
                    as: i
                    steps:
                      - task: t
                        on: m
                        shell: 's=$(date +%s.%N); sleep 0.3; echo "$s $(date +%s.%N)" > \(trace)/\(name)-${i}'
                """)
        }
        let a = h.process(["run", try workflow("a"), "--quiet"])
        let b = h.process(["run", try workflow("b"), "--quiet"])
        try a.0.run()
        try b.0.run()
        a.0.waitUntilExit()
        b.0.waitUntilExit()
        let errA = String(decoding: a.2.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errB = String(decoding: b.2.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(a.0.terminationStatus == 0 && b.0.terminationStatus == 0, "\(errA)\n\(errB)")
        var events: [(Double, Int)] = []
        for f in try FileManager.default.contentsOfDirectory(atPath: trace) {
            let parts = try String(contentsOfFile: trace + "/" + f, encoding: .utf8).split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if parts.count == 2 {
                events.append((parts[0], 1))
                events.append((parts[1], -1))
            }
        }
        #expect(events.count == 16)
        events.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        var current = 0
        var most = 0
        for e in events {
            current += e.1
            most = max(most, current)
        }
        #expect(most <= 2)
    }
}
