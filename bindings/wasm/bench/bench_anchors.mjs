// Times verifyReceipt of a signed receipt with an OpenTimestamps anchor and
// its block header in the WASM package (Node), next to the same receipt
// without anchor or signature, under the rules that verify it (regtest: the
// header is mined at the regtest target) and under mainnet's (refused at
// header_pow after all of the anchor's work). Same cases as
// python/benches/bench_anchors.py.
//
//   node bench/bench_anchors.mjs [RECEIPT.json]     (after ./build.sh)
//
// RECEIPT.json defaults to target/anchoring/receipt-ots-regtest.json, written
// by the native benchmark (`cargo test --release -p kwh-btc-iot-core --test
// anchoring -- --ignored --nocapture bench`), else the first case of
// tests/vectors/anchored_receipts.json. Prints the best wall time of 5 runs
// and the process CPU time per call.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../../..");
const PKG = process.env.KWH_WASM_PKG || path.join(HERE, "../pkg");
const kwh = createRequire(import.meta.url)(path.join(PKG, "node/kwh_btc_iot_wasm.js"));

const file = process.argv[2] || path.join(REPO, "target/anchoring/receipt-ots-regtest.json");
const text = fs.existsSync(file)
  ? fs.readFileSync(file, "utf8")
  : JSON.parse(fs.readFileSync(path.join(REPO, "tests/vectors/anchored_receipts.json"), "utf8")).cases[0].receipt;
const r = JSON.parse(text);
const anchor = r.anchors[0];
if (anchor.type !== "opentimestamps" || !anchor.headers) throw new Error("the receipt's first anchor must be an OTS anchor with headers");
const { headers, ...bareAnchor } = anchor;
const cases = [
  ["signed, OTS anchor + header (regtest)", text, { network: "regtest" }, "verified"],
  ["signed, OTS anchor, trusted header", JSON.stringify({ ...r, anchors: [bareAnchor] }), { network: "regtest", headers }, "verified"],
  ["signed, OTS anchor + header (mainnet)", text, {}, "invalid"],
  ["signed, no anchor", JSON.stringify({ ...r, anchors: [] }), {}, undefined],
  ["unsigned, OTS anchor + header (regtest)", JSON.stringify({ ...r, head_signature: null }), { network: "regtest" }, "verified"],
  ["unsigned, no anchor", JSON.stringify({ ...r, head_signature: null, anchors: [] }), {}, undefined],
];
console.log(`node ${process.version}; receipt ${text.length} bytes; package ${PKG}`);
for (const [name, t, opts, want] of cases) {
  const got = kwh.verifyReceipt(t, opts).anchors[0]?.status;
  if (got !== want) throw new Error(`${name}: anchor ${got}, expected ${want}`);
  const n = 5000;
  let wall = Infinity;
  let cpu = Infinity;
  for (let k = 0; k < 5; k++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) kwh.verifyReceipt(t, opts);
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e3 / n);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / n);
  }
  console.log(`wasm verifyReceipt, ${(name + ":").padEnd(42)}${wall.toFixed(2).padStart(8)} µs wall (best) ${cpu.toFixed(2).padStart(8)} µs CPU`);
}
