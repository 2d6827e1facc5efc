// Benchmark: the WASM package against the JavaScript a developer would
// otherwise write (npm `canonicalize` + `@noble/hashes` sha256 +
// `merkletreejs`, and `@noble/curves` ed25519 for signatures), in the same
// Node process, on the same data.
//
//   node bench/bench.mjs              (after ./build.sh and npm ci)
//   KWH_WASM_PKG=/path/to/pkg node bench/bench.mjs   (another build)
//   BENCH_LOGS=100000 BENCH_RECEIPTS=10000 BENCH_ROUNDS=5 node bench/bench.mjs
//
// Prints a markdown report (copied into PERFORMANCE.md). Times are medians
// of interleaved rounds; nothing here asserts a speed.
//
// What each side does:
// - hashing: WASM `merkleRoot(hashLogs(logs))` validates and normalizes
//   every log, RFC 8785, SHA-256(0x00 || bytes), RFC 9162 root. JS:
//   canonicalize + noble sha256 over 0x00 || bytes per log (no validation),
//   then `new MerkleTree(leaves, sha256, { sortPairs: false })`. merkletreejs'
//   tree is NOT RFC 9162 (no 0x01 node prefix; an odd node is carried up
//   differently), so its root differs from ours: it is used as the
//   developer's alternative the issue names, not as an equivalent. The leaf
//   hashes of both sides are checked to be equal.
// - receipts: WASM `verifyReceipt(receipt, { gatewayKey })` re-validates the
//   log, recomputes the leaf, folds the RFC 9162 path, reads the head,
//   checks the Ed25519 signature. JS: canonicalize + sha256 of the log,
//   compare with leaf_hash, `MerkleTree.verify` of a merkletreejs proof (the
//   same leaves, its own tree), canonicalize the head, noble ed25519 verify.
//   Also run without signatures (unsigned head; JS skips ed25519).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import canonicalize from "canonicalize";
import { sha256 } from "@noble/hashes/sha2.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { MerkleTree } from "merkletreejs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = process.env.KWH_WASM_PKG ?? path.join(HERE, "../pkg");
const require = createRequire(import.meta.url);
const kwh = require(path.join(PKG, "node/kwh_btc_iot_wasm.js"));

const N_LOGS = Number(process.env.BENCH_LOGS ?? 100_000);
const N_RECEIPTS = Number(process.env.BENCH_RECEIPTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SIG_ROUNDS = Number(process.env.BENCH_SIG_ROUNDS ?? 3);

const enc = new TextEncoder();
const hex = (b) => Buffer.from(b).toString("hex");
const fromHex = (s) => Uint8Array.from(Buffer.from(s, "hex"));

// ---------------------------------------------------------------- data
// Normalized logs (every member present, as a gateway stores them), so that
// canonicalize() of the object is exactly the canonical form the leaf hash
// covers on both sides.
function makeLogs(n) {
  const logs = new Array(n);
  for (let i = 0; i < n; i++) {
    const energy = ((i * 7919) % 100000) / 1000;
    const price = 100 + (i % 50);
    const start = Date.UTC(2025, 11, 1, 0, 0, 0) + (i % 100000) * 300000;
    logs[i] = {
      schema_version: "emlog-1.1",
      site_id: `PLANT-${String(i % 97).padStart(2, "0")}`,
      iot_device_id: `gw-PLANT-${i % 13}`,
      meter_id: `MTR-${i}`,
      ts_start: new Date(start).toISOString().replace(".000Z", "Z"),
      ts_end: new Date(start + 300000).toISOString().replace(".000Z", "Z"),
      interval_s: 300,
      energy_kwh: energy,
      power_kw_avg: (energy * 3600) / 300,
      status: i % 10 === 0 ? "estimated" : "ok",
      tags: i % 3 === 0 ? ["peak"] : [],
      tx: {
        unit: "sats",
        price_sats_per_kwh: price,
        amount_sats: Math.floor(energy * price + 0.5),
        channel: "ln",
        settlement_status: "pending",
        ln_invoice_id: null,
        bitcoin_txid: null,
      },
    };
  }
  return logs;
}

function jsLeaf(log) {
  const bytes = enc.encode(canonicalize(log));
  const msg = new Uint8Array(bytes.length + 1);
  msg.set(bytes, 1);
  return sha256(msg);
}

// ---------------------------------------------------------------- timing
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs every variant `rounds` times, interleaved; returns median ms each. */
function measure(variants, rounds) {
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const f of Object.values(variants)) f(); // warm up (JIT, wasm tier-up)
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint();
      f();
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, ts]) => [k, { median: median(ts), min: Math.min(...ts) }]));
}

