"""What every study shares: its description, its units of work, its result (table, verdict, data).

A study is a module with a :class:`Study` object and three pure functions, the way a sweep is a
plan, runs and a summary:

``plan(size, seeds) -> list[Unit]``
    The work, as units: one configuration (e.g. ``{"depth": 30, "init": "he_normal"}``) over a
    contiguous range of seeds.
``measure(size, unit, root) -> dict[str, ndarray]``
    One unit's numbers, every array with a leading axis over the unit's seeds. Seed ``s`` draws
    from :func:`initlab.seeding.stream` ``(root, ..., s)`` only (the seed rule of
    :mod:`initlab.seeding`), so a seed's numbers are the same whatever unit (chunk) it falls in, on
    whatever worker, before or after an interruption. A study that trains (:attr:`Study.dtypes`
    lists ``"float32"``) also takes ``dtype="float32"`` as a keyword and trains in it
    (:func:`initlab.training.train`); it is called without it for float64, as always.
``reduce(size, seeds, measured: Measured) -> StudyResult``
    The table, the verdict and the figure's data, from all units' numbers.

:func:`initlab.studies.execute` runs the units (in parallel, resumable) into a
:class:`initlab.studies.store.StudyStore`; :mod:`initlab.report.study` draws the figure and the
page from the store. Nothing here prints or plots.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from initlab.jsonable import jsonable

__all__ = [
    "SIZES",
    "Measured",
    "Study",
    "StudyResult",
    "Unit",
    "Verdict",
    "against",
    "apart",
    "chunks",
    "fmt_ci",
    "inside",
    "result_dict",
]

#: ``"quick"``: seconds, for the tests; ``"default"``: the study as documented (under ~2 minutes).
SIZES = ("quick", "default")


@dataclass(frozen=True)
class Verdict:
    """Whether the evidence supports the claim, and by how much.

    Attributes
    ----------
    supported : bool
    margin : float
        Distance of the deciding statistic from its pre-stated threshold, in the units given in
        ``detail`` (positive: on the claim's side). The smallest margin of all the criteria.
    detail : str
        The criteria and the measured values, one sentence.
    """

    supported: bool
    margin: float
    detail: str

    def __str__(self) -> str:
        word = "SUPPORTED" if self.supported else "NOT SUPPORTED"
        return f"{word} (margin {self.margin:+.3g}): {self.detail}"

    @classmethod
    def all_of(cls, criteria: list[tuple[str, float]]) -> Verdict:
        """Supported when every ``(description, margin)`` has a positive margin; the margin is the smallest."""
        margin = min(m for _, m in criteria)
        detail = "; ".join(f"{text} [margin {m:+.3g}]" for text, m in criteria)
        return cls(bool(margin > 0 and math.isfinite(margin)), float(margin), detail)


@dataclass(frozen=True)
class StudyResult:
    """What a study's run found.

    Attributes
    ----------
    study : str
    size : {"quick", "default"}
    seeds : int
    header : list of str, rows : list of rows
        The evidence table, cells already formatted.
    verdict : Verdict
    data : dict
        JSON-serializable numbers behind the table and the figure.
    wall_time : float, seconds
        Compute time of the units (summed over workers).
    dtype : {"float64", "float32"}
        What its training computed in.
    """

    study: str
    size: str
    seeds: int
    header: list[str]
    rows: list[list[str]]
    verdict: Verdict
    data: dict = field(default_factory=dict)
    wall_time: float = 0.0
    dtype: str = "float64"


@dataclass(frozen=True)
class Unit:
    """One configuration of a study over seeds ``first .. stop - 1``.

    Attributes
    ----------
    config : dict
        JSON-serializable (str keys; str, int, float values): what this unit measures.
    first, stop : int
        The seed range.
    """

    config: dict
    first: int
    stop: int

    @property
    def seeds(self) -> range:
        return range(self.first, self.stop)

    @property
    def key(self) -> str:
        """Stable identity in the store: the configuration and the seed range."""
        return json.dumps({"config": self.config, "seeds": [self.first, self.stop]}, sort_keys=True)

    @property
    def config_key(self) -> str:
        return config_key(self.config)


def config_key(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def chunks(configs: Iterable[dict], seeds: int, size: int) -> list[Unit]:
    """Every configuration over seeds ``0 .. seeds - 1``, in units of at most ``size`` seeds."""
    return [Unit(dict(c), a, min(a + size, seeds)) for c in configs for a in range(0, seeds, size)]


class Measured:
    """All units' numbers, by configuration: ``measured[config]`` is a dict of arrays over every seed, in order.

    Built from ``(unit, numbers)`` pairs in any order; a configuration's seed ranges must tile
    ``0 .. seeds - 1`` (checked).
    """

    def __init__(self, pairs: Iterable[tuple[Unit, dict]], seeds: int):
        parts: dict[str, list[tuple[int, int, dict]]] = {}
        for unit, numbers in pairs:
            parts.setdefault(unit.config_key, []).append((unit.first, unit.stop, numbers))
        self._by_config = {}
        for key, pieces in parts.items():
            pieces.sort(key=lambda p: p[0])
            covered = [(a, b) for a, b, _ in pieces]
            expected = list(zip([0] + [b for _, b in covered[:-1]], [b for _, b in covered]))
            if covered != expected or covered[-1][1] != seeds:
                raise ValueError(f"the units of {key} cover seeds {covered}, not 0..{seeds - 1} exactly once")
            names = pieces[0][2].keys()
            self._by_config[key] = {n: np.concatenate([np.asarray(p[2][n]) for p in pieces]) for n in names}

    def __getitem__(self, config: dict) -> dict[str, np.ndarray]:
        return self._by_config[config_key(config)]


@dataclass(frozen=True)
class Study:
    """A reproduced claim from the literature (see the module docstring for the three functions).

    Attributes
    ----------
    name : the CLI name, e.g. ``"edge-of-chaos"``
    paper : citation
    claim : one sentence, what the verdict tests
    plan, measure, reduce : the study's functions
    default_seeds : dict size -> seeds
    min_seeds : the fewest seeds the study accepts (at least 2, for an interval)
    doc : the module docstring (Claim, Setup, Verdict)
    dtypes : what its training can compute in: ``("float64",)``, or with ``"float32"`` for a study that
        trains networks (its ``measure`` then takes ``dtype=``; what it measures without training stays float64)
    """

    name: str
    paper: str
    claim: str
    plan: Callable[[str, int], list[Unit]]
    measure: Callable[[str, Unit, int], dict]
    reduce: Callable[[str, int, Measured], StudyResult]
    default_seeds: dict = field(default_factory=lambda: {"quick": 4, "default": 10})
    min_seeds: int = 2
    doc: str = ""
    dtypes: tuple[str, ...] = ("float64",)


def _say(passes: bool, gap: float, fmt: str, ok: str, short: str) -> str:
    """The one wording of a criterion's outcome: ``"<ok> by <gap>"`` or ``"<short> by <gap>"``."""
    if gap == 0:
        return "exactly on it"
    return f"{ok if passes else short} by {abs(gap):{fmt.lstrip('+')}}"


def against(what: str, value: float, line: float, *, above: bool = True, fmt: str = ".3g", name: str = "") -> str:
    """A measured value against a line, as a sentence true whatever the outcome.

    ``against("lower CI", 0.027, 0.05)`` -> ``"lower CI 0.027, line 0.05: short by 0.023"``;
    ``against("lower CI", 0.081, 0.05)`` -> ``"lower CI 0.081, line 0.05: clears it by 0.031"``;
    ``above=False`` (the value must stay under the line, a ceiling):
    ``"upper CI 0.62, ceiling 0.5: over by 0.12"`` or ``"...: under it by 0.08"``.
    The gap is ``|value - line|`` in the units shown; ``name`` replaces ``"line"`` / ``"ceiling"``.
    The verdict's margin is the study's own (often in other units): this is only its words.
    """
    gap = value - line if above else line - value
    word = name or ("line" if above else "ceiling")
    outcome = _say(gap > 0, gap, fmt, "clears it" if above else "under it", "short" if above else "over")
    return f"{what} {value:{fmt}}, {word} {line:{fmt}}: {outcome}"


def inside(what: str, low: float, high: float, lo: float, hi: float, *, fmt: str = ".3g", band: str = "") -> str:
    """An interval ``[low, high]`` against a band ``[lo, hi]`` it must lie in.

    ``"CI [0.61, 1.4], band [0.5, 2]: inside by 0.11"`` or ``"...: sticks out by 0.2"``; the gap is
    the distance to the nearer edge (``min(low - lo, hi - high)``). ``band`` replaces the band's text.
    """
    gap = min(low - lo, hi - high)
    shown = band or f"[{lo:{fmt}}, {hi:{fmt}}]"
    return f"{what} [{low:{fmt}}, {high:{fmt}}], band {shown}: {_say(gap > 0, gap, fmt, 'inside', 'sticks out')}"


def apart(what: str, low: float, high: float, lo: float, hi: float, *, fmt: str = ".3g") -> str:
    """An interval ``[low, high]`` against a band ``[lo, hi]`` it must stay clear of (entirely on one side).

    ``"CI [1.3, 2.1], to avoid [-1, 1]: clear of it by 0.3"`` or ``"...: overlaps it by 0.4"``.
    """
    gap = max(lo - high, low - hi)
    outcome = _say(gap > 0, gap, fmt, "clear of it", "overlaps it")
    return f"{what} [{low:{fmt}}, {high:{fmt}}], to avoid [{lo:{fmt}}, {hi:{fmt}}]: {outcome}"


def fmt_ci(est, digits: int = 3) -> str:
    """``mean ± half_width`` of an :class:`initlab.stats.Estimate`."""
    if not math.isfinite(est.half_width):
        return f"{est.mean:.{digits}g}"
    return f"{est.mean:.{digits}g} ± {est.half_width:.2g}"


def result_dict(study: Study, result: StudyResult) -> dict:
    """The result as JSON-serializable data (non-finite floats as null: :mod:`initlab.jsonable`)."""
    return jsonable({
        "study": result.study, "paper": study.paper, "claim": study.claim, "size": result.size,
        "seeds": result.seeds, "wall_time": result.wall_time,
        "verdict": {"supported": result.verdict.supported, "margin": result.verdict.margin,
                    "detail": result.verdict.detail, "text": str(result.verdict)},
        "table": {"header": result.header, "rows": result.rows}, "data": result.data,
        **({"dtype": result.dtype} if result.dtype != "float64" else {}),  # a float64 result reads as it always did
    })  # fmt: skip
