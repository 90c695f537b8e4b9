import Foundation
import HeavenAPI
import HeavenLanguage
import HeavenModel
import Testing

/// A workflow as an OGC API - Processes process: its description, checked against the
/// standard's own schemas.
@Suite("Process descriptions (OGC API - Processes)", .timeLimit(.minutes(15)))
struct ProcessDescriptionTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let ogc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("OGC").path

    /// Validates `value` against the standard's schema `schema`; the validator's complaints.
    /// A typed body as the JSON it encodes to.
    func json<T: Encodable>(_ value: T) throws -> JSONValue {
        try APICoding.decoder.decode(JSONValue.self, from: APICoding.encoder.encode(value))
    }

    func validate(_ value: JSONValue, against schema: String) throws -> (ok: Bool, said: String) {
        let file = NSTemporaryDirectory() + "heaven-process-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(value.jsonText.utf8).write(to: URL(fileURLWithPath: file))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", ProcessDescriptionTests.ogc + "/validate.py", schema, file]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus == 0, said)
    }

    func workflow(_ text: String) throws -> Workflow {
        let load = Loader.load(text: text, path: "w.yaml")
        #expect(load.isValid, "\(load.diagnostics)")
        return try #require(load.documents.workflows.first)
    }

    @Test(
        """
        the NDVI showcase's description: id, version, job control, typed inputs with bounds and defaults, file \
        outputs with media types; valid per the standard
        """
    )
    func showcase() throws {
        let load = Loader.load(paths: [ProcessDescriptionTests.repository + "/examples/eo/ndvi.yaml"])
        let ndvi = try #require(load.documents.workflow(named: "ndvi"))
        let d = try json(ProcessDescription.of(ndvi))
        let checked = try validate(d, against: "process.yaml")
        #expect(checked.ok, "\(checked.said)")
        guard case .object(let o) = d, case .object(let inputs)? = o["inputs"],
            case .object(let outputs)? = o["outputs"]
        else {
            Issue.record("not an object: \(d.jsonText)")
            return
        }
        #expect(o["id"] == .string("ndvi") && o["version"] == .string("1.0"))
        #expect(
            o["jobControlOptions"] == .array([.string("sync-execute"), .string("async-execute"), .string("dismiss")]))
        #expect(Set(inputs.keys) == ["red", "nir", "tile", "datetime", "scene"])
        #expect(
            inputs["tile"]
                == .object([
                    "title": .string("Tile size"),
                    "description": .string("pixels (the last row and column of tiles are smaller)"),
                    "minOccurs": .int(0),
                    "schema": .object(["type": .string("integer"), "minimum": .int(1), "default": .int(256)]),
                ]), "\(inputs["tile"]?.jsonText ?? "")")
        if case .object(let red)? = inputs["red"] {
            #expect(red["minOccurs"] == nil)
            #expect(
                red["schema"]
                    == .object([
                        "type": .string("string"), "contentEncoding": .string("binary"),
                        "contentMediaType": .string("application/octet-stream"),
                    ]))
        }
        if case .object(let cog)? = outputs["ndvi"], case .object(let schema)? = cog["schema"] {
            #expect(schema["contentMediaType"] == .string("image/tiff; application=geotiff"))
            #expect(cog["title"] == .string("NDVI"))
        } else {
            Issue.record("no ndvi output: \(outputs)")
        }
        if case .object(let png)? = outputs["quicklook"], case .object(let schema)? = png["schema"] {
            #expect(schema["contentMediaType"] == .string("image/png"))
        }
    }

    @Test("every input type, lists of values, and a workflow with no inputs or outputs get valid descriptions")
    func everyType() throws {
        let all = try workflow(
            """
            kind: Workflow
            name: all
            inputs:
              f: file
              s: {type: string, enum: [a, b], default: a}
              n: {type: number, minimum: 0.5, maximum: 2.5}
              i: {type: integer, enum: [1, 2, 3]}
              b: {type: boolean, default: true}
              l: {type: list, default: [1, 2]}
              o: {type: object, default: {k: v}}
            steps:
              - task: t
                run: [echo, hi]
                outputs: {text: {stdout: text}, files: {glob: '*.csv'}}
            outputs:
              text: ${t.text}
              files: ${t.files}
              literal: '42'
            """)
        let d = try json(ProcessDescription.of(all))
        let checked = try validate(d, against: "process.yaml")
        #expect(checked.ok, "\(checked.said)")
        let none = try workflow("kind: Workflow\nname: none\nsteps:\n  - task: t\n    run: [true]\n")
        let empty = try json(ProcessDescription.of(none))
        let checkedEmpty = try validate(empty, against: "process.yaml")
        #expect(checkedEmpty.ok, "\(checkedEmpty.said)")
        #expect(empty.jsonText.contains(#""inputs":{}"#) && empty.jsonText.contains(#""version":"1.0.0""#))
    }

    @Test("the validator is not a rubber stamp: a description without an id or with a bad job control option fails")
    func validatorFails() throws {
        let bad: JSONValue = .object(["version": .string("1"), "jobControlOptions": .array([.string("whenever")])])
        let checked = try validate(bad, against: "process.yaml")
        #expect(!checked.ok)
        #expect(checked.said.contains("'id' is a required property"), "\(checked.said)")
        #expect(checked.said.contains("whenever"), "\(checked.said)")
    }
}
