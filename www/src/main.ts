// The page's shell: header with navigation and the API key, and the router.

import { clearKey, gateway, getKey, setKey } from "./api";
import { h, mount } from "./dom";
import { batchesPage } from "./pages/batches";
import { ingestPage } from "./pages/ingest";
import { logsPage } from "./pages/logs";
import { overviewPage } from "./pages/overview";
import { verifyPage } from "./pages/verify";
import { type Ctx, type Page, parseHash } from "./router";
import { loadWasm } from "./wasm";

const pages: Record<string, { title: string; page: Page }> = {
  overview: { title: "Overview", page: overviewPage },
  logs: { title: "Logs", page: logsPage },
  batches: { title: "Batches", page: batchesPage },
  verify: { title: "Verify", page: verifyPage },
  ingest: { title: "Ingest", page: ingestPage },
};

const main = h("main", { id: "main", tabindex: "-1" });
const nav = h("nav", { class: "nav", "aria-label": "Pages" });
const keyBox = h("div", { class: "keybox" });
const gwLabel = h("span", { class: "gw-id muted" });

function renderKeyBox(): void {
  const key = getKey();
  if (key) {
    mount(
      keyBox,
      h("span", { class: "key-state", "data-testid": "key-state" }, "API key set (this tab only)"),
      h("button", { type: "button", class: "btn btn-small", onclick: () => { clearKey(); renderKeyBox(); route(); } }, "Forget key"),
    );
    return;
  }
  const input = h("input", {
    type: "password",
    name: "api-key",
    placeholder: "admin or device API key",
    autocomplete: "off",
    spellcheck: "false",
    "aria-label": "API key",
  });
  const form = h(
    "form",
    {
      class: "keyform",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const v = input.value.trim();
        if (!v) return;
        setKey(v);
        renderKeyBox();
        route();
      },
    },
    input,
    h("button", { type: "submit", class: "btn btn-small" }, "Use key"),
  );
  mount(keyBox, form);
}

let leave: Array<() => void> = [];
let generation = 0;

async function route(): Promise<void> {
  for (const fn of leave) fn();
  leave = [];
  const gen = ++generation;
  const { path, params } = parseHash(location.hash);
  const name = path[0] && pages[path[0]] ? path[0] : "overview";
  for (const a of nav.querySelectorAll("a")) a.toggleAttribute("aria-current", a.dataset["page"] === name);
  const entry = pages[name]!;
  document.title = `${entry.title} · kwh-btc-iot`;
  const root = h("div", { class: "page", "data-page": name, "data-gen": gen });
  mount(main, root);
  const ctx: Ctx = {
    path: path.length ? path : [name],
    params,
    alive: () => gen === generation,
    onLeave: (fn) => leave.push(fn),
  };
  try {
    await entry.page(root, ctx);
  } catch (e) {
    if (ctx.alive()) root.append(h("div", { class: "alert alert-bad" }, `This page failed: ${(e as Error).message}`));
  }
  if (ctx.alive()) root.setAttribute("data-ready", "true");
}

function shell(): void {
  for (const [name, { title }] of Object.entries(pages)) {
    nav.append(h("a", { href: `#/${name}`, "data-page": name }, title));
  }
  const header = h(
    "header",
    { class: "top" },
    h("div", { class: "brand" }, h("a", { href: "#/overview", class: "logo" }, "⚡ kwh-btc-iot"), gwLabel),
    nav,
    keyBox,
  );
  document.body.replaceChildren(header, main, h("footer", { class: "foot muted" }, "Hashes, proofs and signatures on this page are checked in your browser by the kwh-btc-iot WASM package."));
  renderKeyBox();
  gateway()
    .then((g) => {
      gwLabel.textContent = g.gateway_id;
      gwLabel.title = `Ed25519 public key ${g.public_key}`;
      if (!g.auth_required) keyBox.prepend(h("span", { class: "muted open-note" }, "open gateway (no keys configured)"));
    })
    .catch(() => {
      gwLabel.textContent = "gateway unreachable";
    });
}

shell();
window.addEventListener("hashchange", () => void route());
// Start fetching the .wasm at once; pages await it where they need it.
loadWasm().catch((e) => {
  document.body.prepend(h("div", { class: "alert alert-bad" }, `The WASM package did not load: ${(e as Error).message}`));
});
void route();
