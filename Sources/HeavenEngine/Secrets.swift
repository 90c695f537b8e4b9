import Crypto
import Foundation
public import HeavenCore

#if canImport(Glibc)
    import Glibc
#endif

/// Users' secrets, sealed with AES-GCM under a key kept beside the store
/// (`$HEAVEN_HOME/secret.key`, 32 random bytes, mode 0600, made on first use): the
/// database holds only sealed bytes. A secret is opened only to start a task that
/// names it (`env: {VAR: {secret: NAME}}`), and never logged, recorded or returned.
public struct Secrets: Sendable {
    let store: any SecretStore
    let keyPath: String

    /// What is wrong with a secret's name, if anything: lowercase letters, digits and
    /// `-`, starting with a letter, at most 63 characters.
    public static func nameProblem(_ name: String) -> String? {
        name.range(of: "^[a-z][a-z0-9-]{0,62}$", options: .regularExpression) != nil
            ? nil
            : "a secret's name is lowercase letters, digits and `-`, starting with a letter, at most 63 characters"
    }

    public init(home: HeavenHome, store: any SecretStore) {
        self.store = store
        self.keyPath = home.root + "/secret.key"
    }

    public enum Failure: Error, CustomStringConvertible {
        case notSet(String, owner: String)
        case key(String)
        case sealed(String)

        public var description: String {
            switch self {
            case .notSet(let n, let owner):
                "secret `\(n)` is not set for \(owner) (set it with `heaven secrets set \(n)`, or PUT /v1/secrets/\(n))"
            case .key(let m): "the secrets' key: \(m)"
            case .sealed(let n): "secret `\(n)` cannot be opened (was the key file replaced?)"
            }
        }
    }

    func key() throws -> SymmetricKey {
        do {
            return SymmetricKey(
                data: try HeavenHome.privateFile(keyPath, count: 32) {
                    SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
                })
        } catch HeavenHome.PrivateFileError.wrongSize {
            throw Failure.key("\(keyPath) is not 32 bytes")
        } catch HeavenHome.PrivateFileError.cannotWrite {
            throw Failure.key("cannot write \(keyPath)")
        } catch {
            throw Failure.key("cannot create \(keyPath)")
        }
    }

    public func set(owner: String, name: String, value: String) async throws {
        let box = try AES.GCM.seal(Data(value.utf8), using: try key(), authenticating: Data("\(owner)/\(name)".utf8))
        guard let combined = box.combined else { throw Failure.key("sealing failed") }
        try await store.setSecret(owner: owner, name: name, sealed: combined)
    }

    /// A secret in clear, for a task's environment only.
    public func open(owner: String, name: String) async throws -> String {
        guard let sealed = try await store.secret(owner: owner, name: name) else {
            throw Failure.notSet(name, owner: owner)
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return String(
                decoding: try AES.GCM.open(box, using: try key(), authenticating: Data("\(owner)/\(name)".utf8)),
                as: UTF8.self)
        } catch let f as Failure {
            throw f
        } catch {
            throw Failure.sealed(name)
        }
    }
}
