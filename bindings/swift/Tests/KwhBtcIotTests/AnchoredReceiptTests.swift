import Foundation
import XCTest
@testable import KwhBtcIot

/// tests/vectors/anchored_receipts.json: receipts with OpenTimestamps and
/// bitcoin anchors (regtest headers), heads chains, pending and needs_header
/// proofs, trusted headers and the ways each breaks; and the receipts of a
/// real gateway named by KWH_BTC_IOT_RECEIPTS_FILE. (Written against the
/// generated API; not compiled on the Linux build machine, see README.md.)
struct AnchoredReceiptsFile: Decodable {
    struct WantAnchor: Decodable {
        let type: String
        let status: String
        let failed_step: String?
        let height: UInt64?
        let block_hash: String?
        let anchored_head_hash: String?
    }
    struct Case: Decodable {
        let desc: String
        let receipt: String
        let network: String
        let trusted_headers: [String: String]
        let gateway_key: String?
        let want_valid: Bool
        let want_errors: [String]
        let want_error_members: [String?]
        let want_anchors: [WantAnchor]
    }
    let calendar: String
    let cases: [Case]
}

final class AnchoredReceiptTests: XCTestCase {
    func testAnchoredReceiptVectors() throws {
        let file = try Vectors.load(AnchoredReceiptsFile.self, "anchored_receipts.json")
        XCTAssertGreaterThanOrEqual(file.cases.count, 20)
        for c in file.cases {
            var headers: [UInt64: String] = [:]
            for (h, x) in c.trusted_headers { headers[UInt64(h)!] = x }
            let opts = VerifyOptions(gatewayKey: c.gateway_key, network: c.network, headers: headers)
            let v = try verifyReceiptWithOptions(receiptJson: c.receipt, options: opts)
            XCTAssertEqual(v.valid, c.want_valid, "\(c.desc): \(v.errors)")
            XCTAssertEqual(v.errors.map { $0.code }, c.want_errors, c.desc)
            XCTAssertEqual(v.errors.map { $0.member }, c.want_error_members, c.desc)
            XCTAssertEqual(v.anchors.count, c.want_anchors.count, c.desc)
            for (a, w) in zip(v.anchors, c.want_anchors) {
                XCTAssertEqual(a.anchorType, w.type, c.desc)
                XCTAssertEqual(a.status, w.status, c.desc)
                XCTAssertEqual(a.failedStep, w.failed_step, c.desc)
                XCTAssertEqual(a.height, w.height, c.desc)
                XCTAssertEqual(a.blockHash, w.block_hash, c.desc)
                XCTAssertEqual(a.anchoredHeadHash, w.anchored_head_hash, c.desc)
                if a.status == "pending" { XCTAssertEqual(a.calendars, [file.calendar], c.desc) }
            }
        }
    }

    func testABadNetworkThrowsNamingIt() throws {
        let file = try Vectors.load(AnchoredReceiptsFile.self, "anchored_receipts.json")
        let e = expectKwhError("network") {
            try verifyReceiptWithOptions(receiptJson: file.cases[0].receipt, options: VerifyOptions(network: "moon"))
        }
        XCTAssertEqual(e?.member, "network")
    }

    func testReceiptsFromAGateway() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["KWH_BTC_IOT_RECEIPTS_FILE"], !path.isEmpty else {
            throw XCTSkip("KWH_BTC_IOT_RECEIPTS_FILE is not set: no receipts from a gateway to verify")
        }
        let network = env["KWH_BTC_IOT_NETWORK"].flatMap { $0.isEmpty ? nil : $0 } ?? "mainnet"
        let key = env["KWH_BTC_IOT_GATEWAY_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let lines = try String(contentsOfFile: path, encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        XCTAssertFalse(lines.isEmpty, "\(path) holds no receipts")
        for (i, line) in lines.enumerated() {
            let v = try verifyReceiptWithOptions(
                receiptJson: line, options: VerifyOptions(gatewayKey: key, network: network))
            XCTAssertTrue(v.valid, "receipt \(i): \(v.errors)")
            XCTAssertTrue(v.anchors.contains { $0.status == "verified" }, "receipt \(i): \(v.anchors)")
        }
    }
}
