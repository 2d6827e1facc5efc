// Builds www/dist: app.js (src/ bundled with the WASM package's web build by
// esbuild), app.css, index.html and the .wasm the page fetches. No CDN: the
// gateway serves every file (gateway/src/web.rs embeds dist/ at compile time).
//
//   node build.mjs            (after bindings/wasm/build.sh made bindings/wasm/pkg)
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const require = createRequire(import.meta.url);

let pkgWeb;
try {
  pkgWeb = dirname(require.resolve("kwh-btc-iot/web"));
} catch {
  console.error("www build: the WASM package is missing; run bindings/wasm/build.sh first (it makes bindings/wasm/pkg)");
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox110", "safari16"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outfile: join(dist, "app.js"),
  logLevel: "warning",
  // wasm-bindgen's glue lists its JS snippet once per import; harmless.
  logOverride: { "duplicate-object-key": "silent" },
});

copyFileSync(join(pkgWeb, "kwh_btc_iot_wasm_bg.wasm"), join(dist, "kwh_btc_iot_wasm_bg.wasm"));
for (const f of ["index.html", "app.css", "favicon.svg"]) copyFileSync(join(here, "static", f), join(dist, f));

// gzip twins for the two big files; the gateway sends them to clients that accept gzip.
for (const f of ["app.js", "kwh_btc_iot_wasm_bg.wasm"]) {
  writeFileSync(join(dist, `${f}.gz`), gzipSync(readFileSync(join(dist, f)), { level: 9 }));
}

const sizes = ["index.html", "app.js", "app.js.gz", "app.css", "kwh_btc_iot_wasm_bg.wasm", "kwh_btc_iot_wasm_bg.wasm.gz"].map((f) => `${f} ${readFileSync(join(dist, f)).length} B`);
console.error(`www build: dist/ ${sizes.join(", ")}`);
