"""``report.html`` of ``initlab jacobian``: the histogram of singular values against the line at 1, the
per-model summary and the reading in words (:mod:`initlab.spectra`). Self-contained (:mod:`initlab.report.html`).
"""

from __future__ import annotations

from . import html

__all__ = ["page"]


def page(numbers: dict, png: bytes, *, title: str) -> str:
    """The page of one ``initlab jacobian`` run: ``numbers`` as ``jacobian.json`` holds them, ``png`` its histogram."""
    e = html.escape
    layers = "-".join(map(str, numbers["layers"]))
    L = len(numbers["layers"]) - 1
    stop = numbers["stop"] if numbers["stop"] is not None else max(L - 1, 1)  # spectra.jacobians' default
    stop = "the logits" if stop == L else f"layer {stop}"
    rows = [[f"model {k}", f"{ms:.4g}", f"{mx:.4g}", f"{rel:.4g}", f"{near:.0%}"]
            for k, (ms, mx, rel, near) in enumerate(zip(numbers["mean_squared"], numbers["max"],
                                                        numbers["relative_spread"], numbers["near_one"]))]  # fmt: skip
    body = [
        f"<h1>initlab jacobian</h1><p>{e(title)}</p>",
        f"<p class='meta'>{e(layers)} {e(numbers['activation'])}, init {e(numbers['init'])}; {numbers['models']} "
        f"models at {numbers['examples']} inputs; root seed {numbers['seed']}</p>",
        f"<p>The singular values s of the Jacobian of {e(stop)} with respect to "
        f"{'the input' if numbers['start'] == 0 else 'layer ' + str(numbers['start'])} at initialization. Dynamical "
        "isometry (Pennington, Schoenholz &amp; Ganguli 2017) is every s near 1, the vertical line.</p>",
        html.image(png, "histogram of the singular values, log axis, line at 1"),
        f"<p><b>Reading</b>: {e(numbers['reading'])}</p>",
        html.table(["model", "mean s²", "largest s", "Var(s²)/⟨s²⟩²", "within 2x of 1"], rows, numeric={1, 2, 3, 4}),
    ]
    return html.page(f"jacobian: {title}", "\n".join(body))
