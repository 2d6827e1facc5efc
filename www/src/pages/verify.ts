// Verify: paste or drop a receipt (or a JSON Lines file of them); the WASM
// package checks each one here, in the browser, and every step is shown.
// The gateway's public key can be pinned: the head must then be signed by it.

import { gateway } from "../api";
import { badge, errorBox, facts, h, hex, mount } from "../dom";
import * as fmt from "../format";
import type { Ctx } from "../router";
import { stepsList, verdict } from "../ui";
import { type AnchorResult, loadWasm, type Verification, verifyReceipt } from "../wasm";

const PIN_STORAGE = "kwh-btc-iot.pinned-gateway-key";
const NETWORK_STORAGE = "kwh-btc-iot.anchor-network";
const NETWORKS = ["mainnet", "testnet", "signet", "regtest"] as const;
type Network = (typeof NETWORKS)[number];
/** sessionStorage slot other pages use to hand a receipt to this page. */
export const VERIFY_HANDOFF = "kwh-btc-iot.verify-input";
const DETAIL_LIMIT = 50;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Throws the core's `invalid_key` error unless `key` is an Ed25519 public key
 * (64 hex characters that decode to a curve point): the WASM package checks
 * the key before it looks at the receipt.
 */
function checkKey(key: string): void {
  if (!HEX64.test(key)) throw Object.assign(new Error("gateway_key: must be 64 lowercase hex characters (32 bytes)"), { code: "invalid_key", member: "gateway_key" });
  verifyReceipt("{}", { gatewayKey: key });
}

/** The pinned gateway public key (a public value, so kept in localStorage). */
export function pinnedKey(): string | null {
  try {
    const k = localStorage.getItem(PIN_STORAGE);
    if (!k) return null;
    checkKey(k);
    return k;
  } catch {
    return null;
  }
}

/**
 * One receipt, or JSON Lines: several lines that each hold one object. A
 * pretty-printed receipt spans lines too, but its inner lines do not each
 * start with `{` and end with `}`.
 */
export function splitReceipts(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length > 1 && lines.every((l) => l.startsWith("{") && l.endsWith("}"))) return lines;
  return text.trim() ? [text.trim()] : [];
}

/** The network the user chose on this page before, if any. */
function storedNetwork(): Network | null {
  try {
    const n = localStorage.getItem(NETWORK_STORAGE);
    return (NETWORKS as readonly string[]).includes(n ?? "") ? (n as Network) : null;
  } catch {
    return null;
  }
}

/** The Bitcoin network anchors are checked under: the user's choice, else mainnet (until the gateway says which it anchors on). */
function chosenNetwork(): Network {
  return storedNetwork() ?? "mainnet";
}

/**
 * Trusted block headers, one per line: `HEIGHT HEADER_HEX` (or `HEIGHT:HEX`,
 * `HEIGHT=HEX`). The WASM package checks each header and names the bad one.
 */
export function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
    const m = /^(\S+?)\s*[:= ]\s*([0-9A-Fa-f]+)$/.exec(line);
    if (!m) throw Object.assign(new Error(`trusted headers, line ${i + 1}: expected "HEIGHT HEADER_HEX"`), { code: "invalid_value", member: "headers" });
    out[m[1]!] = m[2]!.toLowerCase();
  });
  return out;
}

interface LogPeek {
  site_id?: string;
  iot_device_id?: string;
  meter_id?: string;
  ts_start?: string;
  energy_kwh?: number;
  tx?: { amount_sats?: number };
}

/** The receipt's log, for the summary line only (the checks are the WASM package's). */
function peekLog(text: string): LogPeek | null {
  try {
    const log = (JSON.parse(text) as { log?: unknown }).log;
    return log && typeof log === "object" ? (log as LogPeek) : null;
  } catch {
    return null; // the parse step reports why
  }
}

/** One anchor's state, with the block it reaches when there is one. */
function anchorItem(a: AnchorResult): HTMLElement {
  const kind = a.status === "verified" ? "ok" : a.status === "invalid" ? "bad" : a.status === "pending" || a.status === "needs_header" ? "warn" : "muted";
  const rows: Array<[string, string | number | undefined]> = [
    ["network", a.network],
    ["block height", a.height],
    ["block hash", a.block_hash],
    ["block time", a.block_time === undefined ? undefined : new Date(a.block_time * 1000).toISOString()],
    ["txid", a.txid],
    ["calendars", a.calendars?.join(", ")],
    ["failed step", a.failed_step],
    ["not checked", a.not_checked],
  ];
  return h(
    "li",
    { "data-anchor-type": a.type, "data-anchor-status": a.status },
    badge(a.status, kind), " ", h("strong", null, a.type), ": ", a.detail,
    h("div", { class: "anchor-facts small" }, rows.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => h("div", null, h("span", { class: "muted" }, `${k}: `), h("code", { class: "hex" }, String(v))))),
  );
}

