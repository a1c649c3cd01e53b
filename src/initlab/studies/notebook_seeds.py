r"""notebook-seeds: the deeplearning.ai Initialization notebook's three initializations over many seeds.

Claim
-----
The notebook's conclusions (from one seed, 3) hold over seeds: zeros initialization never breaks
symmetry (one distinct unit per layer after training); He initialization ends with a higher test
accuracy than the large random initialization (``randn * 10``), seed by seed; and under the
``randn * 10`` initialization the notebook's loss (from probabilities) is ``inf`` at iteration 0
for seed 3, while the stable loss (from logits) is finite.

Setup
-----
The notebook's network ``(2, 10, 5, 1)`` (ReLU, sigmoid output) on its circles
(:func:`initlab.course.load_dataset`), learning rate 0.01, full-batch gradient descent (``numba``
engine), 15000 iterations (the notebook's, at both sizes: He overtakes only late). Seeds 0..K-1 of the notebook's own
generator (``np.random.RandomState(seed)``, via :func:`initlab.course.initialize_parameters_random`
and ``_he``), so seed 3 is the notebook's run and sits among the others. Symmetry count:
:func:`initlab.diagnostics.distinct_units` of the trained parameters.

Verdict
-------
SUPPORTED when (1) zeros has 1 distinct unit in every layer for every seed (margin 1, or minus the
extra units found), (2) the paired test-accuracy gap He minus random has a 95 % interval above 0
(margin: its lower end), (3) seed 3's legacy initial loss is ``inf`` and the stable one finite for
every seed (margin 1 or -1). Seed 3's rank in each distribution is reported, not tested.
"""

from __future__ import annotations

import math
import time

import numpy as np

from initlab import course
from initlab.diagnostics import measure
from initlab.losses import binary_cross_entropy, legacy_binary_cross_entropy
from initlab.network import MLP
from initlab.stats import mean_ci
from initlab.studies.base import Study, StudyResult, Verdict, fmt_ci
from initlab.training import train

LAYERS = (2, 10, 5, 1)
LEARNING_RATE = 0.01
NOTEBOOK_SEED = 3
SIZES = {"quick": dict(iterations=15000), "default": dict(iterations=15000)}
INITS = {
    "zeros": course.initialize_parameters_zeros,
    "random": course.initialize_parameters_random,
    "he": course.initialize_parameters_he,
}


def _stack(dicts: list[dict]) -> dict:
    return {key: np.stack([d[key] for d in dicts]) for key in dicts[0]}


