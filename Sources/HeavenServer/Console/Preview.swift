import Crypto
import Foundation
import HTTPTypes
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// PNG previews of GeoTIFF outputs for the console, made with GDAL's own tools when this
/// machine has them, at most 1024 pixels wide, kept in a cache named by the file's
/// content, each with its legend: a single-band floating-point raster (an NDVI, an
/// index) stretched from its 2nd to its 98th percentile over the showcase quicklook's
/// brown-yellow-green ramp, no data grey; any other, its first band in grey from its
/// minimum to its maximum.
///
/// A tenant's file is never given to GDAL as the server: GDAL follows what a file says
/// (a VRT's raw band over `/etc/shadow`, `/vsicurl/` to a port of this machine). Each
/// preview is a task in the tenant's own sandbox (their uid, no network but their own
/// loopback, bounded in memory, processes and time), on a copy of the file read through
/// its descriptor, with GDAL allowed only its GeoTIFF driver (`-if GTiff`; no VRT, no
/// side-car files, no network handler).
struct Preview {
    static let translate = "/usr/bin/gdal_translate"
    static let info = "/usr/bin/gdalinfo"
    static let dem = "/usr/bin/gdaldem"
    /// The largest file previewed.
    static let limit: Int64 = 1 << 30
    /// How long one GDAL command may run.
    static let timeout: Double = 60
    /// The most a preview's files may take (its copy of the file aside).
    static let disk: Double = 256 * 1_048_576
    /// The largest side of a preview, in pixels.
    static let side = 1024
    /// Changes when what a preview looks like does: cached ones of other versions are not used.
    static let version = "v2"
    /// Previews made at once on the server, and waiting: past that, 503.
    static let gate = PreviewGate(concurrent: 2, queued: 16)

    let server: HeavenServer

