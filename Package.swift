// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "AgentTrail",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AgentTrail", targets: ["AgentTrail"]),
        .executable(name: "trail", targets: ["trail"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // C libraries, from Debian's -dev packages.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // No I/O: entries, codec, hashes, signatures, did:key, wire frames, Merkle math.
        .target(name: "TrailCore", dependencies: ["CSodium"]),
        // LMDB environment, transactions and the collector's stores.
        .target(name: "TrailStore", dependencies: ["TrailCore", "CLMDB"]),
        // Sealed segments: complete subtrees of the log as zstd files (SPEC section 5).
        .target(name: "TrailSegment", dependencies: ["TrailCore", "CZstd"]),
        // Frame decoding on SwiftNIO, shared by the collector and the client library.
        .target(
            name: "TrailNIO",
            dependencies: ["TrailCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // The collector: TCP protocol, parallel verification, sequencer, group commit.
        .target(
            name: "TrailServer",
            dependencies: [
                "TrailCore", "TrailStore", "TrailNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The client library other Swift programs depend on.
        .target(
            name: "AgentTrail",
            dependencies: [
                "TrailCore", "TrailNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "trail",
            dependencies: [
                "TrailCore", "TrailStore", "TrailServer", "AgentTrail", "TrailSegment",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "TrailCoreTests", dependencies: ["TrailCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrailStoreTests", dependencies: ["TrailStore"]),
        .testTarget(name: "TrailSegmentTests", dependencies: ["TrailSegment", "TrailCore"]),
        .testTarget(
            name: "TrailNIOTests",
            dependencies: [
                "TrailNIO", "TrailCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "TrailServerTests",
            dependencies: [
                "TrailServer", "AgentTrail", "TrailStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
