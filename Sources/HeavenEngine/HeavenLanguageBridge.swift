import HeavenLanguage
import HeavenModel

/// The language's input coercion, used where the engine binds inputs.
enum HeavenLanguageBridge {
    static func coerce(_ v: Value, to type: InputDeclaration.InputType) -> Value? {
        InputCoercion.coerce(v, to: type)
    }
}
