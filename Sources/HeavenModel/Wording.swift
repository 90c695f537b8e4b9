import Foundation

/// Small rules of English for messages, in one place.
public enum Wording {
    /// A duration as people read it, the same everywhere (the command line, the
    /// console): `12 ms` under a second, `3.4s` under a minute, then `2m05s`, `1h02m`.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((max(0, seconds) * 1000).rounded())) ms" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let s = Int(seconds)
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }

    /// `word` with its indefinite article: `an integer`, `a string`, `an if step`.
    public static func a(_ word: String) -> String {
        guard let first = word.lowercased().first else { return word }
        return ("aeiou".contains(first) ? "an " : "a ") + word
    }

    /// `1 core`, `4 cores`; `plural` when it is not `singular` + `s`.
    public static func count(_ n: Int, _ singular: String, plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : plural ?? singular + "s")"
    }
}
