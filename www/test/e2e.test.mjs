// End to end: the web page in headless Chromium against a real gateway.
// Ingest through the form, flush, open the batch, download receipts, verify
// them on the Verify page (pass), tamper one byte (fail, with the step named);
// logs, overview, authentication, and screenshots of every page at desktop
// and phone widths (artifacts/www/).
//
//   node --test www/test/      (after scripts/test-www.sh built the CLI and www/dist)

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { api, artifactsDir, cli, currentGen, launchBrowser, leafHashOf, nav, open, startGateway, useKey, waitReady } from "./helpers.mjs";

const FOUNDING = readFileSync(new URL("../../tests/vectors/founding_example.json", import.meta.url), "utf8");

let gw;
let browser;
let desktop;
let page;
let admin;
const shots = artifactsDir();
const files = artifactsDir("downloads");
const requests = [];
const pageErrors = [];
const state = {};

function watch(p) {
  p.on("request", (r) => requests.push(r.url()));
  p.on("pageerror", (e) => pageErrors.push(e.message));
}

before(async () => {
  gw = await startGateway();
  admin = api(gw.base, gw.adminKey);
  browser = await launchBrowser();
  desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await desktop.newPage();
  watch(page);
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}-desktop.png`), fullPage: true });
}

test("the gateway serves the page at / with its files, a CSP and gzip; no key needed for it", async () => {
  const root = await fetch(`${gw.base}/`);
  assert.equal(root.status, 200);
  assert.match(root.headers.get("content-type"), /^text\/html/);
  assert.match(root.headers.get("content-security-policy"), /default-src 'self'/);
  const html = await root.text();
  assert.match(html, /<script type="module" src="app.js">/);
  assert.doesNotMatch(html, /https?:\/\//, "index.html loads nothing from elsewhere");

  const wasm = await fetch(`${gw.base}/kwh_btc_iot_wasm_bg.wasm`, { headers: { "Accept-Encoding": "identity" } });
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  const wasmBytes = new Uint8Array(await wasm.arrayBuffer());
  assert.deepEqual([...wasmBytes.slice(0, 4)], [0x00, 0x61, 0x73, 0x6d], "a WebAssembly module");

  // fetch() decodes gzip itself: same bytes, but sent compressed.
  const gz = await fetch(`${gw.base}/app.js`, { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(gz.headers.get("content-encoding"), "gzip");
  const plain = await fetch(`${gw.base}/app.js`, { headers: { "Accept-Encoding": "identity" } });
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.equal(await gz.text(), await plain.text());

  const etag = plain.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(`${gw.base}/app.js`, { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);

  // The API itself still wants a key; unknown paths stay JSON 404s.
  assert.equal((await fetch(`${gw.base}/api/v1/logs`)).status, 401);
  const missing = await fetch(`${gw.base}/nope.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "not_found");
});

test("without a key the page says one is needed; a wrong key is refused; the key stays in this tab's sessionStorage", async () => {
  await open(page, gw.base, "#/logs");
  const alert = page.locator(".page [role=alert]");
  await assert.doesNotReject(alert.waitFor());
  assert.match(await alert.innerText(), /HTTP 401/);
  assert.match(await alert.innerText(), /Enter an admin or device API key/);

  await useKey(page, "not-a-key");
  assert.match(await page.locator(".page [role=alert]").innerText(), /the API key is not valid/);

  await useKey(page, gw.adminKey);
  await page.locator("[data-testid=no-logs]").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("kwh-btc-iot.api-key")), gw.adminKey);
  const local = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.ok(!local.includes(gw.adminKey), "the key is never in localStorage");
  assert.match(await page.getByTestId("key-state").innerText(), /this tab only/);

  // A new tab starts without it.
  const other = await desktop.newPage();
  await open(other, gw.base, "#/logs");
  assert.equal(await other.evaluate(() => sessionStorage.getItem("kwh-btc-iot.api-key")), null);
  assert.match(await other.locator(".page [role=alert]").innerText(), /HTTP 401/);
  await other.close();
});

