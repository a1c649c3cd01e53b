r"""he2015: He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers" (section 2.2 and figure 3).

Claim
-----
In plain deep ReLU networks, He initialization (:math:`\mathrm{Var}\,W = 2/n_{in}`) keeps the
pre-activation variance constant across layers and the network trains, while Xavier
initialization (:math:`\mathrm{Var}\,W = 2/(n_{in}+n_{out})`, i.e. :math:`1/n` at constant width)
halves it at every layer (a ReLU passes half of the second moment) so that a 30-layer network's
output is vanishingly small and training stalls at the chance loss :math:`\ln 2`.

Setup
-----
ReLU MLPs of width 32 with 30 weight layers (and 22 at default size) on the notebook's circles
(300 examples), ``he_normal`` vs ``xavier_normal`` (plain Gaussians), biases 0, full-batch
gradient descent at learning rate 0.01 (the compiled ``numba`` engine), 600 iterations quick and
1200 default, over several seeds (seed k: ``seed_stream(root, k)`` for both initializations).
Mechanism: at initialization, the ratio :math:`\mathrm{Var}\,Z^{[l+1]} / \mathrm{Var}\,Z^{[l]}`
averaged over the hidden layers after the first (whose 2 inputs make it special). The arithmetic
mean of the ratios, not the geometric one: at width 32 the log of a layer's ratio fluctuates
enough that its mean is biased low by about 0.08 (Jensen), which would read as decay under He.

Verdict
-------
SUPPORTED when, at every depth, (1) the 95 % interval (over seeds) of the per-layer variance ratio
is inside [0.4, 0.6] under Xavier ("halves") and inside [0.85, 1.15] under He ("constant");
(2) Xavier's final loss stays within 0.01 of ln 2 (upper end of its interval of
:math:`|\ell - \ln 2|`); (3) the paired loss gap, Xavier's final loss minus He's on the same seed,
has a 95 % interval above 0.05 (He trains: its loss leaves ln 2 by clearly more than
Xavier's stall tolerance). Margins are the slack to these lines.
"""

from __future__ import annotations

import math

import numpy as np

from initlab import datasets
from initlab.diagnostics import measure as measure_network
from initlab.network import MLP
from initlab.stats import mean_ci
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, chunks, fmt_ci, seed_streams
from initlab.training import train

WIDTH = 32
LEARNING_RATE = 0.01
LN2 = math.log(2.0)
INITS = ("he_normal", "xavier_normal")
SIZES = {"quick": dict(depths=(30,), iterations=600), "default": dict(depths=(22, 30), iterations=1200)}
CHUNK = 4  # seeds per unit
HALVES, CONSTANT = (0.4, 0.6), (0.85, 1.15)
STALL, GAP = 0.01, 0.05


def _inside(est, lo: float, hi: float) -> float:
    """Slack of the interval [est.low, est.high] inside [lo, hi] (negative when it pokes out)."""
    return min(est.low - lo, hi - est.high)


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per depth, initialization and chunk of seeds (the 30-layer units first: they take longest)."""
    depths = sorted(SIZES[size]["depths"], reverse=True)
    return chunks(({"depth": d, "init": init} for d in depths for init in INITS), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """Seed s's network is drawn from ``seed_stream(root, s)`` under both inits (paired)."""
    cfg = SIZES[size]
    depth, iterations = unit.config["depth"], cfg["iterations"]
    data = datasets.load("circles")
    net = MLP((2,) + (WIDTH,) * (depth - 1) + (1,), activation="relu")
    P = net.initialize(unit.config["init"], rng=seed_streams(root, unit.seeds))
    stats = measure_network(net, P, data.X_train)
    var = stats.z_std[:, 1 : depth - 1] ** 2  # (K, L - 2): hidden layers 2 .. L-1
    hist = train(net, P, data.X_train, data.Y_train, learning_rate=LEARNING_RATE, iterations=iterations,
                 record_every=max(1, iterations // 50), engine="numba")
    return {"ratio": (var[:, 1:] / var[:, :-1]).mean(axis=1),  # (K,) mean per-layer ratio
            "z_std": stats.z_std, "loss": hist.loss, "final_loss": hist.final_loss,
            "train_accuracy": hist.train_accuracy, "iterations": np.tile(hist.record_iterations, (len(unit.seeds), 1))}


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    cfg = SIZES[size]
    header = ["layers", "init", "per-layer Var Z ratio (95% CI)", "final loss (95% CI)", "train accuracy (mean)",
              "loss gap xavier - he (95% CI)"]
    rows, criteria = [], []
    out = {"width": WIDTH, "learning_rate": LEARNING_RATE, "inits": list(INITS), **cfg}
    for depth in cfg["depths"]:
        final = {}
        for init in INITS:
            m = dict(measured[{"depth": depth, "init": init}])
            m["iterations"] = m["iterations"][0]
            out[f"{depth}/{init}"] = m
            final[init] = m["final_loss"]
            r = mean_ci(m["ratio"])
            rows.append([str(depth), init, fmt_ci(r), fmt_ci(mean_ci(m["final_loss"])),
                         f"{np.mean(m['train_accuracy']):.3f}", ""])
            lo, hi = HALVES if init == "xavier_normal" else CONSTANT
            criteria.append((f"{depth} layers, {init}: variance ratio CI [{r.low:.3f}, {r.high:.3f}] in [{lo}, {hi}]",
                             _inside(r, lo, hi)))
        stall = mean_ci(np.abs(final["xavier_normal"] - LN2))
        criteria.append((f"{depth} layers, xavier: |loss - ln 2| upper CI {stall.high:.4f} < {STALL}", STALL - stall.high))
        gap = mean_ci(final["xavier_normal"] - final["he_normal"])
        rows[-1][-1] = fmt_ci(gap)
        criteria.append((f"{depth} layers: loss gap xavier - he lower CI {gap.low:.3f} > {GAP}", gap.low - GAP))
    return StudyResult("he2015", size, seeds, header, rows, Verdict.all_of(criteria), out)


STUDY = Study(
    name="he2015",
    paper="He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers (ICCV)",
    claim="In a plain 30-layer ReLU net, Xavier init halves the activation variance per layer and training stalls "
          "at ln 2, while He init keeps it constant and trains.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 8, "default": 10},
    doc=__doc__,
)
