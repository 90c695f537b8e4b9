import Foundation

/// A description file's path and text, as read (kept with each run so that a
/// resumed run reads exactly what it started with).
public struct SourceFile: Sendable, Hashable, Codable {
    /// The path as the user named it.
    public var path: String
    /// The file's text.
    public var text: String

    /// Creates a source file.
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}
