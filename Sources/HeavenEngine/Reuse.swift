import Crypto
import Foundation
import HeavenConnectors
import HeavenCore
import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// SHA-256 digests of files, each read once per run while it is unchanged (same
/// device, inode, size and modification time). A confined run's files are read only
/// beneath its roots, with their rights, never through a link (`TenantFiles`): a path
/// elsewhere, a FIFO, a device or a socket has no digest (its task is then not
/// reusable), so that no path a tenant names can make the server read, block on or walk
/// what it names. Directories are walked to a bounded depth and size.
final class FileDigests: Sendable {
    private struct Stamp: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int
        var modifiedNanoseconds: Int

        init(_ st: stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = st.st_mtim.tv_sec
            modifiedNanoseconds = st.st_mtim.tv_nsec
        }
    }

    /// Deeper directories, or more entries in one, have no digest.
    static let maximumDepth = 32
    static let maximumEntries = 100_000

    private let known = Mutex<[String: (Stamp, String)]>([:])
    /// Where a confined run's files may be read (nil: anywhere, as this process: the embedded mode).
    private let roots: [FileRoot]?

    init(roots: [FileRoot]? = nil) { self.roots = roots }

    /// The file's digest (hex), or nil when it cannot be read.
    func digest(of path: String) -> String? { digest(of: path, depth: 0) }

    private func digest(of path: String, depth: Int) -> String? {
        guard depth <= FileDigests.maximumDepth else { return nil }
        // Opened without blocking (a FIFO), regular files and directories only.
        let fd: Int32
        if let roots {
            guard let root = FileRoot.containing(path, in: roots) else { return nil }
            if let file = try? root.files.open(path, beneath: root.path) {
                fd = dup(file.fd)
            } else if let names = try? root.files.entries(path, beneath: root.path) {
                return directoryDigest(path, names: names, depth: depth)
            } else {
                return nil
            }
        } else {
            fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let stamp = Stamp(st)
        if let (s, d) = known.withLock({ $0[path] }), s == stamp { return d }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return nil }
            guard let d = directoryDigest(path, names: names, depth: depth) else { return nil }
            known.withLock { $0[path] = (stamp, d) }
            return d
        case S_IFREG:
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            var hasher = SHA256()
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n >= 0 else { return nil }
                if n == 0 { break }
                buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            let d = Hex.string(hasher.finalize())
            known.withLock { $0[path] = (stamp, d) }
            return d
        default:
            return nil
        }
    }

    /// A directory's digest: its entries' names and digests, in order.
    private func directoryDigest(_ path: String, names: [String], depth: Int) -> String? {
        guard names.count <= FileDigests.maximumEntries else { return nil }
        var text = ""
        for n in names.sorted() {
            text += n + "\u{0}" + (digest(of: path + "/" + n, depth: depth + 1) ?? "?") + "\n"
        }
        return Hex.string(SHA256.hash(data: Data(text.utf8)))
    }
}

extension TaskExecutor {
    /// What a task instance runs, as one digest: its program (and the program file's
    /// content when it is a file of the workflow's), arguments and environment with every
    /// file they name replaced by its content's digest, the names and digests of its staged
    /// inputs, the secrets it names, its declared outputs, and the kinds of site it may run
    /// on. Where files live (which run, which directory) does not count: the same work on
    /// the same data has the same fingerprint in any run.
    func fingerprint(_ task: TaskStep, scope: Scope, staged: Staging, request: SlotPool.Request) throws -> String? {
        final class Unreadable { var any = false }
        let unreadable = Unreadable()
        let digests = context.digests
        let (argv, environment, renderer) = try rendered(task, scope: scope, staged: staged) { path in
            guard let d = digests.digest(of: path) else {
                unreadable.any = true
                return path
            }
            return "<file " + d + ">"
        }
        var parts: [String] = ["heaven-task-1"]
        switch task.command {
        case .argv: parts.append("argv")
        case .shell: parts.append("shell")
        }
        if let program = argv.first, program.contains("/"), !program.hasPrefix("/") {
            parts.append("program " + (digests.digest(of: programDirectory + "/" + program) ?? "?"))
        }
        parts += argv.map { "arg " + $0 }
        parts += environment.sorted { $0.name < $1.name }.map { "env \($0.name)=\($0.value)" }
        for (variable, secret) in task.secrets.sorted(by: { $0.name < $1.name }) {
            parts.append("secret \(variable)=\(secret)")
        }
        for (name, path) in staged.files.sorted(by: { $0.name < $1.name }) {
            guard let d = digests.digest(of: path) else { return nil }
            parts.append("input \(name) \(d)")
        }
        for o in task.outputs {
            let source: String
            switch o.source {
            case .file(let p): source = "file " + (try renderer.text(p, scope: scope))
            case .glob(let p): source = "glob " + (try renderer.text(p, scope: scope))
            case .json(let p, let at): source = "json " + (try renderer.text(p, scope: scope)) + " at " + at
            case .stdoutText: source = "stdout text"
            case .stdoutJSON: source = "stdout json"
            }
            parts.append("output \(o.name) \(source)")
        }
        parts.append("isolation " + (task.isolation ?? workflow.isolation).rawValue)
        parts.append("sites " + context.siteKinds(for: request.machine))
        if unreadable.any { return nil }
        return Hex.string(SHA256.hash(data: Data(parts.joined(separator: "\n").utf8)))
    }

