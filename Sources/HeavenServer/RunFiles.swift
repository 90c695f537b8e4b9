import Foundation
public import HeavenConnectors
public import HeavenCore
import HeavenEngine
import HeavenModel
import Hummingbird
import Logging

/// How the server reaches the files of a run: only beneath the run's own directory,
/// never through a link, regular files only, with the rights of the run's tenant (their
/// task uid, through the sandbox helper) on an isolating server; an admin's run and a
/// server without isolation with the server's own (still beneath, never through a link).
/// Every route that serves, previews or removes a run's file goes through here.
extension HeavenServer {
    /// Whose rights the files of `run` are reached with.
    public func files(of run: RunRecord) async throws -> TenantFiles { try await engine.files(of: run.user) }

    /// The size of a file of `run` (for its price), read as `files(of:)` says, beneath it.
    func size(of run: RunRecord) async throws -> @Sendable (String) -> Int64? {
        let files = try await files(of: run)
        let root = home.runDirectory(run.id)
        return { path in
            if case .file(let bytes)? = files.kind(path, beneath: root) { return bytes }
            return nil
        }
    }

    /// An output file of `run`, opened to be read (off the concurrency pool); a problem
    /// (404) when it is not a regular file reachable beneath the run's directory.
    func openRunFile(_ path: String, of run: RunRecord) async throws -> TenantFile {
        let files = try await files(of: run)
        do {
            return try await files.open(path, beneath: home.runDirectory(run.id))
        } catch let e as TenantFileError {
            logger.notice(
                "a run's file was not served", metadata: ["run": "\(run.id)", "why": "\(e.description)"])
            throw Problem(.notFound, "the file of this output is no longer there")
        }
    }

    /// An output file of `run` in memory, at most `limit` bytes (a larger one is a 413).
    func runFileContents(_ path: String, of run: RunRecord, limit: Int = TenantFiles.defaultLimit) async throws
        -> Data
    {
        let file = try await openRunFile(path, of: run)
        guard file.size <= limit else {
            throw Problem(
                .contentTooLarge,
                """
                the file `\((path as NSString).lastPathComponent)` is larger than \(limit) bytes: download it by \
                reference
                """
            )
        }
        do {
            return try await TenantFiles.offPool { try file.readAll(limit: limit) }
        } catch let e as TenantFileError {
            throw Problem(.contentTooLarge, e.description)
        }
    }

    /// Removes a file of `run` (an output dismissed), beneath its directory, with its
    /// tenant's rights; what cannot be removed is logged, not thrown.
    func removeRunFile(_ path: String, of run: RunRecord) async {
        do {
            try await files(of: run).remove(path, beneath: home.runDirectory(run.id))
        } catch {
            logger.notice("a run's file was not removed", metadata: ["run": "\(run.id)", "why": "\(error)"])
        }
    }

    /// A response streaming an opened file (read off the concurrency pool, a megabyte at a time).
    static func streaming(_ file: TenantFile, headers: HTTPFields) -> Response {
        Response(
            status: .ok, headers: headers,
            body: ResponseBody(contentLength: Int(file.size)) { writer in
                var left = file.size
                while left > 0 {
                    let want = Int(min(left, 1 << 20))
                    let chunk = try await TenantFiles.offPool { try file.read(upTo: want) }
                    if chunk.isEmpty { break }
                    left -= Int64(chunk.count)
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                // A file cut short meanwhile: the length promised cannot be kept.
                if left > 0 { throw Problem(.internalServerError, "the file changed while it was sent") }
                try await writer.finish(nil)
            })
    }
}