    /// Whether GDAL's tools are here.
    static var available: Bool {
        [translate, info, dem].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// GDAL's environment in a preview: its GeoTIFF driver only, no side-car files, no network.
    static let environment: [String: String] = [
        "GDAL_SKIP": "VRT", "GDAL_PAM_ENABLED": "NO", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".none", "GDAL_HTTP_TIMEOUT": "1", "CPL_DEBUG": "OFF",
    ]

    /// The ramp of single-band floating-point previews, as the showcase's quicklook
    /// draws it (examples/eo/ndvi.yaml): from the low end (0) to the high end (1).
    static let ramp: [(at: Double, rgb: (Int, Int, Int))] = [
        (0, (140, 81, 10)), (0.25, (216, 179, 101)), (0.5, (246, 232, 160)), (0.75, (145, 207, 96)),
        (1, (26, 120, 50)),
    ]
    /// The colour of no data in a stretched preview.
    static let noData = (170, 170, 170)

    /// What `gdalinfo -json` says of a raster that a preview needs.
    struct Info: Decodable {
        struct Band: Decodable {
            var type: String?
            var computedMin: Double?
            var computedMax: Double?
            struct Histogram: Decodable {
                var min: Double
                var max: Double
                var buckets: [Int]
            }
            var histogram: Histogram?
        }
        var size: [Int]
        var bands: [Band]?
    }

    /// A PNG of the opened file of `run`.
    func png(of file: TenantFile, run record: RunRecord) async throws -> Data {
        try await preview(of: file, run: record).png
    }

    /// A preview and its legend (made once per content, then read from the cache): one
    /// at a time for a tenant, two at a time on the server.
    func preview(of file: TenantFile, run record: RunRecord) async throws -> (png: Data, legend: PreviewLegend) {
        guard await Preview.gate.enter(record.user) else {
            throw Problem(.serviceUnavailable, "no preview now: too many are being made; try again in a moment")
        }
        defer { Preview.gate.leave(record.user) }
        return try await make(of: file, run: record)
    }

    func make(of file: TenantFile, run record: RunRecord) async throws -> (png: Data, legend: PreviewLegend) {
        guard Preview.available else {
            throw Problem(.notFound, "no preview: GDAL's tools are not installed on the server")
        }
        guard file.size <= Preview.limit else {
            throw Problem(.unprocessableContent, "no preview: the file is larger than \(Preview.limit) bytes")
        }
        let cache = server.home.root + "/server/previews"
        try FileManager.default.createDirectory(
            atPath: cache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let confinement = try await server.engine.confinement(for: record.user)
        // A directory of the preview's own: the copy (the tenant's), GDAL's words (ours).
        let dir = cache + "/task-" + UUID().uuidString.lowercased()
        let work = dir + "/work"
        guard mkdir(dir, 0o711) == 0, mkdir(work, 0o700) == 0 else {
            throw Problem(.internalServerError, "no preview: cannot make its directory")
        }
        let owner = confinement.map { ($0.uid, $0.gid) }
        let files = owner.map { TenantFiles(.tenant(uid: $0.0, gid: $0.1)) } ?? .server
        defer {
            // What the tenant's GDAL left goes with the tenant's rights; the rest with ours.
            try? files.remove(work, beneath: dir)
            try? FileManager.default.removeItem(atPath: dir)
        }
        do { try files.give(directory: work) } catch {
            throw Problem(.internalServerError, "no preview: cannot give its directory to the run's tenant: \(error)")
        }
        let key =
            Preview.version + "-"
            + (try await TenantFiles.offPool { try Preview.copy(file, to: work + "/input.tif", files: files) })
        let target = cache + "/" + key + ".png"
        if let cached = FileManager.default.contents(atPath: target),
            let legend = FileManager.default.contents(atPath: cache + "/" + key + ".legend.json")
                .flatMap({ try? JSONDecoder().decode(PreviewLegend.self, from: $0) })
        {
            return (cached, legend)
        }

        let (status, json) = try await run([Preview.info, "-json", "-if", "GTiff", "input.tif"], in: dir, confinement)
        let info = try? JSONDecoder().decode(Info.self, from: json)
        guard status == 0, let info, info.size.count == 2, info.size[0] > 0, info.size[1] > 0 else {
            throw Problem(.unprocessableContent, "no preview: GDAL cannot read this file as a GeoTIFF raster")
        }
        let bands = info.bands ?? []
        let size = Preview.outsize(width: info.size[0], height: info.size[1])
        let legend: PreviewLegend
        if bands.count == 1, ["Float32", "Float64"].contains(bands[0].type ?? "") {
            legend = try await stretched(size, in: dir, files: files, confinement)
        } else {
            legend = try await grey(size, bands: bands.count, in: dir, confinement)
        }
        guard let png = try? await files.contents("preview.png", beneath: work, limit: 64 << 20) else {
            throw Problem(.unprocessableContent, "no preview: GDAL could not make a PNG of this file")
        }
        // A legend without its numbers (GDAL could not measure the band) is not kept: the
        // next look tries again.
        if legend.low != nil, legend.high != nil {
            Preview.keep(try JSONEncoder().encode(legend), at: cache + "/" + key + ".legend.json")
            Preview.keep(png, at: target)
        }
        return (png, legend)
    }

    /// A preview's size: the raster's, scaled to at most `side` pixels on its longer side.
    static func outsize(width: Int, height: Int) -> [String] {
        let scale = min(1, Double(side) / Double(max(width, height)))
        return [
            String(max(1, Int((Double(width) * scale).rounded()))),
            String(max(1, Int((Double(height) * scale).rounded()))),
        ]
    }

    /// Writes a cache file whole (a new file renamed into place) or not at all.
    static func keep(_ data: Data, at target: String) {
        let partial = target + ".part-\(UUID().uuidString.prefix(8))"
        if FileManager.default.createFile(atPath: partial, contents: data, attributes: [.posixPermissions: 0o600]) {
            if rename(partial, target) != 0 { unlink(partial) }
        }
    }

    /// A single-band floating-point raster: reduced (averaging), its histogram read, its
    /// 2nd to 98th percentile stretched over the ramp, no data grey.
    func stretched(_ size: [String], in dir: String, files: TenantFiles, _ confinement: TaskConfinement?)
        async throws -> PreviewLegend
    {
        let (reduced, _) = try await run(
            [
                Preview.translate, "-q", "-if", "GTiff", "-of", "GTiff", "-co", "COMPRESS=DEFLATE", "-r", "average",
                "-outsize",
            ] + size + ["input.tif", "small.tif"], in: dir, confinement)
        let (listed, json) = try await run(
            [Preview.info, "-json", "-if", "GTiff", "-hist", "small.tif"], in: dir, confinement)
        guard reduced == 0, listed == 0, let info = try? JSONDecoder().decode(Info.self, from: json) else {
            throw Problem(.unprocessableContent, "no preview: GDAL could not reduce this raster")
        }
        let (low, high) = Preview.percentiles(info.bands?.first?.histogram)
        let ramp =
            Preview.ramp.map { stop in
                let (r, g, b) = stop.rgb
                return "\(low + stop.at * (high - low)) \(r) \(g) \(b) 255"
            } + ["nv \(Preview.noData.0) \(Preview.noData.1) \(Preview.noData.2) 255"]
        let text = Array((ramp.joined(separator: "\n") + "\n").utf8)
        let written = try await TenantFiles.offPool { () throws -> Bool in
            let fd: Int32
            do { fd = try files.create(dir + "/work/ramp.txt", beneath: dir + "/work") } catch {
                throw Problem(.internalServerError, "no preview: cannot write its ramp: \(error)")
            }
            defer { close(fd) }
            return text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == text.count
        }
        guard written else { throw Problem(.internalServerError, "no preview: cannot write its ramp") }
        let (made, _) = try await run(
            [Preview.dem, "color-relief", "-q", "-of", "PNG", "small.tif", "ramp.txt", "preview.png"], in: dir,
            confinement)
        guard made == 0 else { throw Problem(.unprocessableContent, "no preview: GDAL could not colour this raster") }
        return PreviewLegend(kind: .ramp, low: low, high: high)
    }

    /// Any other raster: its first band in grey, from its minimum (black) to its maximum (white).
    func grey(_ size: [String], bands: Int, in dir: String, _ confinement: TaskConfinement?) async throws
        -> PreviewLegend
    {
        let (measured, json) = try await run(
            [Preview.info, "-json", "-if", "GTiff", "-mm", "input.tif"], in: dir, confinement)
        let band = measured == 0 ? (try? JSONDecoder().decode(Info.self, from: json))?.bands?.first : nil
        var scale = ["-scale"]
        if let low = band?.computedMin, let high = band?.computedMax, high > low {
            scale += [String(low), String(high), "0", "255"]
        }
        let (made, _) = try await run(
            [Preview.translate, "-q", "-if", "GTiff", "-of", "PNG", "-ot", "Byte"] + scale
                + ["-b", "1", "-outsize"] + size + ["input.tif", "preview.png"], in: dir, confinement)
        guard made == 0 else {
            throw Problem(.unprocessableContent, "no preview: GDAL could not make a PNG of this file")
        }
        return PreviewLegend(
            kind: .grey, low: band?.computedMin, high: band?.computedMax, band: bands > 1 ? "band 1 of \(bands)" : nil)
    }

    /// The 2nd and 98th percentiles of a histogram (each within one bucket); NDVI's
    /// whole range when it counts nothing; widened when both fall in one bucket.
    /// What GDAL printed is read as what a tenant's process could have written: counts
    /// summed as floating point (no overflow), a histogram of more than 65,536 buckets, a
    /// negative count or a range that is not finite taken as none.
    static func percentiles(_ histogram: Info.Band.Histogram?) -> (Double, Double) {
        guard let histogram, histogram.min.isFinite, histogram.max.isFinite, histogram.max > histogram.min,
            (1...65_536).contains(histogram.buckets.count), histogram.buckets.allSatisfy({ $0 >= 0 })
        else { return (-1, 1) }
        let total = histogram.buckets.reduce(0.0) { $0 + Double($1) }
        guard total > 0 else { return (-1, 1) }
        let width = (histogram.max - histogram.min) / Double(histogram.buckets.count)
        guard width.isFinite, width > 0 else { return (-1, 1) }
        func at(_ q: Double) -> Double {
            var seen = 0.0
            for (i, n) in histogram.buckets.enumerated() {
                seen += Double(n)
                if seen >= q * total { return histogram.min + (Double(i) + 0.5) * width }
            }
            return histogram.max
        }
        let (low, high) = (at(0.02), at(0.98))
        return high - low < width ? (low - width / 2, high + width / 2) : (low, high)
    }

    /// Copies the opened file to `path` (a new file, 0600, made with `files`' rights); its SHA-256.
    static func copy(_ file: TenantFile, to path: String, files: TenantFiles) throws -> String {
        let out: Int32
        do { out = try files.create(path, beneath: (path as NSString).deletingLastPathComponent) } catch {
            throw Problem(.internalServerError, "no preview: cannot copy the file: \(error)")
        }
        defer { close(out) }
        var hasher = SHA256()
        do { try file.copy(to: out, limit: limit) { hasher.update(data: $0) } } catch .tooLarge {
            throw Problem(.unprocessableContent, "no preview: the file is larger than \(limit) bytes")
        } catch {
            throw Problem(.internalServerError, "no preview: cannot copy the file: \(error)")
        }
        return hasher.finalize().hexadecimal
    }

    /// Runs a GDAL command in the preview's working directory, as the tenant in their
    /// sandbox (or, on a server without isolation, as the server); its exit status and
    /// standard output (at most 4 MiB).
    func run(_ arguments: [String], in dir: String, _ confinement: TaskConfinement?) async throws -> (Int32, Data) {
        let out = dir + "/out-\(UUID().uuidString.prefix(8))"
        var launch = TaskLaunch(
            arguments: arguments, environment: Preview.environment, workDirectory: dir + "/work", stdoutPath: out,
            stderrPath: dir + "/err", baseDirectory: dir, isolation: confinement == nil ? .none : .sandbox,
            network: false, readable: [dir + "/work"], cpuLimit: Int(Preview.timeout))
        launch.confinement = confinement
        launch.memory = 1_073_741_824
        launch.timeLimit = Preview.timeout
        launch.disk = Preview.disk
        let task: any RunningTask
        do {
            task = try await LocalConnector(siteName: "preview", cores: 1, memory: 1_073_741_824).start(launch)
        } catch {
            throw Problem(.serviceUnavailable, "no preview: GDAL could not be started: \(error)")
        }
        // A preview that takes too long is killed: it never holds the server.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(Preview.timeout))
            task.signal(SIGKILL)
        }
        let exit = await task.wait()
        watchdog.cancel()
        let data = (try? await TenantFiles.server.contents(out, beneath: dir, limit: 4 << 20)) ?? Data()
        return (exit.succeeded ? 0 : Int32(exit.exitCode ?? 128 + (exit.signal ?? 9)), data)
    }
}

/// What a preview's colours mean: drawn beside it in the console, as SVG made here from
/// numbers alone (nothing of the tenant's file but its values).
struct PreviewLegend: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable {
        /// Preview.ramp from `low` to `high`, no data grey.
        case ramp
        /// Black at `low` to white at `high`.
        case grey
    }
    var kind: Kind
    var low: Double?
    var high: Double?
    /// Which band is shown, when the raster has several.
    var band: String?

