// Makes the README's dashboard pictures: `timeledger serve` on a throwaway database with a small
// made-up team, signed in from Debian's Chromium (headless), two pages saved as PNG.
//   node http/assets/screenshot.mjs [target/debug/timeledger] [docs]
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [bin = "target/debug/timeledger", out = "docs"] = process.argv.slice(2);
const MASTER = "screenshot-master-key-0001";
const GUILD = "4242";
const tmp = mkdtempSync(join(tmpdir(), "timeledger-shot-"));
mkdirSync(out, { recursive: true });
const server = spawn(resolve(bin), ["serve", "--db", join(tmp, "shot.db"), "--listen", "127.0.0.1:0"], {
  env: { ...process.env, TIMELEDGER_MASTER_KEY: MASTER },
  stdio: ["ignore", "pipe", "ignore"],
});
const base = (await new Promise((ok) => createInterface({ input: server.stdout }).once("line", ok)))
  .replace("listening on ", "")
  .trim();
let key;
async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "X-API-Key": key ?? "", "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}
try {
  key = (await api("POST", "/api/v1/auth/generate", { guild_id: GUILD, admin_user_id: "1", master_key: MASTER, tier: "ENTERPRISE" })).api_key;
  const people = [["1", "ada"], ["2", "grace"], ["3", "linus"], ["4", "margaret"]];
  for (const [id, username] of people) await api("PUT", `/api/v1/guild/${GUILD}/users/${id}`, { username });
  const categories = ["Development", "Meetings", "Support"];
  for (const name of categories) await api("POST", `/api/v1/guild/${GUILD}/categories`, { name });
  const DAY = 86_400_000, HOUR = 3_600_000;
  const midnight = Date.parse(new Date().toISOString().slice(0, 10));
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (const [id] of people) {
    // Two sessions a day for a week: under ENTERPRISE's 120 requests a minute.
    for (let d = 7; d >= 1; d--) {
      let at = midnight - d * DAY + 8 * HOUR;
      for (const category of [categories[0], categories[1 + (d % 2)]]) {
        const length = Math.round((0.3 + rand() * (category === "Development" ? 4 : 1.5)) * HOUR / 60000) * 60000;
        await api("POST", `/api/v1/guild/${GUILD}/sessions`, { user_id: id, category, start: new Date(at).toISOString(), end: new Date(at + length).toISOString() });
        at += length + 15 * 60000;
      }
    }
  }
  await api("POST", `/api/v1/guild/${GUILD}/clockin`, { user_id: "2", category: "Development" });
  const now = Date.now();
  const beats = [];
  for (let i = 0; i < 200; i++) {
    const project = ["timeledger", "website", "bot"][i % 7 < 4 ? 0 : i % 7 < 6 ? 1 : 2];
    beats.push({ entity: `src/${project}.rs`, type: "file", time: (now - (200 - i) * 90_000) / 1000, project,
      language: project === "website" ? "TypeScript" : "Rust", editor: "vim", operating_system: "Linux" });
  }
  for (let i = 0; i < beats.length; i += 25) await api("POST", "/api/v1/users/current/heartbeats.bulk", beats.slice(i, i + 25));

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
  await page.goto(base + "/");
  await page.fill("input[name=api_key]", key);
  await Promise.all([page.waitForURL(base + "/"), page.click("button:has-text('Sign in')")]);
  await page.goto(`${base}/?timeframe=all`);
  await page.screenshot({ path: join(out, "dashboard-guild.png") });
  await page.goto(`${base}/dashboard/user/1`);
  await page.waitForSelector("table[data-charted=true]");
  await page.screenshot({ path: join(out, "dashboard-user.png") });
  await browser.close();
  console.log(`saved ${out}/dashboard-guild.png and ${out}/dashboard-user.png`);
} finally {
  server.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
