#!/usr/bin/env node
// Verifies every receipt of an NDJSON file (one emreceipt-1 per line) with
// the kwh-btc-iot package, offline, and exits 0 only when every one is valid
// and carries at least one verified anchor.
//
//   node tools/verify-receipts.mjs FILE [--network mainnet|testnet|signet|regtest]
//        [--gateway-key HEX] [--header HEIGHT:HEX ...]
//
// Exit status: 0 all valid with a verified anchor, 1 some are not (each is
// named on stderr), 2 usage or input error. The package is imported by
// name (npm install kwh-btc-iot, or the packed tarball as scripts/test-wasm.sh
// does); failing that, the build in bindings/wasm/pkg (bindings/wasm/build.sh).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const USAGE = "usage: verify-receipts.mjs FILE [--network NET] [--gateway-key HEX] [--header HEIGHT:HEX ...]";

function usage(message) {
  console.error(`verify-receipts: ${message}\n${USAGE}`);
  process.exit(2);
}

const args = process.argv.slice(2);
let file = null;
let network = "mainnet";
let gatewayKey;
const headers = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
  if (a === "--network") network = value();
  else if (a === "--gateway-key") gatewayKey = value();
  else if (a === "--header") {
    const [h, x] = value().split(":");
    if (!x) usage("--header takes HEIGHT:HEX");
    headers[h] = x;
  } else if (a === "-h" || a === "--help") {
    console.log(USAGE);
    process.exit(0);
  } else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else if (file === null) file = a;
  else usage(`unexpected argument ${a}`);
}
if (file === null) usage("FILE is required");

let kwh;
try {
  kwh = await import("kwh-btc-iot");
} catch (e) {
  const built = path.join(path.dirname(fileURLToPath(import.meta.url)), "../pkg/node/kwh_btc_iot_wasm.js");
  if (!fs.existsSync(built)) {
    console.error(`verify-receipts: cannot import the kwh-btc-iot package (${e.message}) and ${built} is not built`);
    process.exit(2);
  }
  kwh = createRequire(import.meta.url)(built);
}
let text;
try {
  text = fs.readFileSync(file, "utf8");
} catch (e) {
  usage(`cannot read ${file}: ${e.message}`);
}
const lines = text.split("\n").map((l, n) => [n + 1, l]).filter(([, l]) => l.trim());
if (lines.length === 0) usage(`${file} holds no receipts`);

const opts = { network, gatewayKey, headers };
let bad = 0;
for (const [n, line] of lines) {
  let v;
  try {
    v = kwh.verifyReceipt(line, opts);
  } catch (e) {
    usage(`${e.member ?? "options"}: ${e.message}`);
  }
  const verified = v.anchors.filter((a) => a.status === "verified");
  if (!v.valid) {
    bad++;
    console.error(`line ${n}: invalid: ${v.errors.map((e) => `${e.code} ${e.member ?? ""} ${e.message}`).join("; ")}`);
  } else if (verified.length === 0) {
    bad++;
    const states = v.anchors.map((a) => `${a.type} ${a.status}: ${a.detail}`).join("; ") || "no anchors";
    console.error(`line ${n}: valid but no verified anchor (${states})`);
  } else {
    const a = verified[0];
    console.log(`line ${n}: valid, ${a.type} anchor verified in block ${a.height} ${a.block_hash} (${a.network})`);
  }
}
if (bad > 0) {
  console.error(`verify-receipts: ${bad} of ${lines.length} receipts not valid with a verified anchor`);
  process.exit(1);
}
console.log(`verify-receipts: all ${lines.length} receipts valid with a verified anchor (${network})`);
