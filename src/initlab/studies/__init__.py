"""Reproduced claims from the initialization literature: ``initlab study NAME``.

Each study is one module holding a :class:`~initlab.studies.base.Study`: its docstring states the
paper, the claim, the setup and what the verdict tests; ``run`` measures (no printing, no
plotting), ``figure`` draws, and :func:`~initlab.studies.base.files` writes the figure, the
result as JSON and a small HTML page. ``size="quick"`` runs in seconds (the tests use it);
``"default"`` is the documented experiment.

>>> from initlab import studies
>>> sorted(studies.available())            # doctest: +SKIP
['notebook-seeds', 'edge-of-chaos', 'glorot2010', 'he2015', 'saxe2013', 'lsuv']
>>> result = studies.run("edge-of-chaos", size="quick")   # doctest: +SKIP
>>> print(result.verdict)                                  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from initlab.studies.base import SIZES, Study, StudyResult, Verdict, files
from initlab.validation import check_choice, check_int

__all__ = ["SIZES", "Study", "StudyResult", "Verdict", "available", "files", "get", "run", "seeds_for"]

# name -> module; modules are imported on first use (some draw on numba, all on scipy).
_MODULES = {
    "notebook-seeds": "notebook_seeds",
    "edge-of-chaos": "edge_of_chaos",
    "glorot2010": "glorot2010",
    "he2015": "he2015",
    "saxe2013": "saxe2013",
    "lsuv": "lsuv",
}


def get(name: str) -> Study:
    """The study called ``name`` (one of :func:`available`)."""
    check_choice("study", name, _MODULES)
    return importlib.import_module(f"initlab.studies.{_MODULES[name]}").STUDY


def available() -> dict[str, Study]:
    """Every study by name, in registry order."""
    return {name: get(name) for name in _MODULES}


def seeds_for(name: str, size: str, seeds: int | None = None) -> int:
    """The number of seeds to run: ``seeds`` (at least 2, for an interval) or the study's default at ``size``."""
    study = get(name)
    check_choice("size", size, SIZES)
    return study.default_seeds[size] if seeds is None else check_int("seeds", seeds, min_value=2)


def run(name: str, *, size: str = "default", seeds: int | None = None, rng=0) -> StudyResult:
    """Run study ``name`` at ``size`` ("quick" or "default") over ``seeds`` seeds (default: the study's own)."""
    return get(name).run(size, seeds_for(name, size, seeds), rng)
