import Foundation
import HeavenAPI
import HeavenConnectors
import HeavenCore
import Hummingbird
import Prometheus

/// The service itself: whether it answers, its document, its metrics.
struct ServiceRoutes {
    let server: HeavenServer
    let document: DocumentBox

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.add(Operations.health) { _, _ in health() }
        routes.addRaw(Operations.document) { _, _ in openAPIDocument() }
        routes.addRaw(Operations.metrics) { _, context in try metrics(context) }
    }

    // MARK: Handlers

    /// Whether the server answers, and how tenants' tasks are isolated.
    func health() -> Health {
        let isolation: Health.Isolation = server.policy.isolation == "none" ? .none : .tenantUIDs
        let policy = server.policy
        return Health(
            isolation: isolation,
            limits: isolation == .none ? nil : TaskConfinement.limitsInForce ? .cgroups : .rlimits,
            network: isolation == .none ? nil : policy.taskNetwork == .outbound ? .outbound : Health.Network.none,
            taskDisk: isolation == .none ? nil : Int64(policy.taskDisk))
    }

    /// This server's OpenAPI document.
    func openAPIDocument() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document.data)))
    }

    /// The Prometheus metrics (admins).
    func metrics(_ context: HeavenContext) throws -> Response {
        let user = try context.user
        guard user.admin else { throw Problem(.forbidden, "only admins read the metrics") }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(
            status: .ok, headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: HeavenServer.registry.emitToBuffer())))
    }
}

/// The operations, as the API document describes them.
extension ServiceRoutes {
    enum Operations {
        static let health =
            APIOperation(
                "GET", "/healthz", "Whether the server answers, and how tenants' tasks are isolated", tag: "service",
                responses: [
                    APIResponse(
                        200,
                        """
                        ok, and how tenants' tasks are isolated: `tenant-uids` (each tenant's tasks run as a uid \
                        of their own, sandboxed) or `none` (`heaven serve --no-isolation`); with isolation, \
                        `limits`: `cgroups` when this server's control groups are there now, else `rlimits` (a \
                        server that had them and lost them refuses tasks rather than bound them by rlimits only), \
                        `network`: what a tenant's task may have (`none` or `outbound`), `taskDisk`: the most \
                        bytes a task may write (a machine's `disk` may lower it)
                        """,
                        .json(Health.self))
                ], authenticated: false)

        static let document =
            APIOperation(
                "GET", "/openapi.json", "This document", tag: "service",
                responses: [APIResponse(200, "the OpenAPI document", .media("application/json", .any))],
                authenticated: false)

        static let metrics =
            APIOperation(
                "GET", "/metrics",
                """
                Prometheus metrics: tasks by state, queue wait, task duration, HTTP request latency by route and \
                status (admins)
                """,
                tag: "service",
                responses: [
                    APIResponse(200, "metrics", .media("text/plain; version=0.0.4", .string())),
                    APIResponse(403, "not an admin"),
                ])
    }
}