function summary(v: Verification, text: string, i: number): HTMLElement {
  const log = peekLog(text);
  const failed = v.steps.filter((s) => s.status === "failed").map((s) => s.name);
  return h(
    "details",
    { class: "receipt-result card", "data-index": i, "data-valid": String(v.valid), open: i === 0 },
    h("summary", null, verdict(v), " ", h("strong", null, `Receipt ${i + 1}`), " ",
      log ? h("span", { class: "muted" }, `${log.site_id ?? "?"} / ${log.iot_device_id ?? "?"} / ${log.meter_id ?? "?"} · ${fmt.time(log.ts_start)}`) : null,
      failed.length ? h("span", { class: "failed-steps" }, ` failed: ${failed.join(", ")}`) : null),
    stepsList(v),
    v.errors.length ? h("ul", { class: "errors" }, v.errors.map((e) => h("li", null, h("code", { class: "err-code" }, e.code), e.member ? [" at ", h("code", null, e.member)] : null, " ", e.message))) : null,
    facts([
      ["Leaf hash", hex(v.leaf_hash)],
      ["Merkle root", hex(v.merkle_root)],
      ["Head hash", hex(v.head_hash)],
      ["Head signature", h("span", { "data-testid": "signature-status" }, badge(v.signature, v.signature === "valid" ? "ok" : v.signature === "absent" || v.signature === "not_checked" ? "muted" : "bad"))],
      ["Signed by", hex(v.signer)],
      ["Device signature", badge(v.log_signature, v.log_signature === "valid" ? "ok" : v.log_signature === "invalid" || v.log_signature === "untrusted_key" ? "bad" : "muted")],
      ["Anchors", v.anchors.length ? h("ul", { class: "anchors" }, v.anchors.map(anchorItem)) : "none"],
      ...(log ? [["Energy", `${fmt.kwh(log.energy_kwh ?? 0)}, ${fmt.sats(log.tx?.amount_sats ?? 0)}`] as [string, string]] : []),
    ]),
    v.warnings.length ? h("ul", { class: "warnings" }, v.warnings.map((w) => h("li", null, badge(w.code, "warn"), " ", w.message))) : null,
  );
}

