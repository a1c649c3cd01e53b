"""initlab.course against the notebook's own printed numbers (shared/seeds/004, August 2024)."""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from arithmetic import USER_SHELLS, controlled_env, run_python

from initlab import course

HERE = Path(__file__).parent / "notebook"
CELLS = HERE / "cells_004.py"
EXPECTED = (HERE / "expected_004.txt").read_text()

COST = re.compile(r"Cost after iteration (\d+): (\S+)")
ACCURACY = re.compile(r"Accuracy: (\S+)")
ARRAY = re.compile(r"((?:W|b)\d) = (\[\[.*?\]\])(?=\s*(?:[Wb]\d = |All tests))", re.S)
PREDICTIONS = re.compile(r"\[\[([01\s]+)\]\]")


def run_cells(*overlays) -> str:
    """The notebook's cells in a new interpreter whose environment the test controls (tests/arithmetic.py)."""
    proc = subprocess.run([sys.executable, str(CELLS)], capture_output=True, text=True,
                          env=controlled_env(*overlays), timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module", params=list(USER_SHELLS))
def notebook_arithmetic_output(request):
    """Under the notebook's kernels, whatever the user's shell had set (they override it)."""
    env = course.notebook_arithmetic_env()
    if env is None:
        pytest.skip("the notebook's arithmetic (glibc exp + OpenBLAS Haswell kernel) needs an x86-64 CPU with AVX2")
    return run_cells(USER_SHELLS[request.param], env)


@pytest.fixture(scope="module", params=list(USER_SHELLS))
def native_output(request):
    """Under whatever kernels the user's shell selects (here: none set, or a cluster's OPENBLAS_CORETYPE)."""
    return run_cells(USER_SHELLS[request.param])


def costs(text):
    return [(int(i), float(v)) for i, v in COST.findall(text)]


def assert_costs_close(got, want, rtol):
    assert len(want) == 45 and len(got) == 45
    for (gi, gv), (wi, wv) in zip(got, want):
        assert gi == wi
        if math.isinf(wv):
            assert math.isinf(gv), f"iteration {gi}: expected inf, got {gv}"
        else:
            assert gv == pytest.approx(wv, rel=rtol, abs=0), f"iteration {gi}: {gv} vs notebook {wv}"


def assert_predictions_match(got_text, want_text):
    """Row-aware comparison of the printed 0/1 prediction vectors.

    The PDF's text lost or doubled a digit in a few rows (37 or 35 digits where numpy prints 36);
    a difference is accepted only as a single-digit edit inside such a broken row.
    """
    got_blocks = PREDICTIONS.findall(got_text)
    want_blocks = PREDICTIONS.findall(want_text)
    assert len(got_blocks) == len(want_blocks) == 4
    for got, want, m in zip(got_blocks, want_blocks, (300, 100, 300, 100)):
        g = got.split()
        assert len(g) == m
        w_rows = [row.split() for row in want.splitlines() if row.split()]
        w = [t for row in w_rows for t in row]
        if set(w) == {"0"}:  # zeros init: the PDF re-wrapped these rows; every prediction is 0
            assert set(g) == {"0"}
            continue
        row_of = [r for r, row in enumerate(w_rows) for _ in row]
        broken = {r for r, row in enumerate(w_rows) if len(row) != 36 and r != len(w_rows) - 1}
        ops = [op for op in difflib.SequenceMatcher(a=w, b=g, autojunk=False).get_opcodes() if op[0] != "equal"]
        for tag, i1, i2, j1, j2 in ops:
            assert tag in ("insert", "delete") and max(i2 - i1, j2 - j1) == 1, (tag, i1, i2, j1, j2)
            assert row_of[min(i1, len(w) - 1)] in broken, f"difference outside a broken PDF row at digit {i1}"
        assert len(ops) <= len(broken)


@pytest.mark.slow
def test_notebook_cells_print_the_notebooks_numbers(notebook_arithmetic_output):
    """All 45 cost lines to 1e-9 (inf included), the 6 accuracies exactly, initializer printouts, predictions."""
    out = notebook_arithmetic_output
    assert_costs_close(costs(out), costs(EXPECTED), rtol=1e-9)
    assert (
        ACCURACY.findall(out)
        == ACCURACY.findall(EXPECTED)
        == ["0.5", "0.5", "0.83", "0.86", "0.9933333333333333", "0.96"]
    )
    assert out.count("All tests passed.") == 3
    got_arrays = [(k, v.split()) for k, v in ARRAY.findall(out)]
    want_arrays = [(k, v.split()) for k, v in ARRAY.findall(EXPECTED)]
    assert len(want_arrays) == 12 and got_arrays == want_arrays
    assert_predictions_match(out, EXPECTED)


@pytest.mark.slow
def test_native_arithmetic_differs_only_where_training_is_chaotic(native_output):
    """Without the notebook's kernels, zeros and He still print the notebook's costs to 1e-9.

    The x10 random run does not, and nothing about its later costs can be promised: it is chaotic
    (a last-bit difference of ``exp`` or of the matrix product grows ~10x every 20 iterations), so
    which kernel a CPU or a shell variable selects decides its printed costs from iteration 1,000
    on, and its accuracies too on some machines. What holds everywhere is its first cost (inf, the
    notebook's log of 0) and its first iterations (next test).
    """
    got, want = costs(native_output), costs(EXPECTED)
    assert [i for i, _ in got] == [i for i, _ in want]
    blocks = ["zeros"] * 15 + ["random"] * 15 + ["he"] * 15
    for (gi, gv), (_wi, wv), block in zip(got, want, blocks):
        if block != "random":
            assert gv == pytest.approx(wv, rel=1e-9), (block, gi)
    assert math.isinf(got[15][1]) and math.isinf(want[15][1])
    accuracies = ACCURACY.findall(native_output)
    assert accuracies[:2] + accuracies[4:] == ["0.5", "0.5", "0.9933333333333333", "0.96"]


_RANDOM_TRAJECTORY = """
import json
from initlab import course
X, Y, _, _ = course.load_dataset(plot=False)
_, trace = course.train_preallocated(X, Y, course.initialize_parameters_random([2, 10, 5, 1]), num_iterations=120)
print(json.dumps([course.arithmetic_in_use(), [repr(float(c)) for c in trace]]))
"""


def test_the_chaotic_run_agrees_across_arithmetics_in_its_first_iterations():
    """The x10 random run's first 100 costs agree to 1e-6 under every kernel choice (measured here: to 3e-11).

    Each side is a new interpreter in an environment the test sets: the notebook's kernels, a clean
    native one, and a cluster shell's OPENBLAS_CORETYPE. Past ~200 iterations they part ways
    (chaos), which is why the notebook's printed costs need the notebook's kernels.
    """
    sides = {name: controlled_env(shell) for name, shell in USER_SHELLS.items()}
    if course.notebook_arithmetic_env() is not None:
        sides["notebook"] = controlled_env(course.notebook_arithmetic_env())
    traces = {}
    for name, env in sides.items():
        used, trace = json.loads(run_python(_RANDOM_TRAJECTORY, env))
        traces[name] = np.array([float(c) for c in trace])
        if name == "notebook":
            assert used == "notebook"
    reference = traces.pop("clean")
    assert np.isinf(reference[0])
    for name, trace in traces.items():
        assert np.isinf(trace[0])
        np.testing.assert_allclose(trace[1:100], reference[1:100], rtol=1e-6, err_msg=name)


def test_notebook_arithmetic_env_is_the_same_from_a_process_already_under_it():
    """A process started with the notebook's kernels (numpy then reports AVX-512 as absent) starts its children so too."""
    env = course.notebook_arithmetic_env()
    if env is None:
        pytest.skip("the notebook's arithmetic needs an x86-64 CPU with AVX2")
    code = "import json; from initlab import course; print(json.dumps([course.notebook_arithmetic_env(), course.arithmetic_in_use()]))"
    again, used = json.loads(run_python(code, controlled_env(env)))
    assert used == "notebook" and again == env


def test_preallocated_loop_is_bit_identical_to_model():
    X, Y, _, _ = course.load_dataset()
    for init, fn in (("random", course.initialize_parameters_random), ("he", course.initialize_parameters_he)):
        with contextlib.redirect_stdout(io.StringIO()):
            ref = course.model(X, Y, num_iterations=1500, initialization=init)
        params, trace = course.train_preallocated(X, Y, fn([2, 10, 5, 1]), num_iterations=1500, record_every=7)
        for key in ref:
            assert np.array_equal(params[key], ref[key]), key
        assert np.array_equal(trace, ref.cost_trace[::7])


def test_model_returns_the_notebooks_dict_with_history():
    X, Y, _, _ = course.load_dataset()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        params = course.model(X, Y, num_iterations=2001, initialization="he")
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert params["W1"].shape == (10, 2) and params["b3"].shape == (1, 1)
    assert params.costs == [float(v) for _, v in COST.findall(buf.getvalue())] and len(params.costs) == 3
    assert params.cost_trace.shape == (2001,)
    assert params.cost_trace[0] == params.costs[0] == 0.8830537463419761
    with pytest.raises(ValueError, match="'initialization' parameter of model must be one of"):
        course.model(X, Y, num_iterations=1, initialization="xavier")


def test_load_dataset_is_make_circles_under_the_notebooks_global_seeds():
    from sklearn.datasets import make_circles

    state = np.random.get_state()
    try:
        np.random.seed(1)
        a, ya = make_circles(n_samples=300, noise=0.05)
        np.random.seed(2)
        b, yb = make_circles(n_samples=100, noise=0.05)
    finally:
        np.random.set_state(state)
    before = np.random.get_state()[1].copy()
    train_X, train_Y, test_X, test_Y = course.load_dataset(plot=False)
    assert np.array_equal(np.random.get_state()[1], before), "load_dataset must not touch numpy's global generator"
    assert train_X.shape == (2, 300) and train_Y.shape == (1, 300) and test_X.shape == (2, 100)
    assert np.array_equal(train_X, a.T) and np.array_equal(train_Y[0], ya)
    assert np.array_equal(test_X, b.T) and np.array_equal(test_Y[0], yb)


@pytest.mark.parametrize(
    "kind, wrong, message",
    [
        (
            "zeros",
            lambda d: (
                {f"W{l}": np.zeros((d[l - 1], d[l])) for l in range(1, len(d))}
                | {f"b{l}": np.zeros((d[l], 1)) for l in range(1, len(d))}
            ),
            "has shape",
        ),
        ("zeros", lambda d: {f"W{l}": np.zeros((d[l], d[l - 1])) for l in range(1, len(d))}, "missing"),
        ("random", lambda d: course.initialize_parameters_he(d), "wrong values"),
        (
            "he",
            lambda d: {k: (v * 2 if k.startswith("W") else v) for k, v in course.initialize_parameters_he(d).items()},
            "wrong values",
        ),
        ("he", lambda d: {k: v.astype(int) for k, v in course.initialize_parameters_he(d).items()}, "dtype"),
    ],
)
def test_public_tests_explain_what_is_wrong(kind, wrong, message, capsys):
    check = getattr(course, f"initialize_parameters_{kind}_test")
    with pytest.raises(AssertionError, match=message):
        check(wrong)
    assert "All tests passed." not in capsys.readouterr().out


def test_public_tests_pass_the_reference_implementations(capsys):
    course.initialize_parameters_zeros_test(course.initialize_parameters_zeros)
    course.initialize_parameters_random_test(course.initialize_parameters_random)
    course.initialize_parameters_he_test(course.initialize_parameters_he)
    assert capsys.readouterr().out.count("All tests passed.") == 3


def test_plots_work_headless_and_never_call_show(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() called without a display"))
    X, Y, _, _ = course.load_dataset(plot=True)
    params = course.initialize_parameters_he([2, 10, 5, 1])
    plt.figure()
    course.plot_decision_boundary(lambda x: course.predict_dec(params, x.T), X, Y)
    assert len(plt.gca().collections) >= 2  # the filled contour and the scatter
    with contextlib.redirect_stdout(io.StringIO()):
        course.model(X, Y, num_iterations=10, initialization="zeros")
    plt.close("all")


def test_compute_loss_is_inf_where_the_notebook_prints_inf():
    a3 = np.array([[1.0, 0.2]])
    Y = np.array([[0, 1]])
    assert math.isinf(course.compute_loss(a3, Y))
    assert course.compute_loss(np.array([[0.5, 0.5]]), Y) == pytest.approx(math.log(2))
