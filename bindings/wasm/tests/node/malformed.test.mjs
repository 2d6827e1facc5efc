// Malformed and hostile inputs: every call returns or throws a package
// Error with a shared code; no WebAssembly trap ever reaches JS; a bad
// receipt is an invalid result with a reason, not an exception.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as kwh from "kwh-btc-iot";
import { VECTORS, readJson, outcome, prng } from "./helpers.mjs";

const FOUNDING = fs.readFileSync(path.join(VECTORS, "founding_example.json"), "utf8");
const LEAF = "fcfaf9b5e51b3c919213338d87566a3d7230ce7903f00ff4e41d8a93835aff21";
const RECEIPT = readJson(path.join(VECTORS, "receipts.json")).cases.find((c) => c.want_valid).receipt;

function weirdValues() {
  const cyclic = {};
  cyclic.self = cyclic;
  let deep = [];
  for (let i = 0; i < 10000; i++) deep = [deep];
  const deepObject = JSON.parse("[".repeat(3000) + "]".repeat(3000));
  return {
    undefined: undefined, null: null, true: true, zero: 0, negative: -1, fraction: 0.5, NaN: NaN,
    Infinity: Infinity, big: 2 ** 60, bigint: 10n, hugeBigint: 2n ** 70n, symbol: Symbol("s"),
    function: () => 1, emptyString: "", notJson: "{", nul: "\u0000", bom: "\ufeff{}",
    loneSurrogate: '{"a":"\ud800"}', escapedLoneSurrogate: '{"a":"\\ud800"}', emptyArray: [],
    emptyObject: {}, deep, deepObject, deepText: "[".repeat(100000) + "]".repeat(100000),
    cyclic, throwingToJSON: { toJSON() { throw new Error("nope"); } }, nanInside: { a: [1, { b: NaN }] },
    badUtf8: new Uint8Array([0xff, 0xfe]), bytes: new Uint8Array(0), date: new Date(0), invalidDate: new Date(NaN),
    map: new Map([["a", 1]]), proxy: new Proxy({}, { get() { throw new Error("trap"); }, ownKeys() { throw new Error("trap"); } }),
    hash: LEAF, upperHash: LEAF.toUpperCase(), shortHash: LEAF.slice(2), hashes: [LEAF, LEAF], mixed: [LEAF, 1, null],
    sparse: [, LEAF], // eslint-disable-line no-sparse-arrays
    hugeString: "x".repeat(20 * 1024 * 1024), hugeArrayLike: { length: 2 ** 32 },
  };
}

test("no input makes any function trap; errors carry a shared code", () => {
  const w = weirdValues();
  const ok = { log: FOUNDING, hashes: [LEAF], hash: LEAF, n0: 0, n1: 1, opts: { gatewayId: "g", batchId: "b", seq: 1 } };
  let calls = 0;
  for (const [name, v] of Object.entries(w)) {
    const tries = [
      () => kwh.normalize(v), () => kwh.canonicalize(v), () => kwh.canonicalizeJson(v), () => kwh.leafHash(v),
      () => kwh.hashLogs(v), () => kwh.hashLogs([ok.log, v]), () => kwh.merkleRoot(v),
      () => kwh.inclusionProof(v, 0), () => kwh.inclusionProof(ok.hashes, v),
      () => kwh.verifyInclusion(v, 0, 1, [], LEAF), () => kwh.verifyInclusion(LEAF, v, 1, [], LEAF),
      () => kwh.verifyInclusion(LEAF, 0, v, [], LEAF), () => kwh.verifyInclusion(LEAF, 0, 1, v, LEAF),
      () => kwh.verifyInclusion(LEAF, 0, 1, [], v), () => kwh.verifyConsistency(v, 2, LEAF, LEAF, [LEAF]),
      () => kwh.verifyConsistency(1, v, LEAF, LEAF, [LEAF]), () => kwh.verifyConsistency(1, 2, v, LEAF, [LEAF]),
      () => kwh.verifyConsistency(1, 2, LEAF, LEAF, v), () => kwh.buildBatch(v, ok.opts), () => kwh.buildBatch([ok.log], v),
      ...["gatewayId", "batchId", "seq", "prevHeadHash", "createdAt", "signingKey"].map(
        (k) => () => kwh.buildBatch([ok.log], { ...ok.opts, [k]: v })),
      () => kwh.verifyReceipt(RECEIPT, v), () => kwh.verifyReceipt(RECEIPT, { gatewayKey: v }),
    ];
    for (const f of tries) {
      calls++;
      outcome(f); // throws on a trap, a non-Error or an unknown code
    }
    const result = outcome(() => kwh.verifyReceipt(v)).value;
    assert.ok(result, `verifyReceipt threw for ${name}`);
    assert.equal(result.valid, false, name);
    assert.ok(result.errors.length > 0 && result.errors[0].code, name);
  }
  assert.ok(calls > 1000);
  // The module is still sound after all that.
  assert.equal(kwh.leafHash(FOUNDING), LEAF);
});

