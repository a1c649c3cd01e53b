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
(tol 0.1, the paper's), seed k drawing the same orthogonal weights (``seed_stream(root, k)``) for both. Training (ReLU):
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

import numpy as np

from initlab import datasets
from initlab.diagnostics import measure as measure_network
from initlab.lsuv import lsuv
from initlab.network import MLP
from initlab.stats import mean_ci
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, chunks, fmt_ci, seed_streams
from initlab.training import train

WIDTH, DEPTH = 32, 30
LEARNING_RATE = 0.01
TOL = 0.1
LN2 = math.log(2.0)
SIZES = {"quick": dict(iterations=600), "default": dict(iterations=1200)}


CHUNK = 4  # seeds per unit
ACTIVATIONS = ("relu", "tanh")


def plan(size: str, seeds: int) -> list[Unit]:
    return chunks(({"activation": a} for a in ACTIVATIONS), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """Seed s draws its orthogonal weights from ``seed_stream(root, s)``, for plain and LSUV alike."""
    iterations = SIZES[size]["iterations"]
    data = datasets.load("circles")
    X, Y = data.X_train, data.Y_train
    activation = unit.config["activation"]
    net = MLP((2,) + (WIDTH,) * (DEPTH - 1) + (1,), activation=activation)
    plain = net.initialize("orthogonal", rng=seed_streams(root, unit.seeds))
    normalized, _ = lsuv(net, X, rng=seed_streams(root, unit.seeds), tol=TOL)  # the same draw, rescaled
    numbers = {}
    for name, P in (("orthogonal", plain), ("lsuv", normalized)):
        numbers[f"{name}/var"] = measure_network(net, P, X).z_std ** 2  # (K, L)
        if activation == "relu":
            hist = train(net, P, X, Y, learning_rate=LEARNING_RATE, iterations=iterations,
                         record_every=max(1, iterations // 50), engine="numba")
            numbers |= {f"{name}/loss": hist.loss, f"{name}/final_loss": hist.final_loss,
                        f"{name}/iterations": np.tile(hist.record_iterations, (len(unit.seeds), 1))}
    return numbers


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    header = ["activation", "init", "Var Z layers 1, 2, L/2, L-1, L (median)", "log2 Var Z[L-1]/Var Z[2] (95% CI)",
              "max |Var Z - 1|", "final loss (95% CI)"]
    rows, criteria = [], []
    out = {"width": WIDTH, "depth": DEPTH, "iterations": SIZES[size]["iterations"], "learning_rate": LEARNING_RATE}
    for activation in ACTIVATIONS:
        m = measured[{"activation": activation}]
        final = {}
        for name in ("orthogonal", "lsuv"):
            var = m[f"{name}/var"]
            decay = mean_ci(np.log2(var[:, DEPTH - 2] / var[:, 1]))
            worst = float(np.max(np.abs(var - 1.0)))
            entry = {"var": var, "log2_decay": decay.__dict__}
            loss_text = ""
            if activation == "relu":
                final[name] = m[f"{name}/final_loss"]
                entry.update(loss=m[f"{name}/loss"], iterations=m[f"{name}/iterations"][0], final_loss=final[name])
                loss_text = fmt_ci(mean_ci(final[name]))
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
    return StudyResult("lsuv", size, seeds, header, rows, Verdict.all_of(criteria), out)


STUDY = Study(
    name="lsuv",
    paper="Mishkin & Matas 2016, All you need is a good init (ICLR)",
    claim="LSUV gives every layer of a deep ReLU or tanh net unit output variance where plain orthogonal init lets it "
          "decay, and a 30-layer ReLU net that stalls under orthogonal init trains after LSUV.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 8, "default": 10},
    doc=__doc__,
)
