import CHeavenSystem
import Foundation
import HeavenConnectors

#if canImport(Glibc)
    import Glibc
#endif

/// Puts an input file into a confined task's working directory. The server stages on
/// the tenant's behalf, so it must never hand the tenant a file the tenant could not
/// read: the file is opened beneath one of the run's roots (the run's own directory with
/// the tenant's rights, its uploads with the server's), never through a link, regular
/// files only (`TenantFiles`); a file the tenant owns is linked, any other (an upload,
/// kept by the server) is copied into a new file of the tenant's, 0600.
struct ConfinedStaging {
    /// Where inputs may come from.
    var roots: [FileRoot]
    var uid: UInt32
    var gid: UInt32

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    func stage(_ source: String, as target: String, beneath runDirectory: String) throws {
        guard let root = FileRoot.containing(source, in: roots) else {
            throw Refused(description: "`\(source)` is outside the run's files")
        }
        let file: TenantFile
        do { file = try root.files.open(source, beneath: root.path) } catch {
            throw Refused(description: "cannot stage `\(source)`: \(error)")
        }
        let fd = file.fd
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Refused(description: "cannot read `\(source)`") }
        // Linked when the tenant owns it (as root: a server that dropped its privileges copies).
        if st.st_uid == uid, geteuid() == 0, heaven_link_fd(fd, target) == 0 { return }
        // A new file of the tenant's, made as the tenant in their working directory.
        let out: Int32
        do { out = try TenantFiles(.tenant(uid: uid, gid: gid)).create(target, beneath: runDirectory) } catch {
            throw Refused(description: "cannot create `\(target)`: \(error)")
        }
        defer { close(out) }
        do { try file.copy(to: out) } catch {
            throw Refused(description: "cannot copy `\(source)` to `\(target)`: \(error)")
        }
    }
}