test("ingest through the form: canonical form and leaf hash computed in the browser, then posted (201, then 200 on retry)", async () => {
  await nav(page, "#/ingest");
  await page.getByTestId("fill-founding").click();
  const canonical = await page.getByTestId("local-canonical").innerText();
  const leaf = await page.getByTestId("local-leaf-hash").innerText();
  // Independent checks: the native CLI and Node's own SHA-256.
  const fixture = join(files, "founding.json");
  writeFileSync(fixture, FOUNDING);
  const expected = cli("canon", fixture);
  assert.equal(expected.status, 0, expected.stderr);
  assert.equal(canonical, expected.stdout.trim());
  assert.equal(leaf, leafHashOf(canonical));
  assert.deepEqual(await page.locator("[data-testid=local-warnings] li").evaluateAll((li) => li.map((x) => x.dataset.code)), ["power_mismatch"]);
  await shot("ingest-before-send");

  await page.getByTestId("send").click();
  const status = page.getByTestId("answer-status");
  await status.waitFor();
  assert.equal(await status.getAttribute("data-status"), "201");
  assert.equal(await page.getByTestId("answer-leaf-hash").innerText(), leaf);
  await page.getByTestId("answer-hash-match").waitFor();
  assert.deepEqual(await page.locator("[data-testid=answer-warnings] li").evaluateAll((li) => li.map((x) => x.dataset.code)), ["power_mismatch"]);
  const logId = await page.getByTestId("answer-log-id").innerText();
  state.foundingLogId = Number(logId);
  await shot("ingest-answer");

  // A device retry: same log, 200, same id, nothing new stored.
  await page.getByTestId("send").click();
  await page.locator("[data-testid=answer-status][data-status='200']").waitFor();
  assert.match(await status.innerText(), /already stored/);
  assert.equal(await page.getByTestId("answer-log-id").innerText(), logId);
  const listed = await admin("/api/v1/logs");
  assert.equal(listed.json.logs.length, 1);
});

test("an invalid log: the browser names the error before sending, and the gateway answers with the same code", async () => {
  await nav(page, "#/ingest");
  const cases = [
    { member: "ts_end", value: "2025-12-01T10:00:00Z", start: "2025-12-01T10:10:00Z" },
    { member: "tx.amount_sats", value: "999999" },
    { member: "energy_kwh", value: "lots" },
  ];
  for (const c of cases) {
    await page.getByTestId("fill-founding").click();
    if (c.start) await page.locator("input[name='ts_start']").fill(c.start);
    await page.locator(`input[name='${c.member}']`).fill(c.value);
    const local = page.getByTestId("local-error");
    await local.waitFor();
    const code = await local.getAttribute("data-code");
    assert.ok(code, `a code for ${c.member}`);
    assert.match(await local.innerText(), new RegExp(c.member.replace(".", "\\.")));
    assert.ok(await page.locator(`[data-member='${c.member}'].field-error`).count(), `field ${c.member} is marked`);
    if (c.member === "tx.amount_sats") await shot("ingest-local-error");

    await page.getByTestId("send").click();
    const answer = page.locator(`[data-testid=answer-error][data-code='${code}']`);
    await answer.waitFor();
    const httpStatus = Number(await answer.getAttribute("data-status"));
    assert.ok(httpStatus >= 400 && httpStatus < 500, `4xx for ${c.member}, got ${httpStatus}`);
  }
  const listed = await admin("/api/v1/logs");
  assert.equal(listed.json.logs.length, 1, "nothing invalid was stored");
});

