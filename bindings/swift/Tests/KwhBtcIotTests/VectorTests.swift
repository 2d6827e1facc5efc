// The shared conformance vectors, as the Kotlin suite runs them
// (bindings/kotlin/src/test/kotlin): every case of tests/vectors/*.json and
// the third-party RFC 8785 / RFC 9162 data.
import Foundation
import KwhBtcIot
import XCTest

final class VectorTests: XCTestCase {
    func testEmlogVectors() throws {
        let file = try Vectors.load(EmlogFile.self, "emlog.json")
        XCTAssertFalse(file.cases.isEmpty)
        for c in file.cases {
            if let code = c.want_err {
                for (api, call) in [
                    ("leafHash", { _ = try leafHash(logJson: c.input) }),
                    ("canonicalize", { _ = try canonicalize(logJson: c.input) }),
                    ("normalize", { _ = try normalize(logJson: c.input) }),
                ] as [(String, () throws -> Void)] {
                    guard let e = expectKwhError("\(c.desc) [\(api)]", call) else { continue }
                    XCTAssertEqual(family(e), familyOfCode[code], c.desc)
                    XCTAssertEqual(e.code, code, c.desc)
                    XCTAssertEqual(e.member, c.want_member, c.desc)
                    XCTAssertFalse(e.message.isEmpty, c.desc)
                    XCTAssertEqual(e.localizedDescription, e.message, c.desc)
                    if let member = c.want_member {
                        XCTAssertTrue(e.message.contains(member), "\(c.desc): '\(e.message)' does not name \(member)")
                    }
                }
            } else {
                let n = try normalize(logJson: c.input)
                XCTAssertEqual(try canonicalize(logJson: c.input), c.canonical, c.desc)
                XCTAssertEqual(try leafHash(logJson: c.input), c.leaf_hash, c.desc)
                XCTAssertEqual(n.canonicalJson, c.canonical, c.desc)
                XCTAssertEqual(n.leafHash, c.leaf_hash, c.desc)
                XCTAssertEqual(n.warnings.map { $0.code }, c.warnings ?? [], c.desc)
                XCTAssertEqual(try canonicalize(logJson: n.canonicalJson), n.canonicalJson, c.desc)
                if let independent = Vectors.sha256(prefix: 0x00, Data(n.canonicalJson.utf8)) {
                    XCTAssertEqual(independent, n.leafHash, c.desc)
                }
            }
        }
    }

    func testJcsVectors() throws {
        let file = try Vectors.load(JcsFile.self, "jcs.json")
        for c in file.cases {
            if let code = c.want_err {
                guard let e = expectKwhError(c.desc, { _ = try canonicalizeJson(json: c.input) }) else { continue }
                XCTAssertEqual(e.code, code, c.desc)
                XCTAssertEqual(family(e), familyOfCode[code], c.desc)
            } else {
                let out = try canonicalizeJson(json: c.input)
                XCTAssertEqual(out, c.canonical, c.desc)
                XCTAssertEqual(try canonicalizeJson(json: out), out, c.desc)
            }
        }
    }

