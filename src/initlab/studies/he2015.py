r"""he2015: He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers" (section 2.2, figures 2 and 3).

Claim
-----
In a plain deep ReLU network with zero biases, a layer multiplies the second moment of the signal
by :math:`\tfrac12 n_l \mathrm{Var}\,w_l` going forward (eq. 7-10) and that of the
back-propagated gradient by :math:`\tfrac12 \hat n_l \mathrm{Var}\,w_l` (eq. 13-14). He
initialization, :math:`\mathrm{Var}\,w = 2/n_{in}`, makes both factors 1. The paper's "Xavier"
baseline (sec. 2.2, "Comparisons with 'Xavier' initialization") is the linear-case rule
:math:`n_l \mathrm{Var}\,w_l = 1`, a Gaussian of std :math:`\sqrt{1/n_{in}}`: fan-in only, here
``lecun_normal``, *not* Glorot's :math:`2/(n_{in}+n_{out})`, which is 8.5x smaller on a
``2 -> 32`` first layer. Both factors are then 1/2. The paper's evidence: a 22-layer net converges
under both, He's earlier (Fig. 2); a 30-layer net converges under He while Xavier "completely
stalls the learning, and the gradients are diminishing" (Fig. 3).

Tested here: (a) forward, per hidden layer, :math:`\mathrm{Var}\,Z^{[l+1]}/\mathrm{Var}\,Z^{[l]}`
is 1/2 under Xavier and 1 under He; (b) backward, per hidden layer, the mean square of
:math:`dZ^{[l]}` over that of :math:`dZ^{[l+1]}` is 1/2 under Xavier and 1 under He (eq. 13);
(c) the gradient that reaches the first layer, :math:`\|dZ^{[1]}\|`, Xavier over He on the same
draw, is :math:`2^{-(L-1)/2}` (eq. 13 over the L - 1 layers above it); (d) at 30 layers Xavier's
loss stays at the chance level :math:`\ln 2` while He's leaves it (Fig. 3); (e) at 22 layers
(default size) He's loss leaves :math:`\ln 2` earlier than Xavier's (Fig. 2).

Setup
-----
What the paper did: conv nets on ImageNet (22 layers: its Table 3 model; 30 layers: 27 conv + 3
fc), SGD with momentum 0.9 on mini-batches of 128, learning rate 1e-2 (then 1e-3, 1e-4), weight
decay, dropout; error curves over epochs (tens of thousands of updates).

What we do, on a CPU: ReLU MLPs ``2 -> 128 x (L-1) -> 1`` with L = 30 weight layers (and 22 at
default size), biases 0, sigmoid output, on the notebook's circles (300 training examples); the
paper's optimizer without weight decay or dropout: ``optimizer="momentum"`` (:math:`\beta = 0.9`)
on mini-batches of 128 with ``learning_rate=0.01`` in initlab's averaged form
:math:`v \leftarrow \beta v + (1-\beta)\,dW`, which is Caffe's :math:`v \leftarrow \beta v - \eta\,dW`
at :math:`\eta = 10^{-3}`, the paper's second rate (its first, 1e-2, throws He's 30-layer MLP back
to :math:`\ln 2` again and again: measured on He alone); 200 updates quick, 400 default; the numpy
engine (at width 128 the numba kernel is slower than BLAS: measured when this setting was fixed;
``benchmarks/bench_parametrization.py`` still reads it at 0.86x the numpy engine at width 256 with
minibatches). Width 128, not 32: at width 32 He's 30-layer nets train in only 5-6 of 8 seeds (the
spread of a deep ReLU net's output grows with :math:`\sum_l 1/n_l`, Hanin & Rolnick 2018: 0.9
there, 0.23 here).

Seed s draws its weights from ``seeding.stream(root, 0, s)`` under both inits, as standard normals
times the init's std, so Xavier's net is He's with every weight divided by :math:`\sqrt2` (common
random numbers: the comparison is paired), and its mini-batch order from ``seeding.stream(root, 1, s)``.
With zero biases ReLU is positively homogeneous, so on such a pair Xavier's :math:`Z^{[l]}` are
exactly :math:`2^{-l/2}` of He's and the weights alone make Xavier's :math:`dZ^{[1]}`
:math:`2^{-(L-1)/2}` of He's; what (c) can find besides is the output error :math:`\sigma(z) - y`
that starts the backward pass (eq. 13's :math:`\mathrm{Var}[\Delta x_{L+1}]`, the same for both
there): Xavier's logits are ~0, He's are not.

Statistics at initialization, on the 300 training examples: per-layer ratios averaged over the
hidden layers (forward: layers 2..L-1, the first has only 2 inputs; backward: layers 1..L-1), the
arithmetic mean of the ratios (the log of one layer's ratio fluctuates at finite width, and its mean
is biased low by Jensen). The weight gradient :math:`\|dW^{[1]}\|` is reported, not tested: it sums
the examples' terms with their signs, and Xavier's errors (:math:`\pm 1/2` on balanced classes) cancel
in that sum more than He's, whose logits share a common offset, so its ratio scatters around and
mostly below :math:`2^{-(L-1)/2}` (measured at 30 layers, 12 seeds: log2 ratios from -17.3 to -14.0
against -14.5). Training: the training set's loss every 10 updates and at the end. The loss under
mini-batch momentum has spikes (a seed at 0.17 can be at 0.76 ten updates later), so a run is
summarized by its lowest loss and its largest distance from :math:`\ln 2`, not by its last value;
"leaves :math:`\ln 2`" means a loss at or below :math:`\ln 2 - 0.05`, and the update at which that
first happens is the run's time (the budget when it never does: a lower bound).

Verdict
-------
SUPPORTED when, at every depth and on 95 % intervals over seeds:
(1) the forward and (2) the backward per-layer ratio is inside [0.4, 0.6] under Xavier ("halves")
and inside [0.85, 1.15] under He ("holds");
(3) :math:`\log_2(\|dZ^{[1]}\|_{Xavier} / \|dZ^{[1]}\|_{He})` (paired) is inside
:math:`-(L-1)/2 \pm 0.5`, half a layer's worth of the claimed halving. The band is for the output
error: :math:`\|dZ^{[1]}\|^2 = \sum_i e_i^2 \|b_i\|^2` with :math:`e_i = \sigma(z_i) - y_i` and
:math:`b_i` example i's backward vector (the same on a pair); with He's logits independent of
the (balanced) labels, :math:`E[e^2] = \tfrac12 - E[\sigma(z)(1 - \sigma(z))] \in [\tfrac14, \tfrac12]`
against Xavier's :math:`\tfrac14` (:math:`z \approx 0`), so the log2 ratio lies in
:math:`-(L-1)/2 + [-0.5, 0]`;
(4) at 30 layers Xavier stalls: its largest :math:`|\ell - \ln 2|` over the run has an upper end
below 0.01; and He trains: the paired gap of the lowest losses, Xavier's minus He's, has a lower
end above 0.05 (He leaves :math:`\ln 2` by clearly more than Xavier's stall tolerance);
(5) at 22 layers (default size) He leaves :math:`\ln 2` earlier: the paired difference of the
times, Xavier's minus He's, has a lower end above 0 updates. Fig. 2's ordering only: whether
Xavier's 22-layer nets converge within our budget is reported (how many seeds left
:math:`\ln 2`), not tested. At the start each of Xavier's layers moves :math:`2^{-(L-2)/2}` as fast,
relative to its size, as He's (1/1024 at 22 layers); measured on one seed, Xavier's 22-layer net
sits at :math:`\ln 2` for about 2,400 updates, then converges (loss 0.02 by update 4,200), so
Fig. 2's "both converge" holds here too, at about 15 times He's time, which is beyond the default
budget.
Margins are the slack to these lines (log2 units for (3), loss for (4), updates for (5)).
"""

