// Helpers of the end-to-end tests: a real `kwh-btc-iot serve` on a free
// loopback port with a temporary data directory, and Debian's Chromium driven
// by playwright-core (never a downloaded browser).

import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = process.env.KWH_BTC_IOT_BIN ?? join(ROOT, "target/debug/kwh-btc-iot");
export const ARTIFACTS = process.env.WWW_ARTIFACTS ?? join(ROOT, "artifacts/www");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export const sha256hex = (s) => createHash("sha256").update(s).digest("hex");

/** SHA-256(0x00 || canonical bytes): the leaf hash, computed by Node's own crypto. */
export const leafHashOf = (canonical) => createHash("sha256").update(Buffer.concat([Buffer.from([0]), Buffer.from(canonical, "utf8")])).digest("hex");

/**
 * Starts the gateway with an admin key and two device keys (the second one's
 * key is thrown away); auto-flush off so
 * that the test decides when batches are made.
 */
export async function startGateway(extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "kwh-www-"));
  const adminKey = `admin-${randomBytes(12).toString("hex")}`;
  const deviceKey = `device-${randomBytes(12).toString("hex")}`;
  const device = "gw-PLANT02-001";
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KWH_BTC_IOT_")));
  env.KWH_BTC_IOT_LOG = "warn";
  const child = spawn(
    BIN,
    [
      "serve",
      "--listen", "127.0.0.1:0",
      "--data-dir", dataDir,
      "--flush-count", "0",
      "--flush-age-s", "0",
      "--ots-calendars", "none",
      "--admin-key-sha256", sha256hex(adminKey),
      // With devices configured only their ids are accepted: the tests also
      // write (with the admin key) logs of the founding example's device.
      "--device-keys", `${device}=${sha256hex(deviceKey)},gw-PLANT01-003=${sha256hex(randomBytes(16).toString("hex"))}`,
      ...extraArgs,
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const base = await new Promise((ok, fail) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) ok(m[1]);
    });
    child.on("exit", (code) => fail(new Error(`kwh-btc-iot serve exited with ${code} before listening:\n${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.on("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { base, adminKey, deviceKey, device, dataDir, stop, stderr: () => stderr };
}

/** A fetch against the gateway with a key (for setting up data and cross-checks). */
export function api(base, key) {
  return async (path, init = {}) => {
    const r = await fetch(base + path, { ...init, headers: { Authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });
    const text = await r.text();
    return { status: r.status, text, json: text && r.headers.get("content-type")?.includes("json") ? JSON.parse(text) : null, headers: r.headers };
  };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Runs the CLI; returns {status, stdout, stderr}. */
export function cli(...args) {
  const r = spawnSync(BIN, args, { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function artifactsDir(sub = "") {
  const d = join(ARTIFACTS, sub);
  mkdirSync(d, { recursive: true });
  return d;
}

/**
 * Navigates by hash and waits until the routed page has finished drawing
 * (main.ts marks each page root with data-gen and, when done, data-ready).
 */
export async function nav(page, hash) {
  const gen = await currentGen(page);
  await page.evaluate((h) => {
    if (location.hash === h) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else location.hash = h;
  }, hash);
  await waitReady(page, gen);
}

export async function currentGen(page) {
  return page.evaluate(() => Number(document.querySelector(".page")?.getAttribute("data-gen") ?? 0));
}

/** Waits for a page root newer than `gen` to be ready. */
export async function waitReady(page, gen) {
  await page.waitForFunction((g) => {
    const p = document.querySelector(".page");
    return p && Number(p.getAttribute("data-gen")) > g && p.hasAttribute("data-ready");
  }, gen);
}

/** Opens the page at `base` and waits for the first route. */
export async function open(page, base, hash = "#/overview") {
  await page.goto(`${base}/${hash}`);
  await waitReady(page, 0);
}

/** Enters an API key in the header form (the page keeps it in sessionStorage). */
export async function useKey(page, key) {
  const forget = page.getByRole("button", { name: "Forget key" });
  if (await forget.count()) {
    const gen = await currentGen(page);
    await forget.click();
    await waitReady(page, gen);
  }
  const gen = await currentGen(page);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Use key" }).click();
  await waitReady(page, gen);
}