const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

// ---------------------------------------------------------------- 1. hashing
const logs = makeLogs(N_LOGS);
const texts = logs.map((l) => JSON.stringify(l));
{
  const ours = kwh.hashLogs(logs.slice(0, 1000));
  const theirs = logs.slice(0, 1000).map((l) => hex(jsLeaf(l)));
  if (ours.join() !== theirs.join()) throw new Error("leaf hashes differ between WASM and canonicalize + noble");
}
let sink;
const hashing = measure(
  {
    wasmObjects: () => { sink = kwh.merkleRoot(kwh.hashLogs(logs)); },
    wasmTexts: () => { sink = kwh.merkleRoot(kwh.hashLogs(texts)); },
    js: () => {
      const leaves = logs.map(jsLeaf);
      sink = new MerkleTree(leaves, sha256, { sortPairs: false }).getRoot();
    },
    jsTexts: () => {
      const leaves = texts.map((t) => jsLeaf(JSON.parse(t)));
      sink = new MerkleTree(leaves, sha256, { sortPairs: false }).getRoot();
    },
  },
  ROUNDS,
);
// Split of the JS time: leaves vs merkletreejs.
const jsSplit = measure(
  {
    jsLeavesOnly: () => { sink = logs.map(jsLeaf); },
    wasmLeavesOnly: () => { sink = kwh.hashLogs(logs); },
  },
  ROUNDS,
);

// ---------------------------------------------------------------- 2. receipts
const seed = "5a".repeat(32);
const rLogs = logs.slice(0, N_RECEIPTS);
const opts = { gatewayId: "gw-bench", batchId: "batch-1", seq: 1, createdAt: "2025-12-01T12:00:00Z" };
const signed = kwh.buildBatch(rLogs, { ...opts, signingKey: seed });
const unsigned = kwh.buildBatch(rLogs, opts);
const gatewayKey = signed.signature.public_key;
// As received over the wire: JSON text, parsed by the verifier.
const signedReceipts = signed.receipts.map((r) => JSON.parse(JSON.stringify(r)));
const unsignedReceipts = unsigned.receipts.map((r) => JSON.parse(JSON.stringify(r)));
const signedTexts = signed.receipts.map((r) => JSON.stringify(r));

// The developer's alternative: a merkletreejs tree over the same leaves,
// its proofs shipped as hex with positions, a signature over the head.
const altTree = new MerkleTree(rLogs.map(jsLeaf), sha256, { sortPairs: false });
const altRoot = altTree.getRoot().toString("hex");
const altProofs = rLogs.map((_, i) =>
  altTree.getProof(altTree.getLeaves()[i], i).map((p) => ({ position: p.position, data: p.data.toString("hex") })));

function jsVerify(r, i, withSignature) {
  const leaf = jsLeaf(r.log);
  if (hex(leaf) !== r.leaf_hash) return false;
  const proof = altProofs[i].map((p) => ({ position: p.position, data: Buffer.from(p.data, "hex") }));
  if (!MerkleTree.verify(proof, Buffer.from(leaf), Buffer.from(altRoot, "hex"), sha256)) return false;
  if (!withSignature) return true;
  const head = enc.encode(canonicalize(r.batch_head));
  const s = r.head_signature;
  return s.public_key === gatewayKey && ed25519.verify(fromHex(s.signature), head, fromHex(s.public_key));
}

for (let i = 0; i < 5; i++) {
  if (!kwh.verifyReceipt(signedReceipts[i], { gatewayKey }).valid) throw new Error("WASM rejected a receipt");
  if (!jsVerify(signedReceipts[i], i, true)) throw new Error("JS alternative rejected a receipt");
}

const receiptsUnsigned = measure(
  {
    wasm: () => { for (const r of unsignedReceipts) if (!kwh.verifyReceipt(r).valid) throw new Error("invalid"); },
    js: () => { unsignedReceipts.forEach((r, i) => { if (!jsVerify(r, i, false)) throw new Error("invalid"); }); },
  },
  ROUNDS,
);
const receiptsSigned = measure(
  {
    wasm: () => { for (const r of signedReceipts) if (!kwh.verifyReceipt(r, { gatewayKey }).valid) throw new Error("invalid"); },
    wasmTexts: () => { for (const r of signedTexts) if (!kwh.verifyReceipt(r, { gatewayKey }).valid) throw new Error("invalid"); },
    js: () => { signedReceipts.forEach((r, i) => { if (!jsVerify(r, i, true)) throw new Error("invalid"); }); },
  },
  SIG_ROUNDS,
);

