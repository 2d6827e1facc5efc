// Batches: list (with a flush button), detail (head, signature, root, log
// count), the logs of a batch, and all its receipts as JSON Lines.

import { type BatchDetail, type BatchPage, batchReceipts, type FlushResult, gateway, get, type LogPage, receiptText, request, withQuery } from "../api";
import { badge, download, facts, h, hex, mount, shortHex, table } from "../dom";
import * as fmt from "../format";
import { type Ctx, go, href } from "../router";
import { anchorBadge, apiError } from "../ui";
import { canonicalizeJson, loadWasm, verifyReceipt } from "../wasm";
import { pinnedKey, VERIFY_HANDOFF } from "./verify";

const BIG_BATCH = 20_000;

export async function batchesPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  if (ctx.path[1]) return batchDetail(root, ctx, ctx.path[1]);
  const cursor = ctx.params.get("cursor");
  const flushBox = h("div", { class: "flush-result", "data-testid": "flush-result" });
  const list = h("div", null, h("p", { class: "muted" }, "loading…"));
  const flushBtn = h("button", { type: "button", class: "btn btn-primary", "data-testid": "flush" }, "Flush now");
  flushBtn.addEventListener("click", async () => {
    flushBtn.disabled = true;
    try {
      const r = (await request<FlushResult>("/api/v1/batches/flush", { method: "POST" })).data;
      mount(flushBox, h("div", { class: "alert alert-ok" },
        "Batch ", h("a", { href: href(["batches", r.batch_id]), "data-testid": "flushed-batch" }, r.batch_id),
        ` sealed: ${fmt.int(r.log_count)} log${r.log_count === 1 ? "" : "s"}, seq ${r.seq}, root `, shortHex(r.merkle_root)));
      await loadList();
    } catch (e) {
      mount(flushBox, apiError(e));
    } finally {
      flushBtn.disabled = false;
    }
  });
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Batches"), flushBtn),
    h("p", { class: "muted" }, "A flush seals every log not yet batched into one RFC 9162 Merkle tree under a signed embatch-1 head (admin key). The gateway also flushes by count and by age."),
    flushBox,
    h("section", { class: "card" }, list),
  );

  async function loadList(): Promise<void> {
    let page: BatchPage;
    try {
      page = await get<BatchPage>(withQuery("/api/v1/batches", { limit: 50, cursor }));
    } catch (e) {
      if (ctx.alive()) mount(list, apiError(e));
      return;
    }
    if (!ctx.alive()) return;
    mount(
      list,
      page.batches.length
        ? table(["Seq", "Batch", "Logs", "Created", "Anchor", "Merkle root", "Head hash"], page.batches.map((b) => [
          String(b.seq),
          h("a", { href: href(["batches", b.batch_id]), "data-batch-id": b.batch_id }, b.batch_id),
          fmt.int(b.log_count),
          fmt.time(b.created_at),
          anchorBadge(b.anchor_status),
          shortHex(b.merkle_root),
          shortHex(b.head_hash),
        ]), { "data-testid": "batches-table" })
        : h("p", { class: "muted", "data-testid": "no-batches" }, "No batches yet."),
      h("div", { class: "pager" },
        cursor ? h("a", { class: "btn", href: "#/batches" }, "Newest") : null,
        page.next_cursor ? h("a", { class: "btn", href: href(["batches"], { cursor: page.next_cursor }) }, "Older →") : null),
    );
  }
  await loadList();
}

