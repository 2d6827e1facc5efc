// Where the conformance vectors live and how they are read (Codable models of
// tests/vectors/*.json, written by the core; see docs/spec.md).
import Foundation
import KwhBtcIot
import XCTest

#if canImport(CryptoKit)
import CryptoKit
#endif

struct MissingVectors: Error {
    let what: String
}

enum Vectors {
    /// The repository root: this file is bindings/swift/Tests/KwhBtcIotTests/Vectors.swift.
    static let repoRoot: URL = {
        if let root = ProcessInfo.processInfo.environment["KWH_REPO_ROOT"] {
            return URL(fileURLWithPath: root)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // KwhBtcIotTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // swift
            .deletingLastPathComponent()  // bindings
            .deletingLastPathComponent()  // repository root
    }()

    static func projectFile(_ name: String) -> URL {
        repoRoot.appendingPathComponent("tests/vectors/\(name)")
    }

    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let data = try Data(contentsOf: projectFile(name))
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// Third-party vectors: tests/vectors/third_party/ when copied in, else ../shared/vectors/.
    static func thirdParty(_ sub: String) throws -> URL {
        let candidates = [
            repoRoot.appendingPathComponent("tests/vectors/third_party/\(sub)"),
            repoRoot.appendingPathComponent("../shared/vectors/\(sub)").standardizedFileURL,
        ]
        for dir in candidates {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue {
                return dir
            }
        }
        throw MissingVectors(what: "third-party vectors \(sub) not found in \(candidates.map { $0.path })")
    }

    static func foundingExample() throws -> String {
        try String(contentsOf: projectFile("founding_example.json"), encoding: .utf8)
    }

    static func hex(_ data: Data) -> String {
        data.map { String(format: "%02x", $0) }.joined()
    }

    /// Base64 (RFC 9162 vectors) to the lowercase hex the API takes; any length is kept.
    static func base64ToHex(_ s: String) -> String {
        guard let data = Data(base64Encoded: s) else { return "not-base64" }
        return hex(data)
    }

    static func bytes(hex: String) -> Data {
        var out = Data()
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    /// SHA-256(prefix || data) with CryptoKit, independently of the core; nil where CryptoKit is absent.
    static func sha256(prefix: UInt8, _ data: Data) -> String? {
        #if canImport(CryptoKit)
        var input = Data([prefix])
        input.append(data)
        return hex(Data(SHA256.hash(data: input)))
        #else
        return nil
        #endif
    }
}

/// The error family each shared code must arrive as (pinned: a code moving family is a visible change).
let familyOfCode: [String: String] = {
    var m: [String: String] = [:]
    for c in ["invalid_utf8", "invalid_json", "duplicate_member", "lone_surrogate", "number_out_of_range",
              "too_deep", "too_large"] { m[c] = "json" }
    for c in ["unknown_member", "missing_member", "invalid_type", "invalid_value", "unsupported_version",
              "invalid_length", "forbidden_character", "out_of_range", "not_an_integer", "invalid_timestamp",
              "invalid_time_range", "interval_mismatch", "amount_mismatch", "duplicate_tag",
              "too_many_tags"] { m[c] = "validation" }
    for c in ["invalid_hex", "leaf_hash_mismatch", "invalid_proof", "index_out_of_range",
              "empty_batch"] { m[c] = "merkle" }
    for c in ["invalid_key", "invalid_signature", "untrusted_key", "missing_signature",
              "invalid_anchor"] { m[c] = "crypto" }
    return m
}()

func family(_ e: KwhError) -> String {
    switch e {
    case .Json: return "json"
    case .Validation: return "validation"
    case .Merkle: return "merkle"
    case .Crypto: return "crypto"
    }
}

func signatureName(_ s: SignatureStatus) -> String {
    switch s {
    case .valid: return "valid"
    case .absent: return "absent"
    case .invalid: return "invalid"
    case .untrustedKey: return "untrusted_key"
    case .notChecked: return "not_checked"
    }
}

/// Runs `body`, which must throw a KwhError, and returns it (nil, with a failure, otherwise).
func expectKwhError(
    _ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) -> KwhError? {
    do {
        try body()
        XCTFail("\(what): no error thrown", file: file, line: line)
    } catch let e as KwhError {
        return e
    } catch {
        XCTFail("\(what): unexpected error \(error)", file: file, line: line)
    }
    return nil
}

// MARK: - Codable models of tests/vectors/*.json

struct EmlogFile: Decodable {
    struct Case: Decodable {
        let desc: String
        let input: String
        let want_err: String?
        let want_member: String?
        let canonical: String?
        let leaf_hash: String?
        let warnings: [String]?
    }
    let cases: [Case]
}

struct JcsFile: Decodable {
    struct Case: Decodable {
        let desc: String
        let input: String
        let want_err: String?
        let canonical: String?
    }
    let cases: [Case]
}

struct MerkleFile: Decodable {
    struct Inclusion: Decodable {
        let index: UInt64
        let path: [String]
    }
    struct Consistency: Decodable {
        let old_size: UInt64
        let old_root: String
        let proof: [String]
    }
    struct Tree: Decodable {
        let desc: String
        let leaf_data_hex: [String]
        let leaf_hashes: [String]
        let root: String
        let inclusion: [Inclusion]
        let consistency: [Consistency]
    }
    struct VerifyInclusion: Decodable {
        let desc: String
        let leaf_hash: String
        let index: UInt64
        let size: UInt64
        let path: [String]
        let root: String
        let want_err: Bool
    }
    struct VerifyConsistency: Decodable {
        let desc: String
        let size1: UInt64
        let size2: UInt64
        let root1: String
        let root2: String
        let proof: [String]
        let want_err: Bool
    }
    let trees: [Tree]
    let verify_inclusion: [VerifyInclusion]
    let verify_consistency: [VerifyConsistency]
}

struct BatchFile: Decodable {
    struct Params: Decodable {
        let gateway_id: String
        let batch_id: String
        let seq: UInt64
        let prev_head_hash: String?
        let created_at: String
    }
    let signing_key_seed: String
    let public_key: String
    let params: Params
    let logs: [String]
    let leaf_hashes: [String]
    let head_canonical: String
    let head_hash: String
    let signature: String
}

struct ReceiptsFile: Decodable {
    struct Case: Decodable {
        let desc: String
        let receipt: String
        let gateway_key: String?
        let want_valid: Bool
        let want_errors: [String]
        let want_signature: String
        let want_leaf_hash: String?
        let want_head_hash: String?
    }
    let cases: [Case]
}

struct Rfc9162Inclusion: Decodable {
    let leafIdx: UInt64
    let treeSize: UInt64
    let root: String
    let leafHash: String
    let proof: [String]?
    let desc: String
    let wantErr: Bool
}

struct Rfc9162Consistency: Decodable {
    let size1: UInt64
    let size2: UInt64
    let root1: String
    let root2: String
    let proof: [String]?
    let desc: String
    let wantErr: Bool
}
