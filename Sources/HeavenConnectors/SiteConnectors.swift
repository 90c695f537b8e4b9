public import HeavenModel

/// The connectors of Heaven's kinds of site: `local` (this machine), `ssh` (a host
/// reached with ssh), `slurm` (a cluster, from here or through its login host).
public struct SiteConnectors: ConnectorFactory {
    /// Where a user's private key for a site comes from: their secret `secret`, opened
    /// only when a connection needs it.
    public typealias Keys = @Sendable (_ user: String, _ secret: String) -> PrivateKeySource

    let keys: Keys
    let salt: String

    /// A factory whose remote connectors name their run directories with `salt` and
    /// open users' keys through `keys`.
    public init(salt: String, keys: @escaping Keys) {
        self.salt = salt
        self.keys = keys
    }

    public func connector(for site: Site, user: String) throws -> any Connector {
        switch site.connector {
        case .local:
            return LocalConnector(site: site)
        case .ssh(_, _, _, _, let secret):
            return try SSHConnector(
                site: site, key: secret.map { keys(user, $0) }, account: site.account(of: user), salt: salt)
        case .slurm(_, _, let via, _):
            var secret: String?
            if case .ssh(_, _, _, _, let s)? = via { secret = s }
            let slurm = try SlurmConnector(
                site: site, key: secret.map { keys(user, $0) }, account: site.account(of: user), salt: salt)
            return via == nil ? slurm : try SlurmThroughLoginHost(slurm)
        }
    }
}