    /// A value as a legend shows it: to three significant digits past the range's own.
    static func label(_ v: Double) -> String {
        let text = String(format: abs(v) >= 1e5 || (abs(v) < 1e-3 && v != 0) ? "%.3g" : "%.3f", v)
        guard text.contains("."), !text.contains("e") else { return text }
        var trimmed = text
        while trimmed.hasSuffix("0") { trimmed.removeLast() }
        if trimmed.hasSuffix(".") { trimmed.removeLast() }
        return trimmed == "-0" ? "0" : trimmed
    }

    /// What the `legend` template draws.
    struct View: Sendable {
        struct Stop: Sendable {
            let offset: String
            let colour: String
        }
        struct Label: Sendable {
            let x: String
            let anchor: String
            let value: String
            let text: String
        }
        let kind: String
        let stops: [Stop]
        let caption: String
        let labels: [Label]
        let hasNoData: Bool
        let noData: String
    }

    var view: View {
        let stops: [(Double, String)] =
            kind == .ramp
            ? Preview.ramp.map { ($0.at, "rgb(\($0.rgb.0),\($0.rgb.1),\($0.rgb.2))") }
            : [(0, "rgb(0,0,0)"), (1, "rgb(255,255,255)")]
        var labels: [View.Label] = []
        if let low, let high {
            for (x, v, anchor) in [(10.0, low, "start"), (160.0, (low + high) / 2, "middle"), (310.0, high, "end")] {
                labels.append(.init(x: "\(x)", anchor: anchor, value: "\(v)", text: PreviewLegend.label(v)))
            }
        }
        return View(
            kind: kind.rawValue, stops: stops.map { .init(offset: "\($0.0)", colour: $0.1) },
            caption: kind == .ramp ? "2nd to 98th percentile" : "minimum to maximum" + (band.map { ", \($0)" } ?? ""),
            labels: labels, hasNoData: kind == .ramp,
            noData: kind == .ramp ? "rgb(\(Preview.noData.0),\(Preview.noData.1),\(Preview.noData.2))" : "")
    }
}