test("more readings through the form, and a device key that may write only its own device", async () => {
  await nav(page, "#/ingest");
  for (const meter of ["MTR-002", "MTR-003"]) {
    await page.getByTestId("fill-now").click();
    await page.locator("input[name='meter_id']").fill(meter);
    await page.locator("input[name='energy_kwh']").fill(meter === "MTR-002" ? "0.42" : "0.35");
    await page.getByTestId("send").click();
    await page.locator("[data-testid=answer-status][data-status='201']").waitFor();
  }

  await useKey(page, gw.deviceKey);
  await page.getByTestId("fill-now").click();
  await page.locator("input[name='site_id']").fill("PLANT-02");
  await page.locator("input[name='iot_device_id']").fill(gw.device);
  await page.getByTestId("send").click();
  await page.locator("[data-testid=answer-status][data-status='201']").waitFor();

  await page.locator("input[name='iot_device_id']").fill("gw-PLANT01-003");
  await page.locator("input[name='meter_id']").fill("MTR-009");
  await page.getByTestId("send").click();
  const denied = page.locator("[data-testid=answer-error][data-status='403']");
  await denied.waitFor();
  assert.equal(await denied.getAttribute("data-code"), "forbidden");
  assert.match(await denied.innerText(), /device key sees and writes only its own device/);

  // Flushing needs the admin key.
  await nav(page, "#/batches");
  await page.getByTestId("flush").click();
  await page.locator("[data-testid=flush-result] [role=alert]").waitFor();
  assert.match(await page.getByTestId("flush-result").innerText(), /HTTP 403/);
  await useKey(page, gw.adminKey);

  // A day of hourly readings on two sites, for the chart (bulk API, NDJSON).
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const lines = [];
  for (let i = 1; i <= 12; i++) {
    for (const [site, dev] of [["PLANT-01", "gw-PLANT01-003"], ["PLANT-02", gw.device]]) {
      const start = new Date(hour - i * 3_600_000).toISOString().replace(".000Z", "Z");
      const end = new Date(hour - (i - 1) * 3_600_000).toISOString().replace(".000Z", "Z");
      const kwh = Number(((site === "PLANT-01" ? 20 : 8) + 6 * Math.sin(i / 2)).toFixed(2));
      lines.push(JSON.stringify({ schema_version: "emlog-1.1", site_id: site, iot_device_id: dev, meter_id: "MTR-H", ts_start: start, ts_end: end, energy_kwh: kwh, status: "ok", tx: { price_sats_per_kwh: 120, channel: "ln" } }));
    }
  }
  const bulk = await admin("/api/v1/logs/bulk", { method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body: lines.join("\n") });
  assert.equal(bulk.status, 200, bulk.text);
  assert.equal(bulk.json.created, 24);
});

test("flush from the Batches page and open the batch: head, signature, root and log count as the gateway has them", async () => {
  await nav(page, "#/batches");
  await page.getByTestId("flush").click();
  const link = page.getByTestId("flushed-batch");
  await link.waitFor();
  const batchId = await link.innerText();
  state.batchId = batchId;
  await page.locator(`[data-testid=batches-table] a[data-batch-id='${batchId}']`).waitFor();
  await shot("batches");

  // Nothing left: the gateway refuses an empty batch, and the page says why.
  await page.getByTestId("flush").click();
  await page.locator("[data-testid=flush-result] .err-code").waitFor();
  assert.equal(await page.locator("[data-testid=flush-result] .err-code").innerText(), "empty_batch");

  const gen = await currentGen(page);
  await page.locator(`[data-testid=batches-table] a[data-batch-id='${batchId}']`).click();
  await waitReady(page, gen);
  const detail = await admin(`/api/v1/batches/${encodeURIComponent(batchId)}`);
  assert.equal(detail.status, 200);
  const b = detail.json;
  assert.equal(await page.getByTestId("batch-id").innerText(), batchId);
  assert.equal(await page.getByTestId("log-count").innerText(), String(b.head.log_count));
  assert.equal(b.head.log_count, 28);
  assert.equal(await page.getByTestId("merkle-root").innerText(), b.head.merkle_root);
  assert.equal(await page.getByTestId("head-hash").innerText(), b.head_hash);
  assert.equal(await page.getByTestId("signature").innerText(), b.head_signature.signature);
  const info = await admin("/api/v1/gateway");
  assert.equal(await page.getByTestId("signer").innerText(), info.json.public_key);
  state.gatewayKey = info.json.public_key;
  // The signed bytes, canonicalized in the browser, are the gateway's own head text.
  const rawHead = /"head":(\{[^{}]*\})/.exec(detail.text)[1];
  assert.equal(await page.getByTestId("head-canonical").innerText(), rawHead);
  assert.equal(await page.locator("[data-testid=batch-logs] tbody tr").count(), 28);
  await shot("batch-detail");
});