async function batchDetail(root: HTMLElement, ctx: Ctx, id: string): Promise<void> {
  mount(root, h("p", { class: "muted" }, "loading…"));
  let b: BatchDetail;
  try {
    [b] = await Promise.all([get<BatchDetail>(`/api/v1/batches/${encodeURIComponent(id)}`), loadWasm()]);
  } catch (e) {
    if (ctx.alive()) mount(root, h("div", { class: "page-head" }, h("h1", null, "Batch"), h("a", { href: "#/batches", class: "btn" }, "← All batches")), apiError(e));
    return;
  }
  if (!ctx.alive()) return;
  const gw = await gateway().catch(() => null);
  const sig = b.head_signature;
  const byThisGateway = sig && gw ? sig.public_key === gw.public_key : null;
  const progress = h("span", { class: "muted", "data-testid": "receipts-progress" });
  const verifyBox = h("div", { "data-testid": "verify-all-result" });
  const downloadBtn = h("button", { type: "button", class: "btn btn-primary", "data-testid": "download-receipts" }, "Download all receipts (JSON Lines)");
  const verifyBtn = h("button", { type: "button", class: "btn", "data-testid": "verify-all" }, "Verify all in the browser");
  const fetchAll = async (): Promise<string[] | null> => {
    // One request per receipt (the gateway has no batch-receipts endpoint yet).
    if (b.head.log_count > BIG_BATCH && !confirm(`This batch has ${fmt.int(b.head.log_count)} logs: fetching every receipt makes as many requests. Go on?`)) return null;
    downloadBtn.disabled = verifyBtn.disabled = true;
    try {
      return await batchReceipts(b.batch_id, (done, total) => (progress.textContent = `${done} / ${total} receipts`));
    } catch (e) {
      mount(verifyBox, apiError(e));
      return null;
    } finally {
      downloadBtn.disabled = verifyBtn.disabled = false;
    }
  };
  downloadBtn.addEventListener("click", async () => {
    const lines = await fetchAll();
    if (lines) download(`receipts-${b.batch_id}.jsonl`, lines.join("\n") + "\n", "application/jsonl");
  });
  verifyBtn.addEventListener("click", async () => {
    const lines = await fetchAll();
    if (!lines) return;
    const key = pinnedKey();
    let valid = 0;
    const bad: string[] = [];
    lines.forEach((r, i) => {
      const v = verifyReceipt(r, key ? { gatewayKey: key } : {});
      if (v.valid) valid++;
      else bad.push(`leaf ${i}: ${v.errors.map((e) => e.code).join(", ")}`);
    });
    mount(verifyBox, h("div", { class: `alert ${bad.length ? "alert-bad" : "alert-ok"}` },
      `${valid} of ${lines.length} receipts valid`, key ? " (against the pinned gateway key)" : "",
      bad.length ? h("ul", null, bad.slice(0, 20).map((x) => h("li", null, x))) : null));
  });

  const logsBox = h("div", null, h("p", { class: "muted" }, "loading…"));
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Batch ", h("span", { class: "batch-id" }, b.batch_id)), h("a", { href: "#/batches", class: "btn" }, "← All batches")),
    h("div", { class: "grid" },
      h("section", { class: "card span-2" }, h("h2", null, "Head (embatch-1)"), facts([
        ["Batch id", h("code", { "data-testid": "batch-id" }, b.head.batch_id)],
        ["Seq", String(b.head.seq)],
        ["Log count", h("span", { "data-testid": "log-count" }, fmt.int(b.head.log_count))],
        ["Merkle root", hex(b.head.merkle_root, { "data-testid": "merkle-root" })],
        ["Head hash", hex(b.head_hash, { "data-testid": "head-hash" })],
        ["Previous head hash", b.head.prev_head_hash ? hex(b.head.prev_head_hash) : h("span", { class: "muted" }, "none (first batch)")],
        ["Created", fmt.time(b.head.created_at)],
        ["Gateway", h("code", null, b.head.gateway_id)],
      ])),
      h("section", { class: "card span-2" }, h("h2", null, "Signature and anchors"), facts([
        ["Algorithm", sig ? sig.alg : "—"],
        ["Public key", sig ? hex(sig.public_key, { "data-testid": "signer" }) : badge("unsigned", "warn")],
        ["Signature", sig ? hex(sig.signature, { "data-testid": "signature" }) : "—"],
        ["Signer", byThisGateway === null ? "—" : byThisGateway ? badge("this gateway's published key", "ok") : badge("not this gateway's published key", "bad")],
        ["Anchor status", anchorBadge(b.anchor_status)],
        ["Anchors", b.anchors.length ? h("pre", { class: "code" }, JSON.stringify(b.anchors, null, 2)) : h("span", { class: "muted" }, "none yet")],
      ])),
      h("section", { class: "card span-all" }, h("h2", null, "Signed bytes: JCS(head), computed in the browser"), h("pre", { class: "code", "data-testid": "head-canonical" }, canonicalizeJson(b.head))),
      h("section", { class: "card span-all" }, h("h2", null, "Receipts"),
        h("p", { class: "muted" }, "One emreceipt-1 receipt per log, in leaf order; each verifies offline (Verify page, or kwh-btc-iot verify)."),
        h("div", { class: "actions" }, downloadBtn, verifyBtn, progress), verifyBox),
      h("section", { class: "card span-all" }, h("h2", null, "Logs in this batch"), logsBox),
    ),
  );

  try {
    const page = await get<LogPage>(withQuery("/api/v1/logs", { batch_id: b.batch_id, limit: 100, cursor: ctx.params.get("cursor") }));
    if (!ctx.alive()) return;
    mount(
      logsBox,
      table(["Leaf", "Log", "Site", "Device", "Meter", "Start", "Energy", "Leaf hash", "Receipt"], page.logs.map((l) => [
        String(l.leaf_index ?? "—"),
        h("a", { href: href(["logs", String(l.log_id)]) }, `#${l.log_id}`),
        l.log.site_id,
        l.log.iot_device_id,
        l.log.meter_id,
        fmt.time(l.log.ts_start),
        fmt.kwh(l.log.energy_kwh),
        shortHex(l.leaf_hash),
        h("span", { class: "row-actions" },
          h("button", { type: "button", class: "btn btn-small", "data-receipt-for": l.log_id, onclick: async () => {
            try {
              download(`receipt-log-${l.log_id}.json`, await receiptText(l.log_id));
            } catch (e) {
              mount(verifyBox, apiError(e));
            }
          } }, "Download"),
          h("button", { type: "button", class: "btn btn-small", onclick: async () => {
            try {
              sessionStorage.setItem(VERIFY_HANDOFF, await receiptText(l.log_id));
              go(["verify"]);
            } catch (e) {
              mount(verifyBox, apiError(e));
            }
          } }, "Verify")),
      ]), { "data-testid": "batch-logs" }),
      page.next_cursor ? h("a", { class: "btn", href: href(["batches", b.batch_id], { cursor: page.next_cursor }) }, "More logs →") : null,
    );
  } catch (e) {
    if (ctx.alive()) mount(logsBox, apiError(e));
  }
}
