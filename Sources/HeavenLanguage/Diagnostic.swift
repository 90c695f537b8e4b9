public import HeavenModel

/// A problem found in a description file.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public var location: SourceLocation
    /// What is wrong, with a hint when one exists.
    public var message: String

    /// Creates a diagnostic.
    public init(_ message: String, at location: SourceLocation) {
        self.message = message
        self.location = location
    }

    /// `FILE:LINE:COL: error: MESSAGE`.
    public var description: String { "\(location): error: \(message)" }
}

/// Thrown when files have problems; holds every diagnostic, in file order.
public struct DiagnosticsError: Error, Sendable, CustomStringConvertible {
    /// The problems.
    public var diagnostics: [Diagnostic]

    /// Creates the error.
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics while reading.
final class DiagnosticSink {
    private(set) var diagnostics: [Diagnostic] = []

    func error(_ message: String, at location: SourceLocation) {
        let d = Diagnostic(message, at: location)
        if !diagnostics.contains(d) { diagnostics.append(d) }
    }

    var sorted: [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let (x, y) = (a.element.location, b.element.location)
            if x.file != y.file { return a.offset < b.offset }
            if x.line != y.line { return x.line < y.line }
            if x.column != y.column { return x.column < y.column }
            return a.offset < b.offset
        }.map(\.element)
    }
}