from __future__ import annotations

import math

import numpy as np

from initlab import datasets, optimizers, seeding
from initlab.network import MLP, Workspace, backward_pass, forward_pass, output_delta
from initlab.stats import mean_ci
from initlab.studies.base import (
    Measured,
    Study,
    StudyResult,
    Unit,
    Verdict,
    against,
    chunks,
    fmt_ci,
    inside,
)
from initlab.training import train

WIDTH = 128
LEARNING_RATE = 0.01  # initlab's averaged momentum: Caffe's 1e-3 at momentum 0.9
MOMENTUM = 0.9
BATCH = 128
RECORD_EVERY = 10
LN2 = math.log(2.0)
INITS = ("he_normal", "lecun_normal")
XAVIER = "lecun_normal"  # He et al.'s "Xavier": N(0, 1/n_in)
LABELS = {"he_normal": "he: N(0, 2/n_in)", "lecun_normal": "xavier (He et al.'s: N(0,1/n_in))"}
SIZES = {"quick": {"depths": (30,), "iterations": 200}, "default": {"depths": (22, 30), "iterations": 400}}
STALL_DEPTH, EARLIER_DEPTH = 30, 22  # Fig. 3: Xavier stalls, He converges; Fig. 2: both converge, He earlier
CHUNK = 5  # seeds per unit
HALVES, CONSTANT = (0.4, 0.6), (0.85, 1.15)
STALL, GAP = 0.01, 0.05
GRAD_BAND = 0.5  # log2 units around -(L - 1) / 2


