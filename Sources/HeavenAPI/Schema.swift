public import Foundation

/// A JSON Schema, as OpenAPI 3.0 writes one: what the API document says of a value.
public indirect enum JSONSchema: Sendable, Equatable {
    case string(format: String? = nil, pattern: String? = nil, values: [String]? = nil, minLength: Int? = nil)
    case integer(format: String? = nil, minimum: Int? = nil, maximum: Int? = nil)
    case number
    case boolean
    case array(JSONSchema, minItems: Int? = nil)
    /// An object whose keys are names of the caller's choice.
    case map(JSONSchema)
    /// An object with these properties (in this order), of which `required` must be there.
    case object([(String, JSONSchema)], required: [String], description: String? = nil, anyOfRequired: [[String]] = [])
    /// A schema of the document's components, by name.
    case ref(String)
    /// Any JSON value.
    case any
    /// Also `null`.
    case nullable(JSONSchema)
    /// One schema with a description.
    case described(JSONSchema, String)

    public static func == (a: JSONSchema, b: JSONSchema) -> Bool { a.text == b.text }

    /// The schema as JSON text (keys sorted): what equality compares.
    public var text: String { json.jsonText }

    /// The schema as a JSON object (for the document).
    public var json: JSONValue {
        switch self {
        case .string(let format, let pattern, let values, let minLength):
            var s: JSONValue = ["type": "string"]
            if let format { s["format"] = .string(format) }
            if let pattern { s["pattern"] = .string(pattern) }
            if let values { s["enum"] = .array(values.map(JSONValue.string)) }
            if let minLength { s["minLength"] = .int(minLength) }
            return s
        case .integer(let format, let minimum, let maximum):
            var s: JSONValue = ["type": "integer"]
            if let format { s["format"] = .string(format) }
            if let minimum { s["minimum"] = .int(minimum) }
            if let maximum { s["maximum"] = .int(maximum) }
            return s
        case .number: return ["type": "number"]
        case .boolean: return ["type": "boolean"]
        case .array(let item, let minItems):
            var s: JSONValue = ["type": "array", "items": item.json]
            if let minItems { s["minItems"] = .int(minItems) }
            return s
        case .map(let value): return ["type": "object", "additionalProperties": value.json]
        case .object(let properties, let required, let description, let anyOfRequired):
            var s: JSONValue = [
                "type": "object",
                "properties": .object(Dictionary(uniqueKeysWithValues: properties.map { ($0.0, $0.1.json) })),
            ]
            if !required.isEmpty { s["required"] = .array(required.map(JSONValue.string)) }
            if let description { s["description"] = .string(description) }
            if !anyOfRequired.isEmpty {
                s["anyOf"] = .array(anyOfRequired.map { ["required": .array($0.map(JSONValue.string))] })
            }
            return s
        case .ref(let name): return ["$ref": "#/components/schemas/\(name)"]
        case .any: return .object([:])
        case .nullable(let inner):
            var s = inner.json
            if s["$ref"] != nil { return ["allOf": [s], "nullable": true] }
            s["nullable"] = true
            return s
        case .described(let inner, let text):
            var s = inner.json
            if s["$ref"] != nil { return ["allOf": [s], "description": .string(text)] }
            s["description"] = .string(text)
            return s
        }
    }
}

/// A type the API document can describe.
public protocol SchemaDescribing {
    /// Its schema; an `APIObject` answers a reference to its component.
    static var jsonSchema: JSONSchema { get }
    /// The objects its schema names (for the document's components).
    static var components: [any APIObject.Type] { get }
}

extension SchemaDescribing {
    public static var components: [any APIObject.Type] { [] }
}

