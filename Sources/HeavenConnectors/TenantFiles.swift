import CHeavenSystem
import Dispatch
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The one way the server reaches a file a tenant could have influenced (an output, a
/// file input, a working directory, a staged input): beneath a directory the server
/// chose (the run's, an upload's), never through a symbolic link, a magic link of
/// `/proc` or a mount point (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`),
/// regular files only (never a FIFO, a device or a socket: opened `O_NONBLOCK`, then
/// checked), with the tenant's own rights: a tenant's file is opened by the sandbox
/// helper as the tenant, which passes the descriptor back (`SandboxZygote`). A path a
/// tenant wrote can so neither lead the server out of the run (a chain of links to
/// `/etc/shadow`) nor make it hang (a FIFO).
///
/// Every call blocks its thread on the file system (and, as a tenant, on the helper):
/// from Swift's concurrency pool, use the `async` forms, which run on threads of their own.
public struct TenantFiles: Sendable, Equatable {
    /// Whose rights a file is reached with.
    public enum Identity: Sendable, Equatable {
        /// This process's own (the embedded mode, `--no-isolation`, an admin's run, the
        /// server's own uploads).
        case server
        /// A tenant's task ids (through the sandbox helper).
        case tenant(uid: UInt32, gid: UInt32)
    }

    /// Whose rights are used.
    public var identity: Identity
    /// Whose rights are tried next when `identity`'s may not read a file (an admin's run:
    /// their confined tasks' files are their task uid's, their unconfined tasks' the server's).
    public var fallback: Identity?

    /// Files reached with `identity`'s rights (then `fallback`'s, where those may not).
    public init(_ identity: Identity, orElse fallback: Identity? = nil) {
        self.identity = identity
        self.fallback = fallback
    }

    /// Files reached with this process's own rights (still beneath, never through a link).
    public static let server = TenantFiles(.server)

    /// The bound of what `contents` reads into memory, unless told otherwise.
    public static let defaultLimit = 256 << 20

    // MARK: Paths

    /// `path` relative to `root`, when it lies (lexically) beneath it: `.` and empty
    /// components dropped; `..` kept (the kernel refuses any that would leave `root`).
    public static func relative(_ path: String, to root: String) -> String? {
        func parts(_ p: String) -> [Substring] { p.split(separator: "/").filter { $0 != "." } }
        guard path.hasPrefix("/"), root.hasPrefix("/") else { return nil }
        let r = parts(root)
        let p = parts(path)
        guard p.count > r.count, Array(p.prefix(r.count)) == r else { return nil }
        return p.dropFirst(r.count).joined(separator: "/")
    }

    // MARK: Opening

    /// Opens `path` (absolute, beneath `root`; or relative to it) as a regular file to read.
    public func open(_ path: String, beneath root: String) throws(TenantFileError) -> TenantFile {
        try TenantFiles.regular(try descriptor(path, beneath: root, mode: 0), path: path)
    }

    /// A file of this process's own choosing, or of an embedded run's user (links
    /// followed: not a tenant's path), opened to read as `open` does: without blocking,
    /// regular files only.
    public static func openOwn(_ path: String) throws(TenantFileError) -> TenantFile {
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw TenantFileError(path, errno: errno) }
        return try regular(fd, path: path)
    }

    /// The opened `fd` as a regular file (closed, and refused, when it is something else).
    static func regular(_ fd: Int32, path: String) throws(TenantFileError) -> TenantFile {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .system(path, e)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .notRegular(path)
        }
        // Reads block again (the O_NONBLOCK was for the open of a FIFO).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return TenantFile(fd: fd, path: path, size: Int64(st.st_size))
    }

    /// The content of the regular file `path` beneath `root`, at most `limit` bytes
    /// (a larger file is refused, not cut).
    public func contents(_ path: String, beneath root: String, limit: Int = TenantFiles.defaultLimit)
        throws(TenantFileError) -> Data
    {
        let file = try open(path, beneath: root)
        guard file.size <= limit else { throw .tooLarge(path, limit: limit) }
        return try file.readAll(limit: limit)
    }

    /// Whether `path` beneath `root` is a regular file these rights may read.
    public func isReadableFile(_ path: String, beneath root: String) -> Bool {
        (try? open(path, beneath: root)) != nil
    }

    /// The names in the directory `path` beneath `root` (`path` empty: `root` itself), sorted.
    public func entries(_ path: String, beneath root: String) throws(TenantFileError) -> [String] {
        // The root itself is `.` beneath it (with these rights too).
        let fd = try descriptor(path.isEmpty || path == root ? "." : path, beneath: root, mode: 1)
        guard let dir = fdopendir(fd) else {
            let e = errno
            close(fd)
            throw .system(path, e)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// What `path` beneath `root` is, not following a link: a regular file, a directory,
    /// or something else (nil when it is not there or not reachable with these rights).
    public func kind(_ path: String, beneath root: String) -> FileKind? {
        if let file = try? open(path, beneath: root) { return .file(size: file.size) }
        if let fd = try? descriptor(path, beneath: root, mode: 1) {
            close(fd)
            return .directory
        }
        return nil
    }

    /// What a path names.
    public enum FileKind: Sendable, Equatable {
        case file(size: Int64)
        case directory
    }

    // MARK: Removing

    /// Removes `path` beneath `root` (a file, a link itself, or a directory with all it
    /// holds), never following a link; nothing there is no error.
    public func remove(_ path: String, beneath root: String) throws(TenantFileError) {
        do {
            try remove(path, beneath: root, as: identity)
        } catch .denied(let p) {
            guard let fallback else { throw .denied(p) }
            try remove(path, beneath: root, as: fallback)
        }
    }

    private func remove(_ path: String, beneath root: String, as identity: Identity) throws(TenantFileError) {
        let (rel, dir) = try TenantFiles.resolve(path, beneath: root)
        defer { close(dir) }
        switch identity {
        case .server:
            if heaven_remove_beneath(dir, rel) != 0, errno != ENOENT { throw TenantFileError(path, errno: errno) }
        case .tenant(let uid, let gid):
            do { _ = try TenantFiles.asTenant(uid, gid, kind: 4, mode: 0, rel, dir, naming: path) } catch .missing {
                return
            }
        }
    }

    // MARK: Making

    /// Makes the directory `path` beneath `root` (its parent reached beneath, never
    /// through a link), `mode` exactly (0700, 0711 or 0755): a tenant's is theirs.
    public func makeDirectory(_ path: String, beneath root: String, mode: UInt32 = 0o700) throws(TenantFileError) {
        let (rel, dir) = try TenantFiles.resolve(path, beneath: root)
        defer { close(dir) }
        switch identity {
        case .server:
            if heaven_mkdir_beneath_as(geteuid(), getegid(), dir, rel, mode) != 0 {
                throw TenantFileError(path, errno: errno)
            }
        case .tenant(let uid, let gid):
            _ = try TenantFiles.asTenant(uid, gid, kind: 6, mode: Int32(mode), rel, dir, naming: path)
        }
    }

    /// A new regular file `path` beneath `root` (0600, never there before; a tenant's is
    /// theirs), open for writing: its descriptor, which the caller closes.
    public func create(_ path: String, beneath root: String) throws(TenantFileError) -> Int32 {
        let (rel, dir) = try TenantFiles.resolve(path, beneath: root)
        defer { close(dir) }
        switch identity {
        case .server:
            let fd = heaven_open_beneath(dir, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY, 0o600)
            guard fd >= 0 else { throw TenantFileError(path, errno: errno) }
            return fd
        case .tenant(let uid, let gid):
            return try TenantFiles.asTenant(uid, gid, kind: 3, mode: 3, rel, dir, naming: path)
        }
    }

    /// Gives the directory `path` (made by this process, its own) to the tenant: as root
    /// directly, else through the sandbox helper, which gives only a directory of the
    /// server's own account to an id of the tenants' range.
    public func give(directory path: String) throws(TenantFileError) {
        guard case .tenant(let uid, let gid) = identity else { return }
        if geteuid() == 0 {
            guard chown(path, uid, gid) == 0 else { throw TenantFileError(path, errno: errno) }
            return
        }
        let dir = Glibc.open(path, TenantFiles.pathOnly | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir >= 0 else { throw TenantFileError(path, errno: errno) }
        defer { close(dir) }
        _ = try TenantFiles.asTenant(uid, gid, kind: 8, mode: 0, ".", dir, naming: path)
    }

    // MARK: Off the concurrency pool

    /// Runs `work` on a thread of its own, not on Swift's concurrency pool (a blocking
    /// file operation there would stall every task of the process).
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            TenantFiles.queue.async { c.resume(with: Result { try work() }) }
        }
    }

    /// Where blocking file operations run.
    private static let queue = DispatchQueue(label: "heaven.tenant-files", attributes: .concurrent)

    /// `open` off the concurrency pool.
    public func open(_ path: String, beneath root: String) async throws -> TenantFile {
        let me = self
        return try await TenantFiles.offPool { try me.open(path, beneath: root) }
    }

    /// `contents` off the concurrency pool.
    public func contents(_ path: String, beneath root: String, limit: Int = TenantFiles.defaultLimit) async throws
        -> Data
    {
        let me = self
        return try await TenantFiles.offPool { try me.contents(path, beneath: root, limit: limit) }
    }

    /// `remove` off the concurrency pool.
    public func remove(_ path: String, beneath root: String) async throws {
        let me = self
        try await TenantFiles.offPool { try me.remove(path, beneath: root) }
    }

    // MARK: The descriptors

    /// `path` relative to `root` (refused unless it lies beneath it) and `root` opened to
    /// hold: where every operation starts; the caller closes the descriptor.
    static func resolve(_ path: String, beneath root: String) throws(TenantFileError) -> (rel: String, dir: Int32) {
        guard let rel = path.hasPrefix("/") ? TenantFiles.relative(path, to: root) : path, !rel.isEmpty else {
            throw .outside(path)
        }
        return (rel, try TenantFiles.openRoot(root, path: path))
    }

    /// A request (`kind`, `mode`) to the sandbox helper, which acts as the tenant `uid`
    /// beneath the directory `dir`; its errors name `path`.
    static func asTenant(
        _ uid: UInt32, _ gid: UInt32, kind: UInt32, mode: Int32, _ rel: String, _ dir: Int32, naming path: String
    ) throws(TenantFileError) -> Int32 {
        do {
            return try SandboxZygote.shared().fileRequest(
                kind: kind, uid: uid, gid: gid, mode: mode, path: rel, directory: dir)
        } catch let e as TenantFileError {
            throw e.naming(path)
        } catch {
            throw .system(path, EIO)
        }
    }

    /// `O_PATH` (Linux; Glibc's module does not export it): a directory held, not read.
    static let pathOnly: Int32 = 0o10000000

    /// The root a path is reached from: the server's own choice (a run's or an upload's
    /// directory), opened as a directory to hold.
    static func openRoot(_ root: String, path: String) throws(TenantFileError) -> Int32 {
        let fd = Glibc.open(root, TenantFiles.pathOnly | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw errno == ENOENT ? .missing(path) : .system(path, errno) }
        return fd
    }

    /// `path` opened beneath `root` in `mode` (0 a file to read, 1 a directory to read).
    func descriptor(_ path: String, beneath root: String, mode: Int32) throws(TenantFileError) -> Int32 {
        do {
            return try descriptor(path, beneath: root, mode: mode, as: identity)
        } catch .denied(let p) {
            guard let fallback else { throw .denied(p) }
            return try descriptor(path, beneath: root, mode: mode, as: fallback)
        }
    }

    private func descriptor(_ path: String, beneath root: String, mode: Int32, as identity: Identity)
        throws(TenantFileError) -> Int32
    {
        let (rel, dir) = try TenantFiles.resolve(path, beneath: root)
        defer { close(dir) }
        switch identity {
        case .server:
            let flags = mode == 0 ? O_RDONLY | O_NONBLOCK | O_NOCTTY : O_RDONLY | O_DIRECTORY | O_NONBLOCK
            let fd = heaven_open_beneath(dir, rel, flags, 0)
            guard fd >= 0 else { throw TenantFileError(path, errno: errno) }
            return fd
        case .tenant(let uid, let gid):
            return try TenantFiles.asTenant(uid, gid, kind: 3, mode: mode, rel, dir, naming: path)
        }
    }
}