export async function verifyPage(root: HTMLElement, _ctx: Ctx): Promise<void> {
  const pinBox = h("div", { class: "pin" });
  const pinInput = h("input", { name: "pin-key", placeholder: "64 hex characters (Ed25519 public key)", autocomplete: "off", spellcheck: "false", "aria-label": "Gateway public key to pin" });
  const pinMsg = h("div", { class: "pin-msg" });
  const textarea = h("textarea", {
    name: "receipt",
    rows: 12,
    spellcheck: "false",
    placeholder: "Paste a receipt (JSON) or JSON Lines of receipts here, or drop a file on this box.",
    "aria-label": "Receipt JSON or JSON Lines",
    "data-testid": "receipt-input",
  });
  const fileInput = h("input", { type: "file", accept: ".json,.jsonl,.ndjson,application/json,text/plain", "data-testid": "receipt-file", "aria-label": "Receipt file" });
  const fileName = h("span", { class: "muted", "data-testid": "file-name" });
  const results = h("div", { class: "results", "data-testid": "verify-results", "aria-live": "polite" });
  const networkSelect = h("select", { name: "anchor-network", "data-testid": "anchor-network", "aria-label": "Bitcoin network of the anchors" },
    NETWORKS.map((n) => h("option", { value: n, selected: n === chosenNetwork() }, n)));
  const headersInput = h("textarea", {
    name: "trusted-headers",
    rows: 2,
    spellcheck: "false",
    placeholder: "Optional: block headers you trust, one per line: HEIGHT HEADER_HEX (from your node: bitcoin-cli getblockheader $(bitcoin-cli getblockhash HEIGHT) false)",
    "aria-label": "Trusted block headers",
    "data-testid": "trusted-headers",
  });
  let lastVerified: string | null = null;

  const renderPin = () => {
    const k = pinnedKey();
    mount(pinBox, k
      ? h("div", null, "Pinned gateway key: ", hex(k, { "data-testid": "pinned-key" }), " ", h("button", { type: "button", class: "btn btn-small", "data-testid": "unpin", onclick: () => { localStorage.removeItem(PIN_STORAGE); renderPin(); rerun(); } }, "Unpin"))
      : h("div", { class: "muted", "data-testid": "pinned-key-none" }, "No key pinned: a signature is checked against the public key inside the receipt, which proves integrity but not who signed. Pin the gateway's key to require it."));
  };
  const pin = (k: string) => {
    const key = k.trim().toLowerCase();
    try {
      checkKey(key);
    } catch (e) {
      mount(pinMsg, errorBox(e));
      return;
    }
    localStorage.setItem(PIN_STORAGE, key);
    mount(pinMsg);
    pinInput.value = "";
    renderPin();
    rerun();
  };

  const run = (text: string) => {
    lastVerified = text;
    const receipts = splitReceipts(text);
    if (!receipts.length) {
      mount(results, h("p", { class: "muted" }, "Nothing to verify yet."));
      return;
    }
    const key = pinnedKey();
    const network = networkSelect.value as Network;
    let verdicts: Verification[];
    try {
      const headers = parseHeaders(headersInput.value);
      verdicts = receipts.map((r) => verifyReceipt(r, { gatewayKey: key, network, headers }));
    } catch (e) {
      mount(results, errorBox(e, { "data-testid": "verify-options-error" }));
      return;
    }
    const valid = verdicts.filter((v) => v.valid).length;
    mount(
      results,
      h("div", { class: `alert ${valid === receipts.length ? "alert-ok" : "alert-bad"}`, "data-testid": "verify-summary", "data-valid": valid, "data-total": receipts.length },
        receipts.length === 1 ? ["The receipt is ", h("strong", null, verdicts[0]!.valid ? "valid" : "invalid")] : `${valid} of ${receipts.length} receipts valid`,
        key ? " (head signed by the pinned key required)" : "",
        ` · anchors checked under ${network} rules`),
      verdicts.slice(0, DETAIL_LIMIT).map((v, i) => summary(v, receipts[i]!, i)),
      receipts.length > DETAIL_LIMIT ? h("p", { class: "muted" }, `Details of the first ${DETAIL_LIMIT} shown; the count above covers all ${receipts.length}.`) : null,
    );
  };
  const rerun = () => {
    if (lastVerified !== null) run(textarea.value);
  };
  const loadFile = async (file: File) => {
    fileName.textContent = `${file.name} (${fmt.int(file.size)} bytes)`;
    textarea.value = await file.text();
    run(textarea.value);
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  textarea.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      if (textarea.value !== lastVerified) run(textarea.value);
    }, 400);
  });
  fileInput.addEventListener("change", () => {
    const f = fileInput.files?.[0];
    if (f) void loadFile(f);
  });
  const drop = h("div", { class: "dropzone", "data-testid": "dropzone" }, textarea,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "btn btn-primary", "data-testid": "verify", onclick: () => run(textarea.value) }, "Verify"),
      h("label", { class: "btn" }, "Choose file…", fileInput),
      h("button", { type: "button", class: "btn", onclick: () => { textarea.value = ""; fileName.textContent = ""; lastVerified = null; mount(results); } }, "Clear"),
      fileName));
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("dragging");
    const f = ev.dataTransfer?.files?.[0];
    if (f) void loadFile(f);
  });

  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Verify a receipt")),
    h("p", { class: "muted" }, "Everything below runs in this browser with the kwh-btc-iot WASM package: the log is re-canonicalized and hashed, the inclusion path is folded to the Merkle root, the head's Ed25519 signature is checked, and each Bitcoin anchor's proof is checked against its block header. Nothing is sent to the gateway."),
    h("section", { class: "card" }, h("h2", null, "Trusted gateway key"), pinBox,
      h("form", { class: "pin-form", onsubmit: (ev: Event) => { ev.preventDefault(); pin(pinInput.value); } },
        pinInput,
        h("button", { type: "submit", class: "btn", "data-testid": "pin" }, "Pin key"),
        h("button", { type: "button", class: "btn", "data-testid": "pin-gateway", onclick: async () => {
          try {
            pin((await gateway()).public_key);
          } catch (e) {
            mount(pinMsg, errorBox(e));
          }
        } }, "Pin this gateway's key")),
      h("p", { class: "muted small" }, "Pinning the key this gateway publishes trusts it from now on; compare it with a copy you got another way to be sure."),
      pinMsg),
    h("section", { class: "card" }, h("h2", null, "Bitcoin anchors"),
      h("div", { class: "pin-form" }, h("label", null, "Network ", networkSelect)),
      headersInput,
      h("p", { class: "muted small" }, "Anchors are checked offline: the proof of work of the block header and that it commits to the batch head. Whether that block is in Bitcoin's best chain is not checked here: compare the block hash shown with a node or explorer you trust, or give the headers of your own node above (they take precedence over the headers a receipt carries).")),
    h("section", { class: "card" }, h("h2", null, "Receipt"), drop),
    results,
  );
  networkSelect.addEventListener("change", () => {
    try {
      localStorage.setItem(NETWORK_STORAGE, networkSelect.value);
    } catch {
      // storage unavailable: the choice holds for this page only
    }
    rerun();
  });
  headersInput.addEventListener("change", rerun);
  await loadWasm();
  renderPin();
  // Without a choice of the user's, check anchors under the gateway's own network.
  if (storedNetwork() === null) {
    gateway()
      .then((info) => {
        const n = info.anchor_network ?? "";
        if ((NETWORKS as readonly string[]).includes(n) && n !== networkSelect.value && storedNetwork() === null) {
          networkSelect.value = n;
          rerun();
        }
      })
      .catch(() => {
        // the page works without the gateway (a receipt pasted offline): keep mainnet
      });
  }
  const handed = sessionStorage.getItem(VERIFY_HANDOFF);
  if (handed) {
    sessionStorage.removeItem(VERIFY_HANDOFF);
    textarea.value = handed;
    run(handed);
  }
}
