// initlab playground: controls, a WebSocket to the server's training, and our own canvas drawing.
// Scripts can drive the page by element id (see the README) and read window.playground.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { options: null, ws: null, history: [], last: null, points: null, config: null, pinned: null, status: "connecting" };
  window.playground = state;

  const COLORS = { c0: [214, 96, 77], c1: [67, 147, 195], train: "#23395b", test: "#e08a00", pinned: "#999" };
  // config field -> control id (errors from the server name config fields)
  const CONTROL = { dataset: "dataset", noise: "noise", hidden: "hidden", activation: "activation", init: "init",
    init_options: "init-options", scale: "scale", optimizer: "optimizer", learning_rate: "lr", batch_size: "batch-size", iterations: "iterations", seed: "seed" };

  // ---------------------------------------------------------------- reading and writing controls
  function parseNumber(text) {
    const t = String(text).trim();
    if (t === "") return "";
    const x = Number(t);
    return Number.isFinite(x) ? x : t;  // a non-number goes to the server as text: it says what is wrong
  }
  function parseHidden(text) {
    const parts = String(text).split(",").map((s) => s.trim());
    const nums = parts.map(Number);
    return parts.every((p) => p !== "") && nums.every(Number.isInteger) ? nums : String(text);
  }
  function readInitOptions() {
    const out = {};
    for (const input of document.querySelectorAll("#init-options input")) {
      const v = input.value.trim();
      if (v !== "") out[input.dataset.option] = parseNumber(v);
    }
    return out;
  }
  function readConfig() {
    const noise = $("noise").value.trim(), batch = $("batch-size").value.trim();
    return {
      dataset: $("dataset").value, noise: noise === "" ? null : parseNumber(noise), hidden: parseHidden($("hidden").value),
      activation: $("activation").value, init: $("init").value, init_options: readInitOptions(), scale: parseNumber($("scale").value),
      optimizer: $("optimizer").value, learning_rate: parseNumber($("lr").value), batch_size: batch === "" ? null : parseNumber(batch),
      iterations: parseNumber($("iterations").value),
      seed: parseNumber($("seed").value),
    };
  }
  function setControls(cfg) {
    if (cfg.dataset !== undefined) $("dataset").value = cfg.dataset;
    if (cfg.noise !== undefined) $("noise").value = cfg.noise === null ? "" : cfg.noise;
    if (cfg.hidden !== undefined) { $("hidden").value = [].concat(cfg.hidden).join(","); syncDepthWidth(); }
    if (cfg.activation !== undefined) $("activation").value = cfg.activation;
    if (cfg.init !== undefined) { $("init").value = cfg.init; renderInitOptions(cfg.init_options || {}); }
    if (cfg.scale !== undefined) $("scale").value = cfg.scale;
    if (cfg.optimizer !== undefined) $("optimizer").value = cfg.optimizer;
    if (cfg.learning_rate !== undefined) $("lr").value = cfg.learning_rate;
    if (cfg.batch_size !== undefined) $("batch-size").value = cfg.batch_size === null ? "" : cfg.batch_size;
    if (cfg.iterations !== undefined) $("iterations").value = cfg.iterations;
    if (cfg.seed !== undefined) $("seed").value = cfg.seed;
  }
  function fillSelect(id, names, describe) {
    const sel = $(id);
    sel.innerHTML = "";
    for (const name of names) {
      const o = document.createElement("option");
      o.value = name; o.textContent = name;
      if (describe) o.title = describe(name);
      sel.appendChild(o);
    }
  }
  function renderInitOptions(values) {
    const box = $("init-options");
    box.innerHTML = "";
    const entry = state.options.initializers[$("init").value];
    $("init-summary").textContent = entry ? entry.summary : "";
    for (const opt of entry ? entry.options : []) {
      const label = document.createElement("label");
      label.textContent = opt.name + (opt.required ? " *" : "");
      const input = document.createElement("input");
      input.id = "init-opt-" + opt.name;
      input.dataset.option = opt.name;
      const v = values[opt.name] !== undefined ? values[opt.name] : opt.default;
      input.value = v === null || v === undefined ? "" : v;
      input.addEventListener("change", updateURL);
      label.appendChild(input);
      box.appendChild(label);
    }
  }
  function syncDepthWidth() {
    const h = parseHidden($("hidden").value);
    if (Array.isArray(h)) { $("depth").value = h.length; $("width").value = h[0]; }
  }
  function fromDepthWidth() {
    const d = parseInt($("depth").value, 10), w = parseInt($("width").value, 10);
    if (d >= 1 && w >= 1) $("hidden").value = Array(d).fill(w).join(",");
    updateURL();
  }

  // ---------------------------------------------------------------- the URL is the shareable state
  function updateURL() {
    const cfg = readConfig(), q = new URLSearchParams();
    for (const [k, v] of Object.entries(cfg)) {
      if (k === "init_options") for (const [o, ov] of Object.entries(v)) q.set("opt." + o, ov);
      else if (v !== null && v !== "") q.set(k, Array.isArray(v) ? v.join(",") : v);
    }
    history.replaceState(null, "", "?" + q.toString());
    $("share").href = location.href;
  }
  function readURL() {
    const q = new URLSearchParams(location.search), cfg = {}, opts = {};
    for (const [k, v] of q) {
      if (k.startsWith("opt.")) opts[k.slice(4)] = v;
      else if (k in CONTROL) cfg[k] = v;
    }
    if (Object.keys(cfg).length === 0 && Object.keys(opts).length === 0) return;
    cfg.init_options = opts;
    if (cfg.init === undefined) cfg.init = $("init").value;
    setControls(cfg);
  }

  // ---------------------------------------------------------------- status, errors, readouts
  function setStatus(s) {
    state.status = s;
    const el = $("status");
    el.textContent = s; el.dataset.status = s;
    $("pause").disabled = !(s === "training" || s === "paused");
    $("pause").textContent = s === "paused" ? "Resume" : "Pause";
    $("pin").disabled = !(state.last && (s === "done" || s === "diverged" || s === "paused"));
  }
  function showErrors(errors) {
    clearErrors();
    const box = $("error");
    box.textContent = errors.map((e) => e.message).join("\n");
    box.hidden = false;
    for (const e of errors) { const c = $(CONTROL[e.field]); if (c) c.classList.add("invalid"); }
  }
  function clearErrors() {
    $("error").hidden = true; $("error").textContent = "";
    for (const el of document.querySelectorAll(".invalid")) el.classList.remove("invalid");
  }
  const fmt = (x, d = 4) => (x === null || x === undefined ? "nan" : Number(x).toFixed(d));
  function showReadouts(m) {
    $("iteration-value").textContent = m ? `${m.iteration} / ${m.iterations}` : "-";
    $("loss-value").textContent = m ? fmt(m.loss) : "-";
    $("test-loss-value").textContent = m ? fmt(m.test_loss) : "-";
    $("accuracy-value").textContent = m ? fmt(m.accuracy, 3) : "-";
    $("test-accuracy-value").textContent = m ? fmt(m.test_accuracy, 3) : "-";
  }

  // ---------------------------------------------------------------- drawing
  function ctxOf(canvas) { const c = canvas.getContext("2d"); c.clearRect(0, 0, canvas.width, canvas.height); return c; }
  function drawAxes(c, W, H, pad, xlabel, ylabels) {
    c.strokeStyle = "#888"; c.lineWidth = 1;
    c.beginPath(); c.moveTo(pad.l, pad.t); c.lineTo(pad.l, H - pad.b); c.lineTo(W - pad.r, H - pad.b); c.stroke();
    c.fillStyle = "#555"; c.font = "11px sans-serif";
    c.fillText(xlabel, W - pad.r - c.measureText(xlabel).width, H - 4);
    for (const [y, text] of ylabels) c.fillText(text, 2, y + 4);
  }
  function drawLoss() {
    const cv = $("loss-chart"), c = ctxOf(cv), W = cv.width, H = cv.height, pad = { l: 44, r: 10, t: 10, b: 22 };
    const runs = [];
    if (state.pinned) runs.push({ h: state.pinned.history, color: COLORS.pinned, n: state.pinned.config.iterations });
    runs.push({ h: state.history, color: COLORS.train, n: state.config ? state.config.iterations : 1 });
    let ymax = 0, xmax = 1;
    for (const r of runs) {
      xmax = Math.max(xmax, r.n);
      for (const p of r.h) for (const v of [p.loss, p.test_loss]) if (v !== null && Number.isFinite(v)) ymax = Math.max(ymax, v);
    }
    ymax = Math.min(ymax || 1, 10);
    const X = (i) => pad.l + (i / xmax) * (W - pad.l - pad.r), Y = (v) => H - pad.b - (Math.min(v, ymax) / ymax) * (H - pad.t - pad.b);
    drawAxes(c, W, H, pad, `iteration (0 to ${xmax})`, [[Y(ymax), fmt(ymax, 2)], [Y(ymax / 2), fmt(ymax / 2, 2)], [Y(0), "0"]]);
    for (const r of runs) for (const [key, dash] of [["loss", []], ["test_loss", [5, 4]]]) {
      c.strokeStyle = r.color; c.lineWidth = 2; c.setLineDash(dash); c.beginPath();
      let started = false;
      for (const p of r.h) {
        const v = p[key];
        if (v === null || !Number.isFinite(v)) { started = false; continue; }
        if (started) c.lineTo(X(p.iteration), Y(v)); else { c.moveTo(X(p.iteration), Y(v)); started = true; }
      }
      c.stroke(); c.setLineDash([]);
    }
  }
  function drawBoundary(cv, boundary, points) {
    const c = ctxOf(cv), W = cv.width, H = cv.height;
    if (!boundary) return;
    const n = boundary.n, [x0, x1, y0, y1] = boundary.extent, cw = W / n, ch = H / n;
    // The predicted class's colour, stronger where the network is surer (opaque, so cells leave no seams).
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const p = boundary.p[i * n + j], base = p > 0.5 ? COLORS.c1 : COLORS.c0, strength = 0.3 + 0.45 * Math.abs(2 * p - 1);
      const col = base.map((a) => Math.round(255 + (a - 255) * strength));
      c.fillStyle = `rgb(${col[0]},${col[1]},${col[2]})`;
      const xa = Math.floor(j * cw), xb = Math.ceil((j + 1) * cw), ya = Math.floor(H - (i + 1) * ch), yb = Math.ceil(H - i * ch);
      c.fillRect(xa, ya, xb - xa, yb - ya);  // row i is the i-th y from the bottom
    }
    if (!points) return;
    const px = (x) => ((x - x0) / (x1 - x0)) * W, py = (y) => H - ((y - y0) / (y1 - y0)) * H;
    for (const [set, hollow] of [[points.train, false], [points.test, true]]) {
      for (let k = 0; k < set.x.length; k++) {
        const col = set.label[k] ? COLORS.c1 : COLORS.c0;
        c.beginPath(); c.arc(px(set.x[k]), py(set.y[k]), 2.6, 0, 2 * Math.PI);
        c.strokeStyle = "#222"; c.lineWidth = 0.7;
        c.fillStyle = hollow ? "#fff" : `rgb(${col})`;
        c.fill(); c.stroke();
      }
    }
  }
  function boundarySummary(boundary) {
    if (!boundary) return "";
    const ones = boundary.p.filter((p) => p > 0.5).length, all = boundary.p.length;
    if (ones === 0) return "one colour: class 0 everywhere";
    if (ones === all) return "one colour: class 1 everywhere";
    return `two regions: ${Math.round((100 * ones) / all)}% class 1`;
  }
  function drawStd(layers, pinnedLayers) {
    const cv = $("std-chart"), c = ctxOf(cv), W = cv.width, H = cv.height, pad = { l: 44, r: 90, t: 10, b: 22 };
    if (!layers) return;
    const series = [["a_std", COLORS.train, layers, []], ["grad_norm", COLORS.test, layers, []]];
    if (pinnedLayers) series.push(["a_std", COLORS.pinned, pinnedLayers, [4, 3]], ["grad_norm", COLORS.pinned, pinnedLayers, [1, 3]]);
    const logs = [];
    for (const [key, , ls] of series) for (const l of ls) if (l[key] > 0) logs.push(Math.log10(l[key]));
    let lo = Math.floor(Math.min(...logs, -1)), hi = Math.ceil(Math.max(...logs, 1));
    lo = Math.max(lo, -12);
    const L = Math.max(layers.length, pinnedLayers ? pinnedLayers.length : 0);
    const X = (l) => pad.l + (L > 1 ? (l / (L - 1)) : 0.5) * (W - pad.l - pad.r);
    const Y = (v) => { const g = v > 0 ? Math.max(Math.log10(v), lo) : lo; return H - pad.b - ((g - lo) / (hi - lo)) * (H - pad.t - pad.b); };
    drawAxes(c, W, H, pad, "layer 1 .. L", [[Y(10 ** hi), `1e${hi}`], [Y(10 ** lo), `1e${lo}`]]);
    for (const [key, color, ls, dash] of series) {
      c.strokeStyle = color; c.fillStyle = color; c.lineWidth = 2; c.setLineDash(dash); c.beginPath();
      ls.forEach((l, i) => (i ? c.lineTo(X(i), Y(l[key])) : c.moveTo(X(i), Y(l[key]))));
      c.stroke(); c.setLineDash([]);
      ls.forEach((l, i) => { c.beginPath(); c.arc(X(i), Y(l[key]), 3, 0, 2 * Math.PI); c.fill(); });
    }
    c.font = "11px sans-serif";
    c.fillStyle = COLORS.train; c.fillText("std of A[l]", W - pad.r + 6, pad.t + 10);
    c.fillStyle = COLORS.test; c.fillText("|dW[l]|", W - pad.r + 6, pad.t + 26);
  }
  function drawHist(cv, hist, color) {
    const c = ctxOf(cv), W = cv.width, H = cv.height - 12;
    if (!hist || !hist.counts.length) return;
    const max = Math.max(...hist.counts), bw = W / hist.counts.length;
    c.fillStyle = color;
    hist.counts.forEach((n, i) => { const h = max ? (n / max) * H : 0; c.fillRect(i * bw + 0.5, H - h, Math.max(bw - 1, 1), h); });
    c.fillStyle = "#555"; c.font = "10px sans-serif";
    const lo = Number(hist.lo).toPrecision(2), hi = Number(hist.hi).toPrecision(2);
    c.fillText(lo, 0, H + 11); c.fillText(hi, W - c.measureText(hi).width, H + 11);
  }
  function drawLayers(layers) {
    const box = $("layers");
    if (box.children.length !== layers.length) {
      box.innerHTML = "";
      layers.forEach((_, i) => {
        const row = document.createElement("div");
        row.className = "layer-row"; row.id = `layer-${i + 1}`;
        row.innerHTML = `<span class="name"></span><canvas width="180" height="56"></canvas><canvas width="180" height="56"></canvas><span class="stats"></span>`;
        box.appendChild(row);
      });
    }
    layers.forEach((l, i) => {
      const row = box.children[i], [ca, cg] = row.querySelectorAll("canvas");
      row.querySelector(".name").textContent = `layer ${i + 1} (${l.units} ${l.activation})`;
      drawHist(ca, l.a_hist, "rgba(35,57,91,0.8)");
      drawHist(cg, l.g_hist, "rgba(224,138,0,0.8)");
      const dead = l.dead_fraction === null ? "" : `, dead ${Math.round(l.dead_fraction * 100)}%`;
      const sat = l.saturated_fraction === null ? "" : `, saturated ${Math.round(l.saturated_fraction * 100)}%`;
      row.querySelector(".stats").textContent = `std(A) ${fmt(l.a_std, 3)}, |dW| ${Number(l.grad_norm).toExponential(1)}${dead}${sat}`;
    });
  }
  function drawSymmetry(layers) {
    $("symmetry").innerHTML = layers.map((l, i) => {
      const text = `layer ${i + 1}: ${l.distinct_units} distinct unit${l.distinct_units === 1 ? "" : "s"} of ${l.units}`;
      return l.distinct_units === 1 && l.units > 1 ? `<span class="sym">${text} (symmetric)</span>` : text;
    }).join("\n");
  }
  function render() {
    const m = state.last;
    showReadouts(m);
    drawLoss();
    drawBoundary($("boundary"), m && m.boundary, state.points);
    $("boundary-summary").textContent = m ? boundarySummary(m.boundary) : "";
    drawStd(m && m.layers, state.pinned && state.pinned.last.layers);
    if (m) { drawLayers(m.layers); drawSymmetry(m.layers); } else { $("layers").innerHTML = ""; $("symmetry").textContent = "-"; }
  }

  // ---------------------------------------------------------------- the connection
  function connect() {
    return new Promise((resolve) => {
      if (state.ws && state.ws.readyState === WebSocket.OPEN) return resolve(state.ws);
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
      state.ws = ws;
      ws.onopen = () => { if (state.status === "connecting" || state.status === "disconnected") setStatus("idle"); resolve(ws); };
      ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
      ws.onclose = () => { if (state.ws === ws) { state.ws = null; setStatus("disconnected"); } };
    });
  }
  function onMessage(m) {
    if (m.type === "error") { showErrors(m.errors); setStatus("error"); }
    else if (m.type === "start") {
      clearErrors();
      state.config = m.config; state.points = m.points; state.history = []; state.last = null;
      render();
    } else if (m.type === "progress" && state.config) {  // none after a reset (a message may be in flight)
      state.last = m;
      for (const [iteration, loss, test_loss] of m.curve) state.history.push({ iteration, loss, test_loss });
      render();
    } else if (m.type === "status") {
      if (m.status === "idle") { state.history = []; state.last = null; state.points = null; state.config = null; render(); }
      setStatus(m.status === "done" && state.last && state.last.diverged ? "diverged" : m.status);
    }
  }
  async function send(message) { (await connect()).send(JSON.stringify(message)); }

  // ---------------------------------------------------------------- actions
  function train() { clearErrors(); updateURL(); send({ action: "train", ...readConfig() }); }
  function pauseOrResume() { send({ action: state.status === "paused" ? "resume" : "pause" }); }
  function reset() {
    send({ action: "reset" });
    state.history = []; state.last = null; state.points = null; state.config = null;
    clearErrors(); render();
  }
  function pin() {
    if (!state.last) return;
    state.pinned = { history: state.history.slice(), last: state.last, points: state.points, config: state.config };
    $("pinned").hidden = false; $("unpin").disabled = false;
    drawBoundary($("pinned-boundary"), state.last.boundary, state.points);
    const c = state.config;
    $("pinned-summary").textContent = `${c.init} x${c.scale}, ${c.optimizer} ${c.learning_rate}: loss ${fmt(state.last.loss)}, ${boundarySummary(state.last.boundary)}`;
    render();
  }
  function unpin() { state.pinned = null; $("pinned").hidden = true; $("unpin").disabled = true; render(); }
  function notebook() { setControls(state.options.notebook); clearErrors(); updateURL(); }

  async function start() {
    state.options = await (await fetch("/api/options")).json();
    const o = state.options;
    fillSelect("dataset", Object.keys(o.datasets), (n) => o.datasets[n]);
    fillSelect("activation", o.activations);
    fillSelect("init", Object.keys(o.initializers), (n) => o.initializers[n].summary);
    fillSelect("optimizer", Object.keys(o.optimizers), (n) => o.optimizers[n]);
    setControls(o.defaults);
    readURL();
    updateURL();
    $("init").addEventListener("change", () => { renderInitOptions({}); updateURL(); });
    for (const id of ["dataset", "noise", "hidden", "activation", "scale", "optimizer", "lr", "batch-size", "iterations", "seed"]) $(id).addEventListener("change", updateURL);
    $("hidden").addEventListener("change", syncDepthWidth);
    $("depth").addEventListener("change", fromDepthWidth);
    $("width").addEventListener("change", fromDepthWidth);
    $("train").addEventListener("click", train);
    $("pause").addEventListener("click", pauseOrResume);
    $("reset").addEventListener("click", reset);
    $("pin").addEventListener("click", pin);
    $("unpin").addEventListener("click", unpin);
    $("notebook").addEventListener("click", notebook);
    render();
    await connect();
  }
  start().catch((e) => { setStatus("error"); showErrors([{ field: "page", message: "Could not load the playground: " + e }]); });
})();
