"""Self-contained HTML: images are embedded as base64 PNG, no script, no network access."""

from __future__ import annotations

import base64
import html
import re

__all__ = ["page", "table", "image", "escape", "rst"]

escape = html.escape

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.95em} th,td{border:1px solid #ccc;padding:.35em .7em;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
.row{display:flex;flex-wrap:wrap;gap:1em} .card{flex:1 1 300px;border:1px solid #e3e3e3;border-radius:6px;padding:.6em}
.card img{width:100%;height:auto} .note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .8em}
.meta{color:#666;font-size:.9em} img{max-width:100%} .math{font-family:Cambria,"Times New Roman",serif}
.wide img{width:100%;height:auto} details{margin:1em 0} summary{cursor:pointer;font-weight:600}
"""


def image(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a data URL."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def table(header: list[str], rows: list[list], *, numeric: set[int] = frozenset(), id: str | None = None) -> str:
    """An HTML table; cells are escaped; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{escape(str(c))}</td>' if j in numeric else f"<td>{escape(str(c))}</td>"
                         for j, c in enumerate(r)) + "</tr>"
        for r in rows
    )  # fmt: skip
    ident = f' id="{escape(id)}"' if id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body`` (already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
    "lambda": "λ", "mu": "μ", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
    "chi": "χ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ", "sum": "Σ", "prod": "Π", "pm": "±", "in": "∈",
    "approx": "≈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "neq": "≠", "ne": "≠", "times": "×",
    "cdot": "·", "to": "→", "leftarrow": "←", "rightarrow": "→", "infty": "∞", "partial": "∂", "dots": "…",
    "ldots": "…", "cdots": "⋯", "sim": "~", "langle": "⟨", "rangle": "⟩", "ell": "ℓ", "nabla": "∇",
    "mid": "|", "propto": "∝", "lVert": "‖", "rVert": "‖", "equiv": "≡", "max": "max", "min": "min", "|": "‖", ",": " ", ";": " ", "quad": " ",
}  # fmt: skip
_HEADING = re.compile(r"^(\S[^\n]*)\n([-=~^\"'`#*+])\2{2,}[ \t]*$", re.M)
_INLINE = re.compile(
    r":math:`(?P<math>[^`]+)`|``(?P<code>.+?)``|\*\*(?P<strong>[^*]+?)\*\*|(?<![\w*])\*(?P<em>[^*\s][^*]*?)\*(?![\w*])"
    r"|:[\w:]+:`(?P<role>[^`]+)`|`(?P<ref>[^`]+)`_{0,2}"
)


def _math(tex: str) -> str:
    """LaTeX (already HTML-escaped) as readable text: Greek and operators as Unicode, ^ and _ as sup/sub."""
    for _ in range(3):  # nested groups, innermost first: \\sqrt{1/n_{in}}
        tex = re.sub(r"\^\{([^{}]*)\}|\^([\w*'])", lambda m: f"<sup>{m[1] or m[2]}</sup>", tex)
        tex = re.sub(r"_\{([^{}]*)\}|_(\w)", lambda m: f"<sub>{m[1] or m[2]}</sub>", tex)
        tex = re.sub(r"\\t?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
        tex = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", tex)
        tex = re.sub(r"\\(?:overline|bar)\{([^{}]*)\}", "\\1\u0304", tex)
        tex = re.sub(r"\\hat\s*\{?(\w)\}?", "\\1\u0302", tex)
        tex = re.sub(r"\\(?:mathrm|text|mathbf|mathit|operatorname|mathcal)\{([^{}]*)\}", r"\1", tex)
    tex = re.sub(r"\\(left|right|big|Big)\b", "", tex)
    tex = re.sub(r"\\sqrt\s*(\w)", r"√\1", tex)
    tex = re.sub(r"\\t?frac(\d)(\d)", lambda m: "½" if m[1] + m[2] == "12" else f"{m[1]}/{m[2]}", tex)
    tex = re.sub(r"\\([A-Za-z]+|[|,;])", lambda m: _SYMBOLS.get(m[1], m[1]), tex)
    return tex.replace("{", "").replace("}", "").replace("\\", "")


def _inline(text: str) -> str:
    """One block's inline markup, on text already escaped: roles, literals, emphasis."""

    def one(m: re.Match) -> str:
        kind = m.lastgroup
        body = m[kind]
        if kind == "math":
            return f'<span class="math">{_math(body)}</span>'
        tag = {"code": "code", "strong": "b", "em": "em"}.get(kind)
        return f"<{tag}>{body}</{tag}>" if tag else body

    return _INLINE.sub(one, text)


def rst(text: str, *, heading: str = "h2") -> str:
    """A docstring's reStructuredText as HTML: safe (everything is escaped first) and small.

    Handles what initlab's docstrings use: section headings (a line underlined with ``---``, ``===``, ...),
    paragraphs, bullet lists (``-`` / ``*``), ``literals``, ``:math:`` roles (as Unicode text with
    sub/superscripts), ``*emphasis*``, ``**strong**``, other roles (their text); anything else is
    kept as plain text. Headings become ``heading`` elements.
    """
    text = _HEADING.sub(lambda m: f"\0{m[1].strip()}\n", html.escape(text.strip("\n"), quote=False))
    out = []
    for block in re.split(r"\n[ \t]*\n", text):
        if block.startswith("\0"):
            title, _, block = block[1:].partition("\n")
            out.append(f"<{heading}>{_inline(title)}</{heading}>")
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if re.match(r"[-*] ", lines[0]):
            items = re.split(r"\n(?=[-*] )", "\n".join(lines))
            out.append("<ul>" + "".join(f"<li>{_inline(' '.join(i[2:].split()))}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(out)
