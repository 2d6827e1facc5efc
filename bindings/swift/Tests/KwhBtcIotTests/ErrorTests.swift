// Errors: the case is the core's error family, `code`/`member` are the shared
// ones and `message` (also `description` and `localizedDescription`) is the
// core's message verbatim, pinned as in the Kotlin suite. And the README's
// five lines, run for real.
import Foundation
import KwhBtcIot
import XCTest

final class ErrorTests: XCTestCase {
    private let seed = String(repeating: "07", count: 32)
    private let params = BatchParams(
        gatewayId: "gw-1", batchId: "batch-1", seq: 1, prevHeadHash: nil, createdAt: "2025-12-01T10:20:00Z"
    )

    private func assertKwh(
        _ expectedFamily: String, code: String, member: String?, message: String,
        file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) {
        guard let e = expectKwhError(message, file: file, line: line, body) else { return }
        XCTAssertEqual(family(e), expectedFamily, file: file, line: line)
        XCTAssertEqual(e.code, code, file: file, line: line)
        XCTAssertEqual(e.member, member, file: file, line: line)
        XCTAssertEqual(e.message, message, file: file, line: line)
        XCTAssertEqual(e.description, message, file: file, line: line)
        XCTAssertEqual(e.localizedDescription, message, file: file, line: line)
    }

    func testMalformedReceiptIsAnInvalidResultNotAnError() throws {
        let v = try verifyReceipt(receiptJson: "{\"receipt_version\": \"emreceipt-1\",", gatewayKey: nil)
        XCTAssertFalse(v.valid)
        XCTAssertEqual(v.errors.map { $0.code }, ["invalid_json"])
        XCTAssertTrue(v.errors[0].message.hasPrefix("invalid JSON at byte "), v.errors[0].message)
        XCTAssertEqual(v.signature, .notChecked)
        XCTAssertNil(v.leafHash)
        XCTAssertNil(v.headHash)
        XCTAssertEqual(v.steps.first?.status, StepStatus.failed)
        XCTAssertTrue(v.steps.dropFirst().allSatisfy { $0.status == .skipped })
        for input in ["", "[]", "null", "{}", "\"receipt\""] {
            let r = try verifyReceipt(receiptJson: input, gatewayKey: nil)
            XCTAssertFalse(r.valid, input)
            XCTAssertFalse(r.errors.isEmpty, input)
        }
    }

    func testMalformedGatewayKeyThrowsCrypto() throws {
        let receipt = try buildBatch(logs: [Vectors.foundingExample()], params: params, signingKey: seed).receipts[0]
        assertKwh("crypto", code: "invalid_key", member: "gateway_key",
                  message: "gateway_key: must be 64 lowercase hex characters") {
            _ = try verifyReceipt(receiptJson: receipt, gatewayKey: "not-a-key")
        }
    }

    func testDuplicateMemberIsJson() {
        assertKwh("json", code: "duplicate_member", member: "a",
                  message: "a: member name appears more than once in the object (I-JSON forbids duplicates)") {
            _ = try canonicalizeJson(json: "{\"a\":1,\"a\":2}")
        }
    }

    func testInvalidLogInABatchNamesItsIndex() throws {
        let log = try Vectors.foundingExample()
        let bad = log.replacingOccurrences(of: "\"channel\": \"ln\"", with: "\"channel\": \"lightning\"")
        assertKwh("validation", code: "invalid_value", member: "[1].tx.channel",
                  message: "log 1: tx.channel: must be one of ln, onchain, none, got \"lightning\"") {
            _ = try buildBatch(logs: [log, bad], params: params, signingKey: seed)
        }
    }

    func testEmptyBatchAndBadParameters() throws {
        let log = try Vectors.foundingExample()
        assertKwh("merkle", code: "empty_batch", member: nil, message: "a batch needs at least one log") {
            _ = try buildBatch(logs: [], params: params, signingKey: seed)
        }
        let badTime = BatchParams(gatewayId: "gw-1", batchId: "batch-1", seq: 1, prevHeadHash: nil, createdAt: "2025-12-01 10:20")
        assertKwh("validation", code: "invalid_timestamp", member: "created_at",
                  message: "created_at: is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))") {
            _ = try buildBatch(logs: [log], params: badTime, signingKey: seed)
        }
        let noPrev = BatchParams(gatewayId: "gw-1", batchId: "batch-1", seq: 2, prevHeadHash: nil, createdAt: "2025-12-01T10:20:00Z")
        assertKwh("validation", code: "invalid_value", member: "prev_head_hash",
                  message: "prev_head_hash: must be given exactly when seq is greater than 1") {
            _ = try buildBatch(logs: [log], params: noPrev, signingKey: seed)
        }
    }

