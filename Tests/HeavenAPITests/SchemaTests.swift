import Foundation
import HeavenAPI
import HeavenCore
import Testing

@Suite("The API's types and their document", .timeLimit(.minutes(15)))
struct SchemaTests {
    /// A document as Foundation's JSON objects (as a client parses it).
    func object(_ v: JSONValue) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: APICoding.encoder.encode(v))) as? [String: Any]) ?? [:]
    }

    func properties(_ t: any APIObject.Type) -> [String: Any] {
        (object(t.definition.json)["properties"] as? [String: Any]) ?? [:]
    }

    @Test("an object's schema is derived from its properties: names, types, optional ones not required")
    func derived() throws {
        let schema = object(RunView.definition.json)
        let required = Set(schema["required"] as? [String] ?? [])
        #expect(required == ["id", "workflow", "user", "status", "created", "url"])
        let p = properties(RunView.self)
        #expect(
            Set(p.keys) == [
                "id", "workflow", "user", "status", "created", "started", "finished", "error", "outputs", "url",
                "attempts", "shared",
            ])
        #expect((p["status"] as? [String: Any])?["enum"] as? [String] == RunStatus.allCases.map(\.rawValue))
        #expect((p["created"] as? [String: Any])?["format"] as? String == "date-time")
        #expect((p["attempts"] as? [String: Any])?["$ref"] as? String == "#/components/schemas/AttemptTally")
        #expect(((p["outputs"] as? [String: Any])?["additionalProperties"] as? [String: Any])?.isEmpty == true)
    }

    @Test("what a type encodes has exactly the properties its schema names, in the types it gives")
    func encodingMatchesSchema() throws {
        let view = RunView(
            id: "r", workflow: "w", user: "u", status: .failed, created: Date(), started: Date(), finished: Date(),
            error: "e", outputs: ["x": .int(1)], attempts: .example, shared: ["g"])
        let object = try #require(
            try JSONSerialization.jsonObject(with: APICoding.encoder.encode(view)) as? [String: Any])
        #expect(Set(object.keys) == Set(properties(RunView.self).keys))
        // Dates go out as ISO 8601 and come back the same to the millisecond.
        let back = try APICoding.decoder.decode(RunView.self, from: APICoding.encoder.encode(view))
        #expect(abs(back.created.timeIntervalSince(view.created)) < 0.001 && back.status == .failed)
    }

    @Test("the document lists every object its operations name, nested ones too, and the problem of every error")
    func document() throws {
        let doc = OpenAPIDocument(
            title: "t", version: "1", description: "d",
            operations: [
                APIOperation(
                    "GET", "/v1/plan/{id}", "plan", tag: "x",
                    responses: [APIResponse(200, "ok", .json(PlanResult.self))]),
                APIOperation(
                    "POST", "/v1/runs", "run", tag: "x", request: RunSubmission.self,
                    responses: [APIResponse(201, "created", .json(RunView.self)), APIResponse(422, "bad files")]),
            ])
        #expect(
            Set(doc.components.keys) == [
                "ProblemDetails", "PlanResult", "Placement", "PlacedMachine", "NodeRef", "NodeCapacity", "GrantLimits",
                "RunSubmission", "DocumentFile", "RunView", "AttemptTally",
            ])
        let json = object(doc.json)
        let paths = try #require(json["paths"] as? [String: [String: [String: Any]]])
        let get = try #require(paths["/v1/plan/{id}"]?["get"])
        // A path parameter the operation does not declare is declared for it.
        #expect((get["parameters"] as? [[String: Any]])?.first?["name"] as? String == "id")
        let post = try #require(paths["/v1/runs"]?["post"])
        let responses = try #require(post["responses"] as? [String: Any])
        #expect(Set(responses.keys) == ["201", "422", "401", "default"])
        let submission = object(RunSubmission.definition.json)
        #expect(
            (submission["anyOf"] as? [[String: [String]]]) == [["required": ["yaml"]], ["required": ["documents"]]])
    }
}
