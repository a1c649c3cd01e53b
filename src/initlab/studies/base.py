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
    whatever worker, before or after an interruption.
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

__all__ = ["SIZES", "Measured", "Study", "StudyResult", "Unit", "Verdict", "chunks", "fmt_ci", "result_dict"]

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
    """

    study: str
    size: str
    seeds: int
    header: list[str]
    rows: list[list[str]]
    verdict: Verdict
    data: dict = field(default_factory=dict)
    wall_time: float = 0.0


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
    })  # fmt: skip