def _inside(est, lo: float, hi: float) -> float:
    """Slack of the interval [est.low, est.high] inside [lo, hi] (negative when it pokes out)."""
    return min(est.low - lo, hi - est.high)


def init_profile(net: MLP, P: dict, X: np.ndarray, T: np.ndarray) -> dict[str, np.ndarray]:
    r"""One forward and one backward pass of K networks at initialization.

    Parameters
    ----------
    net : MLP with L weight layers
    P : parameters with the model axis (K, ...)
    X : (n_0, m) inputs; T : (1, m) 0/1 targets

    Returns
    -------
    dict with
        ``z_std`` (K, L): std of :math:`Z^{[l]}` over units and examples;
        ``dz_ms`` (K, L): mean square of :math:`dZ^{[l]}` (of the mean cross-entropy) over units and examples;
        ``grad_W1`` (K,): Frobenius norm of :math:`dW^{[1]}`;
        ``forward_ratio`` (K,): mean over l = 2..L-2 of :math:`\mathrm{Var}\,Z^{[l+1]} / \mathrm{Var}\,Z^{[l]}`;
        ``backward_ratio`` (K,): mean over l = 1..L-2 of the mean square of :math:`dZ^{[l]}` over that of
        :math:`dZ^{[l+1]}`.
    """
    L = net.n_layers
    Ws = [P[f"W{l}"] for l in range(1, L + 1)]
    bs = [P[f"b{l}"] for l in range(1, L + 1)]
    Zs, As = forward_pass(Ws, bs, X, net.hidden.forward, net.output_function)  # (K, n_l, m) each
    work = Workspace(net.layers, Ws[0].shape[0], X.shape[1])  # the backward pass leaves every dZ in it
    dZ = output_delta(As[-1], T, out=work.dZ[-1])  # (K, 1, m)
    dWs, _ = backward_pass(Ws, Zs, As, X, dZ, net.hidden.derivative, work)
    z_std = np.stack([Z.std(axis=(1, 2)) for Z in Zs], axis=1)  # (K, L)
    dz_ms = np.stack([(D**2).mean(axis=(1, 2)) for D in work.dZ], axis=1)  # (K, L)
    var = z_std[:, 1 : L - 1] ** 2  # hidden layers 2 .. L-1
    return {
        "z_std": z_std,
        "dz_ms": dz_ms,
        "grad_W1": np.sqrt((dWs[0] ** 2).sum(axis=(1, 2))),
        "forward_ratio": (var[:, 1:] / var[:, :-1]).mean(axis=1),
        "backward_ratio": (dz_ms[:, : L - 2] / dz_ms[:, 1 : L - 1]).mean(axis=1),  # hidden layers 1 .. L-1
    }


