public import Foundation

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

    static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }

    /// The SQLite database.
    public var database: String { root + "/heaven.sqlite" }
    /// The directory of one run.
    public func runDirectory(_ id: String) -> String { root + "/runs/" + id }
}
