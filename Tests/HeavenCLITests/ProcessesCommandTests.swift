import Foundation
import Testing

@Suite("heaven processes, on this machine", .serialized, .timeLimit(.minutes(15)))
struct ProcessesCommandTests {
    @Test(
        """
        deploy (with the files it calls), list, describe, replace (a higher version), undeploy; errors say what \
        and where
        """
    )
    func lifecycle() throws {
        let h = try HeavenBinary()
        let grid = repositoryRoot + "/examples/eo/grid.yaml"
        let deployed = try h.run("processes", "deploy", grid, "--visibility", "group:eo")
        #expect(
            deployed.status == 0 && deployed.stdout == "process ndvi-grid deployed: version 1.0.0, group:eo\n",
            "\(deployed)")
        let again = try h.run("processes", "deploy", grid)
        #expect(again.status == 2 && again.stderr.contains("a process `ndvi-grid` is already published"), "\(again)")
        let listed = try h.run("processes", "list")
        #expect(listed.stdout.contains("ndvi-grid") && listed.stdout.contains("group:eo"), "\(listed)")
        let json = try h.run("processes", "describe", "ndvi-grid", "--json")
        let d = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(d["id"] as? String == "ndvi-grid" && d["version"] as? String == "1.0.0", "\(json)")
        #expect(
            (d["inputs"] as? [String: Any]).map { Set($0.keys) } == ["red", "nir", "tile", "datetime", "scene"],
            "\(json)")
        let text = try h.run("processes", "describe", "ndvi-grid")
        #expect(text.stdout.contains("inputs:") && text.stdout.contains("  tile: "), "\(text)")
        let replaced = try h.run("processes", "deploy", "--replace", grid)
        #expect(replaced.stdout == "process ndvi-grid replaced: version 1.0.1, group:eo\n", "\(replaced)")
        let broken = try h.write("broken.yaml", "kind: Workflow\nname: b\nsteps:\n  - task: t\n    rn: [true]\n")
        let invalid = try h.run("processes", "deploy", broken)
        #expect(invalid.status == 2 && invalid.stderr.contains("broken.yaml:5:5: error:"), "\(invalid)")
        let visibility = try h.run("processes", "deploy", grid, "--visibility", "everyone")
        #expect(
            visibility.status == 2 && visibility.stderr.contains("--visibility takes private, public or group:NAME"))
        #expect(try h.run("processes", "undeploy", "ndvi-grid").status == 0)
        let gone = try h.run("processes", "describe", "ndvi-grid")
        #expect(gone.status == 2 && gone.stderr.contains("no process `ndvi-grid`"), "\(gone)")
        #expect(try h.run("processes", "list").stdout.contains("no processes"))
    }
}
