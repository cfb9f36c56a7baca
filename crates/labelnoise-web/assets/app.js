// labelnoise explore: the page. It draws what the server sends and sends back what the
// user does; every SGD step runs in the labelnoise process (docs/explore.md).
"use strict";

const SETTING_FIELDS = ["width", "depth", "activation", "skip", "output_bias", "init_scale",
  "output_init_scale", "lr", "noise", "noise_dist", "steps_per_frame", "seed"];
const INT_FIELDS = new Set(["width", "depth", "steps_per_frame", "seed"]);
const BOOL_FIELDS = new Set(["skip", "output_bias"]);
const FLOAT_FIELDS = new Set(["init_scale", "output_init_scale", "lr", "noise"]);
const COLORS = { plain: "#c2410c", noise: "#2a6fdb", data: "#111827", kink: "#6b21a8", settled: "#15803d" };
const PANELS = ["plain", "noise"];

const $ = (id) => document.getElementById(id);

const app = {
  ws: null,
  presets: [],
  defaults: null,
  settings: null,       // as last confirmed by the server
  points: [],           // the data, as edited here
  view: null,           // data view {x0, x1, y0, y1}, frozen while dragging
  drag: null,           // index of the point being dragged
  frame: null,          // last frame
  settled: null,        // {grid, f, step} of the last settle
  traces: { plain: [], noise: [] },
  minConv: null,
  playing: false,
  fpsCount: 0,
  fps: 0,
  needDraw: false,
  hashState: null,      // state read from the URL hash at load
  pendingSend: null,
  errorTimer: null,
  lastFrameStep: -1,
};

// ---------- URL hash: the whole state, so a link restores the view ----------