test("download one receipt from the batch; the Verify page passes it, and one tampered byte fails it with the step named", async () => {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("[data-testid=batch-logs] tbody tr").nth(5).locator("button[data-receipt-for]").click()]);
  const receiptPath = join(files, dl.suggestedFilename());
  await dl.saveAs(receiptPath);
  const receipt = readFileSync(receiptPath, "utf8");
  const parsed = JSON.parse(receipt);
  assert.equal(parsed.receipt_version, "emreceipt-1");
  assert.equal(parsed.leaf_index, 5);
  assert.equal(parsed.log.meter_id, "MTR-H", "one of the bulk readings");
  assert.ok(parsed.inclusion_path.length > 0);
  // The native CLI agrees, with the gateway key pinned.
  const checked = cli("verify", receiptPath, "--gateway-key", state.gatewayKey);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  state.receipt = receipt;

  await nav(page, "#/verify");
  await page.getByTestId("receipt-file").setInputFiles(receiptPath);
  const summary = page.locator("[data-testid=verify-summary]");
  await summary.waitFor();
  assert.equal(await summary.getAttribute("data-valid"), "1");
  assert.match(await summary.innerText(), /The receipt is valid/);
  const statuses = await page.locator(".receipt-result[data-index='0'] .step").evaluateAll((els) => Object.fromEntries(els.map((e) => [e.dataset.step, e.dataset.status])));
  assert.deepEqual(statuses, { parse: "passed", leaf_hash: "passed", inclusion: "passed", head: "passed", signature: "passed", log_signature: "skipped", anchors: "skipped" });
  await shot("verify-valid");

  const flipHex = (s, at) => s.slice(0, at) + (s[at] === "0" ? "1" : "0") + s.slice(at + 1);
  const tampers = [
    { name: "log", failed: ["leaf_hash"], code: "leaf_hash_mismatch", edit: (t) => t.replace('"meter_id":"MTR-H"', '"meter_id":"MTR-I"') },
    { name: "path", failed: ["inclusion"], code: "invalid_proof", edit: (t) => { const at = t.indexOf('"inclusion_path":["') + 20; return flipHex(t, at); } },
    { name: "signature", failed: ["signature"], code: "invalid_signature", edit: (t) => { const at = t.indexOf('"signature":"') + 13; return flipHex(t, at); } },
    { name: "root", failed: ["inclusion", "signature"], code: "invalid_proof", edit: (t) => { const at = t.indexOf('"merkle_root":"') + 15; return flipHex(t, at); } },
  ];
  for (const tamper of tampers) {
    const text = tamper.edit(receipt);
    assert.equal(text.length, receipt.length);
    assert.equal([...text].filter((c, i) => c !== receipt[i]).length, 1, `one byte changed (${tamper.name})`);
    await page.getByTestId("receipt-input").fill(text);
    await page.getByTestId("verify").click();
    await page.locator("[data-testid=verify-summary][data-valid='0']").waitFor();
    const result = page.locator(".receipt-result[data-index='0']");
    assert.equal(await result.getAttribute("data-valid"), "false");
    const failed = await result.locator(".step[data-status=failed]").evaluateAll((els) => els.map((e) => e.dataset.step));
    assert.deepEqual(failed, tamper.failed, `failed steps when the ${tamper.name} is changed`);
    assert.match(await result.locator("summary").innerText(), new RegExp(`failed: ${tamper.failed.join(", ")}`));
    assert.ok((await result.locator(".errors .err-code").allInnerTexts()).includes(tamper.code));
    if (tamper.name === "log") await shot("verify-tampered");
  }

  // Back to the untouched receipt: valid again.
  await page.getByTestId("receipt-input").fill(receipt);
  await page.getByTestId("verify").click();
  await page.locator("[data-testid=verify-summary][data-valid='1']").waitFor();
});

