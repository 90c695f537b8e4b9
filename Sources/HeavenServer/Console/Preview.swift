import Crypto
import Foundation
import HTTPTypes

/// PNG previews of GeoTIFF outputs for the console, made with GDAL's own tools when
/// this machine has them: the first band scaled to 8 bits, at most 1024 pixels wide,
/// kept in a cache named by the file's content.
enum Preview {
    static let translate = "/usr/bin/gdal_translate"
    static let info = "/usr/bin/gdalinfo"

    /// Whether GDAL's tools are here.
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: translate) && FileManager.default.isExecutableFile(atPath: info)
    }

    static func png(of path: String, cache: String) async throws -> Data {
        guard available else { throw Problem(.notFound, "no preview: GDAL's tools are not installed on the server") }
        guard let content = FileManager.default.contents(atPath: path) else {
            throw Problem(.notFound, "the file is no longer there")
        }
        let key = SHA256.hash(data: content).hexadecimal
        let target = cache + "/" + key + ".png"
        if let cached = FileManager.default.contents(atPath: target) { return cached }
        try FileManager.default.createDirectory(
            atPath: cache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let (status, json) = try await run(info, ["-json", path])
        let width =
            ((try? JSONSerialization.jsonObject(with: json)) as? [String: Any])?["size"] as? [Int] ?? []
        guard status == 0, let w = width.first else {
            throw Problem(.unprocessableContent, "no preview: GDAL cannot read this file as a raster")
        }
        let partial = target + ".part-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: partial) }
        let (made, _) = try await run(
            translate,
            [
                "-q", "-of", "PNG", "-ot", "Byte", "-scale", "-b", "1", "-outsize", String(min(w, 1024)), "0", path,
                partial,
            ])
        guard made == 0, let png = FileManager.default.contents(atPath: partial) else {
            throw Problem(.unprocessableContent, "no preview: GDAL could not make a PNG of this file")
        }
        try? FileManager.default.moveItem(atPath: partial, toPath: target)
        return png
    }

    /// Runs a program (arguments as an argv array), its standard output collected;
    /// waits without holding a thread of the concurrency pool.
    static func run(_ program: String, _ arguments: [String]) async throws -> (Int32, Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("heaven-preview-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: out) }
        let handle = try FileHandle(forWritingTo: out)
        p.standardOutput = handle
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch { c.resume(throwing: error) }
        }
        try? handle.close()
        return (status, (try? Data(contentsOf: out)) ?? Data())
    }
}