function readHash() {
  const h = location.hash.replace(/^#/, "");
  if (!h) return null;
  try {
    const st = JSON.parse(decodeURIComponent(h));
    if (typeof st !== "object" || st === null) return null;
    return st;
  } catch (e) {
    showError("the link's state (after #) is not valid; starting from the defaults");
    return null;
  }
}

function writeHash() {
  if (!app.settings) return;
  const st = { settings: app.settings, points: app.points, preset: $("preset").value };
  const h = "#" + encodeURIComponent(JSON.stringify(st));
  if (location.hash !== h) history.replaceState(null, "", h);
}

// ---------- messages ----------

function send(msg) {
  if (app.ws && app.ws.readyState === WebSocket.OPEN) app.ws.send(JSON.stringify(msg));
}

function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(app.errorTimer);
  app.errorTimer = setTimeout(() => { el.hidden = true; }, 10000);
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws`);
  app.ws = ws;
  ws.onopen = () => { $("status").textContent = "connected"; };
  ws.onclose = () => {
    $("status").textContent = "disconnected from the labelnoise process (reload to reconnect)";
    app.playing = false;
    updateButtons();
  };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    handle(msg);
  };
}

function handle(msg) {
  switch (msg.type) {
    case "hello": {
      app.defaults = msg.defaults;
      app.limits = msg.limits;
      $("status").textContent = `connected (at most ${msg.max_sessions} sessions at once)`;
      const st = app.hashState || {};
      const settings = Object.assign({}, msg.defaults, st.settings || {});
      send({ type: "settings", settings });
      let points = Array.isArray(st.points) ? st.points : null;
      if (!points) points = presetPoints("fig1");
      if (st.preset) $("preset").value = st.preset;
      app.points = points.map((p) => [p[0], p[1]]);
      app.view = null;
      send({ type: "points", points: app.points });
      break;
    }
    case "state": {
      const restarted = !app.settings || JSON.stringify(restartKey(app.settings)) !== JSON.stringify(restartKey(msg.settings));
      app.settings = msg.settings;
      if (app.drag === null) app.points = msg.points;
      app.minConv = msg.min_convexity;
      app.playing = msg.playing;
      $("convexity-min").textContent = msg.min_convexity === null ? "–" : String(msg.min_convexity);
      $("kernel").textContent = msg.kernel;
      if (restarted) clearRun();
      fillControls();
      updateButtons();
      writeHash();
      app.needDraw = true;
      break;
    }
    case "frame": {
      if (msg.step < app.lastFrameStep) clearRun();
      app.lastFrameStep = msg.step;
      app.frame = msg;
      app.playing = msg.playing;
      for (const p of PANELS) pushTrace(p, msg.step, msg[p]);
      app.needDraw = true;
      break;
    }
    case "verdict": {
      const el = $("verdict-" + msg.panel);
      el.textContent = msg.verdict;
      el.className = "badge " + msg.verdict;
      el.title = msg.of === "settled"
        ? "Theorem 2 verdict of the settled network (settle's certificate)"
        : `Theorem 2 verdict at step ${msg.step}, after projecting onto the zero-loss manifold; ||g_N|| = ${fmt(msg.null_reg_grad_norm)}`;
      break;
    }
    case "settled": {
      app.settled = { grid: msg.grid, f: msg.f, step: app.lastFrameStep };
      $("status").textContent = `settle: ${msg.outcome} after ${msg.iterations} iterations, ` +
        `reg ${fmt(msg.start_reg)} → ${fmt(msg.end_reg)}, ${msg.seconds.toFixed(2)} s`;
      app.needDraw = true;
      break;
    }
    case "export": showExport(msg); break;
    case "error": showError(msg.message); break;
    case "refused": {
      showError(msg.message);
      $("status").textContent = "refused: " + msg.message;
      break;
    }
    default: break;
  }
}

function restartKey(s) {
  return [s.width, s.depth, s.activation, s.skip, s.output_bias, s.init_scale, s.output_init_scale, s.seed];
}

function clearRun() {
  app.traces = { plain: [], noise: [] };
  app.settled = null;
  app.lastFrameStep = -1;
  for (const p of PANELS) {
    $("verdict-" + p).textContent = "–";
    $("verdict-" + p).className = "badge";
  }
}

function pushTrace(panel, step, m) {
  const tr = app.traces[panel];
  const last = tr.length ? tr[tr.length - 1] : null;
  if (last && step <= last.step) return;
  // Log-spaced on the step axis: keep a point when the step grew by 1% (or it is the first).
  if (last && step < last.step * 1.01 && step - last.step < 2) return;
  if (last && step < last.step * 1.01) tr.pop();
  tr.push({ step, loss: m.loss, reg: m.reg, conv: m.convexity, len: m.curve_length });
  if (tr.length > 4000) tr.splice(0, tr.length - 4000);
}

// ---------- controls ----------

function fillControls() {
  const s = app.settings;
  for (const k of SETTING_FIELDS) {
    const el = $(k);
    if (document.activeElement === el) continue;
    if (BOOL_FIELDS.has(k)) el.checked = !!s[k];
    else el.value = String(s[k]);
  }
}

function readControls() {
  const s = Object.assign({}, app.settings || app.defaults);
  for (const k of SETTING_FIELDS) {
    const el = $(k);
    if (BOOL_FIELDS.has(k)) s[k] = el.checked;
    else if (INT_FIELDS.has(k)) {
      const v = Number(el.value);
      s[k] = Number.isFinite(v) ? Math.round(v) : v;
    } else if (FLOAT_FIELDS.has(k)) s[k] = Number(el.value);
    else s[k] = el.value;
  }
  return s;
}

function settingsChanged() {
  const s = readControls();
  for (const k of Object.keys(s)) {
    if (typeof s[k] === "number" && !Number.isFinite(s[k])) {
      showError(`${k}: not a number`);
      fillControls();
      return;
    }
  }
  send({ type: "settings", settings: s });
}

function updateButtons() {
  $("play").classList.toggle("on", app.playing);
  $("pause").classList.toggle("on", !app.playing);
}

function presetPoints(name) {
  const p = app.presets.find((q) => q.name === name);
  return p ? p.points.map((q) => [q[0], q[1]]) : null;
}

function randomPoints() {
  const n = 8 + Math.floor(Math.random() * 5);
  const pts = [];
  for (let i = 0; i < n; i++) {
    const x = -2 + 4 * (i + 0.2 + 0.6 * Math.random()) / n;
    pts.push([round(x), round(2 * Math.random() - 1)]);
  }
  return pts;
}

function round(v) { return Math.round(v * 1000) / 1000; }

function choosePreset() {
  const name = $("preset").value;
  let pts = null;
  if (name === "random") pts = randomPoints();
  else if (name !== "custom") pts = presetPoints(name);
  if (!pts) return;
  app.points = pts;
  app.view = null;
  app.settled = null;
  send({ type: "points", points: pts });
  writeHash();
  app.needDraw = true;
}

function wireControls() {
  for (const k of SETTING_FIELDS) $(k).addEventListener("change", settingsChanged);
  $("preset").addEventListener("change", choosePreset);
  $("play").onclick = () => send({ type: "play" });
  $("pause").onclick = () => send({ type: "pause" });
  $("step").onclick = () => send({ type: "step" });
  $("reset").onclick = () => { clearRun(); send({ type: "reset" }); };
  $("new-seed").onclick = () => send({ type: "new_seed" });
  $("settle").onclick = () => {
    $("status").textContent = "settling the label-noise panel…";
    send({ type: "settle" });
  };
  $("export").onclick = () => send({ type: "export" });
}

function showExport(msg) {
  const all = { settings: app.settings, data: msg.data, plain: msg.plain, noise: msg.noise,
    commands: msg.commands, exact: msg.exact };
  const link = (id, obj) => {
    const a = $(id);
    if (a.href && a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(new Blob([JSON.stringify(obj, null, 1)], { type: "application/json" }));
  };
  link("export-all", all);
  link("export-data", msg.data);
  link("export-plain", msg.plain);
  link("export-noise", msg.noise);
  $("export-commands").textContent = msg.commands.join("\n");
  $("export-note").textContent = (msg.exact
    ? "Save the data as explore-data.json; these commands reproduce each panel bit for bit."
    : "Save the data as explore-data.json. The runs were edited on the way (points moved, η or σ changed, or settled), so these commands rerun the current settings from the start rather than the exact path.");
  $("export-box").hidden = false;
  $("export-all").click();
}

// ---------- drawing ----------

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : v.toPrecision(4);
}

function setupCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

function dataView() {
  const xs = app.points.map((p) => p[0]), ys = app.points.map((p) => p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const px = 0.15 * Math.max(x1 - x0, 1e-6), py = 0.35 * Math.max(y1 - y0, 0.5);
  return { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
}

const PAD = { l: 44, r: 10, t: 10, b: 22 };

function mapper(v, w, h) {
  return {
    X: (x) => PAD.l + (x - v.x0) / (v.x1 - v.x0) * (w - PAD.l - PAD.r),
    Y: (y) => h - PAD.b - (y - v.y0) / (v.y1 - v.y0) * (h - PAD.t - PAD.b),
    invX: (px) => v.x0 + (px - PAD.l) / (w - PAD.l - PAD.r) * (v.x1 - v.x0),
    invY: (py) => v.y0 + (h - PAD.b - py) / (h - PAD.t - PAD.b) * (v.y1 - v.y0),
  };
}

function ticks(a, b, n) {
  const span = b - a;
  if (!(span > 0)) return [a];
  const step0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let t = Math.ceil(a / step) * step; t <= b + 1e-12; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

function axes(ctx, m, v, w, h) {
  ctx.strokeStyle = "#e5e7eb";
  ctx.fillStyle = "#6b7280";
  ctx.font = "11px sans-serif";
  ctx.lineWidth = 1;
  for (const t of ticks(v.x0, v.x1, 8)) {
    const x = m.X(t);
    ctx.beginPath(); ctx.moveTo(x, PAD.t); ctx.lineTo(x, h - PAD.b); ctx.stroke();
    ctx.textAlign = "center"; ctx.fillText(+t.toPrecision(3), x, h - 6);
  }
  for (const t of ticks(v.y0, v.y1, 5)) {
    const y = m.Y(t);
    ctx.beginPath(); ctx.moveTo(PAD.l, y); ctx.lineTo(w - PAD.r, y); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(+t.toPrecision(3), PAD.l - 4, y + 4);
  }
}

function drawPoints(ctx, m, highlight) {
  for (let i = 0; i < app.points.length; i++) {
    const [x, y] = app.points[i];
    ctx.beginPath();
    ctx.arc(m.X(x), m.Y(y), i === highlight ? 6 : 4.5, 0, 2 * Math.PI);
    ctx.fillStyle = i === highlight ? "#f59e0b" : COLORS.data;
    ctx.fill();
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5; ctx.stroke();
  }
}

function drawCurve(ctx, m, grid, f, color, dashed, width) {
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = width || 2;
  ctx.setLineDash(dashed ? [7, 5] : []);
  ctx.beginPath();
  for (let i = 0; i < grid.length; i++) {
    const x = m.X(grid[i]), y = m.Y(f[i]);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  }
  ctx.stroke();
  ctx.restore();
}

function drawData() {
  const c = $("canvas-data");
  const { ctx, w, h } = setupCanvas(c);
  if (!app.points.length) return;
  const v = app.view || dataView();
  const m = mapper(v, w, h);
  axes(ctx, m, v, w, h);
  ctx.save();
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, w - PAD.l - PAD.r, h - PAD.t - PAD.b); ctx.clip();
  if (app.frame) {
    drawCurve(ctx, m, app.frame.grid, app.frame.plain.f, COLORS.plain, false, 1.2);
    drawCurve(ctx, m, app.frame.grid, app.frame.noise.f, COLORS.noise, false, 1.2);
  }
  drawPoints(ctx, m, app.drag);
  ctx.restore();
  ctx.fillStyle = "#6b7280"; ctx.font = "11px sans-serif"; ctx.textAlign = "left";
  ctx.fillText(`${app.points.length} points · click to add, drag to move, right-click or shift-click to delete`, PAD.l + 4, PAD.t + 12);
}

function panelView(frame) {
  const v = dataView();
  const span = v.y1 - v.y0;
  let lo = v.y0, hi = v.y1;
  for (const p of PANELS) for (const y of frame[p].f) {
    if (Number.isFinite(y)) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  }
  // Follow the functions, but never further than one data height beyond the data.
  return { x0: frame.grid[0], x1: frame.grid[frame.grid.length - 1],
    y0: Math.max(lo, v.y0 - span), y1: Math.min(hi, v.y1 + span) };
}

function drawPanel(name) {
  const panel = $("panel-" + name);
  const { ctx, w, h } = setupCanvas(panel.querySelector("canvas.fn"));
  const fr = app.frame;
  if (!fr) return;
  const v = panelView(fr);
  const m = mapper(v, w, h);
  axes(ctx, m, v, w, h);
  ctx.save();
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, w - PAD.l - PAD.r, h - PAD.t - PAD.b); ctx.clip();
  drawCurve(ctx, m, fr.grid, fr[name].f, COLORS[name], false, 2);
  if (name === "noise" && app.settled) drawCurve(ctx, m, app.settled.grid, app.settled.f, COLORS.settled, true, 2.5);
  // Kinks: a tick at the bottom, up for convex (jump > 0), down for concave.
  for (const [x, jump] of fr[name].kinks) {
    const px = m.X(x);
    ctx.strokeStyle = jump > 0 ? COLORS.kink : "#db2777";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(px, h - PAD.b);
    ctx.lineTo(px, h - PAD.b - (jump > 0 ? 12 : 6));
    ctx.stroke();
  }
  drawPoints(ctx, m, -1);
  ctx.restore();
  const d = fr[name];
  $("convexity-" + name).textContent = d.convexity === null ? "–" : String(d.convexity);
  $("reg-" + name).textContent = fmt(d.reg);
  $("loss-" + name).textContent = fmt(d.loss);
  $("length-" + name).textContent = fmt(d.curve_length);
  if (d.diverged) $("verdict-" + name).textContent = "diverged";
}

function drawTraces(name) {
  const panel = $("panel-" + name);
  const { ctx, w, h } = setupCanvas(panel.querySelector("canvas.traces"));
  const tr = app.traces[name];
  const rows = [
    { key: "loss", label: "training loss", log: true },
    { key: "reg", label: "reg", log: true },
    { key: "conv", label: "convexity changes (dashed: data's minimum)", log: false, min: app.minConv },
    { key: "len", label: "curve length", log: false },
  ];
  const rh = h / rows.length;
  const maxStep = Math.max(10, ...tr.map((t) => t.step));
  const lx = (s) => Math.log10(Math.max(s, 1));
  const X = (s) => PAD.l + lx(s) / lx(maxStep) * (w - PAD.l - PAD.r);
  ctx.font = "10.5px sans-serif";
  rows.forEach((row, k) => {
    const top = k * rh + 4, bot = (k + 1) * rh - 14;
    const vals = tr.map((t) => t[row.key]).filter((v) => v !== null && Number.isFinite(v) && (!row.log || v > 0));
    ctx.fillStyle = "#374151"; ctx.textAlign = "left";
    ctx.fillText(row.label, PAD.l + 4, top + 9);
    ctx.strokeStyle = "#e5e7eb"; ctx.strokeRect(PAD.l, top, w - PAD.l - PAD.r, bot - top);
    if (k === rows.length - 1) {
      ctx.fillStyle = "#6b7280"; ctx.textAlign = "center";
      for (let e = 0; e <= Math.floor(lx(maxStep)); e++) ctx.fillText("1e" + e, X(Math.pow(10, e)), bot + 11);
    }
    if (!vals.length) return;
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (row.min !== undefined && row.min !== null) { lo = Math.min(lo, row.min); hi = Math.max(hi, row.min); }
    const f = row.log ? Math.log10 : (v) => v;
    let a = f(lo), b = f(hi);
    if (b - a < 1e-12) { a -= 0.5; b += 0.5; }
    const Y = (v) => bot - (f(v) - a) / (b - a) * (bot - top - 12);
    ctx.fillStyle = "#6b7280"; ctx.textAlign = "right";
    ctx.fillText(row.log ? lo.toExponential(0) : +lo.toPrecision(3), PAD.l - 3, bot);
    ctx.fillText(row.log ? hi.toExponential(0) : +hi.toPrecision(3), PAD.l - 3, top + 12);
    if (row.min !== undefined && row.min !== null) {
      ctx.save(); ctx.setLineDash([4, 4]); ctx.strokeStyle = COLORS.settled;
      ctx.beginPath(); ctx.moveTo(PAD.l, Y(row.min)); ctx.lineTo(w - PAD.r, Y(row.min)); ctx.stroke();
      ctx.restore();
    }
    ctx.strokeStyle = COLORS[name]; ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false;
    for (const t of tr) {
      const v = t[row.key];
      if (v === null || !Number.isFinite(v) || (row.log && v <= 0)) continue;
      const x = X(t.step), y = Y(v);
      if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
    }
    ctx.stroke();
  });
}

function draw() {
  if (app.needDraw) {
    app.needDraw = false;
    drawData();
    for (const p of PANELS) { drawPanel(p); drawTraces(p); }
    if (app.frame) {
      $("step-count").textContent = String(app.frame.step);
      $("sps").textContent = app.frame.playing ? fmt(app.frame.steps_per_second) : "–";
    }
    app.fpsCount++;
  }
  requestAnimationFrame(draw);
}

setInterval(() => {
  app.fps = app.fpsCount;
  app.fpsCount = 0;
  $("fps").textContent = String(app.fps);
}, 1000);

// ---------- the data canvas: add, drag, delete ----------

function canvasPoint(ev) {
  const c = $("canvas-data"), r = c.getBoundingClientRect();
  const v = app.view || dataView();
  const m = mapper(v, r.width, r.height);
  const px = ev.clientX - r.left, py = ev.clientY - r.top;
  let hit = -1, best = 10;
  app.points.forEach(([x, y], i) => {
    const d = Math.hypot(m.X(x) - px, m.Y(y) - py);
    if (d < best) { best = d; hit = i; }
  });
  return { x: m.invX(px), y: m.invY(py), hit, v };
}

function sendPoints() {
  $("preset").value = "custom";
  send({ type: "points", points: app.points });
  writeHash();
}

function distinctX(x, except) {
  return app.points.every((p, i) => i === except || Math.abs(p[0] - x) > 1e-6);
}

function wireCanvas() {
  const c = $("canvas-data");
  c.addEventListener("contextmenu", (ev) => ev.preventDefault());
  c.addEventListener("mousedown", (ev) => {
    ev.preventDefault();
    const p = canvasPoint(ev);
    if (ev.button === 2 || ev.shiftKey) {
      if (p.hit >= 0) {
        if (app.points.length <= 2) { showError("points: at least two points are needed"); return; }
        app.points.splice(p.hit, 1);
        sendPoints();
        app.needDraw = true;
      }
      return;
    }
    if (ev.button !== 0) return;
    if (p.hit >= 0) {
      app.drag = p.hit;
      app.view = p.v;
      return;
    }
    const max = app.limits ? app.limits.max_points : 200;
    if (app.points.length >= max) { showError(`points: at most ${max} points`); return; }
    if (!distinctX(p.x, -1)) { showError("points: two points cannot share an x value"); return; }
    app.points.push([round(p.x), round(p.y)]);
    app.points.sort((a, b) => a[0] - b[0]);
    sendPoints();
    app.needDraw = true;
  });
  window.addEventListener("mousemove", (ev) => {
    if (app.drag === null) return;
    const p = canvasPoint(ev);
    const x = round(p.x), y = round(p.y);
    if (distinctX(x, app.drag)) app.points[app.drag] = [x, y];
    else app.points[app.drag] = [app.points[app.drag][0], y];
    app.needDraw = true;
    if (!app.pendingSend) {
      app.pendingSend = setTimeout(() => { app.pendingSend = null; if (app.drag !== null) sendPoints(); }, 60);
    }
  });
  window.addEventListener("mouseup", () => {
    if (app.drag === null) return;
    app.drag = null;
    app.view = null;
    const moved = app.points.slice();
    moved.sort((a, b) => a[0] - b[0]);
    app.points = moved;
    sendPoints();
    app.needDraw = true;
  });
}

// For tests and for poking around in the browser's console: the page's state, and where
// a data point is drawn (client coordinates on the data canvas).
window.labelnoiseExplore = {
  app,
  pointPixel(i) {
    const c = $("canvas-data"), r = c.getBoundingClientRect();
    const m = mapper(app.view || dataView(), r.width, r.height);
    const [x, y] = app.points[i];
    return { x: r.left + m.X(x), y: r.top + m.Y(y) };
  },
  valueAt(panel, x) {
    // The sampled function, linearly interpolated at x.
    const fr = app.frame;
    if (!fr) return null;
    const g = fr.grid, f = fr[panel].f;
    for (let k = 0; k + 1 < g.length; k++) {
      if (g[k] <= x && x <= g[k + 1]) return f[k] + (f[k + 1] - f[k]) * (x - g[k]) / (g[k + 1] - g[k]);
    }
    return null;
  },
};

// ---------- start ----------

async function start() {
  wireControls();
  wireCanvas();
  app.hashState = readHash();
  try {
    const r = await fetch("/api/presets");
    app.presets = await r.json();
  } catch (e) {
    showError("cannot load the presets from the server");
  }
  const sel = $("preset");
  for (const p of app.presets) {
    const o = document.createElement("option");
    o.value = p.name; o.textContent = p.name; o.title = p.about;
    sel.appendChild(o);
  }
  const o = document.createElement("option");
  o.value = "random"; o.textContent = "random";
  sel.appendChild(o);
  sel.value = "fig1";
  window.addEventListener("resize", () => { app.needDraw = true; });
  connect();
  requestAnimationFrame(draw);
}

start();