/// A regular file opened by `TenantFiles`: read through its descriptor (never its path
/// again), closed when it goes.
public final class TenantFile: Sendable {
    /// The descriptor.
    public let fd: Int32
    /// The path it was opened by (for messages).
    public let path: String
    /// Its size when it was opened.
    public let size: Int64

    init(fd: Int32, path: String, size: Int64) {
        self.fd = fd
        self.path = path
        self.size = size
    }

    deinit { close(fd) }

    /// Up to `count` bytes from where the last read ended (empty at the end).
    public func read(upTo count: Int) throws(TenantFileError) -> Data {
        var data = Data(count: count)
        let n = data.withUnsafeMutableBytes { raw -> Int in
            while true {
                let r = Glibc.read(fd, raw.baseAddress, count)
                if r < 0, errno == EINTR { continue }
                return r
            }
        }
        guard n >= 0 else { throw .system(path, errno) }
        data.count = n
        return data
    }

    /// Everything from here to the end written to the descriptor `out`, a megabyte at a
    /// time (each shown to `observing` first); more than `limit` bytes is refused. Blocks:
    /// call it off the concurrency pool.
    public func copy(to out: Int32, limit: Int64 = .max, observing: (Data) -> Void = { _ in }) throws(TenantFileError) {
        var total: Int64 = 0
        while true {
            let chunk = try read(upTo: 1 << 20)
            if chunk.isEmpty { return }
            total += Int64(chunk.count)
            guard total <= limit else { throw .tooLarge(path, limit: Int(clamping: limit)) }
            observing(chunk)
            let failed = chunk.withUnsafeBytes { raw -> Int32 in
                var done = 0
                while done < raw.count {
                    let w = Glibc.write(out, raw.baseAddress! + done, raw.count - done)
                    if w < 0, errno == EINTR { continue }
                    guard w > 0 else { return w < 0 ? errno : EIO }
                    done += w
                }
                return 0
            }
            guard failed == 0 else { throw .system(path, failed) }
        }
    }