// ---------------------------------------------------------------- size
const wasmFile = path.join(PKG, "web/kwh_btc_iot_wasm_bg.wasm");
const raw = fs.readFileSync(wasmFile);
const gz = zlib.gzipSync(raw, { level: 9 }).length;

// ---------------------------------------------------------------- report
const pkgJson = (name) => JSON.parse(fs.readFileSync(path.join(HERE, "../node_modules", name, "package.json"), "utf8")).version;
const ratio = (a, b) => (a / b).toFixed(1) + "x";
const lines = [];
const out = (s = "") => lines.push(s);
out(`Machine: ${os.cpus().length} x ${os.cpus()[0].model}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}; `
  + `Node ${process.version}; canonicalize ${pkgJson("canonicalize")}, @noble/hashes ${pkgJson("@noble/hashes")}, `
  + `@noble/curves ${pkgJson("@noble/curves")}, merkletreejs ${pkgJson("merkletreejs")}; package ${PKG}.`);
out(`Rounds: ${ROUNDS} (signatures: ${SIG_ROUNDS}), interleaved, after one warm-up; median (min) in ms.`);
out();
out(`| .wasm (web) | raw | gzip -9 | budget |`);
out(`|---|---:|---:|---:|`);
out(`| ${path.basename(wasmFile)} | ${raw.length} B (${(raw.length / 1024).toFixed(1)} KiB) | ${gz} B (${(gz / 1024).toFixed(1)} KiB) | 120 KB gzip |`);
out();
out(`| ${N_LOGS.toLocaleString("en")} logs: leaf hashes + root | ms | vs JS |`);
out(`|---|---:|---:|`);
out(`| WASM merkleRoot(hashLogs(objects)) | ${fmt(hashing.wasmObjects.median)} (${fmt(hashing.wasmObjects.min)}) | ${ratio(hashing.js.median, hashing.wasmObjects.median)} |`);
out(`| WASM merkleRoot(hashLogs(JSON texts)) | ${fmt(hashing.wasmTexts.median)} (${fmt(hashing.wasmTexts.min)}) | ${ratio(hashing.jsTexts.median, hashing.wasmTexts.median)} vs JS from texts |`);
out(`| JS canonicalize + noble sha256 + merkletreejs (objects) | ${fmt(hashing.js.median)} (${fmt(hashing.js.min)}) | 1.0x |`);
out(`| JS JSON.parse + the same (texts) | ${fmt(hashing.jsTexts.median)} (${fmt(hashing.jsTexts.min)}) | |`);
out(`| of which JS leaves only (canonicalize + sha256) | ${fmt(jsSplit.jsLeavesOnly.median)} | |`);
out(`| of which WASM hashLogs only | ${fmt(jsSplit.wasmLeavesOnly.median)} | ${ratio(jsSplit.jsLeavesOnly.median, jsSplit.wasmLeavesOnly.median)} |`);
out();
out(`| ${N_RECEIPTS.toLocaleString("en")} receipts verified | ms | vs JS |`);
out(`|---|---:|---:|`);
out(`| WASM verifyReceipt, signed head, trusted key (objects) | ${fmt(receiptsSigned.wasm.median)} (${fmt(receiptsSigned.wasm.min)}) | ${ratio(receiptsSigned.js.median, receiptsSigned.wasm.median)} |`);
out(`| WASM verifyReceipt, signed head, trusted key (JSON texts) | ${fmt(receiptsSigned.wasmTexts.median)} (${fmt(receiptsSigned.wasmTexts.min)}) | ${ratio(receiptsSigned.js.median, receiptsSigned.wasmTexts.median)} |`);
out(`| JS canonicalize + sha256 + MerkleTree.verify + noble ed25519 | ${fmt(receiptsSigned.js.median)} (${fmt(receiptsSigned.js.min)}) | 1.0x |`);
out(`| WASM verifyReceipt, unsigned head | ${fmt(receiptsUnsigned.wasm.median)} (${fmt(receiptsUnsigned.wasm.min)}) | ${ratio(receiptsUnsigned.js.median, receiptsUnsigned.wasm.median)} |`);
out(`| JS canonicalize + sha256 + MerkleTree.verify (no signature) | ${fmt(receiptsUnsigned.js.median)} (${fmt(receiptsUnsigned.js.min)}) | 1.0x |`);
console.log(lines.join("\n"));
void sink;
