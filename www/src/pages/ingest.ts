// Ingest: a form that builds an emlog-1.1 log, shows its canonical form and
// leaf hash computed in the browser (WASM) before sending, posts it, and
// shows the gateway's answer with its warnings and errors.

import { ApiError, type LogAccepted, request } from "../api";
import { badge, errorBox, h, hex, mount } from "../dom";
import * as fmt from "../format";
import { type Ctx, href } from "../router";
import { apiError, field } from "../ui";
import { canonicalText, type KwhError, leafHash, loadWasm, normalize } from "../wasm";

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

type Kind = "string" | "number" | "nullable" | "tags" | "select";
interface FieldDef {
  member: string;
  label: string;
  kind: Kind;
  options?: string[];
  hint?: string;
  optional?: boolean;
}

const FIELDS: FieldDef[] = [
  { member: "site_id", label: "Site", kind: "string" },
  { member: "iot_device_id", label: "Device", kind: "string" },
  { member: "meter_id", label: "Meter", kind: "string" },
  { member: "ts_start", label: "Start (RFC 3339)", kind: "string" },
  { member: "ts_end", label: "End (RFC 3339)", kind: "string" },
  { member: "energy_kwh", label: "Energy (kWh)", kind: "number" },
  { member: "power_kw_avg", label: "Average power (kW)", kind: "number", optional: true, hint: "optional: derived when empty" },
  { member: "status", label: "Status", kind: "select", options: ["ok", "estimated", "partial", "error"] },
  { member: "tags", label: "Tags", kind: "tags", optional: true, hint: "comma separated" },
  { member: "tx.price_sats_per_kwh", label: "Price (sats/kWh)", kind: "number" },
  { member: "tx.amount_sats", label: "Amount (sats)", kind: "number", optional: true, hint: "optional: derived when empty" },
  { member: "tx.channel", label: "Channel", kind: "select", options: ["ln", "onchain", "none"] },
  { member: "tx.settlement_status", label: "Settlement", kind: "select", options: ["pending", "invoiced", "paid", "expired", "failed"] },
  { member: "tx.ln_invoice_id", label: "LN invoice id", kind: "nullable", optional: true, hint: "optional" },
  { member: "tx.bitcoin_txid", label: "Bitcoin txid", kind: "nullable", optional: true, hint: "optional: 64 hex" },
];

function defaults(): Record<string, string> {
  const end = new Date(Math.floor(Date.now() / 300_000) * 300_000);
  const start = new Date(end.getTime() - 300_000);
  return {
    site_id: "PLANT-01",
    iot_device_id: "gw-PLANT01-003",
    meter_id: "MTR-001",
    ts_start: fmt.rfc3339(start),
    ts_end: fmt.rfc3339(end),
    energy_kwh: "0.21",
    power_kw_avg: "",
    status: "ok",
    tags: "",
    "tx.price_sats_per_kwh": "100",
    "tx.amount_sats": "",
    "tx.channel": "ln",
    "tx.settlement_status": "pending",
    "tx.ln_invoice_id": "",
    "tx.bitcoin_txid": "",
  };
}

/** The founding document's example log (accepted with a power_mismatch warning). */
const FOUNDING: Record<string, string> = {
  site_id: "PLANT-01",
  iot_device_id: "gw-PLANT01-003",
  meter_id: "MTR-001",
  ts_start: "2025-12-01T10:10:00Z",
  ts_end: "2025-12-01T10:15:00Z",
  energy_kwh: "12.34",
  power_kw_avg: "2.47",
  status: "ok",
  tags: "peak",
  "tx.price_sats_per_kwh": "100",
  "tx.amount_sats": "1234",
  "tx.channel": "ln",
  "tx.settlement_status": "pending",
  "tx.ln_invoice_id": "",
  "tx.bitcoin_txid": "",
};

function literal(def: FieldDef, raw: string): string | undefined {
  const v = raw.trim();
  switch (def.kind) {
    case "number":
      // A number literal goes in as typed (the canonical form shows what it
      // becomes); anything else goes in as a string, for the core to reject.
      return v === "" ? undefined : NUMBER.test(v) ? v : JSON.stringify(v);
    case "tags":
      return v === "" ? undefined : JSON.stringify(v.split(",").map((t) => t.trim()).filter(Boolean));
    case "nullable":
      return v === "" ? undefined : JSON.stringify(v);
    default:
      return v === "" && def.optional ? undefined : JSON.stringify(raw);
  }
}

/** The JSON text of the log the form describes (member order as in the spec). */
export function buildLogJson(values: Record<string, string>): string {
  const top: string[] = ['  "schema_version": "emlog-1.1"'];
  const tx: string[] = [];
  for (const def of FIELDS) {
    const lit = literal(def, values[def.member] ?? "");
    if (lit === undefined) continue;
    if (def.member.startsWith("tx.")) tx.push(`    ${JSON.stringify(def.member.slice(3))}: ${lit}`);
    else top.push(`  ${JSON.stringify(def.member)}: ${lit}`);
  }
  top.push(`  "tx": {\n${tx.join(",\n")}\n  }`);
  return `{\n${top.join(",\n")}\n}`;
}