    /// Everything from here to the end; more than `limit` bytes is refused.
    public func readAll(limit: Int) throws(TenantFileError) -> Data {
        var out = Data()
        out.reserveCapacity(Int(min(size, Int64(limit))))
        while true {
            let chunk = try read(upTo: 1 << 20)
            if chunk.isEmpty { return out }
            guard out.count + chunk.count <= limit else { throw .tooLarge(path, limit: limit) }
            out.append(chunk)
        }
    }
}

/// Why a tenant's file could not be reached.
public enum TenantFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path is not beneath the directory it must be in.
    case outside(String)
    /// A symbolic link on the way (or the path leaves its directory through `..`).
    case link(String)
    /// Not a regular file (a FIFO, a device, a socket, a directory).
    case notRegular(String)
    /// Nothing there.
    case missing(String)
    /// The rights used may not reach it.
    case denied(String)
    /// Larger than what may be read into memory.
    case tooLarge(String, limit: Int)
    /// Any other failure, with its errno.
    case system(String, Int32)

    init(_ path: String, errno e: Int32) {
        switch e {
        case ELOOP: self = .link(path)
        case EXDEV: self = .outside(path)
        case ENOENT, ENOTDIR: self = .missing(path)
        case EACCES, EPERM: self = .denied(path)
        case EISDIR, ENXIO: self = .notRegular(path)
        default: self = .system(path, e)
        }
    }

    /// The same error about `path`.
    func naming(_ path: String) -> TenantFileError {
        switch self {
        case .outside: .outside(path)
        case .link: .link(path)
        case .notRegular: .notRegular(path)
        case .missing: .missing(path)
        case .denied: .denied(path)
        case .tooLarge(_, let limit): .tooLarge(path, limit: limit)
        case .system(_, let e): TenantFileError(path, errno: e)
        }
    }

    public var description: String {
        switch self {
        case .outside(let p): "`\(p)` is outside the files it may be read from"
        case .link(let p): "`\(p)` goes through a symbolic link, which is never followed"
        case .notRegular(let p): "`\(p)` is not a regular file"
        case .missing(let p): "`\(p)` is not there"
        case .denied(let p): "`\(p)` may not be read with the run's rights"
        case .tooLarge(let p, let limit): "`\(p)` is larger than \(limit) bytes"
        case .system(let p, let e): "`\(p)`: \(String(cString: strerror(e)))"
        }
    }
}
