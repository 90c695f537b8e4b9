public import HeavenModel

/// A workflow as an OGC API - Processes 1.0 process: its description (`process.yaml`
/// of the standard), inputs and outputs as JSON Schema derived from the workflow's
/// typed declarations.
public enum ProcessDescription {
    /// The summary of `workflow` as a process (`version`: the published one, else the
    /// workflow's own, else 1.0.0; `links` added by the server that serves it).
    public static func summary(
        _ workflow: Workflow, version: String? = nil, links: [OGCLink]? = nil, visibility: String? = nil,
        owner: String? = nil
    ) -> ProcessSummary {
        ProcessSummary(
            id: workflow.name, version: version ?? workflow.version ?? "1.0.0", title: workflow.title,
            description: workflow.description, keywords: workflow.keywords.isEmpty ? nil : workflow.keywords,
            links: links, visibility: visibility, owner: owner)
    }

    /// The description of `workflow`: its summary, inputs and outputs.
    public static func of(_ workflow: Workflow, summary: ProcessSummary? = nil) -> ProcessBody {
        ProcessBody(
            summary: summary ?? self.summary(workflow),
            inputs: Dictionary(uniqueKeysWithValues: workflow.inputs.map { ($0.name, input($0)) }),
            outputs: Dictionary(
                uniqueKeysWithValues: workflow.outputs.map { o in (o.name, output(o.name, o.value, in: workflow)) }),
            price: workflow.price.map(PriceBody.init))
    }

    /// An input's description: its schema from its type, bounds, values and default;
    /// optional (`minOccurs: 0`) when it has a default; a list any number of times.
    static func input(_ i: InputDeclaration) -> InputDescription {
        var schema: [String: JSONValue]
        switch i.type {
        case .file: schema = fileSchema(mediaType: nil)
        case .string: schema = ["type": .string("string")]
        case .number: schema = ["type": .string("number")]
        case .integer: schema = ["type": .string("integer")]
        case .boolean: schema = ["type": .string("boolean")]
        case .list: schema = ["type": .string("array"), "items": .object([:])]
        case .object: schema = ["type": .string("object")]
        }
        if let m = i.minimum { schema["minimum"] = .double(m) }
        if let m = i.maximum { schema["maximum"] = .double(m) }
        if let allowed = i.allowed { schema["enum"] = .array(allowed.map { JSONValue($0) }) }
        if let v = i.defaultValue, i.type != .file { schema["default"] = JSONValue(v) }
        return InputDescription(
            title: i.title ?? i.name, description: i.description, schema: .object(schema),
            minOccurs: i.defaultValue != nil ? 0 : nil, maxOccurs: i.type == .list ? .string("unbounded") : nil)
    }

    /// An output's description: a file (by its name's media type), a list of files, text,
    /// or any JSON value, as far as the workflow says what the output is.
    static func output(_ name: String, _ value: Template, in workflow: Workflow) -> OutputDescription {
        var schema: [String: JSONValue] = [:]
        if case .member(.name(let step, _), let member, _)? = value.soleExpression?.tree,
            let task = workflow.tasks.first(where: { $0.name == step }),
            let source = task.outputs.first(where: { $0.name == member })?.source
        {
            switch source {
            case .file(let p): schema = fileSchema(mediaType: mediaType(of: p.literalText ?? ""))
            case .glob(let p):
                schema = [
                    "type": .string("array"),
                    "items": .object(fileSchema(mediaType: mediaType(of: p.literalText ?? ""))),
                ]
            case .stdoutText: schema = ["type": .string("string")]
            case .json, .stdoutJSON: break
            }
        }
        let info = workflow.outputInfo[name]
        return OutputDescription(title: info?.title ?? name, description: info?.description, schema: .object(schema))
    }

    static func fileSchema(mediaType: String?) -> [String: JSONValue] {
        [
            "type": .string("string"), "contentEncoding": .string("binary"),
            "contentMediaType": .string(mediaType ?? "application/octet-stream"),
        ]
    }

    /// The media type a file's name says (its extension), if a known one.
    public static func mediaType(of name: String) -> String? {
        let ext = name.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "tif", "tiff": return "image/tiff; application=geotiff"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "json": return "application/json"
        case "geojson": return "application/geo+json"
        case "txt", "csv": return ext == "csv" ? "text/csv" : "text/plain"
        case "nc": return "application/x-netcdf"
        default: return nil
        }
    }
}
