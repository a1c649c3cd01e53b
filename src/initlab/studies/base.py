"""What every study shares: its description, its result (table, verdict, data) and its files.

A study is a module with a :class:`Study` object: ``run(size, seeds, rng) -> StudyResult`` does the
science (no printing, no plotting) and ``figure(result)`` draws a matplotlib ``Figure`` from the
result's data alone. :func:`files` turns both into ``figure.png``, ``result.json`` and
``report.html`` for :func:`initlab.report.write_files`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SIZES", "Study", "StudyResult", "Verdict", "files", "fmt_ci"]

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
class Study:
    """A reproduced claim from the literature.

    Attributes
    ----------
    name : the CLI name, e.g. ``"edge-of-chaos"``
    paper : citation
    claim : one sentence, what the verdict tests
    run : ``run(size, seeds, rng) -> StudyResult``
    figure : ``figure(result) -> matplotlib.figure.Figure``
    default_seeds : dict size -> seeds
    """

    name: str
    paper: str
    claim: str
    run: Callable[..., StudyResult]
    figure: Callable[[StudyResult], object]
    default_seeds: dict = field(default_factory=lambda: {"quick": 4, "default": 10})
    doc: str = ""


def fmt_ci(est, digits: int = 3) -> str:
    """``mean ± half_width`` of an :class:`initlab.stats.Estimate`."""
    if not math.isfinite(est.half_width):
        return f"{est.mean:.{digits}g}"
    return f"{est.mean:.{digits}g} ± {est.half_width:.2g}"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else str(v)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def result_json(study: Study, result: StudyResult) -> str:
    return json.dumps(_jsonable({
        "study": result.study, "paper": study.paper, "claim": study.claim, "size": result.size,
        "seeds": result.seeds, "wall_time": result.wall_time,
        "verdict": {"supported": result.verdict.supported, "margin": result.verdict.margin,
                    "detail": result.verdict.detail, "text": str(result.verdict)},
        "table": {"header": result.header, "rows": result.rows}, "data": result.data,
    }), indent=2)


def files(study: Study, result: StudyResult) -> dict[str, bytes]:
    """``figure.png``, ``result.json`` and a self-contained ``report.html``."""
    from initlab.report import html
    from initlab.report.figures import png_bytes

    png = png_bytes(study.figure(result))
    body = (
        f"<h1>{html.escape(study.name)}</h1><p class=\"meta\">{html.escape(study.paper)}</p>"
        f"<p><b>Claim.</b> {html.escape(study.claim)}</p>"
        f"<p class=\"note\"><b>Verdict:</b> {html.escape(str(result.verdict))}</p>"
        + html.table(result.header, result.rows)
        + html.image(png, study.name)
        + f"<p class=\"meta\">size {result.size}, {result.seeds} seeds, {result.wall_time:.1f} s</p>"
    )
    return {
        "figure.png": png,
        "result.json": result_json(study, result).encode(),
        "report.html": html.page(f"initlab study {study.name}", body).encode(),
    }
