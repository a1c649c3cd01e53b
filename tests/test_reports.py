"""Reports that read true: verdict sentences (one wording rule), study pages without raw RST, figures."""

import operator
import re

import pytest

from initlab import studies
from initlab.studies.base import against, apart, inside

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
COMPARISON = re.compile(rf"({NUMBER})\s*(<=|>=|==|<|>)\s*({NUMBER})(?![\w.])")
OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge, "==": operator.eq}
PASS_WORDS = ("clears it by", "under it by", "inside by", "clear of it by")
FAIL_WORDS = ("short by", "over by", "sticks out by", "overlaps it by")


def test_a_failing_line_reads_short_by():
    assert against("lower CI", 0.027, 0.05) == "lower CI 0.027, line 0.05: short by 0.023"


def test_a_passing_line_reads_clears_it_by():
    assert against("lower CI", 0.081, 0.05) == "lower CI 0.081, line 0.05: clears it by 0.031"


@pytest.mark.parametrize(("value", "word"), [(0.62, "over by 0.12"), (0.42, "under it by 0.08")])
def test_a_ceiling_says_which_side(value, word):
    assert against("upper CI", value, 0.5, above=False) == f"upper CI {value:g}, ceiling 0.5: {word}"


def test_signed_values_keep_their_sign_but_the_gap_has_none():
    assert against("gap", -0.3, 0.0, fmt="+.2f").endswith("line +0.00: short by 0.30")


@pytest.mark.parametrize(
    ("low", "high", "word"),
    [(0.6, 1.5, "inside by 0.1"), (0.4, 1.5, "sticks out by 0.1"), (0.6, 2.3, "sticks out by 0.3")],
)
def test_an_interval_in_a_band(low, high, word):
    assert inside("CI", low, high, 0.5, 2.0).endswith(f"band [0.5, 2]: {word}")


@pytest.mark.parametrize(
    ("low", "high", "word"), [(-5.0, -1.5, "clear of it by 0.5"), (-5.0, -0.8, "overlaps it by 0.2")]
)
def test_an_interval_clear_of_a_band(low, high, word):
    assert apart("CI", low, high, -1.0, 1.0).endswith(f"to avoid [-1, 1]: {word}")


def _criteria(detail: str) -> list[tuple[str, float]]:
    """``(text, margin)`` of each criterion in a verdict's detail (``Verdict.all_of``'s ``text [margin m]; ...``)."""
    parts = re.findall(r"(.*?) \[margin ([^\]]+)\](?:; |$)", detail)
    assert parts, detail
    return [(text, float(m)) for text, m in parts]


@pytest.mark.parametrize("name", sorted(studies.available()))
def test_every_study_verdict_reads_true(study_quick, name):
    """No false ``a > b`` between numbers; every 'by' sentence's side agrees with its criterion's margin."""
    verdict = study_quick(name).verdict
    for a, op, b in COMPARISON.findall(verdict.detail):
        assert OPS[op](float(a), float(b)), (f"{a} {op} {b}", verdict.detail)
    worded = 0
    for text, margin in _criteria(verdict.detail):
        passes = [w for w in PASS_WORDS if f": {w} " in text]
        fails = [w for w in FAIL_WORDS if f": {w} " in text]
        if passes or fails:
            worded += 1
            assert (margin > 0) == bool(passes) and (margin <= 0) == bool(fails), (text, margin)
    assert worded, verdict.detail


def _text(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    import html as std_html

    return " ".join(std_html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("name", ["he2015", "saxe2013"])
def test_a_study_docstring_becomes_text_not_markup(name):
    from initlab.report import html

    doc = studies.get(name).doc
    page = html.rst(doc)
    for markup in ("``", ":math:", "----", "`", "\\"):
        assert markup not in page, markup
    assert all(f"<h2>{h}</h2>" in page for h in ("Claim", "Setup", "Verdict"))
    # the words survive: every plain word of the docstring (no markup characters in it) is on the page
    shown = set(re.findall(r"[A-Za-z]{3,}", _text(page)))
    plain = {w for w in re.findall(r"(?<![\\`:*_{\w])[A-Za-z]{3,}(?![`:*_}\w])", doc) if w not in ("math",)}
    assert plain - shown == set()


def test_rst_escapes_before_it_marks_up():
    from initlab.report import html

    page = html.rst('Title\n-----\n\n<script>alert(1)</script> ``<b>`` :math:`a<b` *x & y*\n\n- one\n- two "q"')
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "<code>&lt;b&gt;</code>" in page and "a&lt;b" in page
    assert "<em>x &amp; y</em>" in page and '<ul><li>one</li><li>two "q"</li></ul>' in page
    assert page.startswith("<h2>Title</h2>")


def test_the_study_page_renders_its_setup(study_quick):
    from initlab.report import study as report

    name = "notebook-seeds"
    page = report.files(studies.get(name), study_quick(name))["report.html"].decode()
    setup = page[page.index('id="setup"') :]
    assert "<pre>" not in page and "``" not in setup and ":math:" not in setup and "-----" not in setup
    assert "<h2>Setup</h2>" in setup and "<h2>Verdict</h2>" in setup


def test_log_safe_breaks_the_line_where_a_log_axis_cannot_go():
    import numpy as np

    from initlab.report.figures import log_safe

    v = log_safe([1.0, 0.0, -2.0, np.inf, np.nan, 1e-30, 3.0])
    assert np.array_equal(np.isnan(v), [False, True, True, True, True, False, False])
    assert v[0] == 1.0 and v[5] == 1e-30 and v[6] == 3.0


def test_decision_boundary_points_stand_out_and_name_their_class():
    import numpy as np
    from matplotlib.colors import to_rgba

    from initlab.report import figures

    X = np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    Y = np.array([[0, 1, 1]])
    fig = figures.decision_boundary(lambda x: (x[:, 0] > 0).astype(int), X, Y, title="t")
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and legend.get_title().get_text() == "class"
    assert [t.get_text() for t in legend.get_texts()] == ["0 (red)", "1 (blue)"]
    points = ax.collections[-1]
    edge = points.get_edgecolors()[0]
    assert max(edge[:3]) < 0.2 and points.get_linewidths()[0] >= 0.5  # dark edges, not hairlines
    region = ax.collections[0]
    assert region.get_alpha() is not None and region.get_alpha() < 1  # lighter than the points
    assert to_rgba(points.get_facecolors()[0])[3] == 1
