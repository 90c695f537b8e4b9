/// Small rules of English for messages, in one place.
public enum Wording {
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
