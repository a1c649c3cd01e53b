r"""rezero: Bachlechner, Majumder, Mao, Cottrell & McAuley 2020, "ReZero is All You Need" (arXiv:2003.04887).

Claim
-----
Gating every residual branch with a trained scalar that starts at zero,
:math:`x_{b} = x_{b-1} + \alpha_b F_b(x_{b-1})` with :math:`\alpha_b = 0` at initialization,
makes a deep residual network the identity map on its trunk at initialization and lets it
converge much faster than the plain residual network :math:`x_b = x_{b-1} + F_b(x_{b-1})` of the
same depth, with the same optimizer (the paper's fully connected experiment; its v1 abstract:
"1,500% faster convergence for deep fully connected networks"). Tested here: deep residual MLPs
(32 and 64 blocks) reach a fixed training-loss threshold in at least :data:`FACTOR` times fewer
steps with ReZero than without, in every seed.

Setup
-----
*The paper* (the fully connected experiment, and the authors' notebook
``ReZero-Deep_Fast_NeuralNetwork.ipynb`` in ``tbachlechner/ReZero-examples`` that reproduces it):
fully connected ReLU networks of width 256 and many residual layers (the notebook: 64)
:math:`x \leftarrow x + \alpha\,\mathrm{ReLU}(W x + b)` on CIFAR-10 (3,072 inputs, 10 classes),
Adagrad at learning rate 0.01, minibatches of 100, the training cross-entropy per epoch over 10
epochs compared between a vanilla net, a residual net, a LayerNorm net and ReZero; the paper
shows these training-loss curves in a figure and its v1 abstract sums them up as "1,500% faster
convergence for deep fully connected networks". The residual net starts enormous (the
notebook's 64-layer run: mean loss 131,269 over its first epoch, 1.87 after 10).

*Here*, scaled to a CPU: scikit-learn's 8x8 ``digits`` (1,347 training images, 450 held out,
pixels standardized; the split drawn from ``seeding.stream(root, 2)``), the residual MLP of
:class:`initlab.residual.ResidualMLP`: 64 inputs, an input projection to width 32, B residual
blocks of two linear layers with ReLU between (``branch_depth=2``, no normalization), ReLU and a
10-way softmax head. B = 32 (``--quick``) and 32 and 64 (default), the issue's and the paper's
depths; width 32 instead of 256 is what 500 steps of 64 blocks cost on a CPU (each
``initlab study rezero`` trains 2 x 6 seeds x 2 depths). Two arms, built with
``residual.scalars_for(init)``, drawn from the same stream so that they have the *same* matrices
(:meth:`ResidualMLP.initialize`): the plain residual net, ``he_normal`` (:math:`\alpha = 1` a
constant), and ReZero, ``rezero`` (``layer_init="he_normal"``, :math:`\alpha_b = 0`, trained). Both
train with the same optimizer on the same minibatch order: Adam (Kingma & Ba's defaults: learning
rate 1e-3, betas 0.9 / 0.999), batch 128, 500 steps (about 47 epochs), on the numpy engine. Seed
s of depth B draws its matrices from ``seeding.stream(root, 0, B, s)`` and its minibatches from
``seeding.stream(root, 1, B, s)``. The training-set loss is recorded every 10 steps.

What differs and why. Adam, not Adagrad: :mod:`initlab.optimizers` has ``gd``, ``sgd``,
``momentum`` and ``adam``, and Adam is, like Adagrad, adaptive per parameter: its step does not
grow with the gradient, so the plain net's exploded start (its forward scale grows like
:math:`2^{B/2}` under He matrices) does not by itself make it diverge, and the comparison is one of
speed (with SGD, whose step is proportional to the gradient, it would be one of divergence); 1e-3
is Adam's published default, not tuned here. The branch is the usual
two-layer residual block :math:`W_2\,\mathrm{ReLU}(W_1 x)` (the issue's ``m = 2``), not the
paper's one-layer :math:`\mathrm{ReLU}(Wx)`; the plain net's matrices are He's, as ReZero's (the
authors' notebook shrinks the residual net's instead, to Xavier with gain 0.5, following Hanin &
Rolnick 2018; that baseline is not tested here). The paper counts epochs; we count steps
(minibatch updates), at a resolution of 10. The vanilla and LayerNorm nets are not run.

Lines fixed before the run. The threshold :data:`THRESHOLD` = 0.5 nats of training cross-entropy
(chance is ln 10 = 2.30): a level a one-hidden-layer net of width 32 reaches on digits well
within the budget, so that ReZero, which starts as one (its trunk is the identity), is not
censored by the budget, while it asks for real fitting, not a drop from an exploded start.
:data:`FACTOR` = 3: "several times" fewer steps, a fifth of the paper's "1,500%" (about 15x),
because our setting (narrower nets, Adam, a loss level instead of their curves) is not theirs and
the claim is the qualitative one.

Verdict
-------
For each seed, :math:`T` is the first recorded step at which the training loss is at most 0.5
(not reached in 500 steps: censored). The per-seed ratio is :math:`T_\text{plain}/T_\text{ReZero}`;
a plain net that never reaches the threshold counts as :math:`500/T_\text{ReZero}` (a lower bound,
so censoring can only weaken the claim); a ReZero net that never reaches it counts as 0. SUPPORTED
when, at every depth, the smallest ratio over the seeds is at least :data:`FACTOR`; the margin is
the smallest ratio minus 3 (in ratio units). Reported, not judged: the final training loss and
held-out accuracy of both arms, how many plain nets never reached the threshold, and ReZero's
trained :math:`|\alpha|`.
"""

