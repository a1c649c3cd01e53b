r"""lsuv: Mishkin & Matas 2016, "All you need is a good init" (ICLR).

Claim
-----
Layer-sequential unit-variance initialization (orthogonal weights, then each layer in turn
rescaled so its output variance on a batch is 1) gives every layer of a deep network unit output
variance, whatever the nonlinearity, where plain orthogonal initialization lets the variance
decay with depth (ReLU halves it per layer; tanh shrinks it); and a deep ReLU network that stalls
under plain orthogonal initialization trains after LSUV.

Setup
-----
MLPs of width 32 with 30 weight layers on the notebook's circles (300 examples), ReLU and tanh.
Per-layer pre-activation variance :math:`\mathrm{Var}\,Z^{[l]}` on the training set
(:func:`initlab.diagnostics.measure`) under ``orthogonal`` and after :func:`initlab.lsuv.lsuv`
(tol 0.1, the paper's), seed k drawing the same orthogonal weights for both. Training (ReLU):
full-batch gradient descent at learning rate 0.01 (``numba`` engine), 600 iterations quick,
1200 default.

Verdict
-------
SUPPORTED when, for both activations, (1) after LSUV every layer of every seed has
:math:`|\mathrm{Var}\,Z - 1| < 0.1` and (2) under plain orthogonal init the 95 % interval (over
seeds) of :math:`\log_2(\mathrm{Var}\,Z^{[L-1]} / \mathrm{Var}\,Z^{[2]})` is below -1 (decays by more
than 2x); and for the ReLU net (3) plain orthogonal stalls within 0.01 of ln 2 and (4) the paired
final-loss gap, plain minus LSUV, has a 95 % interval above 0.05. Margins in each criterion's units.
"""

from __future__ import annotations

import math
import time

import numpy as np

from initlab import datasets
from initlab.diagnostics import measure
from initlab.lsuv import lsuv
from initlab.network import MLP
from initlab.stats import mean_ci
from initlab.studies.base import Study, StudyResult, Verdict, fmt_ci
from initlab.training import train

WIDTH, DEPTH = 32, 30
LEARNING_RATE = 0.01
TOL = 0.1
LN2 = math.log(2.0)
SIZES = {"quick": dict(iterations=600), "default": dict(iterations=1200)}


def run(size: str = "default", seeds: int = 8, rng=0) -> StudyResult:
    t0 = time.perf_counter()
    iterations = SIZES[size]["iterations"]
    data = datasets.load("circles")
    X, Y = data.X_train, data.Y_train
    header = ["activation", "init", "Var Z layers 1, 2, L/2, L-1, L (median)", "log2 Var Z[L-1]/Var Z[2] (95% CI)",
              "max |Var Z - 1|", "final loss (95% CI)"]
    rows, criteria, out = [], [], {"width": WIDTH, "depth": DEPTH, "iterations": iterations,
                                   "learning_rate": LEARNING_RATE}
    for activation in ("relu", "tanh"):
        net = MLP((2,) + (WIDTH,) * (DEPTH - 1) + (1,), activation=activation)
        plain = net.initialize("orthogonal", rng=rng, models=seeds)
        normalized, _ = lsuv(net, X, rng=rng, models=seeds, tol=TOL)  # the same orthogonal draw, rescaled
        final = {}
        for name, P in (("orthogonal", plain), ("lsuv", normalized)):
            var = measure(net, P, X).z_std ** 2  # (K, L)
            decay = mean_ci(np.log2(var[:, DEPTH - 2] / var[:, 1]))
            worst = float(np.max(np.abs(var - 1.0)))
            entry = {"var": var, "log2_decay": decay.__dict__}
            loss_text = ""
            if activation == "relu":
                hist = train(net, P, X, Y, learning_rate=LEARNING_RATE, iterations=iterations,
                             record_every=max(1, iterations // 50), engine="numba")
                final[name] = hist.final_loss
                entry.update(loss=hist.loss, iterations=hist.record_iterations, final_loss=hist.final_loss)
                loss_text = fmt_ci(mean_ci(hist.final_loss))
            out[f"{activation}/{name}"] = entry
            med = np.median(var, axis=0)
            rows.append([activation, name, " ".join(f"{med[i]:.3g}" for i in (0, 1, DEPTH // 2, DEPTH - 2, DEPTH - 1)),
                         fmt_ci(decay), f"{worst:.3g}", loss_text])
            if name == "lsuv":
                criteria.append((f"{activation}, lsuv: max |Var Z - 1| {worst:.3g} < {TOL}", TOL - worst))
            else:
                criteria.append((f"{activation}, orthogonal: log2 variance decay upper CI {decay.high:.2f} < -1",
                                 -1.0 - decay.high))
        if activation == "relu":
            stall = mean_ci(np.abs(final["orthogonal"] - LN2))
            criteria.append((f"relu, orthogonal: |loss - ln 2| upper CI {stall.high:.4f} < 0.01", 0.01 - stall.high))
            gap = mean_ci(final["orthogonal"] - final["lsuv"])
            criteria.append((f"relu: loss gap orthogonal - lsuv lower CI {gap.low:.3f} > 0.05", gap.low - 0.05))
    return StudyResult("lsuv", size, seeds, header, rows, Verdict.all_of(criteria), out, time.perf_counter() - t0)


def figure(result: StudyResult):
    from matplotlib.figure import Figure

    d = result.data
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for activation, ls in (("relu", "-"), ("tanh", "--")):
        for name, color in (("orthogonal", "C3"), ("lsuv", "C2")):
            var = np.asarray(d[f"{activation}/{name}"]["var"], dtype=float)
            ax1.semilogy(np.arange(1, var.shape[1] + 1), np.median(var, axis=0), ls, color=color,
                         label=f"{activation}, {name}")
    ax1.set_xlabel("layer")
    ax1.set_title(f"Var Z at initialization (median over seeds), width {d['width']}")
    ax1.legend(fontsize=8)
    for name, color in (("orthogonal", "C3"), ("lsuv", "C2")):
        e = d[f"relu/{name}"]
        ax2.plot(e["iterations"], np.asarray(e["loss"], dtype=float).T, color=color, alpha=0.5, lw=0.9)
        ax2.plot([], [], color=color, label=name)
    ax2.axhline(LN2, color="gray", lw=0.8)
    ax2.set_xlabel("iteration")
    ax2.set_title(f"training loss, ReLU, {d['depth']} layers, lr {d['learning_rate']}")
    ax2.legend()
    fig.tight_layout()
    return fig


STUDY = Study(
    name="lsuv",
    paper="Mishkin & Matas 2016, All you need is a good init (ICLR)",
    claim="LSUV gives every layer of a deep ReLU or tanh net unit output variance where plain orthogonal init lets it "
          "decay, and a 30-layer ReLU net that stalls under orthogonal init trains after LSUV.",
    run=run,
    figure=figure,
    default_seeds={"quick": 8, "default": 10},
    doc=__doc__,
)
