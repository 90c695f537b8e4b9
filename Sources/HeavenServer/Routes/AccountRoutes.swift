import Foundation
import HeavenAPI
import HeavenCore
import HeavenEngine
import Hummingbird

/// The caller's account: who they are, their secrets; the audit log (admins).
struct AccountRoutes {
    let server: HeavenServer
    var stores: Stores { server.stores }

    static let secretName = APIParameter(
        "name", in: .path, .string(pattern: "^[a-z][a-z0-9-]{0,62}$"),
        "lowercase letters, digits and `-`, starting with a letter, at most 63 characters")

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.add(Operations.me) { try await me($0, $1) }
        routes.add(Operations.secrets) { try await secrets($0, $1) }
        routes.addRaw(Operations.setSecret) { try await setSecret($0, $1) }
        routes.addRaw(Operations.deleteSecret) { try await deleteSecret($0, $1) }
        routes.add(Operations.audit) { try await audit($0, $1) }
    }

    // MARK: Handlers

    /// The caller: name, groups, role.
    func me(_ _: Request, _ context: HeavenContext) async throws -> Me {
        let u = try context.user
        return Me(name: u.name, groups: u.groups, admin: u.admin)
    }

    /// The names of the caller's secrets (never their values).
    func secrets(_ _: Request, _ context: HeavenContext) async throws -> SecretList {
        let user = try context.user
        let names = try await stores.secrets.secretNames(owner: user.name)
        return SecretList(secrets: names.map { SecretEntry(name: $0.name, updated: $0.updated) })
    }

    /// Sets one of the caller's secrets (sealed at rest).
    func setSecret(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let name = try secretName(context)
        let value = try await body(SecretValue.self, of: request, context)
        try await Secrets(home: server.home, store: stores.secrets).set(
            owner: user.name, name: name, value: value.value)
        return Response(status: .noContent)
    }

    /// Deletes one of the caller's secrets.
    func deleteSecret(_ _: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let name = try secretName(context)
        guard try await stores.secrets.deleteSecret(owner: user.name, name: name) else {
            throw Problem(.notFound, "no secret \(name)")
        }
        return Response(status: .noContent)
    }

    /// The audit log of state-changing requests (admins).
    func audit(_ request: Request, _ context: HeavenContext) async throws -> AuditList {
        let user = try context.user
        guard user.admin else { throw Problem(.forbidden, "only admins read the audit log") }
        let after = try Access.query("after", of: request, as: Int64.self) ?? 0
        let records = try await stores.accounts.audit(after: after, limit: 1000)
        return AuditList(
            audit: records.map {
                AuditEntry(
                    id: $0.id ?? 0, at: $0.at, user: $0.user, method: $0.method, path: $0.path, status: $0.status)
            })
    }

    func secretName(_ context: HeavenContext) throws -> String {
        let name = try context.parameters.require("name")
        if let problem = Secrets.nameProblem(name) { throw Problem(.badRequest, problem) }
        return name
    }
}

/// The operations, as the API document describes them.
extension AccountRoutes {
    enum Operations {
        static let me =
            APIOperation(
                "GET", "/v1/me", "The caller: name, groups, role", tag: "accounts",
                responses: [APIResponse(200, "the user", .json(Me.self))])

        static let secrets =
            APIOperation(
                "GET", "/v1/secrets", "The names of the caller's secrets (never their values)", tag: "accounts",
                responses: [APIResponse(200, "the secrets", .json(SecretList.self))])

        static let setSecret =
            APIOperation(
                "PUT", "/v1/secrets/{name}",
                """
                Set one of the caller's secrets; sealed at rest, given only to the caller's tasks that name it \
                (env: {VAR: {secret: NAME}})
                """,
                tag: "accounts", parameters: [AccountRoutes.secretName], request: SecretValue.self,
                responses: [APIResponse(204, "set"), APIResponse(400, "a malformed name or body")])

        static let deleteSecret =
            APIOperation(
                "DELETE", "/v1/secrets/{name}", "Delete one of the caller's secrets", tag: "accounts",
                parameters: [AccountRoutes.secretName],
                responses: [APIResponse(204, "deleted"), APIResponse(404, "no such secret")])

        static let audit =
            APIOperation(
                "GET", "/v1/audit", "The audit log of state-changing requests (admins)", tag: "accounts",
                parameters: [APIParameter("after", in: .query, .integer(format: "int64"), "entries after this id")],
                responses: [
                    APIResponse(200, "the log, oldest first", .json(AuditList.self)), APIResponse(403, "not an admin"),
                ])
    }
}