test("pin the gateway key: the receipt passes with it, fails with another key; a malformed key is not pinned", async () => {
  await page.getByTestId("pin-gateway").click();
  assert.equal(await page.getByTestId("pinned-key").innerText(), state.gatewayKey);
  await page.locator("[data-testid=verify-summary][data-valid='1']").waitFor();
  assert.match(await page.getByTestId("verify-summary").innerText(), /pinned key/);
  assert.equal(await page.evaluate(() => localStorage.getItem("kwh-btc-iot.pinned-gateway-key")), state.gatewayKey);

  // Another, well-formed Ed25519 key: the signature is then by an untrusted key.
  const other = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("hex");
  await page.getByTestId("unpin").click();
  await page.getByLabel("Gateway public key to pin").fill(other);
  await page.getByTestId("pin").click();
  await page.locator("[data-testid=verify-summary][data-valid='0']").waitFor();
  const sig = page.locator(".receipt-result[data-index='0'] .step[data-step=signature]");
  assert.equal(await sig.getAttribute("data-status"), "failed");
  assert.match(await sig.innerText(), /not by the trusted gateway key/);
  assert.equal(await page.locator("[data-testid=signature-status]").first().innerText(), "untrusted_key");

  // Malformed keys are refused with the core's code and not pinned.
  await page.getByTestId("unpin").click();
  for (const bad of ["xyz", "ab".repeat(32)]) {
    await page.getByLabel("Gateway public key to pin").fill(bad);
    await page.getByTestId("pin").click();
    await page.locator(".pin-msg .err-code").waitFor();
    assert.equal(await page.locator(".pin-msg .err-code").innerText(), "invalid_key");
    await page.getByTestId("pinned-key-none").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("kwh-btc-iot.pinned-gateway-key")), null);
    await page.evaluate(() => document.querySelector(".pin-msg").replaceChildren());
  }
  await page.locator("[data-testid=verify-summary][data-valid='1']").waitFor();

  await page.getByTestId("pin-gateway").click();
  await page.getByTestId("pinned-key").waitFor();
});

test("every shared receipt vector (tests/vectors/receipts.json) gets the core's verdict, signature state and error codes on the Verify page", async () => {
  const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/receipts.json", import.meta.url), "utf8"));
  await nav(page, "#/verify");
  let checked = 0;
  for (const c of vectors.cases) {
    if (!c.receipt.trim()) continue; // the page treats empty input as nothing to verify
    await page.evaluate((k) => (k ? localStorage.setItem("kwh-btc-iot.pinned-gateway-key", k) : localStorage.removeItem("kwh-btc-iot.pinned-gateway-key")), c.gateway_key);
    await page.getByTestId("receipt-input").fill(c.receipt);
    await page.getByTestId("verify").click();
    const result = page.locator(".receipt-result[data-index='0']");
    await result.waitFor();
    assert.equal(await result.getAttribute("data-valid"), String(c.want_valid), c.desc);
    assert.equal(await result.getByTestId("signature-status").innerText(), c.want_signature, c.desc);
    const codes = await result.locator(".errors .err-code").allInnerTexts();
    assert.deepEqual([...new Set(codes)].sort(), [...new Set(c.want_errors)].sort(), c.desc);
    if (c.desc.startsWith("unknown anchor type")) {
      assert.equal(await result.locator("[data-anchor-type]").getAttribute("data-anchor-status"), "unknown");
    }
    checked++;
  }
  assert.ok(checked >= 39);
  await page.evaluate((k) => localStorage.setItem("kwh-btc-iot.pinned-gateway-key", k), state.gatewayKey);
});

