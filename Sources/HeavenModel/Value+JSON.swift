public import Foundation

extension Value: Codable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Reads plain JSON; objects `{"$file": P}`, `{"$quantity": V, "$dimension": D}` and
    /// `{"$range": [S, E, STEP]}` come back as the typed values they were written from.
    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer() {
            if single.decodeNil() {
                self = .null
                return
            }
            if let b = try? single.decode(Bool.self) {
                self = .bool(b)
                return
            }
            if let i = try? single.decode(Int.self) {
                self = .int(i)
                return
            }
            if let d = try? single.decode(Double.self) {
                self = .double(d)
                return
            }
            if let s = try? single.decode(String.self) {
                self = .string(s)
                return
            }
        }
        if var array = try? decoder.unkeyedContainer() {
            var items: [Value] = []
            while !array.isAtEnd { items.append(try array.decode(Value.self)) }
            self = .list(items)
            return
        }
        let object = try decoder.container(keyedBy: Key.self)
        var map: [String: Value] = [:]
        for key in object.allKeys { map[key.stringValue] = try object.decode(Value.self, forKey: key) }
        if map.count == 1, case .string(let p)? = map["$file"] {
            self = .file(p)
        } else if map.count == 2, let v = map["$quantity"]?.number, case .string(let d)? = map["$dimension"],
            let dim = Quantity.Dimension(rawValue: d)
        {
            self = .quantity(Quantity(v, dim))
        } else if map.count == 1, case .list(let r)? = map["$range"], r.count == 3,
            case .int(let s) = r[0], case .int(let e) = r[1], case .int(let st) = r[2], st != 0
        {
            self = .range(start: s, end: e, step: st)
        } else {
            self = .map(map)
        }
    }

    /// Writes the tagged JSON that `init(from:)` reads back.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .double(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d.isFinite ? d : 0)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .file(let p):
            try Value.map(["$file": .string(p)]).encode(to: encoder)
        case .quantity(let q):
            try Value.map(["$quantity": .double(q.value), "$dimension": .string(q.dimension.rawValue)]).encode(
                to: encoder)
        case .range(let s, let e, let st):
            try Value.map(["$range": .list([.int(s), .int(e), .int(st)])]).encode(to: encoder)
        case .list(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .map(let m):
            var c = encoder.container(keyedBy: Key.self)
            for k in m.keys.sorted() { try c.encode(m[k]!, forKey: Key(stringValue: k)) }
        }
    }

    /// The value as tagged JSON text (round-trips through `Value(json:)`).
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses JSON text into a value.
    public init(json: String) throws {
        self = try JSONDecoder().decode(Value.self, from: Data(json.utf8))
    }

    /// Parses JSON bytes into a value.
    public init(jsonData: Data) throws {
        self = try JSONDecoder().decode(Value.self, from: jsonData)
    }

    /// The value as plain JSON for people and other programs: files become paths,
    /// quantities their text, ranges lists.
    public var plain: Value {
        switch self {
        case .file(let p): .string(p)
        case .quantity(let q): .string(q.description)
        case .range: .list(items ?? [])
        case .list(let items): .list(items.map(\.plain))
        case .map(let m): .map(m.mapValues(\.plain))
        default: self
        }
    }
}
