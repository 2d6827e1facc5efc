// Cross-check against independent JavaScript: the leaf hash of generated
// logs equals SHA-256(0x00 || RFC 8785 of the normalized log) computed with
// the npm packages `canonicalize` and `@noble/hashes`; canonicalizeJson
// agrees with `canonicalize` on random JSON; roots agree with a plain
// RFC 9162 fold over noble's SHA-256.
import { test } from "node:test";
import assert from "node:assert/strict";
import canonicalize from "canonicalize";
import { sha256 } from "@noble/hashes/sha2.js";
import * as kwh from "kwh-btc-iot";
import { prng, generateLog, hex } from "./helpers.mjs";

const utf8 = new TextEncoder();

function jsLeafHash(normalizedLog) {
  const bytes = utf8.encode(canonicalize(normalizedLog));
  const msg = new Uint8Array(bytes.length + 1);
  msg.set(bytes, 1);
  return hex(sha256(msg));
}

function jsRoot(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  const msg = new Uint8Array(65);
  msg[0] = 1;
  msg.set(jsRoot(leaves.slice(0, k)), 1);
  msg.set(jsRoot(leaves.slice(k)), 33);
  return sha256(msg);
}

test("leaf hashes of 3000 generated logs equal canonicalize + @noble/hashes", () => {
  const rnd = prng(20251201);
  const logs = Array.from({ length: 3000 }, (_, i) => generateLog(rnd, i));
  const leaves = kwh.hashLogs(logs);
  assert.deepEqual(kwh.hashLogs(logs.map((l) => JSON.stringify(l))), leaves);
  logs.forEach((log, i) => {
    const { log: normalized } = kwh.normalize(log);
    const want = jsLeafHash(normalized);
    assert.equal(leaves[i], want, JSON.stringify(log));
    if (i % 10 === 0) {
      assert.equal(kwh.leafHash(log), want);
      assert.equal(new TextDecoder().decode(kwh.canonicalize(log)), canonicalize(normalized));
      // Normalizing is idempotent.
      assert.equal(kwh.leafHash(normalized), want);
    }
  });
  const root = kwh.merkleRoot(leaves);
  assert.equal(root, hex(jsRoot(leaves.map((h) => Uint8Array.from(Buffer.from(h, "hex"))))));
  for (const i of [0, 1, 1234, 2999]) {
    assert.equal(kwh.verifyInclusion(leaves[i], i, leaves.length, kwh.inclusionProof(leaves, i), root), true);
  }
});

function randomJson(rnd, depth) {
  const r = rnd();
  if (depth > 3 || r < 0.35) {
    const kind = Math.floor(rnd() * 6);
    if (kind === 0) return null;
    if (kind === 1) return rnd() < 0.5;
    if (kind === 2) return Math.floor(rnd() * 2 ** 53) * (rnd() < 0.5 ? -1 : 1);
    if (kind === 3) return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
    if (kind === 4) return [0, -0, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 0.1 + 0.2][Math.floor(rnd() * 7)];
    return Array.from({ length: Math.floor(rnd() * 6) }, () =>
      String.fromCodePoint([0x41, 0xe9, 0x20ac, 0x1f600, 0x7f, 0x0a, 0x22, 0x5c, 0x10, 0xfb33][Math.floor(rnd() * 10)])).join("");
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rnd() * 5) }, () => randomJson(rnd, depth + 1));
  const o = {};
  for (let i = Math.floor(rnd() * 6); i > 0; i--) {
    o[["a", "b", "é", "€", "😀", "10", "1", "", "\u0080", "דּ"][Math.floor(rnd() * 10)] + (rnd() < 0.3 ? i : "")] = randomJson(rnd, depth + 1);
  }
  return o;
}

test("canonicalizeJson equals the npm canonicalize package on 5000 random JSON values", () => {
  const rnd = prng(8785);
  for (let i = 0; i < 5000; i++) {
    const v = randomJson(rnd, 0);
    const want = canonicalize(v);
    // A string argument is JSON text; any other value is serialized.
    assert.equal(kwh.canonicalizeJson(typeof v === "string" ? JSON.stringify(v) : v), want);
    assert.equal(kwh.canonicalizeJson(JSON.stringify(v, null, 2)), want);
  }
});