    func testProofErrorsAreMerkle() throws {
        let leaves = try (0..<5).map { i in try leafHashOfFoundingExample(variant: i) }
        let root = try merkleRoot(leafHashes: leaves)
        let path = try inclusionProof(leafHashes: leaves, index: 3)
        assertKwh("merkle", code: "invalid_proof", member: "inclusion_path",
                  message: "inclusion_path: leads to root \(root) instead of \(leaves[0])") {
            try verifyInclusion(leafHash: leaves[3], index: 3, size: 5, path: path, root: leaves[0])
        }
        assertKwh("merkle", code: "index_out_of_range", member: "leaf_index",
                  message: "leaf_index: must be less than the tree size 5, got 5") {
            try verifyInclusion(leafHash: leaves[3], index: 5, size: 5, path: path, root: root)
        }
        assertKwh("merkle", code: "invalid_hex", member: "leaf_hashes[1]",
                  message: "leaf_hashes[1]: must be 64 lowercase hex characters, got 3 characters") {
            _ = try merkleRoot(leafHashes: [String(repeating: "00", count: 32), "abc"])
        }
    }

    func testFoundingExampleIsAcceptedWithAPowerMismatchWarning() throws {
        let n = try normalize(logJson: Vectors.foundingExample())
        XCTAssertEqual(n.warnings.map { $0.code }, ["power_mismatch"])
        XCTAssertEqual(n.warnings.first?.member, "power_kw_avg")
        XCTAssertEqual(n.log.intervalS, 300)
        XCTAssertEqual(n.log.energyKwh, 12.34)
        XCTAssertEqual(n.log.tx.amountSats, 1234)
        XCTAssertEqual(n.log.tags, ["peak"])
        XCTAssertNil(n.log.tx.lnInvoiceId)
    }

    func testReadmeFiveLines() throws {
        let gatewayKey = try publicKey(signingKey: seed)
        let receiptJson = try buildBatch(logs: [Vectors.foundingExample()], params: params, signingKey: seed).receipts[0]
        // --- README (bindings/swift/README.md) ---
        let v = try verifyReceipt(receiptJson: receiptJson, gatewayKey: gatewayKey)  // a bad receipt is a result, not a throw
        let report = v.valid
            ? "receipt OK: leaf \(v.leafHash!) in batch \(v.headHash!)"
            : v.errors.map { "\($0.code): \($0.message)" }.joined(separator: "; ")
        // --- end ---
        XCTAssertTrue(v.valid, report)
        XCTAssertEqual(v.signature, .valid)
        XCTAssertEqual(v.steps.map { $0.name },
                       ["parse", "leaf_hash", "inclusion", "head", "signature", "log_signature", "anchors"])

        let tampered = receiptJson.replacingOccurrences(of: "\"meter_id\":\"MTR-001\"", with: "\"meter_id\":\"MTR-002\"")
        XCTAssertNotEqual(tampered, receiptJson)
        let t = try verifyReceipt(receiptJson: tampered, gatewayKey: gatewayKey)
        XCTAssertFalse(t.valid)
        XCTAssertEqual(t.errors.map { $0.code }, ["leaf_hash_mismatch"])

        let other = try verifyReceipt(receiptJson: receiptJson, gatewayKey: try publicKey(signingKey: String(repeating: "08", count: 32)))
        XCTAssertEqual(other.signature, .untrustedKey)
        XCTAssertEqual(other.errors.map { $0.code }, ["untrusted_key"])
    }

    /// Distinct valid leaf hashes: the founding example with different meter ids.
    private func leafHashOfFoundingExample(variant: Int) throws -> String {
        let log = try Vectors.foundingExample()
            .replacingOccurrences(of: "\"MTR-001\"", with: "\"MTR-00\(variant)\"")
        return try leafHash(logJson: log)
    }
}