def time_to_leave(loss: np.ndarray, iterations: np.ndarray, budget: int) -> np.ndarray:
    """First recorded iteration with loss <= ln 2 - GAP: ``loss`` (K, n) at ``iterations`` (n,) -> (K,); ``budget`` if none."""
    below = loss <= LN2 - GAP
    return np.where(below.any(axis=1), iterations[below.argmax(axis=1)], budget)


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per depth, initialization and chunk of seeds (the deepest units first: they take longest)."""
    depths = sorted(SIZES[size]["depths"], reverse=True)
    return chunks(({"depth": d, "init": init} for d in depths for init in INITS), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int, *, dtype: str = "float64") -> dict:
    """Seed s: weights from ``seeding.stream(root, 0, s)`` under both inits (paired), mini-batches from ``(root, 1, s)``."""
    depth, iterations = unit.config["depth"], SIZES[size]["iterations"]
    data = datasets.load("circles")
    net = MLP((2,) + (WIDTH,) * (depth - 1) + (1,), activation="relu")
    P = net.initialize(unit.config["init"], rng=seeding.streams(root, unit.seeds, 0))
    at_init = init_profile(net, P, *net.check_data(data.X_train, data.Y_train))
    hist = train(
        net,
        P,
        data.X_train,
        data.Y_train,
        learning_rate=LEARNING_RATE,
        iterations=iterations,
        record_every=RECORD_EVERY,
        optimizer=optimizers.get("momentum", beta=MOMENTUM),
        batch_size=BATCH,
        rng=seeding.streams(root, unit.seeds, 1),
        dtype=dtype,
    )
    loss = np.concatenate([hist.loss, hist.final_loss[:, np.newaxis]], axis=1)  # (K, n_records + 1): the end too
    at = np.append(hist.record_iterations, iterations)
    return {
        **at_init,
        "loss": loss,
        "iterations": np.tile(at, (len(unit.seeds), 1)),
        "final_loss": hist.final_loss,
        "train_accuracy": hist.train_accuracy,
        "lowest_loss": loss.min(axis=1),
        "largest_deviation": np.abs(loss - LN2).max(axis=1),
        "time_to_leave": time_to_leave(loss, at, iterations),
    }


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    """The evidence table (one row per depth and init), criteria (1) to (5) and the data of the figure."""
    cfg = SIZES[size]
    header = [
        "layers",
        "init",
        "forward: Var Z ratio per layer",
        "backward: dZ² ratio per layer",
        "lowest loss",
        "final loss",
        f"seeds leaving ln 2 (of {seeds})",
        "paired: xavier vs he",
    ]
    rows, criteria = [], []
    out = {
        "width": WIDTH,
        "learning_rate": LEARNING_RATE,
        "momentum": MOMENTUM,
        "batch_size": BATCH,
        "inits": list(INITS),
        "labels": LABELS,
        "xavier": XAVIER,
        "gap": GAP,
        "stall": STALL,
        **cfg,
    }
    for depth in cfg["depths"]:
        m = {}
        for init in INITS:
            e = dict(measured[{"depth": depth, "init": init}])
            e["iterations"] = e["iterations"][0]
            out[f"{depth}/{init}"] = m[init] = e
            row, ratio_criteria = _ratio_row(depth, init, e, cfg["iterations"])
            rows.append(row)
            criteria += ratio_criteria
        xav, he = m[XAVIER], m["he_normal"]
        out[f"{depth}/log2_ratio"], paired, gradient_criterion = _gradient_ratio(depth, xav, he)
        criteria.append(gradient_criterion)
        training_text, training_criteria = _training_comparison(depth, xav, he)
        criteria += training_criteria
        rows[-1][-1] = "; ".join([paired, *training_text])
    return StudyResult("he2015", size, seeds, header, rows, Verdict.all_of(criteria), out)


def _ratio_row(depth: int, init: str, e: dict, iterations: int) -> tuple[list[str], list[tuple[str, float]]]:
    """The table row of one depth and init (its last cell, the paired comparison, left empty) and criteria (1), (2).

    ``e`` holds the init's measured numbers over the seeds (:func:`measure`); ``iterations`` is the budget.
    """
    fwd, bwd = mean_ci(e["forward_ratio"]), mean_ci(e["backward_ratio"])
    left = int((e["time_to_leave"] < iterations).sum())
    row = [
        str(depth),
        LABELS[init],
        fmt_ci(fwd),
        fmt_ci(bwd),
        fmt_ci(mean_ci(e["lowest_loss"])),
        fmt_ci(mean_ci(e["final_loss"])),
        str(left),
        "",
    ]
    lo, hi = HALVES if init == XAVIER else CONSTANT
    name = "xavier" if init == XAVIER else "he"
    criteria = [
        (
            inside(f"{depth} layers, {name}: {word} ratio CI", est.low, est.high, lo, hi, fmt=".3f"),
            _inside(est, lo, hi),
        )
        for word, est in (("forward", fwd), ("backward", bwd))
    ]
    return row, criteria


def _gradient_ratio(depth: int, xav: dict, he: dict) -> tuple[dict, str, tuple[str, float]]:
    r"""Criterion (3): the paired :math:`\log_2` ratio of :math:`\|dZ^{[1]}\|`, and (reported) of :math:`\|dW^{[1]}\|`.

    Returns the figure's data (``dZ1``, ``dW1`` as [mean, half width], ``predicted`` :math:`-(L-1)/2`,
    ``band``), the table's text and the criterion.
    """
    predicted = -(depth - 1) / 2
    dz1 = mean_ci(0.5 * np.log2(xav["dz_ms"][:, 0] / he["dz_ms"][:, 0]))  # |dZ1| ratio: same units and examples
    dw1 = mean_ci(np.log2(xav["grad_W1"] / he["grad_W1"]))
    data = {
        "dZ1": [dz1.mean, dz1.half_width],
        "dW1": [dw1.mean, dw1.half_width],
        "predicted": predicted,
        "band": GRAD_BAND,
    }
    paired = f"log2 |dZ1| ratio {fmt_ci(dz1)} (predicted {predicted:g}); log2 |dW1| ratio {fmt_ci(dw1)}"
    band = f"{predicted:g} ± {GRAD_BAND}"
    text = inside(
        f"{depth} layers: log2 |dZ1| xavier/he CI",
        dz1.low,
        dz1.high,
        predicted - GRAD_BAND,
        predicted + GRAD_BAND,
        fmt=".2f",
        band=band,
    )
    return data, paired, (text, _inside(dz1, predicted - GRAD_BAND, predicted + GRAD_BAND))


def _training_comparison(depth: int, xav: dict, he: dict) -> tuple[list[str], list[tuple[str, float]]]:
    """Criteria (4) at STALL_DEPTH (Xavier stalls, He trains) and (5) at EARLIER_DEPTH (He leaves ln 2 first).

    Returns the table's texts and the criteria; both empty at other depths.
    """
    paired, criteria = [], []
    if depth == STALL_DEPTH:
        stall = mean_ci(xav["largest_deviation"])
        gap = mean_ci(xav["lowest_loss"] - he["lowest_loss"])
        paired.append(f"lowest-loss gap {fmt_ci(gap)}")
        criteria.append(
            (
                against(
                    f"{depth} layers, xavier: largest |loss - ln 2| upper CI", stall.high, STALL, above=False, fmt=".4f"
                ),
                STALL - stall.high,
            )
        )
        criteria.append(
            (against(f"{depth} layers: lowest-loss gap xavier - he lower CI", gap.low, GAP, fmt=".3f"), gap.low - GAP)
        )
    if depth == EARLIER_DEPTH:
        earlier = mean_ci(xav["time_to_leave"] - he["time_to_leave"])
        paired.append(f"time to leave ln 2, xavier - he {fmt_ci(earlier)} updates")
        criteria.append(
            (
                against(
                    f"{depth} layers: he leaves ln 2 earlier? xavier - he, updates, lower CI",
                    earlier.low,
                    0.0,
                    fmt=".0f",
                ),
                earlier.low,
            )
        )
    return paired, criteria


STUDY = Study(
    name="he2015",
    paper="He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers (ICCV)",
    claim="In plain deep ReLU nets, He et al.'s 'Xavier' init N(0, 1/n_in) halves the variance of the signal and of "
    "the back-propagated gradient at every layer (the gradient reaching layer 1 is 2^-(L-1)/2 of He's) while He "
    "init keeps both; at 30 layers Xavier stalls at ln 2 while He trains, and at 22 layers He leaves ln 2 first.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 5, "default": 10},
    doc=__doc__,
    dtypes=("float64", "float32"),  # its training (initlab.training.train's dtype)
)
