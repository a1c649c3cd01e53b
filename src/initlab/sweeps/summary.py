r"""Statistics over seeds: a table grouped by what varies.

A *group* is every run that differs only in its seed. For each group, over its seeds:

- final loss: cross-entropy of the trained parameters on the training set, over the runs that did
  not diverge;
- train and test accuracy, over all runs (a diverged run counts with its last finite parameters);
- iterations to reach the loss threshold: per run the first *recorded* iteration whose loss is
  :math:`\le` the threshold (the recorded iterations are ``0, record_every, ...`` and finally
  ``iterations``, the trained model), over the runs that reach it; how many reach it is shown too;
- fraction diverged.

Each is given as the mean with a 95 % confidence interval of Student's t,

.. math:: \bar x \pm t_{0.975,\,n-1}\, s / \sqrt{n}, \qquad s^2 = \tfrac{1}{n-1} \sum_i (x_i - \bar x)^2,

(no interval for n = 1). The functions here compute; they neither read the store nor print.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from initlab.stats import Estimate, mean_ci
from initlab.validation import check_real

from .plan import varying_dimensions

__all__ = [
    "Estimate",
    "GroupSummary",
    "Summary",
    "first_reach",
    "format_estimate",
    "markdown_table",
    "mean_ci",
    "median_run",
    "seed_band",
    "summarize",
    "summary_rows",
]


def first_reach(iterations: np.ndarray, loss: np.ndarray, threshold: float) -> float:
    """The first of ``iterations`` whose ``loss`` is <= ``threshold``; nan if none (nan losses never reach).

    Parameters
    ----------
    iterations : (n_records,) recorded iterations, increasing
    loss : (n_records,) losses there
    threshold : float
    """
    with np.errstate(invalid="ignore"):
        hit = np.flatnonzero(np.asarray(loss) <= threshold)
    return float(iterations[hit[0]]) if hit.size else float("nan")


@dataclass(frozen=True)
class GroupSummary:
    """One row of the summary: a group of runs that differ only in their seed."""

    labels: dict  # the group's value of every dimension (without the seed)
    runs: int  # finished (done) runs
    failed: int
    final_loss: Estimate  # over the runs that did not diverge
    train_accuracy: Estimate
    test_accuracy: Estimate
    iterations_to_threshold: Estimate  # over the runs that reached it
    reached: int  # runs whose loss reached the threshold
    diverged: float  # fraction of the runs that diverged


@dataclass(frozen=True)
class Summary:
    """The summary table: one :class:`GroupSummary` per group, in grid order."""

    varying: tuple[str, ...]  # dimensions that vary across groups (the table's leading columns)
    threshold: float
    groups: tuple[GroupSummary, ...]


def summarize(runs: Iterable[tuple[object, np.ndarray | None]], *, threshold: float) -> Summary:
    """Group finished runs by everything but the seed and summarize each group over its seeds.

    Parameters
    ----------
    runs : iterable of ``(run, loss)``
        ``run`` has ``labels`` (dict of the dimensions, :func:`initlab.sweeps.plan.labels`),
        ``status`` (``"done"``/``"failed"``), ``final_loss``, ``train_accuracy``,
        ``test_accuracy``, ``diverged_at`` (-1 if none) and ``record_iterations``
        (a :class:`initlab.sweeps.store.RunRow`); ``loss`` its recorded losses (None if failed).
        Streamed: only per-run numbers are kept, not the histories.
    threshold : float > 0
        Loss threshold of "iterations to reach".

    Returns
    -------
    Summary
    """
    threshold = check_real("threshold", threshold, min_value=0.0, min_inclusive=False)
    acc: dict[str, dict] = {}
    for run, loss in runs:
        labels = {d: v for d, v in run.labels.items() if d != "seed"}
        key = json.dumps(labels, sort_keys=True)
        g = acc.setdefault(key, {"labels": labels, "failed": 0, "loss": [], "train": [], "test": [], "reach": [],
                                 "diverged": []})  # fmt: skip
        if run.status != "done":
            g["failed"] += 1
            continue
        diverged = run.diverged_at >= 0
        g["diverged"].append(diverged)
        g["loss"].append(float("nan") if diverged else run.final_loss)
        g["train"].append(run.train_accuracy)
        g["test"].append(run.test_accuracy)
        g["reach"].append(first_reach(run.record_iterations, loss, threshold))
    groups = []
    for g in acc.values():
        n = len(g["diverged"])
        groups.append(GroupSummary(
            labels=g["labels"],
            runs=n,
            failed=g["failed"],
            final_loss=mean_ci(g["loss"]),
            train_accuracy=mean_ci(g["train"]),
            test_accuracy=mean_ci(g["test"]),
            iterations_to_threshold=mean_ci(g["reach"]),
            reached=sum(math.isfinite(r) for r in g["reach"]),
            diverged=float(np.mean(g["diverged"])) if n else float("nan"),
        ))  # fmt: skip
    varying = tuple(d for d in varying_dimensions(g.labels | {"seed": ""} for g in groups) if d != "seed")
    return Summary(varying, threshold, tuple(groups))


# --------------------------------------------------------------------------------------------
# As text (the CLI's table, the report's and the README's)
# --------------------------------------------------------------------------------------------
def format_estimate(e: Estimate, *, digits: int = 3, percent: bool = False) -> str:
    """``"0.955 ± 0.021"``; ``"95.5 ± 2.1%"`` with ``percent``; the mean alone for n = 1; ``"–"`` for none."""
    if e.n == 0:
        return "–"
    scale, suffix = (100.0, "%") if percent else (1.0, "")
    if percent:
        mean = f"{e.mean * scale:.1f}"
        hw = f"{e.half_width * scale:.1f}"
    else:
        mean = f"{e.mean:.{digits}g}"
        hw = f"{e.half_width:.2g}"
    return f"{mean}{suffix}" if not math.isfinite(e.half_width) else f"{mean} ± {hw}{suffix}"


#: Column titles of the dimensions.
DIMENSION_TITLES = {"dataset": "dataset", "network": "network", "activation": "activation", "init": "init",
                    "optimizer": "optimizer", "learning_rate": "lr", "iterations": "iterations", "seed": "seed"}  # fmt: skip


def summary_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of the summary as text; the leading columns are the varying dimensions."""
    dims = list(summary.varying) or ["init"]
    any_failed = any(g.failed for g in summary.groups)
    header = [DIMENSION_TITLES[d] for d in dims] + ["seeds", "final loss", "train acc", "test acc",
                                                    f"iters to loss ≤ {summary.threshold:g}", "diverged"]  # fmt: skip
    if any_failed:
        header.append("failed")
    rows = []
    for g in summary.groups:
        reach = g.iterations_to_threshold
        if g.reached == 0:
            reach_text = "never"
        elif math.isfinite(reach.half_width):
            reach_text = f"{reach.mean:.0f} ± {reach.half_width:.0f}"
        else:
            reach_text = f"{reach.mean:.0f}"
        row = [g.labels[d] for d in dims] + [
            str(g.runs),
            format_estimate(g.final_loss),
            format_estimate(g.train_accuracy, percent=True),
            format_estimate(g.test_accuracy, percent=True),
            f"{reach_text} ({g.reached}/{g.runs})" if g.runs else "–",
            f"{g.diverged:.0%}" if g.runs else "–",
        ]
        if any_failed:
            row.append(str(g.failed))
        rows.append(row)
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; the first column left-aligned, the numbers right-aligned."""

    def cells(row):
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("*", "\\*") for c in row) + " |"

    align = ["---" if h in DIMENSION_TITLES.values() else "---:" for h in header]
    return "\n".join([cells(header), "|" + "|".join(align) + "|", *(cells(r) for r in rows)])


# --------------------------------------------------------------------------------------------
# Over seeds, for the report's figures
# --------------------------------------------------------------------------------------------
def seed_band(
    losses: np.ndarray, quantiles: tuple[float, float] = (0.25, 0.75)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and a quantile band over seeds of loss curves ``(n_seeds, n_records)``, ignoring nan (diverged).

    Returns
    -------
    median, low, high : (n_records,) each; nan where every seed is nan
    """
    losses = np.asarray(losses, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns: every seed diverged there
        median = np.nanmedian(losses, axis=0)
        low, high = np.nanquantile(losses, quantiles, axis=0)
    return median, low, high


def median_run(runs: Sequence):
    """The run of median final loss (the lower median for an even count; diverged runs count as +inf).

    ``runs`` have ``final_loss`` and ``diverged_at``; returns one of them (None for none).
    """
    if not runs:
        return None
    key = [math.inf if (r.diverged_at >= 0 or not math.isfinite(r.final_loss)) else r.final_loss for r in runs]
    order = sorted(range(len(runs)), key=lambda i: (key[i], i))
    return runs[order[(len(runs) - 1) // 2]]
