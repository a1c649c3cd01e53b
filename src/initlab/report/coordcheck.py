"""``report.html`` of ``initlab coord-check``: the log-log figure, the slope table per layer and step, the readings.

Built from the command's JSON numbers (``coord-check.json``) and its figure's PNG, so the page and the
files say the same thing; self-contained (:mod:`initlab.report.html`).
"""

from __future__ import annotations

from . import html

__all__ = ["page"]


def _slope_table(numbers: dict, kind: str) -> str:
    """One row per layer, one column per step: the seeds' mean slope (min to max)."""
    header = ["layer", *(f"slope after step {t}" if t else "slope at init" for t in range(numbers["steps"] + 1))]
    cells = numbers["slopes"][kind]
    return html.table(header, [[name, *cells[name]] for name in numbers["layers"]], id=f"slopes-{kind}")


def page(numbers: dict, png: bytes, *, title: str) -> str:
    """The page of one coordinate check: ``numbers`` as ``coord-check.json`` holds them, ``png`` its figure."""
    e = html.escape
    body = [
        f"<h1>initlab coord-check</h1><p>{e(title)}</p>",
        f"<p class='meta'>widths {', '.join(map(str, numbers['widths']))}; {numbers['seeds']} seeds; root seed "
        f"{numbers['seed']}; {numbers['wall_time']:.1f} s</p>",
        "<p>Mean |activation| of every layer (and of the logits) against the width after each training step, on "
        "log-log axes: a slope near 0 is width-independent (what muP promises), a slope of 0.5 or more blows up as the "
        "net widens.</p>",
        html.image(png, "mean |activation| against width, one line per step, seeds as bands"),
        "<h2>Readings</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in numbers["readings"]) + "</ul>",
        "<h2>Slopes of mean |activation| against width</h2>",
        "<p>The log-log slope per layer and step: the seeds' mean (their lowest to highest).</p>",
        _slope_table(numbers, "size"),
        "<details><summary>The change since initialization, mean |h<sub>t</sub> - h<sub>0</sub>|</summary>",
        "<ul>" + "".join(f"<li>{e(r)}</li>" for r in numbers["change_readings"]) + "</ul>",
        _slope_table(numbers, "change"),
        "</details>",
    ]
    return html.page(f"coord-check: {title}", "\n".join(body))
