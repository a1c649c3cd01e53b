"""`initlab reproduce`: the main job, its outputs and its errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from arithmetic import USER_SHELLS, controlled_env, run_python

from initlab import course
from initlab.cli import main

EXPECTED = (Path(__file__).parent / "notebook" / "expected_004.txt").read_text()
NOTEBOOK_COSTS = [float(v) for v in re.findall(r"Cost after iteration \d+: (\S+)", EXPECTED)]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One full `initlab reproduce` with the notebook's settings (about 5 s)."""
    out = tmp_path_factory.mktemp("reproduce") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["reproduce", "--out", str(out)])
    return code, out, stdout.getvalue(), stderr.getvalue()


@pytest.mark.slow
def test_default_run_writes_every_output(default_run):
    code, out, stdout, stderr = default_run
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "boundary_he.png",
        "boundary_random.png",
        "boundary_zeros.png",
        "cost_curves.png",
        "report.html",
        "results.json",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.parent.glob(".out.*")), "temporary folder left behind"
    # the notebook's table, with measured numbers
    for line in ("zeros initialization", "large random initialization", "He initialization"):
        assert line in stdout
    assert "99.33%" in stdout and "50.00%" in stdout
    if "(notebook arithmetic)" in stdout:  # the x10 run's numbers need the notebook's kernels (test_course)
        assert "83.00%" in stdout and "86.00%" in stdout


@pytest.mark.slow
def test_results_json_holds_the_notebooks_costs(default_run):
    _, out, _, _ = default_run
    results = json.loads((out / "results.json").read_text())
    models = results["models"]
    assert results["config"]["iterations"] == 15000 and results["config"]["seed"] == 3
    notebook = results["config"]["arithmetic_used"] == "notebook"
    # without the notebook's kernels (a CPU without AVX2) the chaotic x10 run is not the notebook's: see test_course
    kinds = ("zeros", "random", "he") if notebook else ("zeros", "he")
    expected = {"zeros": (0.5, 0.5), "random": (0.83, 0.86), "he": (0.9933333333333333, 0.96)}
    assert [(models[k]["train_accuracy"], models[k]["test_accuracy"]) for k in kinds] == [expected[k] for k in kinds]
    printed = {k: models[k]["printed_costs"] for k in ("zeros", "random", "he")}
    assert [len(v) for v in printed.values()] == [15, 15, 15]
    for block, kind in enumerate(("zeros", "random", "he")):
        for i, got in enumerate(printed[kind]):
            want = NOTEBOOK_COSTS[15 * block + i]
            if math.isinf(want):
                assert got is None  # inf is stored as null (JSON has no inf)
            elif kind in kinds:
                assert got == pytest.approx(want, rel=1e-9)
    # the stable loss from logits is finite where the notebook's is inf
    assert models["random"]["stable_initial_cost"] > 100
    assert models["he"]["stable_initial_cost"] == pytest.approx(NOTEBOOK_COSTS[30], rel=1e-12)
    assert results["timings"]["wall_seconds"] > 0


@pytest.mark.slow
def test_report_is_self_contained(default_run):
    _, out, _, _ = default_run
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), (
        "the report must not load anything from the network"
    )
    assert "<script" not in page
    assert 'id="summary"' in page and "fails to break symmetry" in page
    # the explanations are built from the measured numbers
    assert "1 distinct unit(s) of 10" in page
    assert "the first cost is inf" in page


_SAME_AS_MODEL = """
import contextlib, io, json, sys
import numpy as np
from initlab import course
from initlab.reproduce import ReproduceConfig, run
result = run(ReproduceConfig(iterations=2000, arithmetic=sys.argv[1]))
X, Y, _, _ = course.load_dataset(plot=False)
same = {}
for kind, r in result.results.items():
    with contextlib.redirect_stdout(io.StringIO()):
        ref = course.model(X, Y, num_iterations=2000, initialization=kind)
    same[kind] = bool(np.array_equal(r.printed_costs, ref.costs) and all(np.array_equal(r.parameters[k], ref[k]) for k in ref))
print(json.dumps({"used": result.arithmetic, "here": course.arithmetic_in_use(), "same": same}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("shell", list(USER_SHELLS))
@pytest.mark.parametrize("arithmetic", ["native", "notebook"])
def test_reproduce_run_equals_the_notebook_model_bit_for_bit(arithmetic, shell):
    """The parallel, preallocated children against course.model in their parent, bit for bit.

    The parent is a new interpreter in an environment the test sets (a clean one, or a cluster
    shell's OPENBLAS_CORETYPE=Haswell), started with the notebook's kernels when the children are:
    ``--arithmetic native`` means the user's environment, which the children inherit, so parent
    and children compute alike; ``notebook`` selects the notebook's kernels in both.
    """
    notebook = course.notebook_arithmetic_env() if arithmetic == "notebook" else None
    code = _SAME_AS_MODEL.replace("sys.argv[1]", repr(arithmetic))
    found = json.loads(run_python(code, controlled_env(USER_SHELLS[shell], notebook)))
    assert found["same"] == {"zeros": True, "random": True, "he": True}
    assert found["used"] == found["here"]  # the children computed as the parent does
    if notebook is not None:
        assert found["used"] == "notebook"


def test_another_seed_says_the_table_depends_on_it(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path / "s7"), "--seed", "7", "--iterations", "1000", "-q"]) == 0
    captured = capsys.readouterr()
    assert "seed 7" in captured.out and "depends on" in captured.out
    page = (tmp_path / "s7" / "report.html").read_text()
    assert "the table depends on the seed" in page
    seven = json.loads((tmp_path / "s7" / "results.json").read_text())["models"]["he"]["parameters"]["W1"]
    assert not np.allclose(seven, course.initialize_parameters_he([2, 10, 5, 1])["W1"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--iterations", "-5"], "'--iterations' option must be >= 1"),
        (["--iterations", "0"], "'--iterations' option must be >= 1"),
        (["--iterations", "ten"], "Invalid value for '--iterations'"),
        (["--learning-rate", "abc"], "Invalid value for '--learning-rate'"),
        (["--learning-rate", "-0.1"], "'--learning-rate' option must be > 0.0"),
        (["--learning-rate", "nan"], "'--learning-rate' option must be finite"),
        (["--seed", "-1"], "'--seed' option must be >= 0"),
        (["--arithmetic", "fast"], "'--arithmetic' option must be one of"),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, message, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["reproduce", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("initlab: error: ") and message in err, err
    assert "Traceback" not in err
    assert not out.exists(), "nothing may be written on bad input"


def test_out_must_be_a_writable_folder(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    cases = [
        (a_file, "is an existing file, not a folder"),
        (a_file / "sub", "is a file"),
        (Path("/proc/initlab-cannot-write-here"), "not writable"),
    ]
    for out, message in cases:
        assert main(["reproduce", "--out", str(out), "--iterations", "1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert a_file.read_text() == "keep me"


def test_help_reads_well(capsys):
    assert main(["--help"]) == 0
    assert "reproduce" in capsys.readouterr().out
    assert main(["reproduce", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--iterations", "--learning-rate", "--seed"):
        assert flag in text
