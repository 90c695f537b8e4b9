import Foundation
import HeavenConnectors

/// Where Heaven keeps its state: `$HEAVEN_HOME`, by default `~/.local/share/heaven`.
public struct HeavenHome: Sendable {
    /// The root directory.
    public var root: String

    /// A home at `root`.
    public init(root: String) { self.root = root }

    /// `$HEAVEN_HOME`, or `~/.local/share/heaven`.
    public static func fromEnvironment() -> HeavenHome {
        let env = ProcessInfo.processInfo.environment
        if let h = env["HEAVEN_HOME"], !h.isEmpty {
            return HeavenHome(root: absolute(h))
        }
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/share")
        return HeavenHome(root: base + "/heaven")
    }

    /// `p` made absolute from the current directory.
    public static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }

    /// Makes the state private and keeps it so: the home, its directories and files are
    /// made 0700/0600 (the process's umask is 0077), and what an older version or a hand
    /// left wider is narrowed here. Returns a line for each repair, to be logged. With
    /// `deep`, every run's directory is checked too (a server at start).
    public func secure(deep: Bool = false) -> [String] {
        var repairs: [String] = []
        mkdir(root, 0o700)
        func narrow(_ path: String, to mode: mode_t) {
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFLNK else { return }
            let current = st.st_mode & 0o777
            guard current & ~mode != 0 else { return }
            if chmod(path, mode) == 0 {
                repairs.append("\(path) was \(String(current, radix: 8)), now \(String(mode, radix: 8))")
            } else {
                repairs.append("\(path) is \(String(current, radix: 8)) and cannot be made \(String(mode, radix: 8))")
            }
        }
        narrow(root, to: 0o700)
        for dir in ["runs", "server", "keys"] { narrow(root + "/" + dir, to: 0o700) }
        for file in [
            "heaven.sqlite", "heaven.sqlite-wal", "heaven.sqlite-shm", "heaven.sqlite.lock", "secret.key",
            "remote.salt",
        ] {
            narrow(root + "/" + file, to: 0o600)
        }
        if deep {
            for run in (try? FileManager.default.contentsOfDirectory(atPath: root + "/runs")) ?? [] {
                // Searchable (a tenant's tasks reach their working directories), not listable.
                narrow(runDirectory(run), to: 0o711)
                narrow(runDirectory(run) + "/logs", to: 0o700)
                narrow(runDirectory(run) + "/work", to: 0o711)
            }
        }
        return repairs
    }

    /// The secret mixed into the names of runs' directories on remote hosts (so another
    /// user of a host cannot guess them): 16 random bytes in `remote.salt` (0600), made on
    /// first use; "" if it cannot be.
    public var remoteSalt: String {
        let data = try? HeavenHome.privateFile(root + "/remote.salt", count: 32) {
            Data(Hex.string((0..<16).map { _ in UInt8.random(in: 0...255) }).utf8)
        }
        return data.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Why a private file could not be had.
    enum PrivateFileError: Error {
        case wrongSize, cannotCreate, cannotWrite
    }

    /// The `count` bytes of the private file at `path`, made (0600) from `fresh()` when it
    /// is not there yet; with O_EXCL, processes making it at once agree on the first one's.
    static func privateFile(_ path: String, count: Int, fresh: () -> Data) throws -> Data {
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == count else { throw PrivateFileError.wrongSize }
            return data
        }
        let data = fresh()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            guard errno == EEXIST, let existing = FileManager.default.contents(atPath: path), existing.count == count
            else {
                throw PrivateFileError.cannotCreate
            }
            return existing
        }
        defer { close(fd) }
        guard data.count == count, data.withUnsafeBytes({ write(fd, $0.baseAddress, count) }) == count else {
            throw PrivateFileError.cannotWrite
        }
        fsync(fd)
        return data
    }

    /// The SQLite database.
    public var database: String { root + "/heaven.sqlite" }
    /// The directory of one run.
    public func runDirectory(_ id: String) -> String { root + "/runs/" + id }
}

#if canImport(Glibc)
    import Glibc
#endif
