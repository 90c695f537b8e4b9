public import Foundation

/// The API's OpenAPI 3 description (`Sources/HeavenServer/openapi.json`), served at
/// `/openapi.json`; the tests check it against the routes the server has.
public enum OpenAPI {
    public static let document: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else { return Data("{}".utf8) }
        return data
    }()
}
