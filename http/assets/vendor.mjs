// Copies the dashboard's charting library from node_modules (installed from npm by the committed
// lockfile) into vendor/, which `timeledger serve` embeds and serves itself (no CDN).
//   node vendor.mjs          copy
//   node vendor.mjs --check  fail if vendor/ differs from the installed package
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const files = [
  ["node_modules/uplot/dist/uPlot.iife.min.js", "vendor/uPlot.iife.min.js"],
  ["node_modules/uplot/dist/uPlot.min.css", "vendor/uPlot.min.css"],
  ["node_modules/uplot/LICENSE", "vendor/uPlot.LICENSE"],
];
const check = process.argv.includes("--check");
let stale = 0;
mkdirSync(join(here, "vendor"), { recursive: true });
for (const [from, to] of files) {
  const bytes = readFileSync(join(here, from));
  if (check) {
    let have = null;
    try { have = readFileSync(join(here, to)); } catch { /* missing */ }
    if (!have || !have.equals(bytes)) {
      console.error(`http/assets/${to} differs from ${from}: run  (cd http/assets && npm ci && node vendor.mjs)`);
      stale++;
    }
  } else {
    writeFileSync(join(here, to), bytes);
  }
}
const version = JSON.parse(readFileSync(join(here, "node_modules/uplot/package.json"), "utf8")).version;
console.log(check ? (stale ? "" : `vendor/ holds uplot ${version} as installed`) : `copied uplot ${version} into vendor/`);
process.exit(stale ? 1 : 0);
