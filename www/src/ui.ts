// Pieces shared by several pages.

import { ApiError } from "./api";
import { badge, errorBox, h } from "./dom";
import type { Verification } from "./wasm";

/** An API error, with a hint for a missing or insufficient key. */
export function apiError(e: unknown): HTMLElement {
  const box = errorBox(e);
  if (e instanceof ApiError && e.status === 401) {
    box.append(h("div", { class: "hint" }, "Enter an admin or device API key at the top of the page."));
  } else if (e instanceof ApiError && e.status === 403) {
    box.append(h("div", { class: "hint" }, "This key may not do this (a device key sees and writes only its own device; flushing needs the admin key)."));
  }
  return box;
}

export function anchorBadge(status: string): HTMLElement {
  const kind = status === "anchored" || status === "confirmed" || status === "verified" ? "ok" : status === "pending" ? "warn" : "info";
  return badge(status, kind, { "data-anchor-status": status });
}

const STEP_LABEL: Record<string, string> = {
  parse: "Receipt structure",
  leaf_hash: "Leaf hash of the log",
  inclusion: "Inclusion path to the Merkle root",
  head: "Batch head",
  signature: "Gateway signature over the head",
  log_signature: "Device signature over the log",
  anchors: "Anchors",
};

/** The steps of a verification as a list: each passed, failed or skipped. */
export function stepsList(v: Verification): HTMLElement {
  return h(
    "ol",
    { class: "steps" },
    v.steps.map((st) =>
      h(
        "li",
        { class: `step step-${st.status}`, "data-step": st.name, "data-status": st.status },
        h("span", { class: "step-icon", "aria-hidden": "true" }, st.status === "passed" ? "✓" : st.status === "failed" ? "✗" : "–"),
        h(
          "div",
          { class: "step-body" },
          h("div", { class: "step-title" }, h("strong", null, STEP_LABEL[st.name] ?? st.name), " ", h("code", { class: "muted" }, st.name), " ",
            badge(st.status, st.status === "passed" ? "ok" : st.status === "failed" ? "bad" : "muted")),
          h("div", { class: "step-detail" }, st.detail),
        ),
      ),
    ),
  );
}

/** The verdict badge of a verification. */
export function verdict(v: Verification): HTMLElement {
  return v.valid ? badge("valid", "ok", { "data-verdict": "valid" }) : badge("invalid", "bad", { "data-verdict": "invalid" });
}

/** A labelled form field. */
export function field(label: string, control: HTMLElement, hint?: string, attrs: Record<string, string> = {}): HTMLElement {
  return h("label", { class: "field", ...attrs }, h("span", { class: "field-label" }, label), control, hint ? h("span", { class: "field-hint muted" }, hint) : null);
}
