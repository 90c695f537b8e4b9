import Foundation
import HeavenTestSupport
import Testing

/// The Python of the virtual environment with OWSLib that scripts/test.sh makes
/// (`HEAVEN_OWSLIB_PYTHON`, or its default place).
let owslibPython: String? = {
    let env = ProcessInfo.processInfo.environment
    let home = env["HOME"] ?? "/root"
    let candidates = [
        env["HEAVEN_OWSLIB_PYTHON"], (env["XDG_CACHE_HOME"] ?? home + "/.cache") + "/heaven/owslib-0.35.0/bin/python",
    ].compactMap { $0 }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

@Suite(
    "OGC API - Processes with a real client", .serialized,
    Testbed.needs(owslibPython != nil, "OWSLib in a virtual environment (scripts/test.sh makes it)"),
    .timeLimit(.minutes(15)))
struct OGCClientTests {
    /// Runs the OWSLib script with these arguments in `directory`; its output as JSON.
    func owslib(_ arguments: [String], in directory: String) throws -> (
        status: Int32, json: [String: Any], said: String
    ) {
        let python = try #require(owslibPython)
        let out = directory + "/owslib.out"
        let status = try ServerHarness.sh(
            """
            cd \(directory) && \(python) \(repository)/Tests/HeavenServerTests/OGC/owslib_client.py \
            \(arguments.map(ServerHarness.quote).joined(separator: " ")) > \(out) 2>&1
            """
        )
        let said = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let json = said.split(separator: "\n").last.flatMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        return (status, json ?? [:], said)
    }

    @Test(
        """
        OWSLib lists, describes and executes a process published with `heaven processes deploy --server`, sync \
        and async
        """
    )
    func echo() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        try s.start()
        let url = "http://127.0.0.1:\(s.port)"
        // Published from the command line, as a client of the server.
        let deployed = try s.client(
            ["processes", "deploy", repository + "/examples/processes/echo.yaml", "--server", url],
            env: ["HEAVEN_TOKEN": bob])
        #expect(
            deployed.status == 0 && deployed.stdout.contains("process echo deployed: version 1.0.0, private"),
            "\(deployed)")
        let listed = try s.client(["processes", "list", "--server", url], env: ["HEAVEN_TOKEN": bob])
        #expect(listed.stdout.contains("echo") && listed.stdout.contains("Echo"), "\(listed)")
        let described = try s.client(["processes", "describe", "echo", "--server", url], env: ["HEAVEN_TOKEN": bob])
        #expect(described.stdout.contains("message: {\"type\":\"string\"}"), "\(described)")

        let seen = try owslib([url, bob, "echo"], in: s.work)
        #expect(seen.status == 0, "\(seen.said)")
        #expect(seen.json["processes"] as? [String] == ["echo"], "\(seen.said)")
        #expect(seen.json["inputs"] as? [String] == ["file", "message"])
        #expect((seen.json["sync"] as? [String: Any])?["echo"] as? String == "hello from OWSLib", "\(seen.said)")
        #expect(seen.json["async_status"] as? String == "accepted" || seen.json["async_status"] as? String == "running")
        #expect(seen.json["async_final"] as? String == "successful")
        #expect((seen.json["async_results"] as? [String: Any])?["echo"] as? String == "later", "\(seen.said)")

        // Undeployed from the command line: OWSLib no longer finds it.
        let undeployed = try s.client(["processes", "undeploy", "echo", "--server", url], env: ["HEAVEN_TOKEN": bob])
        #expect(undeployed.status == 0, "\(undeployed)")
        let after = try owslib([url, bob, "echo"], in: s.work)
        #expect(after.status != 0 && after.said.contains("no-such-process"), "\(after.said)")
    }

    @Test(
        """
        the NDVI showcase as a process: OWSLib runs it with one band inline and one by reference, and the COG it \
        fetches is the NDVI of the bands
        """
    )
    func ndvi() async throws {
        let s = try ServerHarness()
        let bob = try s.heaven("users", "add", "bob")
        let bands = try Recorder(work: s.work)
        let examples = repository + "/examples/eo"
        try FileManager.default.copyItem(
            atPath: examples + "/data/landsat8/l8_B5.tif", toPath: bands.directory + "/l8_B5.tif")
        try s.start([
            "--task-ids", "\(s.taskIDs.lowerBound)-\(s.taskIDs.upperBound)", "--fetch-allow", "127.0.0.1:\(bands.port)",
        ])
        let url = "http://127.0.0.1:\(s.port)"
        let deployed = try s.client(
            ["processes", "deploy", examples + "/ndvi.yaml", "--visibility", "public", "--server", url],
            env: ["HEAVEN_TOKEN": bob])
        #expect(deployed.status == 0, "\(deployed)")
        let red = examples + "/data/landsat8/l8_B4.tif"
        let ran = try owslib([url, bob, "ndvi", red, bands.url + "/l8_B5.tif"], in: s.work)
        #expect(ran.status == 0, "\(ran.said)")
        #expect(ran.json["type"] as? String == "image/tiff; application=geotiff", "\(ran.said)")
        #expect((ran.json["tiles"] as? Int ?? 0) > 1, "\(ran.said)")
        #expect(bands.requests.contains { $0["path"] == "/l8_B5.tif" })
        // The COG OWSLib fetched is the NDVI of the two bands, computed here independently.
        let checks = repository + "/Tests/HeavenEngineTests/EO"
        let out = s.work + "/check.out"
        let reference = try ServerHarness.sh(
            """
            /usr/bin/python3 \(checks)/reference.py \(red) \(examples)/data/landsat8/l8_B5.tif \(s.work)/ndvi.tif \
            \(s.work)/stats.json > \(out) 2>&1
            """
        )
        #expect(reference == 0, "\((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        let cog = try ServerHarness.sh(
            "/usr/bin/python3 -m osgeo_utils.samples.validate_cloud_optimized_geotiff \(s.work)/ndvi.tif > \(out) 2>&1")
        #expect(cog == 0, "\((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
    }
}
