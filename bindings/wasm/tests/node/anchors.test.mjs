// Receipts with Bitcoin anchors (tests/vectors/anchored_receipts.json):
// OpenTimestamps and bitcoin anchors with regtest headers, heads chains,
// pending and needs_header proofs, trusted headers, and the ways each
// breaks; the options' errors; tools/verify-receipts.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as kwh from "kwh-btc-iot";
import { HERE, VECTORS, readJson, outcome } from "./helpers.mjs";

const DOC = readJson(path.join(VECTORS, "anchored_receipts.json"));
const view = (a) => ({
  type: a.type, status: a.status, failed_step: a.failed_step ?? null, height: a.height ?? null,
  block_hash: a.block_hash ?? null, anchored_head_hash: a.anchored_head_hash ?? null,
});

test("anchored receipt vectors: validity, errors, and each anchor's result", () => {
  assert.ok(DOC.cases.length >= 20);
  for (const c of DOC.cases) {
    const opts = { gatewayKey: c.gateway_key, network: c.network, headers: c.trusted_headers };
    const v = outcome(() => kwh.verifyReceipt(c.receipt, opts)).value;
    assert.ok(v, `${c.desc}: threw`);
    assert.equal(v.valid, c.want_valid, `${c.desc}: ${JSON.stringify(v.errors)}`);
    assert.deepEqual(v.errors.map((e) => e.code), c.want_errors, c.desc);
    assert.deepEqual(v.errors.map((e) => e.member ?? null), c.want_error_members, c.desc);
    assert.deepEqual(v.anchors.map(view), c.want_anchors, c.desc);
    for (const a of v.anchors) {
      assert.ok(a.detail.length > 0, c.desc);
      if (a.status === "verified") {
        assert.equal(a.network, c.network, c.desc);
        assert.equal(typeof a.block_time, "number", c.desc);
        assert.match(a.txid, /^[0-9a-f]{64}$/, c.desc);
        assert.ok(a.not_checked.includes(a.block_hash), c.desc);
      }
      if (a.status === "pending") assert.deepEqual(a.calendars, [DOC.calendar], c.desc);
    }
    // The receipt as an object, uppercase header hex: the same result.
    const upper = Object.fromEntries(Object.entries(c.trusted_headers).map(([h, x]) => [h, x.toUpperCase()]));
    const again = kwh.verifyReceipt(JSON.parse(c.receipt), { ...opts, headers: upper });
    assert.deepEqual(again, v, `${c.desc} (object, uppercase headers)`);
  }
});

test("the default network is mainnet: a regtest header fails at header_pow", () => {
  const v = kwh.verifyReceipt(DOC.cases[0].receipt);
  assert.equal(v.valid, false);
  assert.deepEqual([v.anchors[0].status, v.anchors[0].failed_step, v.anchors[0].network], ["invalid", "header_pow", "mainnet"]);
});

test("bad network or headers throw an error naming the member", () => {
  const r = DOC.cases[0].receipt;
  const header = "00".repeat(80);
  for (const [opts, member] of [
    [{ network: "moon" }, "network"],
    [{ network: 1 }, "network"],
    [{ headers: "x" }, "headers"],
    [{ headers: [header] }, "headers"],
    [{ headers: { "0150": header } }, "headers.0150"],
    [{ headers: { "-1": header } }, "headers.-1"],
    [{ headers: { x: header } }, "headers.x"],
    [{ headers: { 150: "00" } }, "headers.150"],
    [{ headers: { 150: "zz".repeat(80) } }, "headers.150"],
    [{ headers: { 150: new Uint8Array(80) } }, "headers.150"],
    [{ headers: { 150: null } }, "headers.150"],
    [{ headers: { 150: 5 } }, "headers.150"],
    [{ netwrok: "regtest" }, "opts.netwrok"],
  ]) {
    const o = outcome(() => kwh.verifyReceipt(r, opts));
    assert.ok(o.error, `${JSON.stringify(opts)}: accepted`);
    assert.equal(o.error.member, member, `${JSON.stringify(opts)}: ${o.error.message}`);
    assert.ok(o.error.message.length > member.length, o.error.message);
  }
});

function ndjson(cases) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kwh-receipts-"));
  const file = path.join(dir, "receipts.ndjson");
  fs.writeFileSync(file, cases.map((c) => JSON.stringify(JSON.parse(c.receipt)) + "\n").join(""));
  return file;
}

test("tools/verify-receipts.mjs: exit 0 only when every receipt is valid with a verified anchor", () => {
  const tool = path.join(HERE, "../../tools/verify-receipts.mjs");
  const verified = (c) => c.want_valid && c.network === "regtest" && Object.keys(c.trusted_headers).length === 0
    && c.want_anchors.some((a) => a.status === "verified");
  const good = ndjson(DOC.cases.filter(verified));
  const out = execFileSync(process.execPath, [tool, good, "--network", "regtest", "--gateway-key", DOC.gateway_public_key], { encoding: "utf8" });
  assert.match(out, /all \d+ receipts valid with a verified anchor/);
  for (const bad of [
    [DOC.cases.find((c) => !c.want_valid && c.network === "regtest" && Object.keys(c.trusted_headers).length === 0)],
    [DOC.cases.find((c) => c.want_anchors.some((a) => a.status === "pending"))],
  ]) {
    const file = ndjson(bad);
    assert.throws(() => execFileSync(process.execPath, [tool, file, "--network", "regtest"], { stdio: "pipe" }), (e) => e.status === 1);
  }
  // Mainnet rules refuse the regtest headers.
  assert.throws(() => execFileSync(process.execPath, [tool, good], { stdio: "pipe" }), (e) => e.status === 1);
  // Usage errors.
  assert.throws(() => execFileSync(process.execPath, [tool], { stdio: "pipe" }), (e) => e.status === 2);
  assert.throws(() => execFileSync(process.execPath, [tool, good, "--network", "moon"], { stdio: "pipe" }), (e) => e.status === 2);
});

test("receipts from a gateway ($KWH_BTC_IOT_RECEIPTS_FILE) are valid with a verified anchor", (t) => {
  const file = process.env.KWH_BTC_IOT_RECEIPTS_FILE;
  if (!file) {
    t.skip("KWH_BTC_IOT_RECEIPTS_FILE is not set: no receipts from a gateway to verify");
    return;
  }
  const network = process.env.KWH_BTC_IOT_NETWORK || "mainnet";
  const gatewayKey = process.env.KWH_BTC_IOT_GATEWAY_KEY || undefined;
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
  assert.ok(lines.length > 0, `${file} holds no receipts`);
  lines.forEach((line, i) => {
    const v = kwh.verifyReceipt(line, { network, gatewayKey });
    assert.ok(v.valid, `receipt ${i}: ${JSON.stringify(v.errors)}`);
    assert.ok(v.anchors.some((a) => a.status === "verified"), `receipt ${i}: ${JSON.stringify(v.anchors)}`);
  });
});
