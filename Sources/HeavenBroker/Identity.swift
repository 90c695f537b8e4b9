import Foundation
public import HeavenModel

#if canImport(Glibc)
    import Glibc
#endif

/// Who asks for resources: a user and the groups they belong to. In embedded mode
/// the operating-system user is the user, with their operating-system groups.
public struct Identity: Sendable, Hashable, Codable {
    public var user: String
    public var groups: [String]

    /// Creates an identity.
    public init(user: String, groups: [String] = []) {
        self.user = user
        self.groups = groups
    }

    /// Whether the identity is, or belongs to, the principal.
    public func matches(_ p: Principal) -> Bool {
        switch p.kind {
        case .user: p.name == user
        case .group: groups.contains(p.name)
        }
    }

    /// `user:NAME` for messages.
    public var description: String { "user \(user)" }

    /// The operating-system identity of `user` (its groups from the system's group database).
    public static func system(user: String) -> Identity {
        var groups: [String] = []
        if let pw = getpwnam(user) {
            var count: Int32 = 64
            var ids = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(user, pw.pointee.pw_gid, &ids, &count) == -1 {
                ids = [gid_t](repeating: 0, count: Int(count))
                _ = getgrouplist(user, pw.pointee.pw_gid, &ids, &count)
            }
            for id in ids.prefix(Int(max(0, count))) {
                if let g = getgrgid(id), let name = g.pointee.gr_name { groups.append(String(cString: name)) }
            }
        }
        return Identity(user: user, groups: Array(Set(groups)).sorted())
    }
}