from __future__ import annotations

import math

import numpy as np

from initlab import datasets, seeding
from initlab.residual import ResidualMLP, scalars_for
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, against, chunks
from initlab.training import train

WIDTH = 32
BRANCH_DEPTH = 2
BATCH = 128
LEARNING_RATE = 1e-3  # Adam's published default
STEPS = 500
RECORD_EVERY = 10
THRESHOLD = 0.5  # training cross-entropy, nats (chance: ln 10)
FACTOR = 3.0  # "several times fewer steps"
ARMS = ("he_normal", "rezero")  # the plain residual net, ReZero (same matrices)
LABELS = {"he_normal": "plain residual (He)", "rezero": "ReZero (He, α = 0)"}
SIZES = {"quick": dict(blocks=(32,)), "default": dict(blocks=(32, 64))}
CHUNK = 3  # seeds per unit


def network(blocks: int, init: str) -> ResidualMLP:
    """64 inputs, width :data:`WIDTH`, ``blocks`` two-layer ReLU branches, 10 softmax outputs; the scalars ``init`` needs."""
    return ResidualMLP(64, WIDTH, 10, blocks, branch_depth=BRANCH_DEPTH, activation="relu", output="softmax",
                       scalars=scalars_for(init))  # fmt: skip


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per (blocks, arm) and chunk of seeds, the deepest first (they take longest)."""
    cells = ({"blocks": b, "init": a} for b in sorted(SIZES[size]["blocks"], reverse=True) for a in ARMS)
    return chunks(cells, seeds, CHUNK)


def measure(size: str, unit: Unit, root: int, *, dtype: str = "float64") -> dict:
    """Train the unit's seeds of one arm and depth for :data:`STEPS` Adam steps.

    Both arms of a seed draw their matrices and minibatches from the same streams (the arm is not
    in the stream's path), so they differ only by ReZero's :math:`\\alpha = 0`.

    Returns (K = the unit's seeds) ``loss`` (K, STEPS / RECORD_EVERY), the training-set loss at
    steps 0, 10, ...; ``final_loss``, ``train_accuracy``, ``test_accuracy`` (K,), ``diverged`` (K,)
    bool, and for ReZero ``alpha_abs`` (K,), the mean :math:`|\\alpha_b|` after training.
    """
    blocks, init = unit.config["blocks"], unit.config["init"]
    data = datasets.load("digits", rng=seeding.stream(root, 2))
    net = network(blocks, init)
    params = net.initialize(init, rng=seeding.streams(root, unit.seeds, 0, blocks))
    hist = train(
        net,
        params,
        data.X_train,
        data.Y_train,
        learning_rate=LEARNING_RATE,
        iterations=STEPS,
        record_every=RECORD_EVERY,
        optimizer="adam",
        batch_size=BATCH,
        rng=seeding.streams(root, unit.seeds, 1, blocks),
        X_test=data.X_test,
        Y_test=data.Y_test,
        dtype=dtype,
    )
    out = {
        "loss": hist.loss,
        "final_loss": hist.final_loss,
        "train_accuracy": hist.train_accuracy,
        "test_accuracy": hist.test_accuracy,
        "diverged": hist.diverged,
    }
    if "alpha" in hist.params:
        out["alpha_abs"] = np.abs(hist.params["alpha"]).mean(axis=1)
    return out


def steps_to_threshold(loss: np.ndarray, final_loss: np.ndarray) -> np.ndarray:
    """(K,) float: the first recorded step with loss <= :data:`THRESHOLD`; :data:`STEPS` if only the final
    parameters reach it; nan if never (censored). ``loss`` is (K, n_records) at steps 0, RECORD_EVERY, ...
    (nan after divergence, which never counts as reached)."""
    loss = np.asarray(loss, dtype=float)
    hit = loss <= THRESHOLD  # nan compares False
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) * RECORD_EVERY, np.nan)
    at_end = np.isnan(first) & (np.asarray(final_loss, dtype=float) <= THRESHOLD)
    return np.where(at_end, float(STEPS), first)


def speedup(t_plain: np.ndarray, t_rezero: np.ndarray) -> np.ndarray:
    """Per-seed ratio :math:`T_\\text{plain}/T_\\text{ReZero}`: a censored plain net counts as :data:`STEPS`
    (a lower bound), a censored ReZero net gives 0; a ReZero net at the threshold already at step 0 counts
    as one record interval (the resolution)."""
    t_plain, t_rezero = np.asarray(t_plain, dtype=float), np.asarray(t_rezero, dtype=float)
    plain = np.where(np.isnan(t_plain), float(STEPS), t_plain)
    rz = np.maximum(t_rezero, RECORD_EVERY)
    return np.where(np.isnan(t_rezero), 0.0, plain / np.where(np.isnan(rz), 1.0, rz))


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    depths = sorted(SIZES[size]["blocks"])
    header = ["blocks", "arm", f"steps to loss ≤ {THRESHOLD:g} (median, range)", "reached", "final loss (median)",
              "held-out acc (median)", "speedup per seed (plain / ReZero)"]  # fmt: skip
    rows, criteria, data = [], [], {"blocks": depths, "arms": list(ARMS), "labels": LABELS, "by_blocks": {}}
    for blocks in depths:
        m = {a: measured[{"blocks": blocks, "init": a}] for a in ARMS}
        t = {a: steps_to_threshold(m[a]["loss"], m[a]["final_loss"]) for a in ARMS}
        ratio = speedup(t["he_normal"], t["rezero"])
        censored = np.isnan(t["he_normal"])
        for a in ARMS:
            reached = ~np.isnan(t[a])
            steps = (
                f"{np.median(t[a][reached]):.0f} ({np.min(t[a][reached]):.0f}-{np.max(t[a][reached]):.0f})"
                if reached.any()
                else "never"
            )
            cells = " ".join(f"{'≥' if c else ''}{r:.1f}" for r, c in zip(ratio, censored)) if a == "rezero" else ""
            rows.append([str(blocks), LABELS[a], steps, f"{reached.sum()}/{seeds}",
                         f"{np.nanmedian(m[a]['final_loss']):.3g}", f"{np.median(m[a]['test_accuracy']):.2f}", cells])  # fmt: skip
        least = float(ratio.min())
        text = (f"B={blocks}: smallest speedup over {seeds} seeds ({int(censored.sum())} plain nets never reached "
                f"{THRESHOLD:g}, counted at {STEPS} steps)")  # fmt: skip
        criteria.append((against(text, least, FACTOR, fmt=".3g"), least - FACTOR))
        data["by_blocks"][str(blocks)] = {
            "steps": {a: t[a] for a in ARMS},
            "speedup": ratio,
            "plain_censored": censored,
            "loss": {a: m[a]["loss"] for a in ARMS},
            "final_loss": {a: m[a]["final_loss"] for a in ARMS},
            "test_accuracy": {a: m[a]["test_accuracy"] for a in ARMS},
            "diverged": {a: m[a]["diverged"] for a in ARMS},
            "alpha_abs": m["rezero"]["alpha_abs"],
        }
    data.update(
        iterations=np.arange(0, STEPS, RECORD_EVERY), threshold=THRESHOLD, factor=FACTOR, steps=STEPS,
        width=WIDTH, branch_depth=BRANCH_DEPTH, batch=BATCH, learning_rate=LEARNING_RATE, chance=math.log(10.0),
    )  # fmt: skip
    return StudyResult("rezero", size, seeds, header, rows, Verdict.all_of(criteria), data)


STUDY = Study(
    name="rezero",
    paper="Bachlechner, Majumder, Mao, Cottrell & McAuley 2020, ReZero is All You Need (arXiv:2003.04887), "
    "fully connected experiment",
    claim=f"Deep residual MLPs (32-64 blocks) with ReZero's zero-initialized branch scale reach a training loss of "
    f"{THRESHOLD:g} in at least {FACTOR:g} times fewer Adam steps than the plain residual net with the same "
    "matrices, in every seed.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 3, "default": 6},
    doc=__doc__,
    dtypes=("float64", "float32"),  # its training (initlab.training.train's dtype)
)