export async function ingestPage(root: HTMLElement, _ctx: Ctx): Promise<void> {
  const controls = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const fieldEls = new Map<string, HTMLElement>();
  const json = h("textarea", { name: "log-json", rows: 14, spellcheck: "false", readonly: true, "aria-label": "Log JSON to send", "data-testid": "log-json" });
  const rawToggle = h("input", { type: "checkbox", name: "edit-json", "data-testid": "edit-json" });
  const sigInput = h("input", { name: "log-signature", placeholder: "128 hex characters, only for devices that sign", autocomplete: "off", spellcheck: "false" });
  const local = h("div", { class: "local", "data-testid": "local-result", "aria-live": "polite" });
  const answer = h("div", { class: "answer", "data-testid": "gateway-answer", "aria-live": "polite" });
  const sendBtn = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "send" }, "Send to the gateway");

  const values = (): Record<string, string> => Object.fromEntries([...controls].map(([k, c]) => [k, c.value]));
  const fill = (v: Record<string, string>) => {
    for (const [k, c] of controls) c.value = v[k] ?? "";
    rawToggle.checked = false;
    json.readOnly = true;
    update();
  };

  let lastHash: string | null = null;
  const update = () => {
    if (!rawToggle.checked) json.value = buildLogJson(values());
    for (const el of fieldEls.values()) el.classList.remove("field-error");
    lastHash = null;
    try {
      const n = normalize(json.value);
      const canonical = canonicalText(json.value);
      lastHash = leafHash(json.value);
      mount(
        local,
        h("div", { class: "alert alert-ok" }, "Valid emlog-1.1 log (checked in the browser)"),
        h("h3", null, "Leaf hash"),
        hex(lastHash, { "data-testid": "local-leaf-hash" }),
        h("h3", null, "Canonical JSON (RFC 8785 of the normalized log)"),
        h("pre", { class: "code", "data-testid": "local-canonical" }, canonical),
        n.warnings.length
          ? h("ul", { class: "warnings", "data-testid": "local-warnings" }, n.warnings.map((w) => h("li", { "data-code": w.code }, badge(w.code, "warn"), " ", w.message)))
          : null,
      );
    } catch (e) {
      const err = e as KwhError;
      const el = err.member ? fieldEls.get(err.member.replace(/\[\d+\]$/, "")) : undefined;
      el?.classList.add("field-error");
      mount(local, h("div", { "data-testid": "local-error", "data-code": err.code ?? "" }, errorBox(err)),
        h("p", { class: "muted small" }, "The gateway will refuse this log with the same code; you can still send it to see its answer."));
    }
  };

  const send = async (ev: Event) => {
    ev.preventDefault();
    const body = json.value;
    const sig = sigInput.value.trim();
    sendBtn.disabled = true;
    mount(answer, h("p", { class: "muted" }, "sending…"));
    try {
      const r = await request<LogAccepted>("/api/v1/logs", { method: "POST", body, headers: sig ? { "X-Log-Signature": sig } : {} });
      const a = r.data;
      mount(
        answer,
        h("div", { class: "alert alert-ok", "data-testid": "answer-status", "data-status": r.status },
          h("strong", null, `HTTP ${r.status} `), r.status === 201 ? "stored" : "already stored (the same log was posted before; nothing new stored)"),
        h("dl", { class: "facts" },
          h("dt", null, "Log id"), h("dd", null, h("a", { href: href(["logs", String(a.log_id)]), "data-testid": "answer-log-id" }, String(a.log_id))),
          h("dt", null, "Leaf hash"), h("dd", null, hex(a.leaf_hash, { "data-testid": "answer-leaf-hash" }), " ",
            lastHash === null ? null : a.leaf_hash === lastHash ? badge("same as computed in the browser", "ok", { "data-testid": "answer-hash-match" }) : badge("differs from the browser's", "bad"))),
        a.warnings.length
          ? h("ul", { class: "warnings", "data-testid": "answer-warnings" }, a.warnings.map((w) => h("li", { "data-code": w.code }, badge(w.code, "warn"), " ", h("code", null, w.member), " ", w.message)))
          : h("p", { class: "muted" }, "No warnings."),
      );
    } catch (e) {
      mount(answer, h("div", { "data-testid": "answer-error", "data-status": e instanceof ApiError ? e.status : 0, "data-code": e instanceof ApiError ? e.code : "" }, apiError(e)));
    } finally {
      sendBtn.disabled = false;
    }
  };

  const init = defaults();
  const grid = h("div", { class: "form-grid" });
  for (const def of FIELDS) {
    const c = def.kind === "select"
      ? h("select", { name: def.member }, def.options!.map((o) => h("option", { value: o }, o)))
      : h("input", { name: def.member, autocomplete: "off", spellcheck: "false", inputmode: def.kind === "number" ? "decimal" : null });
    c.value = init[def.member] ?? "";
    c.addEventListener("input", update);
    c.addEventListener("change", update);
    controls.set(def.member, c);
    const f = field(def.label, c, def.hint, { "data-member": def.member });
    fieldEls.set(def.member, f);
    grid.append(f);
  }
  rawToggle.addEventListener("change", () => {
    json.readOnly = !rawToggle.checked;
    if (!rawToggle.checked) update();
  });
  json.addEventListener("input", () => rawToggle.checked && update());

  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Ingest a log"),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn", "data-testid": "fill-founding", onclick: () => fill(FOUNDING) }, "Founding example"),
        h("button", { type: "button", class: "btn", "data-testid": "fill-now", onclick: () => fill({ ...values(), ...pick(defaults(), ["ts_start", "ts_end"]) }) }, "Last 5 minutes"))),
    h("form", { class: "ingest", onsubmit: send },
      h("div", { class: "grid" },
        h("section", { class: "card span-2" }, h("h2", null, "Reading"), grid,
          field("X-Log-Signature", sigInput, "optional header: Ed25519 signature over the canonical bytes")),
        h("section", { class: "card span-2" }, h("h2", null, "Log to send"), json,
          h("label", { class: "check" }, rawToggle, " edit the JSON directly"),
          h("h2", null, "Computed in your browser"), local,
          h("div", { class: "actions" }, sendBtn)),
        h("section", { class: "card span-all" }, h("h2", null, "Gateway's answer"), answer),
      )),
  );
  await loadWasm();
  update();
}

function pick(o: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [k, o[k] ?? ""]));
}
