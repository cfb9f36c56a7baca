// Browser tests of `labelnoise explore` (issue 13): Playwright (playwright-core) driving
// Debian's Chromium against a running server. scripts/tests/browser.sh starts the server,
// sets EXPLORE_URL and ARTIFACTS, and runs this file; it prints one line per test and a
// last line "N passed, M failed" (the script turns it into its RESULT line).
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const BASE = process.env.EXPLORE_URL || "http://127.0.0.1:8787/";
const ARTIFACTS = process.env.ARTIFACTS || "target/browser-artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
fs.mkdirSync(ARTIFACTS, { recursive: true });

const HOOKS = ["play", "pause", "step", "reset", "settle", "preset", "width", "lr", "noise",
  "canvas-data", "panel-plain", "panel-noise", "step-count", "convexity-plain",
  "convexity-noise", "convexity-min", "reg-plain", "reg-noise", "verdict-plain", "verdict-noise"];

const measurements = {};
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (page, id) => page.getByTestId(id).textContent();
const num = async (page, id) => Number(await text(page, id));

async function waitFor(what, fn, timeoutMs, everyMs = 200) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

async function open(browser, hash = "") {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1250 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(BASE + hash);
  await waitFor("the first frame", () => page.evaluate(() => !!window.labelnoiseExplore?.app.frame), 20000);
  return { page, context, errors };
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

test("the page loads with every test hook and the fig1 minimum", async (browser) => {
  const { page, context, errors } = await open(browser);
  for (const id of HOOKS) assert(await page.getByTestId(id).count() === 1, `hook ${id} missing`);
  assert(await page.getByTestId("preset").evaluate((e) => e.tagName) === "SELECT", "preset is not a select");
  await waitFor("convexity-min = 2", async () => (await text(page, "convexity-min")) === "2", 10000);
  assert(await text(page, "step-count") === "0", "step count is not 0 at the start");
  await shot(page, "01-loaded");
  assert(errors.length === 0, "page errors: " + errors.join("; "));
  await context.close();
});

test("play: the step count rises; pause stops it", async (browser) => {
  const { page, context } = await open(browser);
  await page.getByTestId("play").click();
  await waitFor("step count > 0", async () => (await num(page, "step-count")) > 0, 10000);
  const a = await num(page, "step-count");
  await sleep(1000);
  const b = await num(page, "step-count");
  assert(b > a, `step count did not rise: ${a} then ${b}`);
  await page.getByTestId("pause").click();
  await sleep(500);
  const c = await num(page, "step-count");
  await sleep(800);
  assert(await num(page, "step-count") === c, "the step count rose after pause");
  await context.close();
});

test("fig1: the label-noise panel reaches convexity-min, the plain panel stays above", async (browser) => {
  const { page, context } = await open(browser);
  await waitFor("convexity-min = 2", async () => (await text(page, "convexity-min")) === "2", 10000);
  const min = await num(page, "convexity-min");
  await page.getByTestId("play").click();
  const ms = await waitFor("convexity-noise = convexity-min",
    async () => (await text(page, "convexity-noise")) === String(min), 120000, 100);
  const steps = await num(page, "step-count");
  const plain = await num(page, "convexity-plain");
  await shot(page, "03-fig1-noise-reached-min");
  measurements.seconds_to_min_convexity = ms / 1000;
  measurements.steps_at_min_convexity = steps;
  assert(plain > min, `the plain panel has ${plain} convexity changes, not above the minimum ${min}`);
  await sleep(2000);
  assert(await num(page, "convexity-plain") > min, "the plain panel fell to the minimum");
  await page.getByTestId("pause").click();
  await context.close();
});

test("measure: 10 s of play on fig1 at width 100 (steps per second, frames per second)", async (browser) => {
  const { page, context } = await open(browser);
  await page.getByTestId("play").click();
  await sleep(2000);
  const s0 = await num(page, "step-count"), t0 = Date.now();
  const fps = [];
  for (let k = 0; k < 10; k++) { await sleep(1000); fps.push(Number(await text(page, "fps"))); }
  const s1 = await num(page, "step-count"), t1 = Date.now();
  await page.getByTestId("pause").click();
  measurements.steps_per_second_each_panel = Math.round((s1 - s0) / ((t1 - t0) / 1000));
  measurements.frames_per_second = fps;
  measurements.frames_per_second_mean = fps.reduce((a, b) => a + b, 0) / fps.length;
  await shot(page, "02-measure");
  assert(s1 > s0, "no steps while playing");
  await context.close();
});

test("drag a point: both panels refit it", async (browser) => {
  // The drag must come before label noise has simplified the function: from about
  // 5e6 steps on fig1 (seed 0) the label-noise network's live units have gathered their
  // kinks at a few places, and a point moved far from the simple fit is then out of
  // reach: a local minimum of the training loss that plain SGD does not leave either
  // (docs/explore.md, "Out of reach"). At full speed a fast machine passes 5e6 steps
  // between two polls, so the runs go at 20000 steps a frame until the drag, and the
  // drag happens paused, in one move.
  const first = await open(browser);
  const state = await first.page.evaluate(() => JSON.parse(decodeURIComponent(location.hash.slice(1))));
  await first.context.close();
  state.settings.steps_per_frame = 20000;
  const { page, context } = await open(browser, "#" + encodeURIComponent(JSON.stringify(state)));
  await waitFor("steps/frame restored", async () => (await page.getByTestId("steps-per-frame").inputValue()) === "20000", 10000);
  await page.getByTestId("play").click();
  await waitFor("the plain panel fits, 2e6 steps", async () =>
    Number(await text(page, "loss-plain")) < 1e-3 && (await num(page, "step-count")) >= 2e6, 60000);
  await page.getByTestId("pause").click();
  await sleep(300);
  const dragStep = await num(page, "step-count");
  assert(dragStep < 3.5e6, `paused at step ${dragStep}, past 3.5e6`);
  measurements.drag_at_step = dragStep;
  const i = 5;
  const from = await page.evaluate((i) => window.labelnoiseExplore.pointPixel(i), i);
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x, from.y - 50, { steps: 2 });
  await page.mouse.up();
  await sleep(300);
  assert(await num(page, "step-count") === dragStep, "the runs stepped while paused");
  await page.getByTestId("steps-per-frame").fill("1000000");
  await page.getByTestId("steps-per-frame").dispatchEvent("change");
  await page.getByTestId("play").click();
  const moved = await page.evaluate((i) => window.labelnoiseExplore.app.points.slice(), i);
  const before = [-0.25, 0.2];
  const target = moved.find((p) => Math.abs(p[0] - before[0]) < 0.05);
  assert(target && target[1] > before[1] + 0.1, `the point did not move up: ${JSON.stringify(moved)}`);
  await shot(page, "04a-dragged");
  // Plain SGD fits exactly. The label-noise panel jitters around the fit by O(sqrt(eta) sigma)
  // and, at a sharp spike, its mean sits a little below the point (measured: 0.82 for a
  // point moved from 0.2 to 0.9 with eta = 5e-4, sigma = 1; 0.78-0.91 for 0.957), so its
  // value is averaged over ten frames and must have moved at least 2/3 of the way.
  const k = moved.indexOf(target);
  const near = (panel) => page.evaluate(([p, k]) => window.labelnoiseExplore.app.frame[p].at_points[k], [panel, k]);
  let last = null;
  try {
    await waitFor("the plain panel passes through the moved point",
      async () => { last = await near("plain"); return Math.abs(last - target[1]) < 1e-3; }, 60000);
  } catch (e) {
    await shot(page, "04-failed");
    const pts = await page.evaluate(() => window.labelnoiseExplore.app.points);
    throw new Error(`${e.message}: f = ${last} at point ${k} ${JSON.stringify(target)}; points ${JSON.stringify(pts)}`);
  }
  const means = [];
  try {
    await waitFor("the label-noise panel passes through the moved point (mean of 10 frames)", async () => {
      let sum = 0;
      for (let j = 0; j < 10; j++) { sum += await near("noise"); await sleep(40); }
      means.push(sum / 10);
      return Math.abs(sum / 10 - target[1]) < Math.abs(target[1] - before[1]) / 3;
    }, 60000);
  } catch (e) {
    await shot(page, "04-failed");
    throw new Error(`${e.message}: target ${JSON.stringify(target)} from ${before[1]}, last means ${means.slice(-5).map((v) => v.toFixed(3))}`);
  }
  await shot(page, "04b-refit");
  await page.getByTestId("pause").click();
  await context.close();
});