    /// The files a task's arguments and environment name (not those staged for it).
    func namedFiles(_ task: TaskStep, scope: Scope, staged: Staging) throws -> [String] {
        final class Seen { var paths: Set<String> = [] }
        let seen = Seen()
        _ = try rendered(task, scope: scope, staged: staged) { path in
            seen.paths.insert(path)
            return path
        }
        return seen.paths.sorted()
    }

    /// A task's arguments and environment, each file they name (and that is not staged)
    /// written as `fileText` says; and the renderer that wrote them.
    func rendered(
        _ task: TaskStep, scope: Scope, staged: Staging, fileText: @escaping (String) -> String
    ) throws -> (argv: [String], environment: [(name: String, value: String)], renderer: ArgumentRenderer) {
        let renderer = ArgumentRenderer(staged: staged.byPath, fileText: fileText)
        let argv = try renderer.render(task.command, scope: scope, workflow: workflow)
        let environment = try task.environment.map { (name: $0.name, value: try renderer.text($0.value, scope: scope)) }
        return (argv, environment, renderer)
    }

    /// The result of an earlier run's task instance that ran the same thing, brought into
    /// this run: its files linked into this instance's working directory (the earlier run
    /// may be cleaned later), its outputs pointing at them, recorded as an attempt that
    /// succeeded, reused from that run. Nil when there is none, or its files are gone.
    func reuse(_ task: TaskStep, key: String, fingerprint: String, work: String) async throws -> [String: Value]? {
        guard let source = context.plan.reusable[fingerprint], let from = context.plan.reusesRun,
            let oldWork = source.workDirectory, let outputs = source.outputs
        else { return nil }
        var moved: [String: Value] = [:]
        var linked = false
        func bring(_ v: Value) throws -> Value? {
            switch v {
            case .file(let p):
                guard p.hasPrefix(oldWork + "/") else { return FileManager.default.fileExists(atPath: p) ? v : nil }
                let target = work + String(p.dropFirst(oldWork.count))
                if !linked {
                    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
                    linked = true
                }
                try? FileManager.default.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                if !FileManager.default.fileExists(atPath: target) {
                    if link(p, target) != 0 {
                        guard (try? FileManager.default.copyItem(atPath: p, toPath: target)) != nil else { return nil }
                    }
                }
                return .file(target)
            case .list(let items):
                var out: [Value] = []
                for i in items {
                    guard let b = try bring(i) else { return nil }
                    out.append(b)
                }
                return .list(out)
            case .map(let m):
                var out: [String: Value] = [:]
                for (k, i) in m {
                    guard let b = try bring(i) else { return nil }
                    out[k] = b
                }
                return .map(out)
            default: return v
            }
        }
        for (name, v) in outputs {
            guard let b = try bring(v) else { return nil }
            moved[name] = b
        }
        let now = Date()
        try await context.stores.runs.recordReused(
            AttemptRecord(
                runID: context.plan.runID, taskKey: key, task: task.name,
                number: (context.plan.previousAttempts[key] ?? 0) + 1,
                status: .succeeded, site: source.site, workDirectory: work, startedAt: now, finishedAt: now,
                outputs: moved, node: source.node, fingerprint: fingerprint, reusedFrom: source.reusedFrom ?? from))
        return moved
    }
}