test("download all receipts of the batch as JSON Lines; the CLI and the Verify page (dropped file) accept every one", async () => {
  await nav(page, `#/batches/${encodeURIComponent(state.batchId)}`);
  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-receipts").click()]);
  const path = join(files, dl.suggestedFilename());
  await dl.saveAs(path);
  assert.match(dl.suggestedFilename(), /\.jsonl$/);
  const text = readFileSync(path, "utf8");
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 28);
  assert.deepEqual(lines.map((l) => JSON.parse(l).leaf_index), [...Array(28).keys()]);
  assert.ok(lines.every((l) => JSON.parse(l).batch_head.batch_id === state.batchId));
  const checked = cli("verify", path, "--gateway-key", state.gatewayKey);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);

  await page.getByTestId("verify-all").click();
  await page.locator("[data-testid=verify-all-result] .alert-ok").waitFor();
  assert.match(await page.getByTestId("verify-all-result").innerText(), /28 of 28 receipts valid/);

  await nav(page, "#/verify");
  const drop = async (content, name) => page.evaluate(([c, n]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([c], n, { type: "application/jsonl" }));
    document.querySelector("[data-testid=dropzone]").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [content, name]);
  await drop(text, "receipts.jsonl");
  await page.locator("[data-testid=verify-summary][data-total='28'][data-valid='28']").waitFor();
  assert.equal(await page.getByTestId("file-name").innerText(), `receipts.jsonl (${Buffer.byteLength(text).toLocaleString("en-US")} bytes)`);
  await shot("verify-jsonl");

  // One byte changed on line 6: 27 of 28.
  const bad = lines.map((l, i) => (i === 5 ? l.replace('"meter_id":"MTR-H"', '"meter_id":"MTR-I"') : l)).join("\n");
  assert.notEqual(bad, lines.join("\n"));
  await drop(bad, "receipts-tampered.jsonl");
  await page.locator("[data-testid=verify-summary][data-total='28'][data-valid='27']").waitFor();
  const invalid = page.locator(".receipt-result[data-valid=false]");
  assert.equal(await invalid.count(), 1);
  assert.equal(await invalid.getAttribute("data-index"), "5");
  assert.equal(await invalid.locator(".step[data-step=leaf_hash]").getAttribute("data-status"), "failed");
});

test("the Logs page: filters, cursor pages, and a log's canonical JSON and leaf hash recomputed in the browser", async () => {
  await nav(page, "#/logs?limit=10");
  const ids = async () => page.locator("[data-testid=logs-table] a[data-log-id]").evaluateAll((as) => as.map((a) => Number(a.dataset.logId)));
  const first = await ids();
  assert.equal(first.length, 10);
  let gen = await currentGen(page);
  await page.getByTestId("page-next").click();
  await waitReady(page, gen);
  const second = await ids();
  assert.equal(second.length, 10);
  assert.ok(second[0] > first[9], "the next page continues after the first");
  assert.match(await page.getByTestId("page-info").innerText(), /page 2/);
  await shot("logs-page2");
  gen = await currentGen(page);
  await page.getByTestId("page-prev").click();
  await waitReady(page, gen);
  assert.deepEqual(await ids(), first);

  // Filter by site through the form.
  await page.locator("[data-testid=log-filters] input[name=site_id]").fill("PLANT-02");
  await page.locator("[data-testid=log-filters] select[name=limit]").selectOption("100");
  gen = await currentGen(page);
  await page.getByRole("button", { name: "Apply" }).click();
  await waitReady(page, gen);
  const sites = await page.locator("[data-testid=logs-table] tbody tr td:nth-child(2)").allInnerTexts();
  assert.equal(sites.length, 13);
  assert.ok(sites.every((s) => s === "PLANT-02"));
  const api13 = await admin("/api/v1/logs?site_id=PLANT-02&limit=1000");
  assert.equal(api13.json.logs.length, 13);

  // Filters that match nothing, and a malformed one the gateway refuses.
  await nav(page, "#/logs?unbatched=true");
  await page.getByTestId("no-logs").waitFor();
  await nav(page, "#/logs?from=yesterday");
  assert.equal(await page.locator(".page .err-code").innerText(), "invalid_timestamp");

  // The founding log's detail.
  await nav(page, `#/logs/${state.foundingLogId}`);
  const server = await page.getByTestId("server-leaf-hash").innerText();
  assert.equal(await page.getByTestId("browser-leaf-hash").innerText(), server);
  await page.getByTestId("hash-match").waitFor();
  const canonical = await page.getByTestId("canonical-json").innerText();
  assert.equal(canonical, cli("canon", join(files, "founding.json")).stdout.trim());
  assert.equal(leafHashOf(canonical), server);
  await page.getByTestId("verify-here").click();
  await page.locator(".receipt-box [data-verdict=valid]").waitFor();
  await shot("log-detail");

  await nav(page, "#/logs/999999");
  assert.equal(await page.locator(".page .err-code").innerText(), "not_found");
});

