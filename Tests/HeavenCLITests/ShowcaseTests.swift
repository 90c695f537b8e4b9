import Foundation
import Testing

/// The README's first command: scripts/showcase.sh, Heaven's main job.
@Suite("The main job (scripts/showcase.sh)", .serialized, .timeLimit(.minutes(15)))
struct ShowcaseTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs the script with `heaven` already built; its status and both streams together.
    func showcase(_ h: HeavenBinary, _ args: [String], path: String? = nil, install: Bool = true) throws -> (
        Int32, String
    ) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [ShowcaseTests.repository + "/scripts/showcase.sh"] + args
        var env = ProcessInfo.processInfo.environment
        env["HEAVEN_HOME"] = h.home
        env["HEAVEN"] = HeavenBinary.path
        if let path { env["PATH"] = path }
        if !install { env["HEAVEN_NO_INSTALL"] = "1" }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("it leaves the NDVI mosaic (COG), quicklook, statistics and STAC item of the Landsat scene, saying where")
    func mainJob() throws {
        let h = try HeavenBinary()
        let out = h.work + "/results"
        let (status, said) = try showcase(h, ["--out", out])
        #expect(status == 0, "\(said)")
        for (output, file) in [
            ("ndvi", "ndvi.tif"), ("quicklook", "quicklook.png"), ("stats", "stats.json"), ("stac", "item.json"),
        ] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) missing")
            #expect(said.contains("\(output): \(out)/\(file)"), "\(said)")
        }
        #expect(said.contains("mean: 0.29380"), "\(said)")
        let stats = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/stats.json")))
        #expect((stats as? [String: Any])?["valid"] as? Int == 378_081)
    }

    @Test("without GDAL's tools it says the one line that installs them")
    func withoutGDAL() throws {
        let h = try HeavenBinary()
        // A PATH with the shell's tools but not GDAL's.
        let bin = h.work + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for tool in ["id", "dirname", "env"] {
            try FileManager.default.createSymbolicLink(
                atPath: bin + "/" + tool, withDestinationPath: "/usr/bin/" + tool)
        }
        let (status, said) = try showcase(h, [], path: bin, install: false)
        #expect(status == 2)
        #expect(said.contains("sudo apt-get install -y gdal-bin python3-gdal"), "\(said)")
        #expect(!FileManager.default.fileExists(atPath: h.work + "/results"))
    }
}
