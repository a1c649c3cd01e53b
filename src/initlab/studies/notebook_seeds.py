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
and ``_he``), so seed 3 is the notebook's run and sits among the others (the root ``--seed`` does not apply). Symmetry count:
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

import numpy as np

from initlab import course
from initlab.diagnostics import measure as measure_network
from initlab.losses import binary_cross_entropy, legacy_binary_cross_entropy
from initlab.network import MLP
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
)
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


CHUNK = 8  # seeds per unit


def _stack(dicts: list[dict]) -> dict:
    return {key: np.stack([d[key] for d in dicts]) for key in dicts[0]}


def _seeds(seeds: int) -> int:
    return max(seeds, NOTEBOOK_SEED + 1)  # seed 3 is always among them


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per initialization and chunk of seeds."""
    return chunks(({"init": name} for name in INITS), _seeds(seeds), CHUNK)


def measure(size: str, unit: Unit, root: int, *, dtype: str = "float64") -> dict:
    """Train the unit's seeds of the notebook's own generator (``root`` is not used: the seeds are the notebook's)."""
    iterations = SIZES[size]["iterations"]
    X, Y, X_test, Y_test = course.load_dataset(plot=False)
    net = MLP(LAYERS)
    P = _stack([INITS[unit.config["init"]](list(LAYERS), seed=s) for s in unit.seeds])
    Z, A = _output(net, P, X)  # (K, 1, m) logits and probabilities at initialization
    hist = train(
        net,
        P,
        X,
        Y,
        learning_rate=LEARNING_RATE,
        iterations=iterations,
        record_every=max(1, iterations // 30),
        X_test=X_test,
        Y_test=Y_test,
        engine="numba",
        dtype=dtype,
    )
    K = len(unit.seeds)
    return {
        "train_accuracy": hist.train_accuracy,
        "test_accuracy": hist.test_accuracy,
        "final_loss": hist.final_loss,
        "loss": hist.loss,
        "record_iterations": np.tile(hist.record_iterations, (K, 1)),
        "distinct_units": measure_network(net, hist.params, X).distinct_units,  # (K, L)
        "initial_loss_legacy": legacy_binary_cross_entropy(A, Y.astype(float)),  # (K,)
        "initial_loss_stable": binary_cross_entropy(Z, Y.astype(float)),
    }


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    seeds = _seeds(seeds)
    header = [
        "init",
        "train acc (95% CI)",
        "test acc (95% CI)",
        "final loss (95% CI)",
        "distinct units / layer (max)",
        "initial loss: legacy (inf count) | stable",
        f"seed {NOTEBOOK_SEED}: test acc (rank of {seeds})",
    ]
    rows, test_acc = [], {}
    out = {
        "iterations": SIZES[size]["iterations"],
        "seeds": seeds,
        "inits": list(INITS),
        "notebook_seed": NOTEBOOK_SEED,
    }
    for name in INITS:
        m = dict(measured[{"init": name}])
        m["record_iterations"] = m["record_iterations"][0]
        acc, distinct, legacy0 = m["test_accuracy"], m["distinct_units"], m["initial_loss_legacy"]
        test_acc[name] = acc
        rank = int((acc < acc[NOTEBOOK_SEED]).sum()) + 1
        m["initial_loss_legacy_is_inf"] = np.isinf(legacy0)  # (seeds,): JSON writes inf as null; the fact stays here
        out[name] = m
        rows.append(
            [
                name,
                fmt_ci(mean_ci(m["train_accuracy"])),
                fmt_ci(mean_ci(acc)),
                fmt_ci(mean_ci(m["final_loss"])),
                " ".join(str(v) for v in distinct.max(axis=0)),
                f"{int(np.isinf(legacy0).sum())} inf | {fmt_ci(mean_ci(m['initial_loss_stable']))}",
                f"{acc[NOTEBOOK_SEED]:.2f} ({rank} from the bottom)",
            ]
        )
    extra = int(out["zeros"]["distinct_units"].max()) - 1
    gap = mean_ci(test_acc["he"] - test_acc["random"])
    r = out["random"]
    inf3 = math.isinf(r["initial_loss_legacy"][NOTEBOOK_SEED]) and bool(np.isfinite(r["initial_loss_stable"]).all())
    criteria = [
        (
            f"zeros: max distinct units per layer {extra + 1} ({'symmetric' if extra == 0 else 'not symmetric'})",
            1.0 if extra == 0 else -float(extra),
        ),
        (against("test accuracy he - random, paired, lower CI", gap.low, 0.0, fmt="+.3f"), gap.low),
        (
            f"random x10, seed {NOTEBOOK_SEED}: legacy initial loss {r['initial_loss_legacy'][NOTEBOOK_SEED]} "
            f"(expected inf); stable loss finite for all seeds: "
            f"{'yes' if np.isfinite(r['initial_loss_stable']).all() else 'no'}",
            1.0 if inf3 else -1.0,
        ),
    ]
    return StudyResult("notebook-seeds", size, seeds, header, rows, Verdict.all_of(criteria), out)


def _output(net: MLP, P: dict, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits and probabilities of the output layer, (K, 1, m) each."""
    _, rec = net.forward(P, X, record=True)
    return rec.Z[-1], rec.A[-1]


STUDY = Study(
    name="notebook-seeds",
    paper="deeplearning.ai, Improving Deep Neural Networks, week 1: Initialization (the notebook)",
    claim="Over many seeds: zeros never breaks symmetry, He beats randn*10 on test accuracy seed by seed, and "
    "randn*10's legacy initial loss is inf at seed 3 while the stable loss is finite.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 8, "default": 30},
    doc=__doc__,
    dtypes=("float64", "float32"),  # its training (initlab.training.train's dtype)
)