test("the Overview: totals per site, energy over time per site, ingest rate, latest batches with anchor status", async () => {
  await nav(page, "#/overview");
  const all = (await admin("/api/v1/logs?limit=1000")).json.logs;
  assert.equal(await page.getByTestId("total-logs").innerText(), String(all.length));
  const sats = all.reduce((a, l) => a + l.log.tx.amount_sats, 0);
  assert.equal(await page.getByTestId("total-sats").innerText(), `${sats.toLocaleString("en-US")} sats`);
  const rows = await page.locator("[data-testid=site-totals] tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows.map((r) => r[0]).sort(), ["PLANT-01", "PLANT-02"]);
  const p2 = rows.find((r) => r[0] === "PLANT-02");
  assert.equal(p2[2], "13");
  const p2kwh = all.filter((l) => l.log.site_id === "PLANT-02").reduce((a, l) => a + l.log.energy_kwh, 0);
  assert.equal(p2[3], `${p2kwh.toLocaleString("en-US", { maximumFractionDigits: 3 })} kWh`);
  assert.equal(await page.locator(".legend li").count(), 2);
  assert.ok(await page.locator(".chart-svg .series-dot").count() >= 2);
  assert.equal(Number(await page.getByTestId("rate-1m").innerText()) >= 0, true);
  const latest = page.locator("[data-testid=latest-batches] tbody tr");
  assert.equal(await latest.count(), 1);
  assert.match(await latest.innerText(), new RegExp(state.batchId));
  assert.equal(await latest.locator("[data-anchor-status]").innerText(), "pending");
  await shot("overview-all");

  // The last 24 h by device: the founding example (2025) drops out.
  let gen = await currentGen(page);
  await page.locator("select[name=window]").selectOption("24h");
  await waitReady(page, gen);
  assert.equal(await page.getByTestId("total-logs").innerText(), String(all.length - 1));
  gen = await currentGen(page);
  await page.locator("select[name=by]").selectOption("device");
  await waitReady(page, gen);
  assert.match(await page.locator(".legend").innerText(), /PLANT-02 \/ gw-PLANT02-001/);
  assert.equal(await page.locator(".legend li").count(), 2);
  await shot("overview");
});

test("a regtest gateway's Verify page checks anchors under regtest by default: every anchored vector gets the core's verdict; mainnet chosen by hand refuses the regtest blocks", async () => {
  const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/anchored_receipts.json", import.meta.url), "utf8"));
  const regtest = await startGateway(["--anchor-network", "regtest"]);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await ctx.newPage();
  const seen = [];
  const errors = [];
  p.on("request", (r) => seen.push(r.url()));
  p.on("pageerror", (e) => errors.push(e.message));
  try {
    await open(p, regtest.base, "#/verify");
    const select = p.getByTestId("anchor-network");
    await p.waitForFunction(() => document.querySelector("[data-testid=anchor-network]")?.value === "regtest");
    let checked = 0;
    for (const c of vectors.cases) {
      if (c.network !== "regtest" || Object.keys(c.trusted_headers ?? {}).length) continue;
      await p.evaluate((k) => (k ? localStorage.setItem("kwh-btc-iot.pinned-gateway-key", k) : localStorage.removeItem("kwh-btc-iot.pinned-gateway-key")), c.gateway_key);
      await p.getByTestId("receipt-input").fill(c.receipt);
      await p.getByTestId("verify").click();
      const result = p.locator(".receipt-result[data-index='0']");
      await result.waitFor();
      assert.equal(await result.getAttribute("data-valid"), String(c.want_valid), c.desc);
      const statuses = await result.locator("[data-anchor-type]").evaluateAll((els) => els.map((e) => e.getAttribute("data-anchor-status")));
      assert.deepEqual(statuses, c.want_anchors.map((a) => a.status), c.desc);
      checked++;
    }
    assert.ok(checked >= 10, `only ${checked} regtest vectors`);
    // The user's choice wins over the gateway's network, and is remembered.
    const first = vectors.cases[0];
    await select.selectOption("mainnet");
    await p.getByTestId("receipt-input").fill(first.receipt);
    await p.getByTestId("verify").click();
    const result = p.locator(".receipt-result[data-index='0'][data-valid='false']");
    await result.waitFor();
    assert.equal(await result.locator("[data-anchor-type]").first().getAttribute("data-anchor-status"), "invalid");
    assert.match(await result.innerText(), /header_pow/);
    await p.reload();
    await waitReady(p, 0);
    assert.equal(await select.inputValue(), "mainnet");
    assert.deepEqual(seen.filter((u) => !u.startsWith(regtest.base) && !u.startsWith("blob:") && !u.startsWith("data:")), []);
    assert.deepEqual(errors, []);
  } finally {
    await p.evaluate(() => localStorage.removeItem("kwh-btc-iot.anchor-network")).catch(() => {});
    await ctx.close();
    await regtest.stop();
  }
});

test("every page at phone width: usable, no sideways scrolling; screenshots of each page", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, acceptDownloads: true });
  const p = await phone.newPage();
  watch(p);
  await open(p, gw.base, "#/overview");
  await useKey(p, gw.adminKey);
  await p.evaluate((k) => localStorage.setItem("kwh-btc-iot.pinned-gateway-key", k), state.gatewayKey);
  const pages = [
    ["overview", "#/overview?window=24h"],
    ["logs", "#/logs?limit=10"],
    ["log-detail", `#/logs/${state.foundingLogId}`],
    ["batches", "#/batches"],
    ["batch-detail", `#/batches/${encodeURIComponent(state.batchId)}`],
    ["verify", "#/verify"],
    ["ingest", "#/ingest"],
  ];
  for (const [name, hash] of pages) {
    await nav(p, hash);
    if (name === "verify") {
      await p.getByTestId("receipt-input").fill(state.receipt);
      await p.getByTestId("verify").click();
      await p.locator("[data-testid=verify-summary][data-valid='1']").waitFor();
    }
    const { scroll, inner } = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    assert.ok(scroll <= inner, `${name}: page is ${scroll}px wide in a ${inner}px viewport`);
    // The navigation stays reachable.
    assert.ok(await p.locator("nav a[data-page=verify]").isVisible());
    await p.screenshot({ path: join(shots, `${name}-phone.png`), fullPage: true });
  }
  // The desktop set, for every page not shot yet at its final state.
  for (const [name, hash] of pages) {
    await nav(page, hash);
    if (name === "verify") {
      await page.getByTestId("receipt-input").fill(state.receipt);
      await page.getByTestId("verify").click();
      await page.locator("[data-testid=verify-summary][data-valid='1']").waitFor();
    }
    await shot(name);
  }
  await phone.close();
});

test("the page talks only to its own gateway and throws no uncaught errors", () => {
  const foreign = requests.filter((u) => !u.startsWith(gw.base) && !u.startsWith("blob:") && !u.startsWith("data:"));
  assert.deepEqual(foreign, []);
  assert.ok(requests.some((u) => u.endsWith("/kwh_btc_iot_wasm_bg.wasm")), "the .wasm came from the gateway");
  assert.deepEqual(pageErrors, []);
});
