import Crypto
import Foundation
import HTTPTypes
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel

#if canImport(Glibc)
    import Glibc
#endif

/// PNG previews of GeoTIFF outputs for the console, made with GDAL's own tools when this
/// machine has them: the first band scaled to 8 bits, at most 1024 pixels wide, kept in
/// a cache named by the file's content.
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
    /// The largest file previewed.
    static let limit: Int64 = 1 << 30
    /// How long one GDAL command may run.
    static let timeout: Double = 60

    let server: HeavenServer

    /// Whether GDAL's tools are here.
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: translate) && FileManager.default.isExecutableFile(atPath: info)
    }

    /// GDAL's environment in a preview: its GeoTIFF driver only, no side-car files, no network.
    static let environment: [String: String] = [
        "GDAL_SKIP": "VRT", "GDAL_PAM_ENABLED": "NO", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".none", "GDAL_HTTP_TIMEOUT": "1", "CPL_DEBUG": "OFF",
    ]

    /// A PNG of the opened file of `run`.
    func png(of file: TenantFile, run record: RunRecord) async throws -> Data {
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
        let key = try await TenantFiles.offPool { try Preview.copy(file, to: work + "/input.tif", files: files) }
        let target = cache + "/" + key + ".png"
        if let cached = FileManager.default.contents(atPath: target) { return cached }

        let (status, json) = try await run([Preview.info, "-json", "-if", "GTiff", "input.tif"], in: dir, confinement)
        struct Info: Decodable { var size: [Int] }
        let width = (try? JSONDecoder().decode(Info.self, from: json))?.size ?? []
        guard status == 0, let w = width.first, w > 0 else {
            throw Problem(.unprocessableContent, "no preview: GDAL cannot read this file as a GeoTIFF raster")
        }
        let (made, _) = try await run(
            [
                Preview.translate, "-q", "-if", "GTiff", "-of", "PNG", "-ot", "Byte", "-scale", "-b", "1", "-outsize",
                String(min(w, 1024)), "0", "input.tif", "preview.png",
            ], in: dir, confinement)
        guard made == 0, let png = try? await files.contents("preview.png", beneath: work, limit: 64 << 20) else {
            throw Problem(.unprocessableContent, "no preview: GDAL could not make a PNG of this file")
        }
        let partial = target + ".part-\(UUID().uuidString.prefix(8))"
        if FileManager.default.createFile(atPath: partial, contents: png, attributes: [.posixPermissions: 0o600]) {
            if rename(partial, target) != 0 { unlink(partial) }
        }
        return png
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
