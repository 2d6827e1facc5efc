// Shared helpers of the Node suite. The package under test is imported by
// its name, `kwh-btc-iot`, as a user would: scripts/test-wasm.sh packs
// bindings/wasm/pkg with `npm pack` and installs the tarball.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../../../..");
export const VECTORS = path.join(REPO, "tests/vectors");

export const readJson = (p) => JSON.parse(fs.readFileSync(p, "utf8"));

/** Every shared error code (core/src/error.rs, SPEC section 6). */
export const ERROR_CODES = new Set([
  "invalid_utf8", "invalid_json", "duplicate_member", "lone_surrogate", "number_out_of_range",
  "too_deep", "too_large", "unknown_member", "missing_member", "invalid_type", "invalid_value",
  "unsupported_version", "invalid_length", "forbidden_character", "out_of_range", "not_an_integer",
  "invalid_timestamp", "invalid_time_range", "interval_mismatch", "amount_mismatch", "duplicate_tag",
  "too_many_tags", "invalid_hex", "leaf_hash_mismatch", "invalid_proof", "index_out_of_range",
  "invalid_key", "invalid_signature", "untrusted_key", "missing_signature", "empty_batch", "invalid_anchor",
]);

/**
 * Runs `f`; returns its value, or the thrown error after checking that it is
 * a package error (an Error with a shared code), never a WebAssembly trap.
 */
export function outcome(f) {
  try {
    return { value: f() };
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) throw new Error(`WebAssembly trap: ${e.message}`);
    if (!(e instanceof Error)) throw new Error(`thrown value is not an Error: ${String(e)}`);
    if (!ERROR_CODES.has(e.code)) throw new Error(`unknown error code ${e.code}: ${e.message}`);
    if (!(e.member === null || typeof e.member === "string")) throw new Error(`bad member ${e.member}`);
    if (!["json", "validation", "merkle", "crypto"].includes(e.family)) throw new Error(`bad family ${e.family}`);
    return { error: e };
  }
}

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (rnd, xs) => xs[Math.floor(rnd() * xs.length)];

/**
 * A valid emlog-1.1 log of varied shape: optional members present or not,
 * non-ASCII ids, UTC offsets, fractional seconds, numbers of every size.
 */
export function generateLog(rnd, i) {
  const interval = pick(rnd, [60, 300, 900, 3600, 86400]);
  const startMs = Date.UTC(2025, 0, 1) + Math.floor(rnd() * 3e10) * 1000;
  const offsetMin = pick(rnd, [0, 0, 60, -300, 330, 765]);
  const fmt = (ms, frac) => {
    const local = new Date(ms + offsetMin * 60000).toISOString().slice(0, 19);
    const sign = offsetMin < 0 ? "-" : "+";
    const abs = Math.abs(offsetMin);
    const off = offsetMin === 0 && rnd() < 0.5 ? "Z"
      : `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
    return local + frac + off;
  };
  const frac = pick(rnd, ["", "", ".5", ".250", ".000001"]);
  const energy = pick(rnd, [0, 1, 12.34, rnd() * 1000, Math.round(rnd() * 1e6) / 1e3, 1e-7, 123456.789]);
  const price = pick(rnd, [0, 1, 100, 2500, rnd() * 5000, 0.5]);
  const log = {
    schema_version: "emlog-1.1",
    site_id: pick(rnd, ["PLANT-01", "Zürich-€", "site " + i, "工厂-7"]),
    iot_device_id: "gw-" + Math.floor(rnd() * 1000),
    meter_id: pick(rnd, ["MTR-", "Mé😀-", "m"]) + i,
    ts_start: fmt(startMs, frac),
    ts_end: fmt(startMs + interval * 1000, frac),
    energy_kwh: energy,
    status: pick(rnd, ["ok", "estimated", "partial", "error"]),
    tx: { price_sats_per_kwh: price, channel: pick(rnd, ["ln", "onchain", "none"]) },
  };
  if (rnd() < 0.5) log.interval_s = interval;
  if (rnd() < 0.5) log.power_kw_avg = (energy * 3600) / interval;
  else if (rnd() < 0.2) log.power_kw_avg = Math.round(rnd() * 100) / 10;
  if (rnd() < 0.6) log.tags = Array.from({ length: Math.floor(rnd() * 4) }, (_, k) => `t${k}-${pick(rnd, ["peak", "solar", "ß"])}`);
  if (rnd() < 0.5) log.tx.amount_sats = Math.floor(energy * price + 0.5);
  if (rnd() < 0.3) log.tx.unit = "sats";
  if (rnd() < 0.3) log.tx.settlement_status = pick(rnd, ["pending", "invoiced", "paid", "expired", "failed"]);
  if (rnd() < 0.2) log.tx.ln_invoice_id = "lnbc" + Math.floor(rnd() * 1e9);
  if (rnd() < 0.2) log.tx.bitcoin_txid = Array.from({ length: 64 }, () => "0123456789abcdef"[Math.floor(rnd() * 16)]).join("");
  return log;
}

export const hex = (bytes) => Buffer.from(bytes).toString("hex");
