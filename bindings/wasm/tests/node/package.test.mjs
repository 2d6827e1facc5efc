// The package as a user gets it: both module systems, the web build, the
// TypeScript declarations.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import * as kwh from "kwh-btc-iot";
import { HERE, VECTORS } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const FOUNDING = fs.readFileSync(path.join(VECTORS, "founding_example.json"), "utf8");
const LEAF = "fcfaf9b5e51b3c919213338d87566a3d7230ce7903f00ff4e41d8a93835aff21";
const API = ["normalize", "canonicalize", "canonicalizeJson", "leafHash", "hashLogs", "merkleRoot",
  "inclusionProof", "verifyInclusion", "verifyConsistency", "buildBatch", "verifyReceipt"];

test("ES module import and CommonJS require expose the same API", () => {
  const cjs = require("kwh-btc-iot");
  for (const name of API) {
    assert.equal(typeof kwh[name], "function", name);
    assert.equal(typeof cjs[name], "function", name);
  }
  assert.equal(cjs.leafHash(FOUNDING), LEAF);
  assert.equal(kwh.leafHash(FOUNDING), LEAF);
});

test("the web (ES module) build works once initialised with the .wasm bytes", async () => {
  const web = await import("kwh-btc-iot/web");
  const wasmPath = require.resolve("kwh-btc-iot/web/kwh_btc_iot_wasm_bg.wasm");
  await web.default({ module_or_path: fs.readFileSync(wasmPath) });
  assert.equal(web.leafHash(FOUNDING), LEAF);
  assert.equal(web.verifyReceipt("{").valid, false);
});

test("five lines: build a signed batch, verify a receipt with the trusted key", () => {
  const { receipts, signature } = kwh.buildBatch([FOUNDING, JSON.parse(FOUNDING)], {
    gatewayId: "gw-1", batchId: "b-1", seq: 1, createdAt: new Date("2025-12-01T10:20:00Z"), signingKey: "07".repeat(32),
  });
  const v = kwh.verifyReceipt(receipts[1], { gatewayKey: signature.public_key });
  assert.equal(v.valid, true);
  assert.deepEqual(v.errors, []);
});

test("TypeScript declarations type the log, receipt and verification (tsc --strict)", () => {
  const dts = fs.readFileSync(require.resolve("kwh-btc-iot/package.json").replace("package.json", "node/kwh_btc_iot_wasm.d.ts"), "utf8");
  for (const name of ["Log", "LogInput", "Receipt", "BatchHead", "Verification", "KwhError", "BuiltBatch"]) {
    assert.match(dts, new RegExp(`export (interface|type) ${name}\\b`), name);
  }
  const signatures = dts.split("\n").filter((l) => l.startsWith("export function"));
  assert.equal(signatures.length, API.length, signatures.join("\n"));
  for (const s of signatures) assert.doesNotMatch(s, /\bany\b/, s);
  const tsc = path.join(HERE, "../../node_modules/typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", path.join(HERE, "typescript")], { stdio: "pipe" });
});
