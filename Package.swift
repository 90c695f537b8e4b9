// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "heaven",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "heaven", targets: ["heaven"]),
        .executable(name: "heaven-bench", targets: ["heaven-bench"]),
        .executable(name: "heaven-sandbox", targets: ["heaven-sandbox"]),
        .library(name: "HeavenModel", targets: ["HeavenModel"]),
        .library(name: "HeavenCore", targets: ["HeavenCore"]),
        .library(name: "HeavenLanguage", targets: ["HeavenLanguage"]),
        .library(name: "HeavenEngine", targets: ["HeavenEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.0"),
    ],
    targets: [
        // Layer 0: system calls Swift cannot make directly (vfork-based spawn with rlimits,
        // pidfds and epoll for the reaper, a signal handler writing to a pipe).
        .target(name: "CHeavenSystem"),
        // Layer 1: vocabulary, quantities, values, expressions, steps and their walk. No I/O.
        .target(name: "HeavenModel", swiftSettings: swiftSettings),
        // Layer 2: YAML ⇄ model, with diagnostics that carry file:line:col.
        .target(
            name: "HeavenLanguage",
            dependencies: ["HeavenModel", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        // Layer 2: the domain of execution, as plain values and protocols: runs, attempts and
        // their lifecycles, events, the catalog, placements, accounts, the stores by
        // capability and their change feed. Depends on the model only.
        .target(name: "HeavenCore", dependencies: ["HeavenModel"], swiftSettings: swiftSettings),
        // Layer 3: the HTTP API's bodies as Codable types, and the OpenAPI document derived
        // from them and from the operations the server declares (server and client share them).
        .target(name: "HeavenAPI", dependencies: ["HeavenModel", "HeavenCore"], swiftSettings: swiftSettings),
        // Layer 3: the embedded store: the core's store protocols on SQLite, through GRDB.
        .target(
            name: "HeavenStore",
            dependencies: [
                "HeavenModel", "HeavenCore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings),
        // Layer 3: places topologies on granted sites (matching, grants, links, explanations):
        // a catalog in, a placement out; the model and the core only.
        .target(
            name: "HeavenBroker",
            dependencies: ["HeavenModel", "HeavenCore"],
            swiftSettings: swiftSettings),
        // Layer 3: where tasks run: the Connector protocol and its capabilities, the factory of
        // a site's connector; this machine, SSH hosts, Slurm clusters; tenants' confinement.
        .target(
            name: "HeavenConnectors",
            dependencies: [
                "HeavenModel", "CHeavenSystem", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        // Layer 4: runs workflows durably (prepare, drive, close), on any store and connectors.
        .target(
            name: "HeavenEngine",
            dependencies: [
                "HeavenModel", "HeavenCore", "HeavenLanguage", "HeavenStore", "HeavenConnectors", "HeavenBroker",
                "CHeavenSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        // Layer 5: the shared service: HTTP API v1 (routes by resource, declared with their
        // description), accounts, authorization, audit, metrics.
        // Layer 5a: the use cases every transport shares (submitting, billing), between
        // the engine and the server's routes, the console and the command line.
        .target(
            name: "HeavenApplication",
            dependencies: ["HeavenModel", "HeavenCore", "HeavenLanguage", "HeavenEngine", "HeavenConnectors"],
            swiftSettings: swiftSettings),
        .target(
            name: "HeavenServer",
            dependencies: [
                "HeavenModel", "HeavenCore", "HeavenLanguage", "HeavenStore", "HeavenEngine", "HeavenConnectors",
                "HeavenBroker", "HeavenAPI", "HeavenApplication", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ],
            swiftSettings: swiftSettings),
        // Layer 6: the command line, here or as a typed client of a server.
        .target(
            name: "HeavenCLI",
            dependencies: [
                "HeavenModel", "HeavenCore", "HeavenLanguage", "HeavenStore", "HeavenEngine", "HeavenConnectors",
                "HeavenBroker", "HeavenServer", "HeavenAPI", "HeavenApplication", "CHeavenSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "heaven", dependencies: ["HeavenCLI", "HeavenConnectors", "CHeavenSystem", "heaven-sandbox"],
            swiftSettings: swiftSettings),
        // The sandbox helper as a small program of its own (started by `heaven serve` when
        // it is beside `heaven`; built with it).
        .executableTarget(name: "heaven-sandbox", dependencies: ["CHeavenSystem"]),
        // The benchmarks (`heaven-bench`, which `heaven bench` runs): the public API of the
        // engine, store, broker and server, measured against the raw spawn limit.
        .executableTarget(
            name: "heaven-bench",
            dependencies: [
                "HeavenModel", "HeavenCore", "HeavenLanguage", "HeavenStore", "HeavenEngine", "HeavenConnectors",
                "HeavenBroker", "HeavenServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/HeavenBench", swiftSettings: swiftSettings),

        // What the test targets share: the parts of the testbed (a Slurm cluster), the rule
        // that no test silently skips.
        .target(name: "HeavenTestSupport", path: "Tests/HeavenTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenBrokerTests", dependencies: ["HeavenBroker", "HeavenLanguage", "HeavenModel", "HeavenCore"],
            swiftSettings: swiftSettings),
        .testTarget(name: "HeavenModelTests", dependencies: ["HeavenModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenCoreTests", dependencies: ["HeavenCore", "HeavenModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenAPITests", dependencies: ["HeavenAPI", "HeavenCore", "HeavenModel", "HeavenLanguage"],
            // The OGC API - Processes schemas the descriptions are checked against.
            exclude: ["OGC"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenStoreTests",
            dependencies: [
                "HeavenStore", "HeavenCore", "HeavenModel", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenConnectorsTests", dependencies: ["HeavenConnectors", "HeavenModel"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenLanguageTests", dependencies: ["HeavenLanguage", "HeavenModel", "HeavenTestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenEngineTests",
            // `heaven` itself: some tests kill the real process mid-run.
            dependencies: [
                "HeavenEngine", "HeavenLanguage", "HeavenModel", "HeavenCore", "HeavenStore", "HeavenConnectors",
                "heaven",
                "HeavenTestSupport",
            ],
            // The showcase's independent checks (Python) and the STAC schemas they use.
            exclude: ["EO"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenCLITests",
            dependencies: ["heaven", "heaven-bench", "HeavenStore", "HeavenCore", "HeavenModel", "HeavenLanguage"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenApplicationTests",
            dependencies: [
                "HeavenApplication", "HeavenEngine", "HeavenStore", "HeavenCore", "HeavenModel", "HeavenLanguage",
                "HeavenConnectors",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HeavenServerTests",
            dependencies: [
                "heaven", "HeavenServer", "HeavenStore", "HeavenCore", "HeavenModel", "HeavenEngine",
                "HeavenTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            // Python helpers of the OGC API - Processes tests (a recording HTTP server, OWSLib)
            // and of the console's tests in a browser (selenium).
            exclude: ["OGC", "Console"],
            swiftSettings: swiftSettings),
    ]
)
