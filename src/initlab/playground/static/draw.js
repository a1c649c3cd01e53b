// initlab playground drawing: window.initlabDraw, pure functions from data to canvas pixels.
//
// Every function takes the canvas sized by the caller in CSS pixels (by a stylesheet or inline style,
// or only by its width/height attributes, which are then pinned as its CSS size) and redraws it at
// CSS size x devicePixelRatio, so lines and text are sharp on high-density screens. All coordinates
// in the arguments are data coordinates; rectangles returned (network) are in canvas (device) pixels,
// ready for getImageData.
//
// Colours: the Okabe-Ito palette (Okabe & Ito 2008), distinguishable under the common colour-vision
// deficiencies: class 0 orange, class 1 blue; positive weights blue, negative orange (the sign of a
// weight pushes toward class 1 or class 0 when it feeds the output).
"use strict";
(() => {
  const COLORS = {
    class0: "#E69F00", class1: "#0072B2", c0: [230, 159, 0], c1: [0, 114, 178],
    positive: "#0072B2", negative: "#E69F00", zero: "#bbbbbb",
    train: "#222222", test: "#ffffff", text: "#444444", axis: "#888888", grid: "#eeeeee",
    std: "#0072B2", grad: "#D55E00", pinned: "#999999",
    // further Okabe-Ito colours for several series (loss fans, accuracy rows)
    series: ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"],
  };
  const FONT = "11px system-ui, sans-serif";

  // ------------------------------------------------------------------ activations (initlab.activations)
  const SELU_ALPHA = 1.6732632423543772848170429916717, SELU_SCALE = 1.0507009873554804934193349852946;
  const GELU_C = Math.sqrt(2 / Math.PI), GELU_A = 0.044715, LEAKY_SLOPE = 0.01;
  const sigmoid = (z) => { const e = Math.exp(-Math.abs(z)); return z >= 0 ? 1 / (1 + e) : e / (1 + e); };
  const ACTIVATIONS = {
    relu: (z) => (z > 0 ? z : z !== z ? z : 0),  // numpy's maximum keeps NaN
    leaky_relu: (z) => (z > 0 ? z : LEAKY_SLOPE * z),
    tanh: Math.tanh,
    sigmoid,
    linear: (z) => z,
    selu: (z) => SELU_SCALE * (Math.max(z, 0) + SELU_ALPHA * Math.expm1(Math.min(z, 0))),
    gelu: (z) => z * (0.5 * (Math.tanh(GELU_C * (z + GELU_A * z * z * z)) + 1)),
  };

  function checkWeights(weights, activation) {
    if (!ACTIVATIONS[activation]) {
      throw new Error(`initlabDraw: activation must be one of ${Object.keys(ACTIVATIONS).join(", ")}; got ${String(activation).slice(0, 40)}`);
    }
    if (isResidual(weights)) return checkResidual(weights);
    if (!weights || !Array.isArray(weights.W) || !Array.isArray(weights.b) || weights.W.length !== weights.b.length || !weights.W.length) {
      throw new Error("initlabDraw: weights must be {W: [W1, ..., WL], b: [b1, ..., bL]} with L >= 1 layers of each");
    }
    let fanIn = 2;
    weights.W.forEach((Wl, l) => {
      if (!Array.isArray(Wl) || Wl.length !== weights.b[l].length || Wl.some((row) => row.length !== fanIn)) {
        throw new Error(`initlabDraw: weights.W[${l}] must be ${weights.b[l].length} rows of ${fanIn} numbers (layer ${l + 1})`);
      }
      fanIn = Wl.length;
    });
    if (fanIn !== 1) throw new Error(`initlabDraw: the output layer must have 1 unit (sigmoid); got ${fanIn}`);
  }

  /** Multiply-adds (plus one per activation) of one forward pass per point: the cost model of a frame. */
  function costPerPoint(weights) {
    if (isResidual(weights)) {
      const w = weights.W_in.length, blocks = weights.blocks;
      return w * 4 + blocks.reduce((s, blk) => s + blk.W.length * w * (w + 3), 0) + w + 2;
    }
    return weights.W.reduce((s, Wl) => s + Wl.length * (Wl[0].length + 2), 0);
  }

  // ------------------------------------------------------------------ residual nets (initlab.residual.ResidualMLP)
  const LN_EPS = 1e-5;  // initlab.residual.LN_EPS (torch's)
  const num = (v) => (v === null || v === undefined ? NaN : v);  // null: a non-finite value sent as JSON
  /** Whether `weights` are a residual net's: {W_in, b_in, blocks: [...], W_out, b_out} (session.py's format). */
  function isResidual(weights) { return !!weights && Array.isArray(weights.blocks); }

  function checkResidual(weights) {
    const bad = (what) => { throw new Error(`initlabDraw: residual weights: ${what}`); };
    const { W_in, b_in, blocks, W_out, b_out } = weights;
    if (!Array.isArray(W_in) || !W_in.length || !Array.isArray(b_in) || b_in.length !== W_in.length || W_in.some((r) => r.length !== 2)) bad("W_in must be width rows of 2 numbers, b_in width numbers");
    const w = W_in.length;
    blocks.forEach((blk, i) => {
      const m = Array.isArray(blk.W) ? blk.W.length : 0;
      if (!m || blk.W.some((M) => M.length !== w || M.some((r) => r.length !== w))) bad(`blocks[${i}].W must be m >= 1 matrices of ${w} x ${w}`);
      if (blk.b && (blk.b.length !== m || blk.b.some((v) => v.length !== w))) bad(`blocks[${i}].b must be ${m} vectors of ${w}`);
      if (blk.bias && blk.bias.length !== 2 * m) bad(`blocks[${i}].bias (Fixup's scalar biases) must hold 2m = ${2 * m} numbers`);
      if ((blk.ln_gain || blk.ln_bias) && !(blk.ln_gain && blk.ln_bias && blk.ln_gain.length === w && blk.ln_bias.length === w)) bad(`blocks[${i}].ln_gain and ln_bias must be ${w} numbers each`);
    });
    if (!Array.isArray(W_out) || W_out.length !== 1 || W_out[0].length !== w || !Array.isArray(b_out) || b_out.length !== 1) bad(`W_out must be 1 row of ${w} numbers and b_out 1 number (sigmoid)`);
  }

  /** out[j] = sum_k M[j][k] in[k] (+ bias[j]), over m points: numpy's W @ X + b. */
  function affine(M, input, bias, m) {
    return M.map((row, j) => {
      const z = new Float64Array(m);
      for (let k = 0; k < row.length; k++) { const w = num(row[k]), a = input[k]; for (let i = 0; i < m; i++) z[i] += w * a[i]; }
      if (bias) { const b = num(bias[j]); for (let i = 0; i < m; i++) z[i] += b; }
      return z;
    });
  }

  /** The pre-LN of initlab.residual: gain * (h - mean) / sqrt(var + eps) + bias over the units of each point. */
  function layerNorm(h, gain, bias, m) {
    const n = h.length, mu = new Float64Array(m), v = new Float64Array(m);
    for (const u of h) for (let i = 0; i < m; i++) mu[i] += u[i];
    for (let i = 0; i < m; i++) mu[i] /= n;
    for (const u of h) for (let i = 0; i < m; i++) v[i] += (u[i] - mu[i]) ** 2;
    for (let i = 0; i < m; i++) v[i] = 1 / Math.sqrt(v[i] / n + LN_EPS);
    return h.map((u, j) => { const g = num(gain[j]), b = num(bias[j]), out = new Float64Array(m); for (let i = 0; i < m; i++) out[i] = g * ((u[i] - mu[i]) * v[i]) + b; return out; });
  }

  /** One block's alpha F(h) + d (Fixup: scalar biases a_j before each layer, c_j before each activation, d after). */
  function branch(blk, h, g, m) {
    const M = blk.W.length, sb = blk.bias ? blk.bias.map(num) : null;
    let u = blk.ln_gain ? layerNorm(h, blk.ln_gain, blk.ln_bias, m) : h, v = null;
    for (let j = 0; j < M; j++) {
      const p = sb ? u.map((x) => x.map((a) => a + sb[j])) : u;
      v = affine(blk.W[j], p, blk.b ? blk.b[j] : null, m);
      if (j < M - 1) u = v.map((x) => (sb ? x.map((a) => g(a + sb[M + j])) : x.map(g)));
    }
    const alpha = blk.alpha === undefined ? null : num(blk.alpha), d = sb ? sb[2 * M - 1] : null;
    return v.map((x) => { if (alpha !== null) x = x.map((a) => alpha * a); return d === null ? x : x.map((a) => a + d); });
  }

  /**
   * The forward pass of initlab.residual.ResidualMLP for one model: h_0 = W_in x + b_in, h_b = h_{b-1} + (alpha_b F_b(h_{b-1}) + d_b),
   * p = sigmoid(W_out g(h_B) + b_out). Returns {p, units: [h_0, ..., h_B] (each [Float64Array(m) per unit]), branches: [alpha F + d per block]}.
   */
  function forwardResidual(weights, activation, xs, ys) {
    checkResidual(weights);
    const m = xs.length, g = ACTIVATIONS[activation];
    let h = affine(weights.W_in, [Float64Array.from(xs), Float64Array.from(ys)], weights.b_in, m);
    const units = [h], branches = [];
    for (const blk of weights.blocks) {
      const f = branch(blk, h, g, m);
      h = h.map((x, j) => x.map((a, i) => a + f[j][i]));
      units.push(h); branches.push(f);
    }
    const z = affine(weights.W_out, h.map((x) => x.map(g)), weights.b_out, m)[0];
    return { p: z.map(sigmoid), units, branches };
  }

  /**
   * The forward pass of initlab.network: Z[l] = W[l] A[l-1] + b[l], A[l] = g(Z[l]) (sigmoid at the output).
   * weights: {W: [W1..WL], b: [b1..bL]}, W[l] n_l rows of n_{l-1}; xs, ys: the m input points.
   * Returns {p: Float64Array(m) = P(class 1), units: [[Float64Array(m) per unit] per layer l = 1..L]}.
   * A residual net's weights ({W_in, b_in, blocks, W_out, b_out}, session.py) go to forwardResidual.
   */
  function forward(weights, activation, xs, ys) {
    checkWeights(weights, activation);
    if (isResidual(weights)) return forwardResidual(weights, activation, xs, ys);
    const m = xs.length, L = weights.W.length, g = ACTIVATIONS[activation];
    let A = [Float64Array.from(xs), Float64Array.from(ys)];
    const units = [];
    for (let l = 0; l < L; l++) {
      const Wl = weights.W[l], bl = weights.b[l], out = [];
      for (let j = 0; j < Wl.length; j++) {
        const z = new Float64Array(m), row = Wl[j];
        for (let k = 0; k < row.length; k++) {
          const w = row[k] === null ? NaN : row[k], a = A[k];  // null: a non-finite weight sent as JSON
          for (let i = 0; i < m; i++) z[i] += w * a[i];
        }
        const b = bl[j] === null ? NaN : bl[j], f = l === L - 1 ? sigmoid : g;
        for (let i = 0; i < m; i++) z[i] = f(z[i] + b);
        out.push(z);
      }
      units.push(out);
      A = out;
    }
    return { p: A[0], units };
  }

  // ------------------------------------------------------------------ canvas set-up, ticks, text
  /** Size the canvas backing store to CSS size x devicePixelRatio; return a context drawing in CSS pixels. */
  function setup(canvas) {
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    const unstyled = !canvas.clientWidth || (canvas.clientWidth === canvas.width && canvas.clientHeight === canvas.height);
    if (!canvas.style.width && !canvas.dataset.cssWidth && unstyled) {
      // sized by its attributes only: they are its CSS size, pinned so that a redraw does not grow it
      canvas.dataset.cssWidth = canvas.width; canvas.dataset.cssHeight = canvas.height;
      canvas.style.width = canvas.width + "px"; canvas.style.height = canvas.height + "px";
    }
    const w = canvas.clientWidth || parseFloat(canvas.style.width) || canvas.width;
    const h = canvas.clientHeight || parseFloat(canvas.style.height) || canvas.height;
    const W = Math.max(1, Math.round(w * dpr)), H = Math.max(1, Math.round(h * dpr));
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    const c = canvas.getContext("2d");
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, W, H);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.font = FONT; c.lineJoin = "round"; c.setLineDash([]);
    return { c, w: W / dpr, h: H / dpr, dpr };
  }

  /** Round tick values covering [lo, hi]: steps of 1, 2 or 5 x 10^k, about `count` of them. */
  function niceTicks(lo, hi, count = 5) {
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
    if (hi < lo) [lo, hi] = [hi, lo];
    if (hi === lo) { const d = lo === 0 ? 1 : Math.abs(lo) * 0.1; lo -= d; hi += d; }
    const raw = (hi - lo) / Math.max(1, count), mag = 10 ** Math.floor(Math.log10(raw)), r = raw / mag;
    const step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9), out = [];
    for (let i = first; i <= last; i++) out.push(Number((i * step).toFixed(Math.min(20, digits))));
    return out;
  }

  /** A tick label: short, no float noise (0.30000000000000004 -> 0.3), exponent for very small/large. */
  function fmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
    return String(Number(v.toPrecision(4)));
  }

  function text(c, s, x, y, align = "left", color = COLORS.text, baseline = "middle") {
    c.fillStyle = color; c.textAlign = align; c.textBaseline = baseline; c.fillText(s, x, y);
  }

  /** Axes box with ticks: xs/ys are [value, label] pairs already mapped by X/Y. */
  function axes(c, box, X, Y, xticks, yticks, xlabel, ylabel) {
    c.strokeStyle = COLORS.grid; c.lineWidth = 1; c.beginPath();
    for (const [v] of yticks) { c.moveTo(box.l, Y(v)); c.lineTo(box.r, Y(v)); }
    c.stroke();
    c.strokeStyle = COLORS.axis; c.beginPath();
    c.moveTo(box.l, box.t); c.lineTo(box.l, box.b); c.lineTo(box.r, box.b);
    for (const [v] of xticks) { c.moveTo(X(v), box.b); c.lineTo(X(v), box.b + 4); }
    for (const [v] of yticks) { c.moveTo(box.l - 4, Y(v)); c.lineTo(box.l, Y(v)); }
    c.stroke();
    for (const [v, s] of xticks) text(c, s, X(v), box.b + 6, "center", COLORS.text, "top");
    for (const [v, s] of yticks) text(c, s, box.l - 6, Y(v), "right");
    text(c, xlabel, (box.l + box.r) / 2, box.b + 20, "center", COLORS.text, "top");
    c.save(); c.translate(11, (box.t + box.b) / 2); c.rotate(-Math.PI / 2);
    text(c, ylabel, 0, 0, "center"); c.restore();
  }

  /** A horizontal legend row above the plot: items {label, color, dash, kind: "line" | "band" | "dot" | "ring"}. */
  function legendRow(c, items, x, y, maxX) {
    let cx = x, cy = y;
    for (const it of items) {
      const w = 22 + c.measureText(it.label).width + 12;
      if (cx + w > maxX && cx > x) { cx = x; cy += 14; }
      c.strokeStyle = it.color; c.fillStyle = it.color; c.lineWidth = it.width || 2;
      if (it.kind === "band") { c.globalAlpha = 0.25; c.fillRect(cx, cy - 5, 18, 10); c.globalAlpha = 1; }
      else if (it.kind === "dot" || it.kind === "ring") {
        c.beginPath(); c.arc(cx + 9, cy, 4, 0, 2 * Math.PI);
        if (it.kind === "dot") c.fill(); else { c.fillStyle = "#fff"; c.fill(); c.lineWidth = 1.5; c.stroke(); }
      } else { c.setLineDash(it.dash || []); c.beginPath(); c.moveTo(cx, cy); c.lineTo(cx + 18, cy); c.stroke(); c.setLineDash([]); }
      text(c, it.label, cx + 22, cy);
      cx += w;
    }
    return cy + 14;  // the next free row
  }

  function rowsOfLegend(c, items, width) {
    let rows = 1, cx = 0;
    for (const it of items) {
      const w = 22 + c.measureText(it.label).width + 12;
      if (cx + w > width && cx > 0) { rows++; cx = 0; }
      cx += w;
    }
    return rows;
  }

  // ------------------------------------------------------------------ the decision boundary
  let nsPerCost = 2;  // measured cost of one multiply-add of a frame (ns), updated after every frame

  /** Internal grid (gw x gh) for a frame of about budgetMs: every device pixel when affordable. */
  function frameGrid(W, H, cost, budgetMs, resolution) {
    if (resolution) return [Math.max(2, Math.min(W, resolution)), Math.max(2, Math.min(H, Math.round((resolution * H) / W)))];
    const points = Math.max(256, (budgetMs * 1e6) / (nsPerCost * cost));  // at least 16 x 16 on a square canvas
    if (points >= W * H) return [W, H];
    const f = Math.sqrt(points / (W * H));
    return [Math.max(16, Math.floor(W * f)), Math.max(16, Math.floor(H * f))];
  }

  /** RGB of probability p: the predicted class's colour, stronger where the network is surer; grey if not finite. */
  function classRGB(p) {
    if (!Number.isFinite(p)) return [190, 190, 190];
    const base = p > 0.5 ? COLORS.c1 : COLORS.c0, s = 0.3 + 0.6 * Math.abs(2 * p - 1);
    return base.map((a) => Math.round(255 + (a - 255) * s));
  }

  /** The plane [x0,x1] x [y0,y1] sampled at pixel centres of a gw x gh image (row 0 at the top = y1). */
  function gridPoints(extent, gw, gh) {
    const [x0, x1, y0, y1] = extent, xs = new Float64Array(gw * gh), ys = new Float64Array(gw * gh);
    for (let r = 0; r < gh; r++) for (let q = 0; q < gw; q++) {
      xs[r * gw + q] = x0 + ((q + 0.5) / gw) * (x1 - x0);
      ys[r * gw + q] = y1 - ((r + 0.5) / gh) * (y1 - y0);
    }
    return [xs, ys];
  }

  /** Paint gw x gh values through rgbOf onto c's rectangle (x, y, w, h in the context's units), smoothed. */
  function paintImage(c, values, gw, gh, rgbOf, x, y, w, h, exact = false) {
    const off = document.createElement("canvas");
    off.width = gw; off.height = gh;
    const oc = off.getContext("2d"), img = oc.createImageData(gw, gh), d = img.data;
    for (let i = 0; i < gw * gh; i++) {
      const [r, g, b] = rgbOf(values[i]);
      d[4 * i] = r; d[4 * i + 1] = g; d[4 * i + 2] = b; d[4 * i + 3] = 255;
    }
    oc.putImageData(img, 0, 0);
    if (exact) {  // scaled at the origin, then copied: equal values give equal pixels wherever they land
      const big = document.createElement("canvas");
      big.width = w; big.height = h;
      const bc = big.getContext("2d");
      bc.imageSmoothingEnabled = true; bc.imageSmoothingQuality = "high";
      bc.drawImage(off, 0, 0, w, h);
      c.putImageData(bc.getImageData(0, 0, w, h), x, y);
      return;
    }
    c.imageSmoothingEnabled = true; c.imageSmoothingQuality = "high";
    c.drawImage(off, x, y, w, h);
  }

  function drawPoints(c, points, extent, w, h, radius) {
    const [x0, x1, y0, y1] = extent;
    const px = (x) => ((x - x0) / (x1 - x0)) * w, py = (y) => h - ((y - y0) / (y1 - y0)) * h;
    for (const [set, test] of [[points.train, false], [points.test, true]]) {
      if (!set) continue;
      for (let k = 0; k < set.x.length; k++) {
        const col = set.label[k] ? COLORS.class1 : COLORS.class0;
        c.beginPath(); c.arc(px(set.x[k]), py(set.y[k]), radius, 0, 2 * Math.PI);
        c.fillStyle = test ? COLORS.test : col; c.fill();
        c.strokeStyle = test ? col : COLORS.train; c.lineWidth = test ? 1.8 : 0.8; c.stroke();
      }
    }
  }

  /** Two compact rows at the bottom left: class 0 / class 1 swatches, train (filled) / test (ringed) points. */
  function boundaryLegend(c, w, h) {
    c.font = "10px system-ui, sans-serif";
    const rows = [[["class 0", COLORS.class0, false], ["class 1", COLORS.class1, false]], [["train", COLORS.train, false], ["test", COLORS.train, true]]];
    const widths = rows.map((r) => r.reduce((s, [label]) => s + 13 + c.measureText(label).width + 8, 0));
    c.fillStyle = "rgba(255,255,255,0.85)"; c.fillRect(2, h - 29, Math.min(Math.max(...widths) + 2, w - 4), 27);
    rows.forEach((r, i) => {
      let x = 6;
      const y = h - 22 + 12 * i;
      for (const [label, color, ring] of r) {
        c.beginPath(); c.arc(x + 4, y, 3.5, 0, 2 * Math.PI);
        c.fillStyle = ring ? "#fff" : color; c.fill();
        if (ring) { c.strokeStyle = color; c.lineWidth = 1.5; c.stroke(); }
        text(c, label, x + 11, y);
        x += 13 + c.measureText(label).width + 8;
      }
    });
    c.font = FONT;
  }

  /**
   * The decision boundary per pixel, computed from the weights (opts.resolution forces the internal grid
   * width; opts.budgetMs, default 25, bounds a frame), then the points (train filled with a dark edge,
   * test white with a ring of their class colour) and a legend (opts.legend === false hides it).
   * points: the server's start message `points`, {train: {x, y, label}, test: {x, y, label}} (or null).
   * Returns {share1, grid: [gw, gh], dpr, ms}.
   */
  function boundary(canvas, weights, activation, extent, points, opts = {}) {
    checkWeights(weights, activation);
    const t0 = performance.now(), { c, w, h, dpr } = setup(canvas), cost = costPerPoint(weights);
    const [gw, gh] = frameGrid(canvas.width, canvas.height, cost, opts.budgetMs || 25, opts.resolution);
    const [xs, ys] = gridPoints(extent, gw, gh);
    const tf = performance.now(), p = forward(weights, activation, xs, ys).p, spent = performance.now() - tf;
    if (spent >= 2) nsPerCost = Math.min(100, Math.max(0.2, 0.7 * nsPerCost + (0.3 * spent * 1e6) / (gw * gh * cost)));  // a moving average
    let ones = 0;
    for (let i = 0; i < p.length; i++) if (p[i] > 0.5) ones++;
    paintImage(c, p, gw, gh, classRGB, 0, 0, w, h);
    if (points) drawPoints(c, points, extent, w, h, opts.radius || 3);
    if (opts.legend !== false) boundaryLegend(c, w, h);
    return { share1: ones / p.length, grid: [gw, gh], dpr, ms: performance.now() - t0 };
  }

  // ------------------------------------------------------------------ the network diagram
  /** Column of unit squares: n squares of side s centred vertically in [top, bottom] at x (device px, integers). */
  function columnRects(n, x, s, top, bottom) {
    const gap = n > 1 ? Math.min(s * 0.6 + 2, (bottom - top - n * s) / (n - 1)) : 0;
    const step = s + Math.max(1, Math.floor(gap)), y0 = Math.round((top + bottom - (n - 1) * step - s) / 2);
    return Array.from({ length: n }, (_, j) => ({ x: Math.round(x), y: y0 + j * step, w: s, h: s }));
  }

  /** Diverging colour of a unit's output a, scaled by the layer's max |a|: orange negative, white 0, blue positive. */
  function unitRGB(scale) {
    return (a) => {
      if (!Number.isFinite(a)) return [190, 190, 190];
      const t = scale > 0 ? Math.max(-1, Math.min(1, a / scale)) : 0, base = t >= 0 ? COLORS.c1 : COLORS.c0, s = Math.abs(t);
      return base.map((v) => Math.round(255 + (v - 255) * s));
    };
  }

  /** Lines between consecutive columns, width by |w| / max |w| of the net, colour by sign, batched by width. */
  function drawLines(c, weights, rects, wide, dpr) {  // rects[l]: the drawn units of column l (the first ones)
    let maxAbs = 0, count = 0;
    for (const Wl of weights.W) if (Wl) for (const row of Wl) for (const v of row) if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
    const LEVELS = 6;
    weights.W.forEach((Wl, l) => {
      if (!Wl) return;  // no weights between these columns (a residual net's trunk)
      const from = rects[l], to = rects[l + 1], n = from.length * to.length;
      const alpha = Math.min(0.9, Math.max(0.06, wide / Math.sqrt(n)));  // wide layers: fainter lines, all drawn
      const paths = {};
      Wl.slice(0, to.length).forEach((row, j) => row.slice(0, from.length).forEach((v, k) => {
        const level = maxAbs > 0 && Number.isFinite(v) ? Math.round((Math.abs(v) / maxAbs) * LEVELS) : 0;
        const key = (level === 0 ? "zero" : v > 0 ? "positive" : "negative") + level;
        const path = paths[key] || (paths[key] = { color: COLORS[level === 0 ? "zero" : v > 0 ? "positive" : "negative"], level, path: new Path2D() });
        const a = from[k], b = to[j];
        path.path.moveTo(a.x + a.w, a.y + a.h / 2); path.path.lineTo(b.x, b.y + b.h / 2);
        count++;
      }));
      for (const p of Object.values(paths)) {
        c.globalAlpha = p.level === 0 ? Math.min(alpha, 0.5) : alpha;
        c.strokeStyle = p.color; c.lineWidth = dpr * (p.level === 0 ? 0.5 : 0.5 + (3.5 * p.level) / LEVELS);
        c.stroke(p.path);
      }
    });
    c.globalAlpha = 1;
    return count;
  }

  /**
   * The network as columns (inputs x1, x2; hidden layers; output p), each unit a thumbnail of its output
   * over the input plane `extent` (hidden units: orange < 0 < blue scaled by the layer's max |a|, printed
   * under the column; the output: class colours as boundary()). Wide layers show their first
   * opts.maxUnits units (default 16; the column says "16 of 64") so that thumbnails stay readable; every
   * line between drawn units is drawn (width ~ |w| / max |w| of the net, colour by sign), fainter for wide
   * layers (alpha ~ opts.wide / sqrt(lines), default wide = 6).
   * Returns {layers: [[{x, y, w, h} in canvas pixels] per column, inputs first], units: [n per column],
   * lines: lines drawn, thumbnail: its internal resolution}.
   */
  function network(canvas, weights, activation, extent, opts = {}) {
    checkWeights(weights, activation);
    if (isResidual(weights)) return networkResidual(canvas, weights, activation, extent, opts);
    const { c, dpr } = setup(canvas);
    c.setTransform(1, 0, 0, 1, 0, 0);  // device pixels: squares on whole pixels, identical units identical
    const W = canvas.width, H = canvas.height, sizes = [2, ...weights.W.map((Wl) => Wl.length)];
    const shown = sizes.map((n) => Math.min(n, opts.maxUnits || 16));
    const cut = shown.some((n, l) => n < sizes[l]), cols = sizes.length;
    const top = Math.round(16 * dpr), bottom = H - Math.round((cut ? 28 : 16) * dpr);
    const colGap = (W - 20 * dpr) / cols, maxN = Math.max(...shown);
    const s = Math.max(2, Math.floor(Math.min(40 * dpr, colGap * 0.45, ((bottom - top) / maxN) * 0.75)));
    const rects = shown.map((n, l) => columnRects(n, 10 * dpr + colGap * (l + 0.5) - s / 2, s, top, bottom));
    const lines = drawLines(c, weights, rects, opts.wide || 6, dpr);
    const budget = ((opts.budgetMs || 25) * 1e6) / (nsPerCost * costPerPoint(weights));
    const t = Math.max(4, Math.min(s, 32, Math.floor(Math.sqrt(budget))));
    const [xs, ys] = gridPoints(extent, t, t), fw = forward(weights, activation, xs, ys);
    c.font = `${Math.round(10 * dpr)}px system-ui, sans-serif`;
    [[xs, ys], ...fw.units].forEach((unitsOfLayer, l) => {
      let scale = 0;
      for (const u of unitsOfLayer) for (const v of u) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
      const rgb = l === cols - 1 ? classRGB : unitRGB(scale);
      rects[l].forEach((r, j) => {
        c.strokeStyle = "#666"; c.lineWidth = 1; c.strokeRect(r.x - 0.5, r.y - 0.5, r.w + 1, r.h + 1);
        paintImage(c, unitsOfLayer[j], t, t, rgb, r.x, r.y, r.w, r.h, true);
        if (l === 0) text(c, j ? "x2" : "x1", r.x - 3 * dpr, r.y + r.h / 2, "right");
      });
      const cx = rects[l][0].x + s / 2, fits = (t) => c.measureText(t).width < colGap * 0.95;
      const name = l === 0 ? "inputs" : l === cols - 1 ? "p" : fits(`layer ${l}`) ? `layer ${l}` : `${l}`;
      text(c, name, cx, top / 2, "center");
      const amax = Number(scale.toPrecision(2)), note = fits(`|a| \u2264 ${amax}`) ? `|a| \u2264 ${amax}` : String(amax);
      if (l > 0 && l < cols - 1) text(c, note, cx, bottom + 8 * dpr, "center");
    });
    if (cut) text(c, `wide layers: their first ${Math.max(...shown.slice(1, -1))} units are drawn`, 10 * dpr, H - 6 * dpr);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { layers: rects, units: sizes, lines, thumbnail: t };
  }

  /**
   * A residual net as its trunk: inputs, h_0 (after the input projection), h_1 .. h_B (after each block),
   * p. Each trunk unit is a thumbnail of its value over the plane (orange < 0 < blue, scaled per column);
   * the branches are collapsed into a block strip between consecutive trunk columns: a box per block
   * whose bar is its effective residual scale |alpha F + d| / |h| over the plane on a log scale from 1e-4
   * (empty: the branch adds nothing or almost nothing, as Fixup, ReZero and zero_last start) to 1 (full:
   * the branch is as large as the trunk), the skip connections as thin grey lines unit to unit.
   * W_in and W_out are drawn as lines (width |w|, colour sign). Wide trunks show their first opts.maxUnits
   * units (default 12). Returns {layers: [rects per column], units, lines, thumbnail, residual: true,
   * blocks: [{x, y, w, h, scale}] in canvas pixels}.
   */
  function networkResidual(canvas, weights, activation, extent, opts = {}) {
    const { c, dpr } = setup(canvas);
    c.setTransform(1, 0, 0, 1, 0, 0);
    const W = canvas.width, H = canvas.height, width = weights.W_in.length, B = weights.blocks.length;
    const sizes = [2, ...Array(B + 1).fill(width), 1], cols = sizes.length;
    const shown = sizes.map((n) => Math.min(n, opts.maxUnits || 12)), cut = shown[1] < width;
    const top = Math.round(30 * dpr), bottom = H - Math.round((cut ? 28 : 16) * dpr);
    const colGap = (W - 20 * dpr) / cols, maxN = Math.max(...shown);
    const s = Math.max(2, Math.floor(Math.min(40 * dpr, colGap * 0.5, ((bottom - top) / maxN) * 0.75)));
    const rects = shown.map((n, l) => columnRects(n, 10 * dpr + colGap * (l + 0.5) - s / 2, s, top, bottom));
    const budget = ((opts.budgetMs || 25) * 1e6) / (nsPerCost * costPerPoint(weights));
    const t = Math.max(4, Math.min(s, 32, Math.floor(Math.sqrt(budget / 2))));
    const [xs, ys] = gridPoints(extent, t, t), fw = forwardResidual(weights, activation, xs, ys);
    // skip connections: unit j of h_{b-1} to unit j of h_b
    c.strokeStyle = COLORS.zero; c.lineWidth = dpr * 0.6; c.globalAlpha = 0.7; c.beginPath();
    for (let l = 1; l < cols - 2; l++) rects[l].forEach((a, j) => { const b = rects[l + 1][j]; c.moveTo(a.x + a.w, a.y + a.h / 2); c.lineTo(b.x, b.y + b.h / 2); });
    c.stroke(); c.globalAlpha = 1;
    const lines = drawLines(c, { W: [weights.W_in, ...Array(B).fill(null), weights.W_out] }, rects, opts.wide || 6, dpr);
    const norm = (u) => { let q = 0; for (const x of u) for (const v of x) q += v * v; return Math.sqrt(q); };
    const blocks = fw.branches.map((f, b) => {
      const scale = norm(f) / norm(fw.units[b]), x0 = rects[b + 1][0].x + s, x1 = rects[b + 2][0].x;
      const bw = Math.max(2, Math.round((x1 - x0) * 0.7)), bx = Math.round((x0 + x1 - bw) / 2), by = Math.round(top - 16 * dpr), bh = Math.round(12 * dpr);
      c.strokeStyle = "#666"; c.lineWidth = 1; c.strokeRect(bx + 0.5, by + 0.5, bw - 1, bh - 1);
      const fill = Number.isFinite(scale) ? Math.max(0, Math.min(1, (Math.log10(Math.max(scale, 1e-12)) + 4) / 4)) : 1;  // log: 1e-4 .. 1
      c.fillStyle = Number.isFinite(scale) ? COLORS.grad : "#bbbbbb"; c.fillRect(bx + 1, by + bh - 1 - Math.round((bh - 2) * fill), bw - 2, Math.round((bh - 2) * fill));
      return { x: bx, y: by, w: bw, h: bh, scale: Number.isFinite(scale) ? scale : null };
    });
    c.font = `${Math.round(10 * dpr)}px system-ui, sans-serif`;
    const every = Math.max(1, Math.ceil((c.measureText("h32").width * 1.3) / colGap));
    [[xs, ys], ...fw.units, [fw.p]].forEach((unitsOfLayer, l) => {
      let scale = 0;
      for (const u of unitsOfLayer.slice(0, shown[l])) for (const v of u) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
      const rgb = l === cols - 1 ? classRGB : unitRGB(scale);
      rects[l].forEach((r, j) => {
        c.strokeStyle = "#666"; c.lineWidth = 1; c.strokeRect(r.x - 0.5, r.y - 0.5, r.w + 1, r.h + 1);
        paintImage(c, unitsOfLayer[j], t, t, rgb, r.x, r.y, r.w, r.h, true);
        if (l === 0) text(c, j ? "x2" : "x1", r.x - 3 * dpr, r.y + r.h / 2, "right");
      });
      const name = l === 0 ? "x" : l === cols - 1 ? "p" : `h${l - 1}`;
      if (l === 0 || l === cols - 1 || (l - 1) % every === 0 || l === cols - 2) text(c, name, rects[l][0].x + s / 2, bottom + 8 * dpr, "center");
    });
    text(c, `${B} residual block${B === 1 ? "" : "s"} of ${weights.blocks[0] ? weights.blocks[0].W.length : 0} layers; bar: |branch| / |trunk|, 1e-4 to 1 (log)`, 10 * dpr, 7 * dpr);
    if (cut) text(c, `wide trunk: its first ${shown[1]} of ${width} units are drawn`, 10 * dpr, H - 6 * dpr);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { layers: rects, units: sizes, lines, thumbnail: t, residual: true, blocks };
  }

  // ------------------------------------------------------------------ loss fan and accuracy dots
  function quantile(sorted, q) {
    if (!sorted.length) return NaN;
    const i = q * (sorted.length - 1), lo = Math.floor(i), hi = Math.ceil(i);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
  }

  /** Per iteration of a series: {lo, med, hi, sel} over the finite losses of the models. */
  function fanOf(s, band) {
    return s.iterations.map((it, i) => {
      const row = (s.losses[i] || []), v = row.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
      const sel = s.selected === null || s.selected === undefined ? null : row[s.selected];
      return { it, lo: quantile(v, band[0]), med: quantile(v, 0.5), hi: quantile(v, band[1]), sel: Number.isFinite(sel) ? sel : null };
    });
  }

  function polyline(c, pts, X, Y, key) {
    c.beginPath();
    let on = false;
    for (const p of pts) {
      const v = p[key];
      if (v === null || !Number.isFinite(v)) { on = false; continue; }
      if (on) c.lineTo(X(p.it), Y(v)); else { c.moveTo(X(p.it), Y(v)); on = true; }
    }
    c.stroke();
  }

  /**
   * Loss of K models against iteration, per series {label, color, iterations, losses: [[K losses] per
   * iteration], selected}: a band (min-max for K < 10, else 10-90 %), the median, the selected model dashed.
   * opts: {iterations: x axis end, yMax: cap of the y axis (default 10)}.
   */
  function lossFan(canvas, series, opts = {}) {
    const { c, w, h } = setup(canvas), fans = [], items = [];
    let xmax = opts.iterations || 1, ymax = 0;
    for (const [i, s] of series.entries()) {
      const K = Math.max(0, ...s.losses.map((r) => (r ? r.length : 0))), band = K >= 10 ? [0.1, 0.9] : [0, 1];
      const color = s.color || COLORS.series[i % COLORS.series.length], fan = fanOf(s, band);
      fans.push({ fan, color, selected: s.selected !== null && s.selected !== undefined });
      for (const p of fan) { xmax = Math.max(xmax, p.it); for (const v of [p.hi, p.sel]) if (Number.isFinite(v)) ymax = Math.max(ymax, v); }
      items.push({ label: `${s.label} median`, color });
      if (K > 1) items.push({ label: K >= 10 ? "10-90% of seeds" : `min-max of ${K}`, color, kind: "band" });
      if (s.selected !== null && s.selected !== undefined) items.push({ label: `model ${s.selected} (selected)`, color, dash: [4, 3], width: 1.5 });
    }
    ymax = Math.min(ymax || 1, opts.yMax || 10);
    const yt = niceTicks(0, ymax, 4), xt = niceTicks(0, xmax, 5);
    const rows = rowsOfLegend(c, items, w - 50);
    const box = { l: 46, r: w - 22, t: 8 + 14 * rows, b: h - 34 };
    const X = (v) => box.l + (v / xt[xt.length - 1]) * (box.r - box.l), Y = (v) => box.b - (Math.min(v, yt[yt.length - 1]) / yt[yt.length - 1]) * (box.b - box.t);
    axes(c, box, X, Y, xt.map((v) => [v, fmt(v)]), yt.map((v) => [v, fmt(v)]), "iteration", "loss");
    legendRow(c, items, box.l, 8, w);
    c.save(); c.beginPath(); c.rect(box.l, box.t - 2, box.r - box.l + 2, box.b - box.t + 2); c.clip();
    for (const { fan, color } of fans) {  // every band first, so no band hides another run's line
      const pts = fan.filter((p) => Number.isFinite(p.lo) && Number.isFinite(p.hi));
      if (pts.length) {
        c.globalAlpha = 0.22; c.fillStyle = color; c.beginPath();
        pts.forEach((p, i) => (i ? c.lineTo(X(p.it), Y(p.hi)) : c.moveTo(X(p.it), Y(p.hi))));
        for (let i = pts.length - 1; i >= 0; i--) c.lineTo(X(pts[i].it), Y(pts[i].lo));
        c.closePath(); c.fill(); c.globalAlpha = 1;
      }
    }
    for (const { fan, color, selected } of fans) {
      c.strokeStyle = color; c.lineWidth = 2; polyline(c, fan, X, Y, "med");
      if (selected) { c.lineWidth = 1.5; c.setLineDash([4, 3]); polyline(c, fan, X, Y, "sel"); c.setLineDash([]); }
    }
    c.restore();
    return { box, xTicks: xt, yTicks: yt };
  }

  const pct = (v) => `${Math.round(100 * v)}%`;
  function spread(values) {
    const v = values.filter((x) => x !== null && Number.isFinite(x));
    return v.length ? `${pct(Math.min(...v))}-${pct(Math.max(...v))}` : "-";
  }

  /**
   * One row per series {label, color, models: [{accuracy, test_accuracy}, ...] (the progress message's
   * `models`), selected}: a dot per model at its train accuracy (filled) and test accuracy (hollow, below),
   * on a 0..1 axis, with the spread of each ("train 54-100%").
   */
  function accuracyDots(canvas, series, opts = {}) {
    const { c, w, h } = setup(canvas);
    const labelW = Math.max(40, ...series.map((s) => c.measureText(s.label).width + 8));
    const box = { l: labelW + 4, r: w - Math.min(130, 0.4 * w), t: 22, b: h - 30 }, rowH = (box.b - box.t) / Math.max(1, series.length);
    const X = (v) => box.l + v * (box.r - box.l);
    const ticks = [0, 0.25, 0.5, 0.75, 1];
    c.strokeStyle = COLORS.grid; c.beginPath();
    for (const v of ticks) { c.moveTo(X(v), box.t); c.lineTo(X(v), box.b); }
    c.stroke();
    c.strokeStyle = COLORS.axis; c.beginPath(); c.moveTo(box.l, box.b); c.lineTo(box.r, box.b); c.stroke();
    for (const v of ticks) text(c, pct(v), X(v), box.b + 4, "center", COLORS.text, "top");
    text(c, "accuracy", (box.l + box.r) / 2, box.b + 17, "center", COLORS.text, "top");
    legendRow(c, [{ label: "train", color: COLORS.text, kind: "dot" }, { label: "test", color: COLORS.text, kind: "ring" }], box.l, 9, w);
    series.forEach((s, i) => {
      const color = s.color || COLORS.series[i % COLORS.series.length], yc = box.t + rowH * (i + 0.5), models = s.models || [];
      text(c, s.label, box.l - 8, yc, "right");
      models.forEach((m, k) => {
        const chosen = k === s.selected;
        for (const [v, dy, hollow] of [[m.accuracy, -4, false], [m.test_accuracy, 4, true]]) {
          if (v === null || !Number.isFinite(v)) continue;
          c.beginPath(); c.arc(X(v), yc + dy, chosen ? 4.5 : 3, 0, 2 * Math.PI);
          c.globalAlpha = chosen ? 1 : 0.75; c.fillStyle = hollow ? "#fff" : color; c.fill();
          c.strokeStyle = chosen ? "#000" : color; c.lineWidth = hollow ? 1.5 : chosen ? 1.5 : 0.5; c.stroke(); c.globalAlpha = 1;
        }
      });
      const tr = spread(models.map((m) => m.accuracy)), te = spread(models.map((m) => m.test_accuracy));
      text(c, `train ${tr}`, box.r + 10, yc - 6); text(c, `test ${te}`, box.r + 10, yc + 7);
    });
    return { box };
  }

  // ------------------------------------------------------------------ depth chart, histograms
  /** Integer ticks 1..L (every step-th for deep nets). */
  function layerTicks(L) {
    const step = Math.max(1, Math.ceil(niceTicks(1, L, 8).reduce((s, v, i, a) => (i ? Math.max(s, v - a[i - 1]) : s), 1)));
    const out = [];
    for (let l = 1; l <= L; l += step) out.push(l);
    if (out[out.length - 1] !== L) out.push(L);
    return out;
  }

  /**
   * Std of each layer's activations A[l] and norm of its weight gradient dW[l] against the layer (integer
   * ticks 1..L), log y axis (decade ticks); pinnedLayers (optional) dashed grey. Non-positive or missing
   * values break the line. opts.first: the number of the first entry (a residual net's: 0, its input
   * projection), opts.xlabel; entries with branch_std (residual blocks) add that series (triangles).
   */
  function depthChart(canvas, layers, pinnedLayers, opts = {}) {
    const { c, w, h } = setup(canvas);
    if (!layers || !layers.length) return null;
    const sets = [[layers, false]].concat(pinnedLayers && pinnedLayers.length ? [[pinnedLayers, true]] : []);
    const logs = [];
    for (const [ls] of sets) for (const l of ls) for (const v of [l.a_std, l.grad_norm, l.branch_std]) if (v > 0 && Number.isFinite(v)) logs.push(Math.log10(v));
    let lo = Math.floor(Math.min(...logs, 0)), hi = Math.ceil(Math.max(...logs, 0));
    lo = Math.max(lo, hi - 24); if (hi === lo) hi = lo + 1;
    const dstep = Math.max(1, Math.ceil((hi - lo) / 6)), L = Math.max(...sets.map(([ls]) => ls.length));
    const box = { l: 50, r: w - 100, t: 10, b: h - 34 };
    const first = opts.first === undefined ? 1 : opts.first, last = first + L - 1;
    const X = (l) => box.l + (L > 1 ? (l - first) / (L - 1) : 0.5) * (box.r - box.l);
    const Y = (v) => box.b - ((Math.log10(v) - lo) / (hi - lo)) * (box.b - box.t);
    const yt = [];
    for (let k = lo; k <= hi; k += dstep) yt.push([10 ** k, k >= -2 && k <= 3 ? fmt(10 ** k) : `1e${k}`]);
    const xticks = layerTicks(L).map((i) => i - 1 + first);
    if (first === 0 && xticks[0] !== 0) xticks.unshift(0);
    axes(c, box, X, Y, xticks.map((l) => [l, String(l)]), yt, opts.xlabel || "layer", "value (log scale)");
    const residual = sets.some(([ls]) => ls.some((l) => l.branch_std !== undefined));
    const keys = residual
      ? [["a_std", COLORS.std, "std of h[b]"], ["grad_norm", COLORS.grad, "|dW[b]|"], ["branch_std", COLORS.series[2], "branch std"]]
      : [["a_std", COLORS.std, "std of A[l]"], ["grad_norm", COLORS.grad, "|dW[l]|"]];
    for (const [ls, pinned] of sets) for (const [key, color] of keys) {
      const col = pinned ? COLORS.pinned : color, pts = ls.map((l, i) => ({ it: i + first, v: l[key] > 0 && Number.isFinite(l[key]) ? Math.max(l[key], 10 ** lo) : null }));
      c.strokeStyle = col; c.fillStyle = col; c.lineWidth = 2; c.setLineDash(pinned ? [4, 3] : []);
      polyline(c, pts, X, Y, "v"); c.setLineDash([]);
      for (const p of pts) if (p.v !== null) {
        c.beginPath();
        if (key === "a_std") c.arc(X(p.it), Y(p.v), 3, 0, 2 * Math.PI);
        else if (key === "branch_std") { c.moveTo(X(p.it), Y(p.v) - 4); c.lineTo(X(p.it) + 4, Y(p.v) + 3); c.lineTo(X(p.it) - 4, Y(p.v) + 3); c.closePath(); }
        else c.rect(X(p.it) - 3, Y(p.v) - 3, 6, 6);
        c.fill();
      }
    }
    let y = box.t + 6;
    for (const [, color, label] of keys) { legendRow(c, [{ label, color }], box.r + 10, y, w); y += 16; }
    if (sets.length > 1) legendRow(c, [{ label: "pinned", color: COLORS.pinned, dash: [4, 3] }], box.r + 10, y, w);
    return { box, xTicks: xticks, decades: [lo, hi], series: keys.map(([key]) => key) };
  }

  /**
   * Bars of hist {lo, hi, counts} (equal bins over [lo, hi]) with ticks at lo and hi. One bin (all values
   * equal): a narrow spike in the middle labelled "all = value", not a block.
   */
  function histogram(canvas, hist, color) {
    const { c, w, h } = setup(canvas), base = h - 13;
    if (!hist || !hist.counts || !hist.counts.length) { text(c, "no finite values", w / 2, h / 2, "center"); return { kind: "empty" }; }
    c.fillStyle = color || COLORS.std;
    c.strokeStyle = COLORS.axis; c.lineWidth = 1; c.beginPath(); c.moveTo(0, base + 0.5); c.lineTo(w, base + 0.5); c.stroke();
    c.font = "10px system-ui, sans-serif";
    if (hist.counts.length === 1) {
      const x = Math.round(w / 2);
      c.fillStyle = color || COLORS.std; c.fillRect(x - 1, 12, 3, base - 12);
      text(c, `all = ${fmt(Number(hist.lo))}`, x + 5, 12, "left", COLORS.text, "top");
      text(c, fmt(Number(hist.lo)), x, base + 2, "center", COLORS.text, "top");
      return { kind: "spike" };
    }
    const max = Math.max(...hist.counts), bw = w / hist.counts.length;
    hist.counts.forEach((n, i) => { const bh = max ? (n / max) * (base - 4) : 0; c.fillRect(i * bw + 0.5, base - bh, Math.max(bw - 1, 1), bh); });
    text(c, fmt(Number(hist.lo)), 0, base + 2, "left", COLORS.text, "top");
    text(c, fmt(Number(hist.hi)), w, base + 2, "right", COLORS.text, "top");
    return { kind: "bars" };
  }

  /**
   * The Jacobian spectrum: bars of jac {lo, hi, counts} (equal bins in log10 s over [lo, hi], the session's
   * histogram) on a log x axis (decade ticks), a dashed vertical line at s = 1 (labelled), zeros counted in
   * the corner (no place on a log axis). Returns {box, lineX (the line's x), decades: [lo, hi], bars} or
   * {kind: "empty"} when there is nothing to draw (a residual net, or no finite singular value).
   */
  function jacobianChart(canvas, jac) {
    const { c, w, h } = setup(canvas);
    if (!jac || !jac.counts || !jac.counts.length) {
      text(c, jac ? "no finite singular values" : "plain MLPs only", w / 2, h / 2, "center");
      return { kind: "empty" };
    }
    const box = { l: 50, r: w - 12, t: 36, b: h - 34 }, lo = jac.lo, hi = jac.hi, n = jac.counts.length;
    const X = (v) => box.l + ((v - lo) / (hi - lo)) * (box.r - box.l);  // v: log10 s
    const max = Math.max(1, ...jac.counts);
    const Y = (v) => box.b - (v / max) * (box.b - box.t);
    const xt = [];
    const dstep = Math.max(1, Math.ceil((Math.floor(hi) - Math.ceil(lo)) / 6));
    for (let k = Math.ceil(lo); k <= Math.floor(hi); k += dstep) xt.push([k, k >= -3 && k <= 4 ? fmt(10 ** k) : `1e${k}`]);
    const yt = niceTicks(0, max, 3).filter((v) => v <= max && Number.isInteger(v)).map((v) => [v, String(v)]);
    axes(c, box, X, Y, xt, yt, "singular value s (log scale)", "count");
    c.fillStyle = COLORS.std;
    const bw = (box.r - box.l) / n, bars = [];
    jac.counts.forEach((k, i) => {
      const x = box.l + i * bw, y = Y(k);
      if (k > 0) c.fillRect(x + 0.5, y, Math.max(bw - 1, 1), box.b - y);
      bars.push({ x, w: bw, count: k });
    });
    const lineX = X(0);
    c.strokeStyle = COLORS.grad; c.lineWidth = 1.5; c.setLineDash([5, 3]);
    c.beginPath(); c.moveTo(lineX, box.t - 4); c.lineTo(lineX, box.b); c.stroke(); c.setLineDash([]);
    text(c, "s = 1", lineX + 4, box.t - 8, "left", COLORS.grad);
    const zeros = jac.zeros ? `, ${jac.zeros} zero` : "";
    text(c, `${jac.values} values: ${jac.models} model${jac.models === 1 ? "" : "s"} x ${jac.examples} inputs${zeros}`, box.r, 9, "right");
    return { box, lineX, decades: [lo, hi], bars };
  }

  /**
   * The coordinate check (initlab.playground.coord's reply `cc`) of one layer (opts.layer, an index into
   * cc.layers; default the last, the output): mean |activation| against the width on log-log axes (x ticks at
   * the widths, decade ticks on y), one line per step t = 0..T through the seeds' geometric mean (its
   * least-squares slope is the seeds' mean slope, the table's number) and a band from the smallest to the
   * largest seed. Missing values (null: a diverged model) break the line and the band. Returns {box, layer,
   * decades: [lo, hi], lines: [{t, color, points: [{width, value, x, y}]}]} or {kind: "empty"}.
   */
  function coordChart(canvas, cc, opts = {}) {
    const { c, w, h } = setup(canvas);
    if (!cc || !cc.widths || !cc.size) { text(c, "run a coordinate check to see it here", w / 2, h / 2, "center"); return { kind: "empty" }; }
    const L = cc.layers.length, j = opts.layer === undefined ? L - 1 : opts.layer, T = cc.size[0].length - 1;
    const good = (v) => v !== null && v !== undefined && Number.isFinite(v) && v > 0;
    const stats = cc.widths.map((n, i) => cc.size[i].map((byLayer) => {
      const v = byLayer[j].filter(good);
      if (!v.length || v.length < byLayer[j].length) return null;  // a seed without a value: no mean here
      return { mean: Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length), lo: Math.min(...v), hi: Math.max(...v) };
    }));
    const logs = [];
    for (const row of stats) for (const p of row) if (p) logs.push(Math.log10(p.lo), Math.log10(p.hi));
    if (!logs.length) { text(c, `${cc.layers[j]}: no finite values (diverged)`, w / 2, h / 2, "center"); return { kind: "empty" }; }
    let lo = Math.floor(Math.min(...logs) - 0.05), hi = Math.ceil(Math.max(...logs) + 0.05);
    if (hi - lo < 1) hi = lo + 1;
    const items = Array.from({ length: T + 1 }, (_, t) => ({ label: t ? `t = ${t}` : "t = 0 (init)", color: COLORS.series[t % COLORS.series.length] }));
    items.push({ label: `min-max of ${cc.size[0][0][j].length} seeds`, color: COLORS.axis, kind: "band" });
    const rows = rowsOfLegend(c, items, w - 60);
    const box = { l: 56, r: w - 16, t: 10 + 14 * rows, b: h - 36 };
    const x0 = Math.log2(cc.widths[0]), x1 = Math.log2(cc.widths[cc.widths.length - 1]);
    const X = (n) => box.l + ((Math.log2(n) - x0) / (x1 - x0 || 1)) * (box.r - box.l);
    const Y = (v) => box.b - ((Math.log10(v) - lo) / (hi - lo)) * (box.b - box.t);
    const dstep = Math.max(1, Math.ceil((hi - lo) / 5)), yt = [];
    for (let k = lo; k <= hi; k += dstep) yt.push([10 ** k, k >= -3 && k <= 4 ? fmt(10 ** k) : `1e${k}`]);
    axes(c, box, X, Y, cc.widths.map((n) => [n, String(n)]), yt, "width n (log scale)", `mean |${cc.layers[j] === "output" ? "logit" : "activation"}| (log)`);
    legendRow(c, items, box.l, 8, w);
    const steps = Array.from({ length: T + 1 }, (_, t) => ({ t, color: items[t].color, pts: cc.widths.map((n, i) => ({ n, p: stats[i][t] })) }));
    for (const { color, pts } of steps) {  // every band first, so that no band hides a line
      c.fillStyle = color; c.globalAlpha = 0.18;
      for (let i = 0; i + 1 < pts.length; i++) {  // one quadrilateral per pair of neighbouring widths
        const a = pts[i], b = pts[i + 1];
        if (!a.p || !b.p) continue;
        c.beginPath(); c.moveTo(X(a.n), Y(a.p.hi)); c.lineTo(X(b.n), Y(b.p.hi)); c.lineTo(X(b.n), Y(b.p.lo)); c.lineTo(X(a.n), Y(a.p.lo));
        c.closePath(); c.fill();
      }
      c.globalAlpha = 1;
    }
    const lines = [];
    for (const { t, color, pts } of steps) {
      c.strokeStyle = color; c.fillStyle = color; c.lineWidth = 2;
      polyline(c, pts.map(({ n, p }) => ({ it: n, v: p ? p.mean : null })), X, Y, "v");
      const points = [];
      for (const { n, p } of pts) if (p) {
        c.beginPath(); c.arc(X(n), Y(p.mean), 3, 0, 2 * Math.PI); c.fill();
        points.push({ width: n, value: p.mean, x: X(n), y: Y(p.mean) });
      }
      lines.push({ t, color, points });
    }
    return { box, layer: cc.layers[j], decades: [lo, hi], lines };
  }

  window.initlabDraw = {
    COLORS, ACTIVATIONS: Object.keys(ACTIVATIONS), forward, boundary, network, lossFan, accuracyDots, depthChart, histogram,
    jacobianChart, coordChart, niceTicks, format: fmt,
  };
})();
