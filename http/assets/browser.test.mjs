// The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium), driven headless by
// playwright-core, against `timeledger serve` on a throwaway database. It signs in with a key,
// opens every page at desktop and phone width, checks that the numbers on each page equal the
// API's, that every chart was drawn, that nothing the page loads breaks its Content-Security-Policy
// and that hostile names stay text, and saves screenshots.
//
//   TIMELEDGER_BIN=target/debug/timeledger SCREENSHOTS=target/browser-screenshots node --test http/assets/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = resolve(ROOT, process.env.TIMELEDGER_BIN ?? "target/debug/timeledger");
const SHOTS = resolve(ROOT, process.env.SCREENSHOTS ?? "target/browser-screenshots");
const BROWSER = process.env.CHROMIUM ?? "/usr/bin/chromium";
const MASTER = "browser-test-master-key-0001";
const GUILD = "123456789012345678"; // Discord-size: kept as a string end to end
const ADMIN = "987654321098765432";
const WORKER = "555";
const HOSTILE = `"><img src=x onerror="window.__pwned=1">`;

let server, base, key, browser, tmp;
const DAY = 86_400_000;

async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "X-API-Key": key, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const hours = (seconds) => (seconds / 3600).toFixed(2);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "timeledger-browser-"));
  mkdirSync(SHOTS, { recursive: true });
  server = spawn(BIN, ["serve", "--db", join(tmp, "dash.db"), "--listen", "127.0.0.1:0"], {
    env: { ...process.env, TIMELEDGER_MASTER_KEY: MASTER },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const first = await new Promise((ok, fail) => {
    createInterface({ input: server.stdout }).once("line", ok);
    server.once("exit", (code) => fail(new Error(`serve exited with ${code}`)));
  });
  base = first.replace("listening on ", "").trim();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);

  const generated = await fetch(base + "/api/v1/auth/generate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ guild_id: GUILD, admin_user_id: ADMIN, master_key: MASTER, tier: "ENTERPRISE" }),
  });
  assert.equal(generated.status, 201);
  key = (await generated.json()).api_key;

  // Members, categories and sessions over the last days (the guild's zone is UTC), one of each
  // kind of name hostile.
  await api("PUT", `/api/v1/guild/${GUILD}/users/${ADMIN}`, { username: "ada" });
  await api("PUT", `/api/v1/guild/${GUILD}/users/${WORKER}`, { username: HOSTILE });
  for (const name of ["Development", HOSTILE]) {
    await api("POST", `/api/v1/guild/${GUILD}/categories`, { name });
  }
  const now = Date.now();
  const entries = [
    [ADMIN, "Development", now - 3 * 3600_000, now - 3600_000],
    [ADMIN, HOSTILE, now - DAY - 5400_000, now - DAY],
    [ADMIN, "Development", now - 3 * DAY - 3600_000, now - 3 * DAY],
    [ADMIN, "Development", now - 12 * DAY - 7200_000, now - 12 * DAY],
    [WORKER, HOSTILE, now - 2 * 3600_000, now - 3600_000 - 1800_000],
  ];
  for (const [user_id, category, start, end] of entries) {
    await api("POST", `/api/v1/guild/${GUILD}/sessions`, { user_id, category, start: iso(start), end: iso(end) });
  }
  await api("POST", `/api/v1/guild/${GUILD}/clockin`, { user_id: WORKER, category: "Development" });

  // Coding time for the key's owner: two projects, one hostile, a heartbeat a minute.
  const beats = [];
  for (let i = 0; i < 40; i++) {
    beats.push({
      entity: i % 2 ? "src/lib.rs" : `${HOSTILE}.ts`,
      type: "file",
      time: (now - 50 * 60_000 + i * 60_000) / 1000,
      project: i % 2 ? "timeledger" : HOSTILE,
      language: i % 2 ? "Rust" : "TypeScript",
      editor: "vim",
      operating_system: "Linux",
    });
  }
  for (let i = 0; i < beats.length; i += 25) {
    const r = await api("POST", "/api/v1/users/current/heartbeats.bulk", beats.slice(i, i + 25));
    assert.ok(r.responses.every(([, status]) => status === 201), JSON.stringify(r));
  }

  browser = await chromium.launch({
    executablePath: BROWSER,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((ok) => server.once("exit", ok));
    server.kill("SIGTERM");
    await exited;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A page that records console errors (CSP violations among them) and script errors. */
async function open(context) {
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (m) => m.type() === "error" && page.problems.push(m.text()));
  page.on("pageerror", (e) => page.problems.push(String(e)));
  return page;
}

async function signIn(context) {
  const page = await open(context);
  await page.goto(base + "/");
  await page.fill("input[name=api_key]", key);
  await Promise.all([page.waitForURL(base + "/"), page.click("button:has-text('Sign in')")]);
  return page;
}

/** Body rows of a table as arrays of cell texts. */
const rows = (page, selector) =>
  page.$$eval(`${selector} tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)).filter((r) => r.length),
  );

/** Every chart drawn, above its table, with ink on its canvas when the table has rows. */
async function assertCharts(page, expected) {
  const charts = await page.$$eval("table[data-chart]", (tables) =>
    tables.map((t) => {
      const holder = t.previousElementSibling;
      const canvas = holder?.querySelector("canvas");
      let ink = 0;
      if (canvas) {
        const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
      }
      return { id: t.id, charted: t.dataset.charted === "true", canvas: !!canvas, ink, rows: t.querySelectorAll("td").length > 0 };
    }),
  );
  assert.deepEqual(charts.map((c) => c.id), expected);
  for (const c of charts) {
    assert.ok(c.charted && c.canvas, `chart ${c.id} was not drawn`);
    if (c.rows) assert.ok(c.ink > 500, `chart ${c.id} has rows but its canvas is blank (${c.ink} pixels)`);
  }
}

test("sign-in keeps the key in an HttpOnly, SameSite=Strict cookie, never in the page or URL", async () => {
  const context = await browser.newContext();
  const page = await signIn(context);
  const cookies = await context.cookies();
  const keyCookie = cookies.find((c) => c.name === "tl_key");
  assert.ok(keyCookie && keyCookie.httpOnly && keyCookie.sameSite === "Strict", JSON.stringify(cookies));
  assert.ok(!(await page.content()).includes(key), "the key is in the page");
  assert.ok(!page.url().includes(key));
  assert.equal(await page.evaluate(() => document.cookie), "", "a cookie is readable from script");

  await Promise.all([page.waitForURL(base + "/"), page.click("button:has-text('Sign out')")]);
  assert.ok(await page.isVisible("input[name=api_key]"), "signed out, the sign-in form shows");
  assert.equal((await context.cookies()).find((c) => c.name === "tl_key"), undefined);
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("a wrong key is refused on the sign-in page", async () => {
  const context = await browser.newContext();
  const page = await open(context);
  await page.goto(base + "/");
  await page.fill("input[name=api_key]", "tk_live_not_a_key");
  await page.click("button:has-text('Sign in')");
  assert.ok(await page.isVisible("[role=alert]"));
  assert.equal((await context.cookies()).find((c) => c.name === "tl_key"), undefined);
  await context.close();
});

for (const [label, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
  test(`every page shows the API's numbers and draws its charts (${label})`, async () => {
    const context = await browser.newContext({ viewport });
    const page = await signIn(context);

    // Guild page: status, who is clocked in, the week's leaderboard.
    const status = await api("GET", `/api/v1/guild/${GUILD}/status`);
    assert.equal(Number(await page.textContent("#total-hours")), status.total_time_hours);
    assert.equal(Number(await page.textContent("#active")), status.active_sessions);
    const board = await api("GET", `/api/v1/guild/${GUILD}/leaderboard?timeframe=week`);
    const shown = (await rows(page, "#leaderboard")).map((r) => [r[0], r[1], r[2]]);
    assert.deepEqual(shown, board.leaderboard.map((e) => [String(e.rank), e.username, hours(e.total_seconds)]));
    assert.ok(shown.some((r) => r[1] === HOSTILE), "the hostile name is shown as text");
    await page.screenshot({ path: join(SHOTS, `guild-${label}.png`), fullPage: true });

    // The category selector narrows the board to the category's own numbers.
    await page.selectOption("select[name=timeframe]", "all");
    await page.selectOption("select[name=category]", "Development");
    await Promise.all([page.waitForURL(/category=Development/), page.click("button:has-text('Show')")]);
    const dev = await api("GET", `/api/v1/guild/${GUILD}/leaderboard?timeframe=all&category=Development`);
    assert.deepEqual(
      (await rows(page, "#leaderboard")).map((r) => r[2]),
      dev.leaderboard.map((e) => hours(e.total_seconds)),
    );

    // A user's page: 7 and 30 days by category and by project, the coding breakdowns.
    await page.goto(`${base}/dashboard/user/${ADMIN}`);
    await page.waitForSelector("table[data-charted=true]");
    await assertCharts(page, ["days-7", "days-30", "coding-days-7", "coding-days-30"]);
    const now = Date.now();
    const today = Date.parse(dayOf(now));
    for (const days of [7, 30]) {
      const report = await api(
        "GET",
        `/api/v1/guild/${GUILD}/report?timeframe=custom&group_by=day,category&user_id=${ADMIN}` +
          `&from=${iso(today - (days - 1) * DAY)}&to=${iso(today + DAY)}`,
      );
      assert.deepEqual(
        (await rows(page, `#days-${days}`)).map((r) => r.slice(0, 3)),
        report.rows.map((r) => [r.day, r.category, hours(r.total_seconds)]),
      );
    }
    const summaries = await api(
      "GET",
      `/api/v1/users/${ADMIN}/summaries?start=${dayOf(today - 29 * DAY)}&end=today`,
    );
    const byProject = summaries.data.flatMap((d) => d.projects.map((p) => [d.range.date, p.name, hours(p.total_seconds)]));
    assert.deepEqual((await rows(page, "#coding-days-30")).map((r) => r.slice(0, 3)), byProject);
    assert.ok(byProject.length >= 2, "the coding chart has both projects");
    const stats = await api("GET", `/api/v1/users/${ADMIN}/stats?timeframe=last_30_days`);
    assert.equal(Number(await page.textContent("#coding-seconds")), stats.total_seconds);
    const projects = await rows(page, "table.projects");
    assert.deepEqual(projects.map((r) => [r[0], r[1]]), stats.projects.map((p) => [p.name, hours(p.seconds)]));
    await page.screenshot({ path: join(SHOTS, `user-${label}.png`), fullPage: true });

    // The coding leaderboards.
    await page.goto(`${base}/dashboard/coding`);
    for (const period of ["daily", "weekly"]) {
      const api_board = await api("GET", `/api/v1/leaderboard/${period}`);
      assert.deepEqual(
        (await rows(page, `#${period}`)).map((r) => [r[0], r[2]]),
        api_board.entries.map((e) => [String(e.rank), hours(e.total_seconds)]),
      );
    }
    await page.screenshot({ path: join(SHOTS, `coding-${label}.png`), fullPage: true });

    // Readable at this width: nothing wider than the screen.
    for (const path of ["/", `/dashboard/user/${ADMIN}`, "/dashboard/coding"]) {
      await page.goto(base + path);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= viewport.width, `${path} is ${wide}px wide on a ${viewport.width}px screen`);
    }

    // No script from a name ran, and nothing broke the CSP or threw.
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(page.problems, []);
    await context.close();
  });
}