    func testJcsReferencePairs() throws {
        let dir = try Vectors.thirdParty("jcs")
        let inputs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("input").path)
            .filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertFalse(inputs.isEmpty)
        for name in inputs {
            let input = try String(contentsOf: dir.appendingPathComponent("input/\(name)"), encoding: .utf8)
            let want = try Data(contentsOf: dir.appendingPathComponent("output/\(name)"))
            XCTAssertEqual(Data(try canonicalizeJson(json: input).utf8), want, name)
        }
    }

    func testMerkleTrees() throws {
        let file = try Vectors.load(MerkleFile.self, "merkle.json")
        for t in file.trees {
            let size = UInt64(t.leaf_hashes.count)
            if let first = t.leaf_data_hex.first, let independent = Vectors.sha256(prefix: 0x00, Vectors.bytes(hex: first)) {
                XCTAssertEqual(independent, t.leaf_hashes[0], t.desc)
            }
            XCTAssertEqual(try merkleRoot(leafHashes: t.leaf_hashes), t.root, t.desc)
            for inc in t.inclusion {
                XCTAssertEqual(try inclusionProof(leafHashes: t.leaf_hashes, index: inc.index), inc.path, t.desc)
                XCTAssertNoThrow(try verifyInclusion(
                    leafHash: t.leaf_hashes[Int(inc.index)], index: inc.index, size: size, path: inc.path, root: t.root
                ), t.desc)
            }
            for con in t.consistency {
                XCTAssertEqual(try merkleRoot(leafHashes: Array(t.leaf_hashes.prefix(Int(con.old_size)))), con.old_root, t.desc)
                XCTAssertEqual(try consistencyProof(leafHashes: t.leaf_hashes, oldSize: con.old_size), con.proof, t.desc)
                if con.old_size > 0 {
                    XCTAssertNoThrow(try verifyConsistency(
                        size1: con.old_size, size2: size, root1: con.old_root, root2: t.root, proof: con.proof
                    ), t.desc)
                }
            }
        }
        for c in file.verify_inclusion {
            checkInclusion(c.desc, c.leaf_hash, c.index, c.size, c.path, c.root, wantErr: c.want_err)
        }
        for c in file.verify_consistency {
            checkConsistency(c.desc, c.size1, c.size2, c.root1, c.root2, c.proof, wantErr: c.want_err)
        }
    }

    /// transparency-dev/merkle testdata: wantErr cases are rejected, the others accepted; a hash that
    /// is not 32 bytes is rejected input whatever wantErr says (code invalid_hex).
    func testRfc9162() throws {
        let root = try Vectors.thirdParty("rfc9162")
        var count = 0
        for kind in ["inclusion", "consistency"] {
            let dir = root.appendingPathComponent(kind)
            guard let walker = FileManager.default.enumerator(atPath: dir.path) else { continue }
            for case let rel as String in walker where rel.hasSuffix(".json") {
                count += 1
                let data = try Data(contentsOf: dir.appendingPathComponent(rel))
                let desc = "\(kind)/\(rel)"
                if kind == "inclusion" {
                    let c = try JSONDecoder().decode(Rfc9162Inclusion.self, from: data)
                    let leaf = Vectors.base64ToHex(c.leafHash), treeRoot = Vectors.base64ToHex(c.root)
                    let path = (c.proof ?? []).map(Vectors.base64ToHex)
                    if (path + [leaf, treeRoot]).contains(where: { $0.count != 64 }) {
                        let e = expectKwhError(desc) {
                            try verifyInclusion(leafHash: leaf, index: c.leafIdx, size: c.treeSize, path: path, root: treeRoot)
                        }
                        XCTAssertEqual(e?.code, "invalid_hex", desc)
                    } else {
                        checkInclusion(desc, leaf, c.leafIdx, c.treeSize, path, treeRoot, wantErr: c.wantErr)
                    }
                } else {
                    let c = try JSONDecoder().decode(Rfc9162Consistency.self, from: data)
                    let root1 = Vectors.base64ToHex(c.root1), root2 = Vectors.base64ToHex(c.root2)
                    let proof = (c.proof ?? []).map(Vectors.base64ToHex)
                    if (proof + [root1, root2]).contains(where: { $0.count != 64 }) {
                        let e = expectKwhError(desc) {
                            try verifyConsistency(size1: c.size1, size2: c.size2, root1: root1, root2: root2, proof: proof)
                        }
                        XCTAssertEqual(e?.code, "invalid_hex", desc)
                    } else {
                        checkConsistency(desc, c.size1, c.size2, root1, root2, proof, wantErr: c.wantErr)
                    }
                }
            }
        }
        XCTAssertGreaterThan(count, 100)
    }

    func testBatchVector() throws {
        let v = try Vectors.load(BatchFile.self, "batch.json")
        let params = BatchParams(
            gatewayId: v.params.gateway_id, batchId: v.params.batch_id, seq: v.params.seq,
            prevHeadHash: v.params.prev_head_hash, createdAt: v.params.created_at
        )
        XCTAssertEqual(try publicKey(signingKey: v.signing_key_seed), v.public_key)
        XCTAssertEqual(try v.logs.map { try leafHash(logJson: $0) }, v.leaf_hashes)
        let built = try buildBatch(logs: v.logs, params: params, signingKey: v.signing_key_seed)
        XCTAssertEqual(built.headJson, v.head_canonical)
        XCTAssertEqual(built.headHash, v.head_hash)
        if let independent = Vectors.sha256(prefix: 0x02, Data(v.head_canonical.utf8)) {
            XCTAssertEqual(independent, v.head_hash)
        }
        XCTAssertEqual(built.signature, v.signature)
        XCTAssertEqual(built.publicKey, v.public_key)
        XCTAssertEqual(built.logCount, UInt64(v.logs.count))
        XCTAssertEqual(built.merkleRoot, try merkleRoot(leafHashes: v.leaf_hashes))

        // The receipts are the vector's, member for member.
        let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: Vectors.projectFile("batch.json"))) as! [String: Any]
        let wantReceipts = raw["receipts"] as! [[String: Any]]
        XCTAssertEqual(built.receipts.count, wantReceipts.count)
        for (i, receipt) in built.receipts.enumerated() {
            let got = try JSONSerialization.jsonObject(with: Data(receipt.utf8)) as! [String: Any]
            XCTAssertTrue(NSDictionary(dictionary: got).isEqual(to: wantReceipts[i]), "receipt \(i)")
            let result = try verifyReceipt(receiptJson: receipt, gatewayKey: v.public_key)
            XCTAssertTrue(result.valid, "receipt \(i): \(result.errors)")
            XCTAssertEqual(result.signature, .valid)
            XCTAssertEqual(result.headHash, v.head_hash)
            XCTAssertEqual(result.leafHash, v.leaf_hashes[i])
        }
    }

    func testReceiptVectors() throws {
        let file = try Vectors.load(ReceiptsFile.self, "receipts.json")
        XCTAssertFalse(file.cases.isEmpty)
        for c in file.cases {
            let v = try verifyReceipt(receiptJson: c.receipt, gatewayKey: c.gateway_key)
            XCTAssertEqual(v.valid, c.want_valid, "\(c.desc): \(v.errors)")
            XCTAssertEqual(v.errors.map { $0.code }, c.want_errors, c.desc)
            XCTAssertEqual(signatureName(v.signature), c.want_signature, c.desc)
            if let want = c.want_leaf_hash { XCTAssertEqual(v.leafHash, want, c.desc) }
            if let want = c.want_head_hash { XCTAssertEqual(v.headHash, want, c.desc) }
            XCTAssertEqual(v.valid, v.errors.isEmpty, c.desc)
            XCTAssertEqual(v.steps.first?.name, "parse", c.desc)
            for e in v.errors {
                XCTAssertFalse(e.message.isEmpty, "\(c.desc): \(e.code) has no message")
            }
        }
    }

    // MARK: - helpers

    private func checkInclusion(
        _ desc: String, _ leaf: String, _ index: UInt64, _ size: UInt64, _ path: [String], _ root: String, wantErr: Bool
    ) {
        if wantErr {
            let e = expectKwhError(desc) { try verifyInclusion(leafHash: leaf, index: index, size: size, path: path, root: root) }
            if let e = e {
                XCTAssertEqual(family(e), "merkle", desc)
                XCTAssertTrue(["invalid_proof", "index_out_of_range"].contains(e.code), "\(desc): \(e.code)")
            }
        } else {
            XCTAssertNoThrow(try verifyInclusion(leafHash: leaf, index: index, size: size, path: path, root: root), desc)
        }
    }

    private func checkConsistency(
        _ desc: String, _ size1: UInt64, _ size2: UInt64, _ root1: String, _ root2: String, _ proof: [String], wantErr: Bool
    ) {
        if wantErr {
            let e = expectKwhError(desc) { try verifyConsistency(size1: size1, size2: size2, root1: root1, root2: root2, proof: proof) }
            XCTAssertEqual(e?.code, "invalid_proof", desc)
        } else {
            XCTAssertNoThrow(try verifyConsistency(size1: size1, size2: size2, root1: root1, root2: root2, proof: proof), desc)
        }
    }
}
