"""Self-contained HTML: images are embedded as base64 PNG, no script, no network access."""

from __future__ import annotations

import base64
import html

__all__ = ["page", "table", "image", "escape"]

escape = html.escape

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.95em} th,td{border:1px solid #ccc;padding:.35em .7em;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
.row{display:flex;flex-wrap:wrap;gap:1em} .card{flex:1 1 300px;border:1px solid #e3e3e3;border-radius:6px;padding:.6em}
.card img{width:100%;height:auto} .note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .8em}
.meta{color:#666;font-size:.9em} img{max-width:100%}
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