def run(size: str = "default", seeds: int = 30, rng=0) -> StudyResult:
    t0 = time.perf_counter()
    seeds = max(seeds, NOTEBOOK_SEED + 1)  # seed 3 is always among them
    iterations = SIZES[size]["iterations"]
    X, Y, X_test, Y_test = course.load_dataset(plot=False)
    net = MLP(LAYERS)
    header = ["init", "train acc (95% CI)", "test acc (95% CI)", "final loss (95% CI)", "distinct units / layer (max)",
              "initial loss: legacy (inf count) | stable", f"seed {NOTEBOOK_SEED}: test acc (rank of {seeds})"]
    rows, out, test_acc = [], {"iterations": iterations, "seeds": seeds}, {}
    for name, init in INITS.items():
        P = _stack([init(list(LAYERS), seed=s) for s in range(seeds)])
        Z, A = _output(net, P, X)  # (K, 1, m) logits and probabilities at initialization
        legacy0 = legacy_binary_cross_entropy(A, Y.astype(float))  # (K,)
        stable0 = binary_cross_entropy(Z, Y.astype(float))
        hist = train(net, P, X, Y, learning_rate=LEARNING_RATE, iterations=iterations, record_every=max(1, iterations // 30),
                     X_test=X_test, Y_test=Y_test, engine="numba")
        distinct = measure(net, hist.params, X).distinct_units  # (K, L)
        acc = hist.test_accuracy
        test_acc[name] = acc
        rank = int((acc < acc[NOTEBOOK_SEED]).sum()) + 1
        out[name] = {"train_accuracy": hist.train_accuracy, "test_accuracy": acc, "final_loss": hist.final_loss,
                     "loss": hist.loss, "record_iterations": hist.record_iterations, "distinct_units": distinct,
                     "initial_loss_legacy": legacy0, "initial_loss_stable": stable0}
        rows.append([name, fmt_ci(mean_ci(hist.train_accuracy)), fmt_ci(mean_ci(acc)), fmt_ci(mean_ci(hist.final_loss)),
                     " ".join(str(v) for v in distinct.max(axis=0)),
                     f"{int(np.isinf(legacy0).sum())} inf | {fmt_ci(mean_ci(stable0))}",
                     f"{acc[NOTEBOOK_SEED]:.2f} ({rank} from the bottom)"])
    extra = int(out["zeros"]["distinct_units"].max()) - 1
    gap = mean_ci(test_acc["he"] - test_acc["random"])
    r = out["random"]
    inf3 = math.isinf(r["initial_loss_legacy"][NOTEBOOK_SEED]) and bool(np.isfinite(r["initial_loss_stable"]).all())
    criteria = [
        (f"zeros: max distinct units per layer {extra + 1} == 1", 1.0 if extra == 0 else -float(extra)),
        (f"test accuracy he - random, paired, lower CI {gap.low:+.3f} > 0", gap.low),
        (f"random x10, seed {NOTEBOOK_SEED}: legacy initial loss {r['initial_loss_legacy'][NOTEBOOK_SEED]} is inf, "
         f"stable finite for all seeds", 1.0 if inf3 else -1.0),
    ]
    return StudyResult("notebook-seeds", size, seeds, header, rows, Verdict.all_of(criteria), out,
                       time.perf_counter() - t0)


def _output(net: MLP, P: dict, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits and probabilities of the output layer, (K, 1, m) each."""
    _, rec = net.forward(P, X, record=True)
    return rec.Z[-1], rec.A[-1]


def figure(result: StudyResult):
    from matplotlib.figure import Figure

    d = result.data
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    colors = {"zeros": "#7f7f7f", "random": "#d62728", "he": "#1f77b4"}
    for i, name in enumerate(INITS):
        acc = np.asarray(d[name]["test_accuracy"], dtype=float)
        jitter = np.linspace(-0.15, 0.15, acc.size)
        ax1.scatter(i + jitter, acc, s=12, color=colors[name], alpha=0.6)
        ax1.scatter([i], [acc[NOTEBOOK_SEED]], s=80, facecolor="none", edgecolor="k", label="seed 3" if i == 0 else None)
        loss = np.asarray(d[name]["loss"], dtype=float)
        ax2.semilogy(d[name]["record_iterations"], loss.T, color=colors[name], alpha=0.3, lw=0.8)
        ax2.plot([], [], color=colors[name], label=name)
    ax1.set_xticks(range(len(INITS)), list(INITS))
    ax1.set_ylabel("test accuracy")
    ax1.set_title(f"{d['seeds']} seeds (circle: the notebook's seed 3)")
    ax1.legend()
    ax2.set_xlabel("iteration")
    ax2.set_title("training loss (stable), every seed")
    ax2.legend()
    fig.tight_layout()
    return fig


STUDY = Study(
    name="notebook-seeds",
    paper="deeplearning.ai, Improving Deep Neural Networks, week 1: Initialization (the notebook)",
    claim="Over many seeds: zeros never breaks symmetry, He beats randn*10 on test accuracy seed by seed, and "
          "randn*10's legacy initial loss is inf at seed 3 while the stable loss is finite.",
    run=run,
    figure=figure,
    default_seeds={"quick": 8, "default": 30},
    doc=__doc__,
)