test("settle gives a non-repellent or kink-on-data-point verdict, drawn dashed", async (browser) => {
  const { page, context } = await open(browser);
  await page.getByTestId("play").click();
  await waitFor("the label-noise panel fits", async () => Number(await text(page, "loss-noise")) < 1e-2, 60000);
  await page.getByTestId("pause").click();
  await page.getByTestId("settle").click();
  await waitFor("a settle verdict", async () => {
    const v = await text(page, "verdict-noise");
    const settled = await page.evaluate(() => !!window.labelnoiseExplore.app.settled);
    return settled && (v === "non-repellent" || v === "kink-on-data-point");
  }, 90000);
  await shot(page, "05-settled");
  await context.close();
});

test("a URL with a state hash restores that state", async (browser) => {
  const state = {
    settings: { width: 37, depth: 2, activation: "relu", skip: false, output_bias: true,
      init_scale: 1, output_init_scale: 5, lr: 0.001, noise: 0.5, noise_dist: "uniform",
      steps_per_frame: 1000, seed: 1234 },
    points: [[-1, 0.5], [-0.4, -0.2], [0.1, 0.3], [0.7, 0.9], [1.3, 0.1]],
    preset: "custom",
  };
  const { page, context } = await open(browser, "#" + encodeURIComponent(JSON.stringify(state)));
  await waitFor("settings restored", async () => (await page.getByTestId("width").inputValue()) === "37", 10000);
  assert(await page.getByTestId("lr").inputValue() === "0.001", "lr not restored");
  assert(await page.getByTestId("noise").inputValue() === "0.5", "noise not restored");
  assert(await page.getByTestId("depth").inputValue() === "2", "depth not restored");
  assert(await page.getByTestId("seed").inputValue() === "1234", "seed not restored");
  const pts = await page.evaluate(() => window.labelnoiseExplore.app.points);
  assert(JSON.stringify(pts) === JSON.stringify(state.points), "points not restored: " + JSON.stringify(pts));
  // The server runs that state: the export's command lines say so.
  await page.getByTestId("step").click();
  await page.getByTestId("export").click();
  await waitFor("export shown", async () => (await page.getByTestId("export-commands").textContent()).length > 0, 10000);
  const cmds = await page.getByTestId("export-commands").textContent();
  for (const flag of ["--hidden 37 --hidden 37", "--seed 1234", "--lr 0.001", "--noise 0.5", "--noise-dist uniform", "--output-init-scale 5"]) {
    assert(cmds.includes(flag), `export lacks ${flag}: ${cmds}`);
  }
  await shot(page, "06-restored-from-hash");
  // The page's own hash round-trips.
  const hash = await page.evaluate(() => location.hash);
  const again = JSON.parse(decodeURIComponent(hash.slice(1)));
  assert(again.settings.width === 37 && again.settings.seed === 1234, "hash not kept");
  await context.close();
});

test("bad input shows an error on the page and the session goes on", async (browser) => {
  const { page, context } = await open(browser);
  await page.getByTestId("width").fill("5000");
  await page.getByTestId("width").dispatchEvent("change");
  await waitFor("an error naming settings.width", async () => {
    const el = page.getByTestId("error");
    return (await el.isVisible()) && (await el.textContent()).includes("settings.width");
  }, 10000);
  await shot(page, "07-error");
  await page.getByTestId("play").click();
  await waitFor("steps after the error", async () => (await num(page, "step-count")) > 0, 10000);
  await context.close();
});

// Playwright gives every launch a fresh temporary profile (user-data dir) of its own.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
});
let passed = 0, failed = 0;
for (const t of tests) {
  const t0 = Date.now();
  try {
    await t.fn(browser);
    passed++;
    console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}: ${e.message}`);
  }
}
await browser.close();
fs.writeFileSync(path.join(ARTIFACTS, "measurements.json"), JSON.stringify(measurements, null, 1) + "\n");
console.log("measurements: " + JSON.stringify(measurements));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