/// How many previews are made at once: at most `concurrent` on the server, one at a time
/// for a tenant (a page's image and legend: the second finds the first's in the cache),
/// at most `queued` waiting; past that a request is refused rather than queued.
final class PreviewGate: Sendable {
    private struct State {
        var running = 0
        var users: Set<String> = []
        var waiting: [(user: String, resume: CheckedContinuation<Void, Never>)] = []
    }
    private let state = Mutex(State())
    let concurrent: Int
    let queued: Int

    init(concurrent: Int, queued: Int) {
        self.concurrent = concurrent
        self.queued = queued
    }

    /// Waits for a turn; false when too many already wait.
    func enter(_ user: String) async -> Bool {
        enum Turn { case now, refused, wait }
        var turn = Turn.wait
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            turn = state.withLock { s -> Turn in
                if s.running < concurrent, !s.users.contains(user) {
                    s.running += 1
                    s.users.insert(user)
                    return .now
                }
                if s.waiting.count >= queued { return .refused }
                s.waiting.append((user, c))
                return .wait
            }
            if turn != .wait { c.resume() }
        }
        return turn != .refused
    }

    /// Ends a turn; the first waiter of another tenant (or of this one) goes on.
    func leave(_ user: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.running -= 1
            s.users.remove(user)
            guard s.running < concurrent, let i = s.waiting.firstIndex(where: { !s.users.contains($0.user) }) else {
                return nil
            }
            let w = s.waiting.remove(at: i)
            s.running += 1
            s.users.insert(w.user)
            return w.resume
        }
        next?.resume()
    }
}
