// initlab playground: the controls, the URL, a WebSocket to the server's training, and the views.
// Drawing is window.initlabDraw's (draw.js); this file decides what to draw where, and when.
// Scripts drive the page by element id (the table in initlab/playground/__init__.py) and read window.playground.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const draw = () => window.initlabDraw || {};
  const MAX_PINS = 4;
  const SPEEDS = [10, 100, 1000, 10000];
  // Okabe-Ito (colour-blind safe), avoiding the class colours orange/blue: the current run, then the pinned ones.
  const RUN_COLORS = ["#000000", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"];
  const state = {
    options: null, ws: null, status: "connecting",
    config: null, points: null, seedLabels: [], last: null, initial: null, history: [], fan: { iterations: [], losses: [] },
    pinned: [], diagram: null, dots: null, urlErrors: [], unknownParams: [], drawErrors: {}, nextPinId: 1,
    coord: null, coordChart: null,
  };
  window.playground = state;

  // config field -> control id (errors from the server name config fields)
  const CONTROL = { dataset: "dataset", noise: "noise", hidden: "hidden", activation: "activation", init: "init",
    init_options: "init-options", scale: "scale", optimizer: "optimizer", learning_rate: "lr", batch_size: "batch-size",
    iterations: "iterations", seed: "seed", seeds: "seeds", speed: "speed", blocks: "blocks", branch_depth: "branch-depth",
    norm: "norm", parametrization: "parametrization", base_width: "base-width" };
  const URL_FIELDS = Object.keys(CONTROL).filter((k) => k !== "init_options");
  const SELECTS = ["dataset", "activation", "init", "optimizer", "norm", "parametrization"];
  // the coordinate check's own fields: URL parameter coord.<key> -> control id (errors name them coord_<key>)
  const COORD = { widths: "coord-widths", steps: "coord-steps", seeds: "coord-seeds" };

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
  function readSpeed() { return $("speed").value === "max" ? null : Number($("speed").value); }
  function readConfig() {
    const noise = $("noise").value.trim(), batch = $("batch-size").value.trim();
    return {
      dataset: $("dataset").value, noise: noise === "" ? null : parseNumber(noise), hidden: parseHidden($("hidden").value),
      activation: $("activation").value, init: $("init").value, init_options: readInitOptions(), scale: parseNumber($("scale").value),
      optimizer: $("optimizer").value, learning_rate: parseNumber($("lr").value), batch_size: batch === "" ? null : parseNumber(batch),
      iterations: parseNumber($("iterations").value), seed: parseNumber($("seed").value), seeds: parseNumber($("seeds").value),
      speed: readSpeed(), ...readResidual(), parametrization: $("parametrization").value,
      base_width: $("base-width").value.trim() === "" ? null : parseNumber($("base-width").value),
    };
  }
  /** blocks, and branch_depth / norm only for a residual net (the server refuses them with blocks = 0). */
  function readResidual() {
    const blocks = parseNumber($("blocks").value), m = parseNumber($("branch-depth").value), norm = $("norm").value;
    if (blocks !== "" && blocks !== 0) return { blocks, branch_depth: m, norm };
    // a plain MLP: the residual fields only when set (from a link), so that the server says they do not apply
    return { blocks: blocks === "" ? 0 : blocks, ...(m !== 2 ? { branch_depth: m } : {}), ...(norm !== "none" ? { norm } : {}) };
  }
  const isResidual = () => { const b = parseNumber($("blocks").value); return b !== "" && b !== 0; };
  /** The residual controls follow #blocks: the toggle, branch depth and norm, depth, which initializers are offered. */
  function syncResidual() {
    const on = isResidual(), o = state.options || {};
    $("residual").checked = on;
    $("branch-depth").disabled = !on; $("norm").disabled = !on; $("depth").disabled = on;
    $("residual-hint").hidden = !on;
    for (const opt of $("init").options) {
      const offered = on ? !(o.plain_only || []).includes(opt.value) : !(o.structural || []).includes(opt.value);
      opt.disabled = !offered; opt.hidden = !offered;
    }
  }
  /** The residual toggle: on, a residual net of the first hidden width (8 blocks unless set before); off, the plain MLP. */
  function toggleResidual() {
    const o = state.options, init = $("init").value;
    if ($("residual").checked) {
      $("blocks").value = state.lastBlocks || 8;
      const h = parseHidden($("hidden").value);
      $("hidden").value = Array.isArray(h) && h.length ? h[0] : 16;
      syncDepthWidth();
      if (o.plain_only.includes(init)) { $("init").value = "he_normal"; renderInitOptions({}); }
    } else {
      state.lastBlocks = $("blocks").value;
      $("blocks").value = 0; $("branch-depth").value = 2; $("norm").value = "none";  // the plain MLP has neither
      if (o.structural.includes(init)) { $("init").value = "he_normal"; renderInitOptions({}); }
    }
    syncResidual(); updateURL();
  }
  function setSpeed(speed) {
    const value = speed === null || speed === "max" ? "max" : String(speed);
    if (![...$("speed").options].some((o) => o.value === value)) {  // a pace from a link: offer it too
      const o = document.createElement("option");
      o.value = value; o.textContent = `${value} it/s`;
      $("speed").appendChild(o);
    }
    $("speed").value = value;
  }
  function setControls(cfg) {
    const plain = { dataset: "dataset", activation: "activation", scale: "scale", optimizer: "optimizer", learning_rate: "lr",
      iterations: "iterations", seed: "seed", seeds: "seeds", blocks: "blocks", branch_depth: "branch-depth", norm: "norm",
      parametrization: "parametrization" };
    for (const [field, id] of Object.entries(plain)) if (cfg[field] !== undefined) $(id).value = cfg[field];
    if (cfg.noise !== undefined) $("noise").value = cfg.noise === null ? "" : cfg.noise;
    if (cfg.base_width !== undefined) $("base-width").value = cfg.base_width === null ? "" : cfg.base_width;
    if (cfg.batch_size !== undefined) $("batch-size").value = cfg.batch_size === null ? "" : cfg.batch_size;
    if (cfg.hidden !== undefined) { $("hidden").value = [].concat(cfg.hidden).join(","); syncDepthWidth(); }
    if (cfg.init !== undefined) { $("init").value = cfg.init; renderInitOptions(cfg.init_options || {}); }
    if (cfg.speed !== undefined) setSpeed(cfg.speed);
    if (state.options) syncResidual();
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
    const name = $("init").value, entry = state.options.initializers[name];
    $("init-summary").textContent = entry ? `${name}: ${entry.summary}` : "";
    $("init").title = entry ? entry.summary : "";
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

  // ---------------------------------------------------------------- hidden <-> depth and width (one source: #hidden)
  function syncDepthWidth() {
    const h = parseHidden($("hidden").value);
    if (!Array.isArray(h)) return;  // mid-typing: leave depth and width as they were
    $("depth").value = h.length;
    const uniform = h.every((n) => n === h[0]);
    $("width").value = uniform ? h[0] : "";
    $("width").placeholder = uniform ? "" : "mixed";
  }
  function fromDepth() {
    const d = parseInt($("depth").value, 10), h = parseHidden($("hidden").value);
    if (!(d >= 1)) return;
    const old = Array.isArray(h) && h.length ? h : [parseInt($("width").value, 10) || 10];
    const next = Array.from({ length: d }, (_, i) => (i < old.length ? old[i] : old[old.length - 1]));
    $("hidden").value = next.join(",");
    syncDepthWidth(); updateURL();
  }
  function fromWidth() {
    const w = parseInt($("width").value, 10), d = parseInt($("depth").value, 10) || 1;
    if (!(w >= 1)) return;
    $("hidden").value = Array(d).fill(w).join(",");
    syncDepthWidth(); updateURL();
  }

  // ---------------------------------------------------------------- the URL is the shareable state
  function updateURL() {
    const cfg = readConfig(), q = new URLSearchParams();
    for (const [k, v] of Object.entries(cfg)) {
      if (k === "init_options") for (const [o, ov] of Object.entries(v)) q.set("opt." + o, ov);
      else if (k === "speed") q.set(k, v === null ? "max" : v);
      else if (k === "blocks" && v === 0) continue;  // the default, the plain MLP: links to MLPs stay as they were
      else if (k === "parametrization" && v === "standard") continue;  // likewise the default parametrization
      else if (v !== null && v !== "") q.set(k, Array.isArray(v) ? v.join(",") : v);
    }
    for (const [k, id] of Object.entries(COORD)) {  // the coordinate check's settings, when not the page's defaults
      const v = $(id).value.trim();
      if (v !== $(id).defaultValue) q.set("coord." + k, v);
    }
    for (const [k, v] of state.unknownParams) q.append(k, v);  // refused, shown in #error, not silently dropped
    history.replaceState(null, "", "?" + q.toString());
    $("share").href = location.href;
  }
  const clip = (s, n = 40) => (String(s).length > n ? String(s).slice(0, n) + "..." : String(s));
  function urlProblem(key, value, field) {
    if (SELECTS.includes(field)) {
      const allowed = [...$(CONTROL[field]).options].map((o) => o.value);
      if (!allowed.includes(value)) return `URL parameter '${key}' must be one of ${allowed.join(", ")}. Got '${clip(value)}'; using the default.`;
    } else if (["noise", "scale", "learning_rate", "batch_size", "iterations", "seed", "seeds", "blocks", "branch_depth", "base_width"].includes(field)) {
      if (value.trim() === "" || !Number.isFinite(Number(value))) return `URL parameter '${key}' must be a number. Got '${clip(value)}'; using the default.`;
    } else if (field === "speed" && value !== "max" && !(Number.isInteger(Number(value)) && Number(value) > 0)) {
      return `URL parameter '${key}' must be 'max' or iterations per second, e.g. 100. Got '${clip(value)}'; using the default.`;
    }
    return null;
  }
  function readURL() {
    const q = new URLSearchParams(location.search), aliases = state.options.aliases || {}, cfg = {}, opts = {}, from = {};
    const errors = [];
    for (const [key, value] of q) {
      if (key.startsWith("opt.")) { opts[key.slice(4)] = value; continue; }
      if (COORD[key.slice(6)] && key.startsWith("coord.")) { $(COORD[key.slice(6)]).value = value; continue; }  // the server checks it
      const field = URL_FIELDS.includes(key) ? key : aliases[key];
      if (!field) {
        state.unknownParams.push([key, value]);
        const short = Object.entries(aliases).map(([a, f]) => `${a} (${f})`).join(", ");
        errors.push(`Unknown URL parameter '${clip(key)}'. Allowed: ${URL_FIELDS.join(", ")}, opt.<option> for the initializer's options, ` +
                    `and the short names ${short}. Its value was not used: fix its name or remove it from the address.`);
        continue;
      }
      if (field in from) { errors.push(`URL parameters '${from[field]}' and '${clip(key)}' both set '${field}': keep one.`); continue; }
      from[field] = key;
      const problem = urlProblem(key, value, field);
      if (problem) errors.push(problem); else cfg[field] = value;
    }
    state.urlErrors = errors;
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
    const live = s === "training" || s === "paused";
    $("pause").disabled = !live;
    $("pause").textContent = s === "paused" ? "Resume" : "Pause";
    $("pin").disabled = !(state.last && (s === "done" || s === "diverged" || s === "paused")) || state.pinned.length >= MAX_PINS;
    $("restart").disabled = !state.config;
    for (const f of ["pytorch", "jax", "json"]) $("export-" + f).disabled = !state.last;  // MLPs and residual nets
  }
  function showErrors(errors) {
    clearErrors();
    const box = $("error");
    box.textContent = [...state.urlErrors, ...errors.map((e) => e.message)].join("\n");
    box.hidden = box.textContent === "";
    for (const e of errors) { const c = $(CONTROL[e.field]); if (c) c.classList.add("invalid"); }
  }
  function clearErrors() {
    $("error").textContent = state.urlErrors.join("\n");  // a refused URL parameter stays visible
    $("error").hidden = state.urlErrors.length === 0;
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

  // ---------------------------------------------------------------- what a run says in words (the table, the spread)
  function runLabel(c) {  // the initializer, its options that differ from their defaults, the scale factor
    const entry = state.options.initializers[c.init], defaults = {};
    for (const o of entry ? entry.options : []) defaults[o.name] = o.default;
    const opts = Object.entries(c.init_options || {}).filter(([k, v]) => String(v) !== String(defaults[k]))
      .map(([k, v]) => `${k}=${v}`).join(", ");
    const net = (c.blocks ? `, ${c.blocks} blocks${c.norm === "layer" ? " + LN" : ""}` : "") +
      (c.parametrization && c.parametrization !== "standard" ? `, ${c.parametrization}${c.base_width ? ` base ${c.base_width}` : ""}` : "");
    return `${c.init}${opts ? `(${opts})` : ""}${Number(c.scale) !== 1 ? ` x${c.scale}` : ""}${net}`;
  }
  function quantiles(values) {
    const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    const mid = v.length >> 1, median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
    return { median, min: v[0], max: v[v.length - 1], n: v.length };
  }
  const pct = (x) => `${Math.round(100 * x)}`;
  const range = (q) => (q ? `${pct(q.median)}% [${pct(q.min)}-${pct(q.max)}%]` : "-");
  function summarize(run) {
    const m = run.last, models = (m && m.models) || (m ? [m] : []), K = models.length;
    const train = quantiles(models.map((x) => x.accuracy)), test = quantiles(models.map((x) => x.test_accuracy));
    const diverged = models.filter((x) => x.diverged).length;
    const symmetric = m && m.layers && m.layers.slice(0, -1).some((l) => l.distinct_units === 1 && l.units > 1);
    let comment;
    if (!m) comment = "not started";
    else if (symmetric) comment = "symmetric: every unit the same";
    else if (diverged) comment = `diverged in ${diverged} of ${K} seed${K === 1 ? "" : "s"}`;
    else if (K > 1 && train && train.max - train.min > 0.1) comment = `spread ${pct(train.min)}-${pct(train.max)}%: one draw is a gamble`;
    else if (train && train.median < 0.75) comment = `learns little: median ${pct(train.median)}%`;
    else if (K === 1) comment = "one seed: try 8 to see the spread";
    else comment = "reliable";
    return { label: runLabel(run.config), K, train, test, comment };
  }
  function renderTable(runs) {
    const rows = runs.map((run) => {
      const s = summarize(run);
      return `<tr><td><span class="swatch" style="background:${run.color}"></span>${esc(run.name)}</td><td>${esc(s.label)}</td>` +
        `<td>${s.K}</td><td>${range(s.train)}</td><td>${range(s.test)}</td><td>${esc(s.comment)}</td></tr>`;
    });
    $("table").querySelector("tbody").innerHTML = rows.join("");
    const cur = runs.find((r) => r.current), s = cur && summarize(cur);
    $("spread").textContent = s && s.train
      ? `${s.label}: train accuracy ${s.train.min === s.train.max ? pct(s.train.min) : `${pct(s.train.min)}-${pct(s.train.max)}`}% over ${s.K} seed${s.K === 1 ? "" : "s"}`
      : "";
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }

  // ---------------------------------------------------------------- drawing (initlabDraw draws; we size and feed)
  function fit(canvas, maxWidth, aspect) {
    const box = canvas.parentElement, avail = Math.max(120, box.clientWidth);
    const w = Math.floor(Math.min(maxWidth, avail)), h = Math.round(w * aspect);
    canvas.style.width = w + "px"; canvas.style.height = h + "px";
    canvas.width = w; canvas.height = h;  // CSS pixels; initlabDraw scales by devicePixelRatio itself
    return canvas;
  }
  function safely(name, fn) {
    try { const out = fn(); delete state.drawErrors[name]; return out; }
    catch (e) { state.drawErrors[name] = String(e); return undefined; }
  }
  function allRuns() {
    const runs = state.config ? [{ name: "current", current: true, color: RUN_COLORS[0], config: state.config, last: state.last,
      fan: state.fan, selected: state.last ? state.last.selected : 0 }] : [];
    return runs.concat(state.pinned.map((p) => ({ ...p, name: `pinned ${p.id}` })));
  }
  function drawFanAndDots(runs) {
    const fanSeries = runs.map((r) => ({ label: `${r.name}: ${runLabel(r.config)}`, color: r.color, iterations: r.fan.iterations,
      losses: r.fan.losses, selected: r.current ? r.selected : null }));
    const iterations = Math.max(1, ...runs.map((r) => r.config.iterations));
    state.fanBox = (safely("lossFan", () => draw().lossFan(fit($("loss-chart"), 560, 0.6), fanSeries, { iterations })) || {}).box || null;
    const dotSeries = runs.filter((r) => r.last).map((r) => ({ label: r.name, color: r.color, current: !!r.current,
      models: (r.last.models || [r.last]).map((x) => ({ accuracy: x.accuracy, test_accuracy: x.test_accuracy })),
      selected: r.current ? r.selected : null }));
    const cv = fit($("accuracy-chart"), 560, 0.1 + 0.12 * Math.max(1, dotSeries.length));
    const out = safely("accuracyDots", () => draw().accuracyDots(cv, dotSeries, {}));
    state.dots = out && out.box ? { box: out.box, series: dotSeries, dots: dotPositions(out.box, dotSeries) } : null;
  }
  /** Where accuracyDots put each train dot (its layout: rows between box.t and box.b, x from 0..1 over box.l..box.r). */
  function dotPositions(box, series) {
    const rowH = (box.b - box.t) / Math.max(1, series.length), out = [];
    series.forEach((s, i) => s.models.forEach((m, k) => {
      if (m.accuracy !== null && Number.isFinite(m.accuracy)) {
        out.push({ series: i, current: s.current, model: k, x: box.l + m.accuracy * (box.r - box.l), y: box.t + rowH * (i + 0.5) - 4 });
      }
    }));
    return out;
  }
  function drawMain(m) {
    const cv = $("boundary");
    if (!m || !m.weights) {
      fit(cv, 560, 1).getContext("2d").clearRect(0, 0, cv.width, cv.height);
      fit($("network"), 420, 0.8).getContext("2d").clearRect(0, 0, $("network").width, $("network").height);
      state.diagram = null; $("boundary-summary").textContent = "";
      return;
    }
    const out = safely("boundary", () => draw().boundary(fit(cv, 560, 1), m.weights, m.activation, m.boundary.extent, state.points, {}));
    $("boundary-summary").textContent = boundarySummary(m.boundary, out);
    state.diagram = safely("network", () => draw().network(fit($("network"), 420, 0.8), m.weights, m.activation, m.boundary.extent, {})) || null;
  }
  function boundarySummary(boundary, drawn) {
    let share = null;
    if (boundary && boundary.p) share = boundary.p.filter((p) => p > 0.5).length / boundary.p.length;
    else if (drawn) share = drawn.share1;
    if (share === null) return "";
    if (share === 0) return "one colour: class 0 everywhere";
    if (share === 1) return "one colour: class 1 everywhere";
    return `two regions: ${Math.max(1, Math.min(99, Math.round(100 * share)))}% class 1`;
  }
  function drawLayers(layers) {
    const box = $("layers");
    if (box.children.length !== layers.length) {
      box.innerHTML = "";
      layers.forEach((_, i) => {
        const row = document.createElement("div");
        row.className = "layer-row"; row.id = `layer-${i + 1}`;
        row.innerHTML = `<span class="name"></span><canvas width="170" height="60"></canvas><canvas width="170" height="60"></canvas><span class="stats"></span>`;
        box.appendChild(row);
      });
    }
    const C = draw().COLORS || {};
    layers.forEach((l, i) => {
      const row = box.children[i], [ca, cg] = row.querySelectorAll("canvas");
      row.querySelector(".name").textContent = `${l.name || `layer ${i + 1}`} (${l.units} ${l.activation})`;
      safely("histogram", () => draw().histogram(ca, l.a_hist, C.std || "#0072B2"));
      safely("histogram", () => draw().histogram(cg, l.g_hist, C.grad || "#D55E00"));
      const dead = l.dead_fraction === null ? "" : `, dead ${Math.round(l.dead_fraction * 100)}%`;
      const sat = l.saturated_fraction === null ? "" : `, saturated ${Math.round(l.saturated_fraction * 100)}%`;
      const g = l.grad_norm === null ? "nan" : Number(l.grad_norm).toExponential(1);
      const short = (x) => (x === null || x === undefined ? "nan" : draw().format(Number(Number(x).toPrecision(3))));
      const branch = l.branch_std === undefined ? "" : `, branch std ${short(l.branch_std)}, |branch|/|trunk| ${short(l.residual_scale)}`;
      row.querySelector(".stats").textContent = `std(${l.name ? (l.name.startsWith("block") ? "trunk" : "out") : "A"}) ${fmt(l.a_std, 3)}, |dW| ${g}${branch}${dead}${sat}`;
    });
  }
  function drawSymmetry(layers) {
    if (layers.length && layers[0].name) return drawBlockSymmetry(layers);
    $("symmetry").innerHTML = layers.map((l, i) => {
      const text = `${l.name || `layer ${i + 1}`}: ${l.distinct_units} distinct unit${l.distinct_units === 1 ? "" : "s"} of ${l.units}`;
      return l.distinct_units === 1 && l.units > 1 ? `<span class="sym">${text} (symmetric)</span>` : text;
    }).join("\n");
  }
  /** A residual net's symmetry: the input projection, runs of blocks with the same count as one line, the head. */
  function drawBlockSymmetry(layers) {
    const line = (name, l) => {
      const text = `${name}: ${l.distinct_units} distinct unit${l.distinct_units === 1 ? "" : "s"} of ${l.units}`;
      return l.distinct_units === 1 && l.units > 1 ? `<span class="sym">${esc(text)} (symmetric)</span>` : esc(text);
    };
    const out = [line(layers[0].name, layers[0])], blocks = layers.slice(1, -1);
    for (let i = 0; i < blocks.length;) {
      let j = i;
      while (j + 1 < blocks.length && blocks[j + 1].distinct_units === blocks[i].distinct_units) j++;
      out.push(line(i === j ? `block ${i + 1}` : `blocks ${i + 1}-${j + 1} (trunk after each)`, blocks[i]));
      i = j + 1;
    }
    out.push(line("head", layers[layers.length - 1]));
    $("symmetry").innerHTML = out.join("\n");
  }
  function drawPinned() {
    const box = $("pinned-cards");
    $("pinned").hidden = state.pinned.length === 0;
    $("unpin").disabled = state.pinned.length === 0;
    box.innerHTML = "";
    state.pinned.forEach((p, i) => {
      const latest = i === state.pinned.length - 1, s = summarize(p);
      const card = document.createElement("div");
      card.className = "pin-card"; card.style.borderColor = p.color; card.dataset.pin = p.id;
      card.innerHTML = `<div class="pin-title"><span class="swatch" style="background:${p.color}"></span>` +
        `<span ${latest ? 'id="pinned-summary"' : ""} class="pin-text"></span>` +
        `<button class="unpin-one" title="unpin this run" aria-label="unpin pinned ${p.id}">&times;</button></div>` +
        `<canvas ${latest ? 'id="pinned-boundary"' : ""} width="200" height="200"></canvas>`;
      card.querySelector(".pin-text").textContent = `pinned ${p.id}: ${s.label}, ${s.K} seed${s.K === 1 ? "" : "s"}, train ${range(s.train)}, loss ${fmt(p.last.loss)}`;
      card.querySelector("button").addEventListener("click", () => unpinOne(p.id));
      box.appendChild(card);
      const cv = card.querySelector("canvas");
      if (p.last.weights) safely("boundary", () => draw().boundary(cv, p.last.weights, p.last.activation, p.last.boundary.extent, p.points, { legend: false }));
    });
  }
  let pending = false;
  function render() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; renderNow(); });
  }
  function renderNow() {
    const m = state.last, runs = allRuns(), newest = state.pinned[state.pinned.length - 1];
    showReadouts(m);
    drawMain(m);
    drawFanAndDots(runs);
    renderTable(runs);
    const blocks = m && m.layers && m.layers[0] && m.layers[0].name ? { first: 0, xlabel: "block (0: input projection, last: head)" } : {};
    state.depth = safely("depthChart", () => draw().depthChart(fit($("std-chart"), 420, 0.45), m ? m.layers : null, newest ? newest.last.layers : null, blocks)) || null;
    state.jacobian = safely("jacobianChart", () => draw().jacobianChart(fit($("jacobian-chart"), 420, 0.45), m ? m.jacobian : null)) || null;
    $("jacobian-summary").textContent = jacobianSummary(m && m.jacobian);
    if (m) { drawLayers(m.layers); drawSymmetry(m.layers); } else { $("layers").innerHTML = ""; $("symmetry").textContent = "-"; }
    setStatus(state.status);
  }

  /** The spectrum in words: the median singular value and the share within a factor 2 of 1. */
  function jacobianSummary(j) {
    if (!j || j.median === null || j.median === undefined) return "";
    return `median s ${draw().format(Number(j.median.toPrecision(3)))}, ${Math.round(100 * j.near_one)}% within 2x of 1, largest ${draw().format(Number(j.max.toPrecision(3)))}`;
  }

  // ---------------------------------------------------------------- the coordinate check (initlab.playground.coord)
  function setCoordStatus(status, text) { $("coord-status").dataset.status = status; $("coord-status").textContent = text; }
  function runCoord() {
    clearCoordErrors(); updateURL();
    const widths = parseHidden($("coord-widths").value);  // comma-separated integers, or the text for the server to refuse
    state.coord = null; drawCoord();
    setCoordStatus("running", "computing on the server...");
    return send({ action: "coord_check", config: readConfig(), widths, steps: parseNumber($("coord-steps").value),
      seeds: parseNumber($("coord-seeds").value) });
  }
  function clearCoordErrors() {
    $("coord-error").textContent = ""; $("coord-error").hidden = true;
    for (const id of Object.values(COORD)) $(id).classList.remove("invalid");
  }
  /** The server's refusal: in the panel's own box (a training run goes on); page fields it names are marked too. */
  function showCoordErrors(errors) {
    clearCoordErrors();
    $("coord-error").textContent = errors.map((e) => e.message).join("\n");
    $("coord-error").hidden = false;
    for (const e of errors) {
      const id = e.field.startsWith("coord_") ? COORD[e.field.slice(6)] : CONTROL[e.field];
      if (id && $(id)) $(id).classList.add("invalid");
    }
    setCoordStatus("error", "refused");
  }
  function showCoord(m) {
    clearCoordErrors();
    state.coord = m;
    const sel = $("coord-layer"), keep = sel.value;
    sel.innerHTML = "";
    for (const [j, name] of m.layers.entries()) { const o = document.createElement("option"); o.value = j; o.textContent = name; sel.appendChild(o); }
    const same = state.coordLayers && state.coordLayers.join() === m.layers.join();  // the same net: keep the layer shown
    sel.value = same && keep !== "" ? keep : m.layers.length - 1;  // else the output
    state.coordLayers = m.layers;
    const s = m.setting, base = s.parametrization === "mup" ? ` base width ${s.base_width}` : "";
    $("coord-summary").textContent = `${s.parametrization}${base}, ${s.optimizer} lr ${s.learning_rate}, ${s.activation} depth ${s.depth}, ` +
      `${runLabel({ init: s.init, init_options: s.init_options, scale: 1 })}, widths ${m.widths.join(",")}, ${s.seeds} seed${s.seeds === 1 ? "" : "s"} from seed ${s.seed}, ${s.examples} ${s.dataset} ` +
      `points, full batch: ${m.wall_time.toFixed(1)} s.` + (m.notes.length ? " " + m.notes.join(" ") : "");
    renderCoordTable(m);
    drawCoord();
    setCoordStatus("done", `done in ${m.wall_time.toFixed(1)} s`);
  }
  const slopeText = (x) => (x === null || x === undefined ? "-" : (x >= 0 ? "+" : "") + x.toFixed(2));
  /** One row per layer: the slope of log mean |h| against log width at init and after each step (seeds' mean, min to max), the reading. */
  function renderCoordTable(m) {
    const T = m.slope.mean[0].length - 1;
    const head = ["layer", ...Array.from({ length: T + 1 }, (_, t) => (t ? `slope after step ${t}` : "slope at init")), "in plain words"];
    $("coord-table").querySelector("thead").innerHTML = `<tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>`;
    $("coord-table").querySelector("tbody").innerHTML = m.layers.map((name, j) => {
      const cells = m.slope.mean[j].map((v, t) => {
        const lo = m.slope.min[j][t], hi = m.slope.max[j][t], spread = lo !== null && hi !== null && hi > lo ? `<span class="range">seeds ${slopeText(lo)} to ${slopeText(hi)}</span>` : "";
        return `<td class="slope${t && v !== null && v >= m.thresholds.blowup ? " blowup" : ""}" data-slope="${v === null ? "" : v}">${slopeText(v)}${spread}</td>`;
      });
      return `<tr data-layer="${esc(name)}"><td>${esc(name)}</td>${cells.join("")}<td class="reading">${esc(m.readings[j])}</td></tr>`;
    }).join("");
  }
  function drawCoord() {
    const layer = $("coord-layer").value === "" ? undefined : Number($("coord-layer").value);
    state.coordChart = safely("coordChart", () => draw().coordChart(fit($("coord-chart"), 640, 0.5), state.coord, { layer })) || null;
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
  function clearRun() {
    state.config = null; state.points = null; state.last = null; state.initial = null; state.history = [];
    state.fan = { iterations: [], losses: [] }; state.seedLabels = [];
    $("model").innerHTML = "";
  }
  function onStart(m) {
    clearErrors();
    clearRun();
    state.config = m.config; state.points = m.points;
    setStatus(state.startPaused ? "paused" : "training");  // not the previous run's "done" while the server confirms
    state.seedLabels = m.seeds || [m.config.seed];
    state.seedLabels.forEach((label, k) => {
      const o = document.createElement("option");
      o.value = k; o.textContent = `model ${k}: seed ${label}`;
      $("model").appendChild(o);
    });
    render();
  }
  function onProgress(m) {
    state.last = m;
    if (state.initial === null) state.initial = { iteration: m.iteration, weights: m.weights, selected: m.selected };
    for (const [iteration, loss, test_loss] of m.curve || []) state.history.push({ iteration, loss, test_loss });
    for (const [iteration, losses] of m.curves || []) { state.fan.iterations.push(iteration); state.fan.losses.push(losses); }
    if (m.selected !== undefined) $("model").value = m.selected;
    render();
  }
  function onMessage(m) {
    if (m.type === "error" && m.action === "coord_check") showCoordErrors(m.errors);
    else if (m.type === "coord_check") showCoord(m);
    else if (m.type === "coord_started") setCoordStatus("running", `computing on the server (about ${Math.max(1, Math.round(m.estimate.seconds))} s at most)...`);
    else if (m.type === "error") { showErrors(m.errors); setStatus("error"); }
    else if (m.type === "start") onStart(m);
    else if (m.type === "progress" && state.config) onProgress(m);  // none after a reset (a message may be in flight)
    else if (m.type === "export") download(m);
    else if (m.type === "status") {
      if (m.status === "idle") { clearRun(); render(); }
      setStatus(m.status === "done" && state.last && state.last.diverged ? "diverged" : m.status);
    }
  }
  async function send(message) { (await connect()).send(JSON.stringify(message)); }
  function download(m) {
    const url = URL.createObjectURL(new Blob([m.text], { type: m.media_type || "text/plain" }));
    const a = document.createElement("a");
    a.href = url; a.download = m.filename; a.hidden = true;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  // ---------------------------------------------------------------- actions
  function train(paused = false) {
    clearErrors(); updateURL();
    state.startPaused = paused;
    return send({ action: "train", ...readConfig(), paused });
  }
  function pauseOrResume() { send({ action: state.status === "paused" ? "resume" : "pause" }); }
  async function step() {
    if (state.status === "paused") return send({ action: "step", n: 1 });
    if (state.status === "training") { await send({ action: "pause" }); return send({ action: "step", n: 1 }); }
    await train(true);  // from idle (or a finished run): start paused at iteration 0, then one update
    return send({ action: "step", n: 1 });
  }
  function reseed() {
    const hi = state.options.limits.seed ? state.options.limits.seed[1] : 2 ** 32 - 1;
    let seed;
    do seed = Math.floor(Math.random() * Math.min(hi, 999_999)); while (String(seed) === $("seed").value);
    $("seed").value = seed;
    train();
  }
  function restart() {
    const speed = readSpeed();  // the pace is the viewer's, not part of the draw
    if (state.config) setControls(state.config);  // the run's own settings and seed: the same initial weights
    setSpeed(speed);
    train();
  }
  function changeSpeed() {
    updateURL();
    if (state.status === "training" || state.status === "paused") send({ action: "speed", speed: readSpeed() });
  }
  function reset() {
    send({ action: "reset" });
    clearRun(); clearErrors(); render();
  }
  function pin() {
    if (!state.last || state.pinned.length >= MAX_PINS) return;
    const used = new Set(state.pinned.map((p) => p.color));
    const color = RUN_COLORS.slice(1).find((c) => !used.has(c));
    state.pinned.push({ id: state.nextPinId++, color, config: state.config, last: state.last, points: state.points,
      history: state.history.slice(), fan: { iterations: state.fan.iterations.slice(), losses: state.fan.losses.slice() } });
    drawPinned(); render();
  }
  function unpinOne(id) { state.pinned = state.pinned.filter((p) => p.id !== id); drawPinned(); render(); }
  function unpin() { state.pinned = []; drawPinned(); render(); }
  function notebook() { setControls(state.options.notebook); clearErrors(); updateURL(); }
  function selectModel(k) { if (state.config && k >= 0 && k < state.seedLabels.length) send({ action: "select", model: k }); }
  function clickDot(ev) {
    const dots = state.dots && state.dots.dots;
    if (!dots) return;
    const r = ev.target.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
    let best = null, bestD = 12 * 12;
    for (const d of dots) {
      const dd = (d.x - x) ** 2 + (d.y - y) ** 2;
      if (d.current && dd < bestD) { best = d; bestD = dd; }
    }
    if (best && state.config) selectModel(best.model);
  }

  function wire() {
    $("init").addEventListener("change", () => { renderInitOptions({}); updateURL(); });
    for (const id of ["parametrization", "base-width", "dataset", "noise", "activation", "scale", "optimizer", "lr", "batch-size", "iterations", "seed", "seeds"]) $(id).addEventListener("change", updateURL);
    $("hidden").addEventListener("input", syncDepthWidth);
    $("hidden").addEventListener("change", () => { syncDepthWidth(); updateURL(); });
    $("depth").addEventListener("change", fromDepth);
    $("residual").addEventListener("change", toggleResidual);
    $("blocks").addEventListener("change", () => { syncResidual(); updateURL(); });
    for (const id of ["branch-depth", "norm"]) $(id).addEventListener("change", updateURL);
    $("width").addEventListener("change", fromWidth);
    $("speed").addEventListener("change", changeSpeed);
    $("model").addEventListener("change", () => selectModel(Number($("model").value)));
    $("accuracy-chart").addEventListener("click", clickDot);
    for (const id of Object.values(COORD)) $(id).addEventListener("change", updateURL);
    $("coord-run").addEventListener("click", runCoord);
    $("coord-layer").addEventListener("change", drawCoord);
    const actions = { train: () => train(), pause: pauseOrResume, step, reseed, restart, reset, pin, unpin, notebook,
      "export-pytorch": () => send({ action: "export", format: "pytorch" }), "export-jax": () => send({ action: "export", format: "jax" }),
      "export-json": () => send({ action: "export", format: "json" }) };
    for (const [id, fn] of Object.entries(actions)) $(id).addEventListener("click", fn);
    let width = window.innerWidth;
    window.addEventListener("resize", () => { if (window.innerWidth !== width) { width = window.innerWidth; render(); drawPinned(); drawCoord(); } });
  }
  async function start() {
    state.options = await (await fetch("/api/options")).json();
    const o = state.options;
    fillSelect("dataset", Object.keys(o.datasets), (n) => o.datasets[n]);
    fillSelect("activation", o.activations);
    fillSelect("init", Object.keys(o.initializers), (n) => o.initializers[n].summary);
    fillSelect("optimizer", Object.keys(o.optimizers), (n) => o.optimizers[n]);
    fillSelect("parametrization", o.parametrizations || ["standard"]);
    if (o.limits.seeds) { $("seeds").min = o.limits.seeds[0]; $("seeds").max = o.limits.seeds[1]; }
    setControls(o.defaults);
    readURL();
    updateURL();
    clearErrors();
    wire();
    render();
    drawCoord();
    await connect();
  }
  start().catch((e) => { setStatus("error"); showErrors([{ field: "page", message: "Could not load the playground: " + e }]); });
})();
