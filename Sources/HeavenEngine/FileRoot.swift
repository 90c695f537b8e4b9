import HeavenConnectors

/// A directory a confined run's files may be read from, and the rights they are read
/// with (see `TenantFiles`): a path counts as one of its files only when it lies,
/// lexically, beneath it; the kernel then refuses any link or `..` on the way.
struct FileRoot: Sendable {
    var path: String
    var files: TenantFiles

    /// The root `path` lies beneath, if any.
    static func containing(_ path: String, in roots: [FileRoot]) -> FileRoot? {
        roots.first { TenantFiles.relative(path, to: $0.path) != nil }
    }
}