test("specific refusals name the rule", () => {
  const log = JSON.parse(FOUNDING);
  const cases = [
    [() => kwh.leafHash({ ...log, energy_kwh: NaN }), "number_out_of_range", "energy_kwh"],
    [() => kwh.leafHash({ ...log, tx: { ...log.tx, ln_invoice_id: Infinity } }), "number_out_of_range", "tx.ln_invoice_id"],
    [() => kwh.leafHash({ ...log, meter_id: "M\udc00" }), "lone_surrogate", "meter_id"],
    [() => kwh.leafHash('{"a":"\ud800"}'), "lone_surrogate", "log"],
    [() => kwh.leafHash({ ...log, extra: 1 }), "unknown_member", "extra"],
    [() => kwh.leafHash(10n), "invalid_json", "log"],
    [() => kwh.hashLogs([FOUNDING, FOUNDING, "{}"]), "missing_member", "[2].schema_version"],
    [() => kwh.hashLogs([FOUNDING, new Uint8Array([0xff])]), "invalid_utf8", "[1]"],
    [() => kwh.canonicalizeJson('{"a":1,"a":2}'), "duplicate_member", "a"],
    [() => kwh.canonicalizeJson("[1e400]"), "number_out_of_range", "[0]"],
    [() => kwh.merkleRoot([LEAF, LEAF.toUpperCase()]), "invalid_hex", "leafHashes[1]"],
    [() => kwh.merkleRoot([LEAF, [LEAF]]), "too_deep", "leafHashes"],
    [() => kwh.inclusionProof([LEAF], 1), "index_out_of_range", "leaf_index"],
    [() => kwh.inclusionProof([LEAF], -1), "out_of_range", "index"],
    [() => kwh.verifyInclusion(LEAF, 0, 2, [], LEAF), "invalid_proof", "inclusion_path"],
    [() => kwh.verifyConsistency(2, 1, LEAF, LEAF, []), "invalid_proof", "consistency_proof"],
    [() => kwh.buildBatch([], { gatewayId: "g", batchId: "b", seq: 1 }), "empty_batch", null],
    [() => kwh.buildBatch([FOUNDING], { gatewayId: "g", batchId: "b", seq: 1, signingkey: "00" }), "unknown_member", "opts.signingkey"],
    [() => kwh.buildBatch([FOUNDING], { gatewayId: "g/1".repeat(50), batchId: "b", seq: 1 }), "invalid_length", "gateway_id"],
    [() => kwh.buildBatch([FOUNDING], { gatewayId: "g", batchId: "b", seq: 2 }), "invalid_value", "prev_head_hash"],
    // y = 2 is not the y-coordinate of any Ed25519 point.
    [() => kwh.verifyReceipt(RECEIPT, { gatewayKey: "02" + "00".repeat(31) }), "invalid_key", "gateway_key"],
  ];
  for (const [f, code, member] of cases) {
    const { error } = outcome(f);
    assert.ok(error, `accepted, expected ${code}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.member, member, error.message);
    assert.ok(error.message.length > 10);
  }
});

test("mutated receipts and logs: never a trap, never valid unless unchanged", () => {
  const rnd = prng(4242);
  const receiptBytes = new TextEncoder().encode(RECEIPT);
  let invalid = 0;
  for (let i = 0; i < 3000; i++) {
    const b = receiptBytes.slice();
    const kind = i % 3;
    let m = b;
    if (kind === 0) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8);
    else if (kind === 1) m = b.subarray(0, Math.floor(rnd() * b.length));
    else b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const v = outcome(() => kwh.verifyReceipt(m)).value;
    assert.ok(v, "verifyReceipt threw");
    const same = m.length === receiptBytes.length && m.every((x, j) => x === receiptBytes[j]);
    // A flip inside insignificant whitespace or a hex letter's case could keep
    // it valid only if the bytes mean the same receipt; with canonical input
    // there is no whitespace, so a changed receipt is invalid.
    if (!same) {
      if (!v.valid) invalid++;
      assert.equal(v.valid, false, `mutation ${i} accepted`);
    }
    outcome(() => kwh.leafHash(m));
    outcome(() => kwh.canonicalizeJson(m));
  }
  assert.ok(invalid > 2900);
});
