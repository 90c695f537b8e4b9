import CHeavenSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Puts an input file into a confined task's working directory. The server (root)
/// stages on the tenant's behalf, so it must never hand the tenant a file the tenant
/// could not read: the file is opened without following a last symbolic link, and what
/// was opened (not the path) is checked to be a regular file inside the run's own
/// files; a file the tenant owns is linked, any other (an upload, kept by the server) is
/// copied into a new file of the tenant's, 0600.
struct ConfinedStaging {
    /// Where inputs may come from (real paths): the run's directory and its uploads.
    var roots: [String]
    var uid: UInt32
    var gid: UInt32

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    func stage(_ source: String, as target: String) throws {
        let fd = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw Refused(description: "cannot open `\(source)`: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw Refused(description: "`\(source)` is not a regular file")
        }
        // The file actually opened, whatever a task did to the path meanwhile.
        let opened = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? ""
        guard roots.contains(where: { opened.hasPrefix($0 + "/") }) else {
            throw Refused(description: "`\(source)` is outside the run's files")
        }
        if st.st_uid == uid, heaven_link_fd(fd, target) == 0 { return }
        let out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            throw Refused(description: "cannot create `\(target)`: \(String(cString: strerror(errno)))")
        }
        defer { close(out) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                throw Refused(description: "cannot read `\(source)`: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { write(out, $0.baseAddress! + done, n - done) }
                guard w > 0 else {
                    throw Refused(description: "cannot write `\(target)`: \(String(cString: strerror(errno)))")
                }
                done += w
            }
        }
        guard fchown(out, uid, gid) == 0 else { throw Refused(description: "cannot give `\(target)` to uid \(uid)") }
    }
}