/// An object of the API: a request or a response body, `Codable` with the keys of its
/// stored properties. Its schema is derived from the type itself: its stored
/// properties (read from `example` by reflection), their names and types, optional
/// ones not required. The document cannot drift from what the server encodes and the
/// client decodes, because the three are one type.
public protocol APIObject: Codable, Sendable, SchemaDescribing {
    /// A value of the type (any: only its properties' types are read).
    static var example: Self { get }
    /// What the document says of it.
    static var summary: String? { get }
    /// What the document says of some properties beyond their types (a minimum length, a
    /// pattern), by name: the server checks the same.
    static var constraints: [String: JSONSchema] { get }
    /// Sets of properties of which one must be there.
    static var anyOfRequired: [[String]] { get }
    /// Optional properties written as `null` when absent (not left out).
    static var nullable: Set<String> { get }
    /// Its schema as a component (derived from its stored properties unless it says otherwise).
    static var definition: JSONSchema { get }
}

extension APIObject {
    public static var summary: String? { nil }
    public static var constraints: [String: JSONSchema] { [:] }
    public static var anyOfRequired: [[String]] { [] }
    public static var nullable: Set<String> { [] }
    public static var jsonSchema: JSONSchema { .ref(componentName) }
    public static var components: [any APIObject.Type] { [Self.self] }

    /// Its name among the document's components.
    public static var componentName: String { String(describing: Self.self) }

    /// Its schema as a component: one property per stored property.
    public static var definition: JSONSchema {
        var properties: [(String, JSONSchema)] = []
        var required: [String] = []
        for child in Mirror(reflecting: example).children {
            guard let name = child.label else { continue }
            let type = Swift.type(of: child.value)
            guard let described = type as? any SchemaDescribing.Type else {
                preconditionFailure("\(Self.self).\(name): \(type) is not SchemaDescribing")
            }
            let schema = constraints[name] ?? described.jsonSchema
            properties.append((name, nullable.contains(name) ? .nullable(schema) : schema))
            if !(type is any OptionalMarker.Type) || nullable.contains(name) { required.append(name) }
        }
        return .object(properties, required: required, description: summary, anyOfRequired: anyOfRequired)
    }

    /// The objects its properties name.
    public static var nested: [any APIObject.Type] {
        Mirror(reflecting: example).children.flatMap { child -> [any APIObject.Type] in
            (Swift.type(of: child.value) as? any SchemaDescribing.Type)?.components ?? []
        }
    }
}

/// Marks `Optional`, whose properties are not required.
public protocol OptionalMarker {}
extension Optional: OptionalMarker {}

extension Optional: SchemaDescribing where Wrapped: SchemaDescribing {
    public static var jsonSchema: JSONSchema { Wrapped.jsonSchema }
    public static var components: [any APIObject.Type] { Wrapped.components }
}

extension Array: SchemaDescribing where Element: SchemaDescribing {
    public static var jsonSchema: JSONSchema { .array(Element.jsonSchema) }
    public static var components: [any APIObject.Type] { Element.components }
}

extension Dictionary: SchemaDescribing where Key == String, Value: SchemaDescribing {
    public static var jsonSchema: JSONSchema { .map(Value.jsonSchema) }
    public static var components: [any APIObject.Type] { Value.components }
}

extension String: SchemaDescribing { public static var jsonSchema: JSONSchema { .string() } }
extension Int: SchemaDescribing { public static var jsonSchema: JSONSchema { .integer() } }
extension Int64: SchemaDescribing { public static var jsonSchema: JSONSchema { .integer(format: "int64") } }
extension Double: SchemaDescribing { public static var jsonSchema: JSONSchema { .number } }
extension Bool: SchemaDescribing { public static var jsonSchema: JSONSchema { .boolean } }
extension Date: SchemaDescribing { public static var jsonSchema: JSONSchema { .string(format: "date-time") } }

/// A string enumeration of the API: its schema lists its values.
public protocol APIEnum: SchemaDescribing, CaseIterable, RawRepresentable where RawValue == String {}

extension APIEnum {
    public static var jsonSchema: JSONSchema { .string(values: allCases.map(\.rawValue)) }
}
