"""Running sweeps: the same numbers whatever the chunking and worker count, resume, store, export, report, CLI."""

import builtins
import json
import sqlite3

import numpy as np
import pytest

from initlab.jobs.executors import _LocalPool, open_executor
from initlab.network import MLP
from initlab.sweeps import (
    SpecConflict,
    Store,
    load_spec,
    make_plan,
    parse_spec,
    run_sweep,
    worker,
)
from initlab.sweeps.__main__ import main
from initlab.sweeps.catalogue import load_data
from initlab.training import initialize_and_train

SPEC = """
name = "small"
seeds = 3
iterations = 120
record_every = 20
loss_threshold = 0.6
[model]
depth = [2, 3]
width = 6
[[optimizer]]
learning_rate = 0.3
[[init]]
name = "zeros"
[[init]]
name = "random"
scale = [1, 10]
[[init]]
name = "he_normal"
[[init]]
name = "lsuv"
"""
N_RUNS = 2 * 5 * 3


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "small.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    """The sweep trained in this process, all of a group in one chunk."""
    spec, text = load_spec(spec_file)
    out = tmp_path_factory.mktemp("reference")
    outcome = run_sweep(spec, out, spec_text=text, workers=1, chunk_size=64)
    assert (outcome.total, outcome.done, outcome.failed, outcome.trained) == (N_RUNS, N_RUNS, 0, N_RUNS)
    return out


def stored(folder) -> dict:
    """Everything stored per run, by run key."""
    with Store.open(folder) as store:
        rows = {row.key: (row, loss) for row, loss in store.finished_runs()}
        diag = store.diagnostics([row.id for row, _ in rows.values()])
        return {
            key: {
                "status": row.status,
                "final_loss": row.final_loss,
                "train": row.train_accuracy,
                "test": row.test_accuracy,
                "diverged_at": row.diverged_at,
                "loss": loss,
                "params": store.params(row.id),
                "diag": diag.get(row.id),
                "attempts": row.attempts,
                "name": row.name,
            }  # fmt: skip
            for key, (row, loss) in rows.items()
        }


def assert_same_numbers(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        assert x["status"] == y["status"] == "done", x["name"]
        for field in ("final_loss", "train", "test", "diverged_at"):
            assert x[field] == y[field] or (np.isnan(x[field]) and np.isnan(y[field])), (x["name"], field)
        np.testing.assert_array_equal(x["loss"], y["loss"], err_msg=x["name"])
        np.testing.assert_array_equal(x["params"], y["params"], err_msg=x["name"])
        for stage in ("init", "final"):
            np.testing.assert_array_equal(x["diag"][stage], y["diag"][stage], err_msg=x["name"])


def test_same_numbers_with_other_chunks_and_two_worker_processes(spec_file, reference, tmp_path):
    spec, text = load_spec(spec_file)
    outcome = run_sweep(spec, tmp_path / "pool", spec_text=text, workers=2, chunk_size=4)
    assert outcome.done == N_RUNS
    assert_same_numbers(stored(reference), stored(tmp_path / "pool"))


def test_a_run_is_initialize_and_train_with_its_own_stream(reference):
    """An independent recipe (training.initialize_and_train) gives the stored run exactly."""
    spec = Store.open(reference).spec()
    run = next(r for r in make_plan(spec).runs if r.name == "net=2-6-6-1/he_normal/seed=2")
    data = load_data(run.setup.dataset)
    history = initialize_and_train(MLP(run.setup.layers), data.X_train, data.Y_train, init="he_normal",
                                   rng=run.seed_sequence(), learning_rate=0.3, iterations=120, record_every=20,
                                   X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip
    mine = stored(reference)[run.key]
    np.testing.assert_array_equal(mine["loss"][:-1], history.loss[0])
    assert mine["train"] == history.train_accuracy[0] and mine["test"] == history.test_accuracy[0]
    theta = np.concatenate([history.params[f"{p}{l}"].ravel() for l in (1, 2, 3) for p in "Wb"])
    np.testing.assert_array_equal(mine["params"], theta)


MINIBATCH_SPEC = """
name = "minibatch"
seeds = 4
iterations = 60
record_every = 20
[model]
depth = 3
width = 6
[[optimizer]]
name = "adam"
learning_rate = [0.01, 0.003]
batch_size = 50
[[init]]
name = "he_normal"
"""


def test_minibatch_runs_train_together_and_each_is_initialize_and_train(tmp_path):
    """Minibatch runs share a chunk, yet each shuffles with its own stream: chunking changes nothing,
    and every run equals training.initialize_and_train with its seed (an independent recipe)."""
    spec = parse_spec(MINIBATCH_SPEC)
    together = run_sweep(spec, tmp_path / "one", workers=1, chunk_size=64)
    alone = run_sweep(spec, tmp_path / "many", workers=1, chunk_size=1)
    assert together.done == alone.done == 8
    assert_same_numbers(stored(tmp_path / "one"), stored(tmp_path / "many"))
    from initlab import optimizers

    mine = stored(tmp_path / "one")
    for run in make_plan(spec).runs:
        data = load_data(run.setup.dataset)
        history = initialize_and_train(MLP(run.setup.layers), data.X_train, data.Y_train, init="he_normal",
                                       rng=run.seed_sequence(), learning_rate=run.learning_rate, iterations=60,
                                       record_every=20, optimizer=optimizers.get("adam"), batch_size=50,
                                       X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip
        np.testing.assert_array_equal(mine[run.key]["loss"][:-1], history.loss[0], err_msg=run.name)
        assert mine[run.key]["test"] == history.test_accuracy[0]


def test_the_store_holds_every_run_once_with_its_history(reference):
    db = sqlite3.connect(reference / "sweep.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (
        db.execute("SELECT COUNT(*), COUNT(DISTINCT key), SUM(status = 'done'), SUM(attempts) FROM runs").fetchone()
        == (N_RUNS,) * 4
    )
    assert db.execute("SELECT COUNT(*) FROM histories").fetchone()[0] == N_RUNS
    assert db.execute("SELECT COUNT(*) FROM diagnostics").fetchone()[0] == 2 * N_RUNS
    meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["spec_text"] == SPEC and len(meta["fingerprint"]) == 64
    zeros = stored(reference)
    zero_runs = [v for v in zeros.values() if "/zeros/" in v["name"]]
    assert all(v["final_loss"] == pytest.approx(np.log(2)) for v in zero_runs)
    assert all(v["loss"].shape == (7,) for v in zeros.values())  # iterations 0, 20, ..., 100, and 120 (trained)
    db.close()


def test_resume_trains_only_what_is_missing_and_never_twice(spec_file, reference, tmp_path):
    spec, text = load_spec(spec_file)
    seen = []

    def stop_after_two_chunks(p):
        seen.append(p)
        if p.finished >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path, spec_text=text, workers=1, chunk_size=4, progress=stop_after_two_chunks)
    with Store.open(tmp_path) as store:
        assert store.counts() == {"pending": N_RUNS - 8, "done": 8, "failed": 0}
    again = run_sweep(spec, tmp_path, spec_text=text, workers=1, chunk_size=5)
    assert (again.resumed, again.trained, again.done) == (8, N_RUNS - 8, N_RUNS)
    resumed = stored(tmp_path)
    assert all(v["attempts"] == 1 for v in resumed.values())
    assert_same_numbers(stored(reference), resumed)
    nothing = run_sweep(spec, tmp_path, spec_text=text, workers=1)
    assert (nothing.trained, nothing.resumed) == (0, N_RUNS)


def test_another_spec_in_the_same_folder_is_refused(spec_file, reference, tmp_path):
    other = parse_spec(SPEC.replace("seeds = 3", "seeds = 2"))
    with pytest.raises(SpecConflict, match=r"holds another sweep \('small'.*Run with --new to start over"):
        run_sweep(other, reference, workers=1)
    fresh = run_sweep(other, reference, workers=1, new=True)
    assert fresh.out == reference.with_name(reference.name + "-2") and fresh.done == 2 * 5 * 2
    spec, text = load_spec(spec_file)
    renamed = parse_spec(SPEC.replace('name = "small"', 'name = "renamed"'))
    assert run_sweep(renamed, reference, workers=1).trained == 0  # a new name is the same sweep


def test_a_failing_run_is_recorded_and_retried_on_resume(spec_file, tmp_path, monkeypatch):
    spec, text = load_spec(spec_file)
    real = worker.initial_params

    def broken(net, run, X, rng):
        if run.name.endswith("lsuv/seed=1"):
            raise FloatingPointError("no variance")
        return real(net, run, X, rng)

    monkeypatch.setattr(worker, "initial_params", broken)
    outcome = run_sweep(spec, tmp_path, spec_text=text, workers=1)
    assert (outcome.done, outcome.failed) == (N_RUNS - 2, 2)
    with Store.open(tmp_path) as store:
        failed = list(store.runs(status="failed"))
    assert {r.name for r in failed} == {"net=2-6-1/lsuv/seed=1", "net=2-6-6-1/lsuv/seed=1"}
    assert failed[0].message == "initialization failed: FloatingPointError: no variance"
    monkeypatch.setattr(worker, "initial_params", real)
    again = run_sweep(spec, tmp_path, spec_text=text, workers=1)
    assert (again.trained, again.done, again.failed) == (2, N_RUNS, 0)


def test_the_pool_keeps_a_bounded_number_of_chunks_in_flight():
    pulled = []

    def items():
        for i in range(40):
            pulled.append(i)
            yield i

    with _LocalPool(2) as pool:
        for n, _ in enumerate(pool.imap(abs, items()), start=1):
            assert len(pulled) - n <= 2 * 2  # never more than 2 x workers submitted and not collected
    assert len(pulled) == 40


def test_dask_missing_is_one_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith(("distributed", "dask")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(ValueError, match=r"needs Dask, which is not installed: pip install 'initlab\[dask\]'"):
        with open_executor("dask", workers=1):
            pass


# ---------------------------------------------------------------------------------------------
# Export and report
# ---------------------------------------------------------------------------------------------
def test_export_csv_and_parquet_hold_every_run_and_record(reference, tmp_path):
    pd = pytest.importorskip("pandas")
    csv = main(["export", str(reference), "--format", "csv", "--out", str(tmp_path / "csv")])
    assert csv == 0
    runs = pd.read_csv(tmp_path / "csv" / "runs.csv")
    hist = pd.read_csv(tmp_path / "csv" / "histories.csv")
    assert len(runs) == N_RUNS and set(runs.status) == {"done"} and runs.key.is_unique
    assert len(hist) == N_RUNS * 7 and set(hist.iteration) == {0, 20, 40, 60, 80, 100, 120}
    by_name = stored(reference)
    row = runs[runs.name == "net=2-6-1/random*10/seed=0"].iloc[0]
    want = next(v for v in by_name.values() if v["name"] == row["name"])
    assert row.final_loss == want["final_loss"] and row.depth == 2 and row.scale == 10 and row.init_name == "random"
    np.testing.assert_array_equal(hist[hist.name == row["name"]].loss.to_numpy(), want["loss"])
    pytest.importorskip("pyarrow")
    assert main(["export", str(reference), "--format", "parquet", "--out", str(tmp_path / "pq")]) == 0
    pq_runs = pd.read_parquet(tmp_path / "pq" / "runs.parquet")
    pq_hist = pd.read_parquet(tmp_path / "pq" / "histories.parquet")
    assert len(pq_runs) == N_RUNS and len(pq_hist) == N_RUNS * 7
    assert pq_runs.set_index("key").final_loss.equals(runs.set_index("key").final_loss)


def test_report_is_one_self_contained_page(reference, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(reference), "--out", str(tmp_path)]) == 0
    page = out.read_text()
    for section in ("<h2>Summary</h2>", "Loss during training", "against the initialization&#x27;s scale",
                    "against depth", "Decision boundaries", "Activations by layer", "<h2>Spec</h2>"):  # fmt: skip
        assert section in page, section
    assert page.count("data:image/png;base64,") == 1 + 2 + 10 + 1  # curves, scale and depth, 10 boundaries, 1 profile
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert 'id="summary"' in page and "he_normal" in page
    # the summary table is collapsible: inside a <details> block (open, this one is short)
    details = page[page.index("<details") : page.index("</details>")]
    assert 'id="summary"' in details and details.startswith("<details open>")
    assert f"wrote {out}" in capsys.readouterr().err


def test_report_figures_integer_layers_legends_off_the_curves(reference, monkeypatch):
    from initlab.report import figures, sweep

    drawn = []
    real = figures.png_bytes
    monkeypatch.setattr(figures, "png_bytes", lambda fig, **kw: drawn.append(fig) or real(fig, **kw))
    sweep.render(sweep.collect(Store.open(reference)))
    axes = [ax for fig in drawn for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]
    layered = [ax for ax in axes if ax.get_xlabel().startswith(("layer", "depth"))]
    assert layered and all(float(t).is_integer() for ax in layered for t in ax.get_xticks())
    # one legend per figure, beside the panels rather than over a curve
    assert all(ax.get_legend() is None for ax in axes)
    with_lines = [fig for fig in drawn if any(ax.get_legend_handles_labels()[1] for ax in fig.axes)]
    assert with_lines and all(len(fig.legends) == 1 for fig in with_lines)


# ---------------------------------------------------------------------------------------------
# The command line (python -m initlab.sweeps, the same code as `initlab sweep`)
# ---------------------------------------------------------------------------------------------
def test_plan_prints_runs_groups_and_an_estimate(spec_file, capsys):
    assert main(["plan", str(spec_file), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "Sweep 'small'" in out and "30 runs: 2 network × 5 init × 3 seed" in out
    assert "net=2-6-1/zeros/seed=0" in out and "the first 10 and the last 5 of 30" in out
    assert "circles 2-6-1 relu, gd, 120 iterations: 15 runs" in out
    assert "Estimate for 30 runs" in out and "on 2 worker(s)" in out and "per worker process" in out


def test_plan_knows_what_a_folder_already_holds(spec_file, reference, capsys):
    assert main(["plan", str(spec_file), "--out", str(reference)]) == 0
    assert "Nothing to train: every run is done." in capsys.readouterr().out


def test_run_and_summary_from_the_command_line(spec_file, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main([str(spec_file), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Sweep 'small': 30/30 runs done" in text and "iters to loss ≤ 0.6" in text
    assert "random*10" in text and "2-6-6-1" in text and "never (0/3)" in text


def test_progress_lines_when_not_a_terminal(spec_file, tmp_path, capsys):
    assert main(["run", str(spec_file), "--out", str(tmp_path), "--workers", "1", "--chunk-size", "10"]) == 0
    err = capsys.readouterr().err
    assert "sweep: 0/30 runs (0%)" in err and "sweep: 30/30 runs (100%)" in err and "models/s" in err
    assert "sweep 'small': 30/30 runs done, 30 trained" in err


BAD_COMMANDS = [
    (["run", "{spec}", "--out", "{empty}", "--workers", "0"], "The '--workers' option must be >= 1"),
    (
        ["run", "{spec}", "--out", "{empty}", "--executor", "slurm"],
        "The '--executor' option must be one of {'local', 'dask'}",
    ),
    (["run", "{spec}", "--out", "{empty}", "--chunk-size", "0"], "The '--chunk-size' option must be >= 1"),
    (["run", "{missing}", "--out", "{empty}"], "cannot read the sweep spec"),
    (["run", "{bad}", "--out", "{empty}"], "bad.toml: top level: Unknown key 'seed'. Did you mean 'seeds'?"),
    (["summary", "{empty}"], "holds no sweep (sweep.sqlite not found)"),
    (["report", "{empty}"], "holds no sweep"),
    (["export", "{empty}"], "holds no sweep"),
    (["export", "{empty}", "--format", "xlsx"], "The '--format' option must be one of {'csv', 'parquet'}. Got 'xlsx'"),
    (["plan", "{bad}"], "Unknown key 'seed'"),
]


@pytest.mark.parametrize(
    ("argv", "message"), BAD_COMMANDS, ids=[" ".join(a[:2]) + str(i) for i, (a, _) in enumerate(BAD_COMMANDS)]
)
def test_bad_input_is_one_line_and_exit_2(spec_file, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = 3\n[[init]]\nname = 'zeros'\n")
    paths = {"spec": spec_file, "missing": tmp_path / "missing.toml", "bad": bad, "empty": tmp_path}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("initlab: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "sweep.sqlite").exists()


def test_another_spec_in_the_folder_is_a_one_line_error(spec_file, reference, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace("seeds = 3", "seeds = 1"))
    assert main(["run", str(other), "--out", str(reference)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Run with --new to start over in a fresh folder" in err


def test_register_adds_the_commands_once():
    import typer

    from initlab import cli
    from initlab.sweeps.cli import register

    app = typer.Typer()
    register(app)
    register(app)
    assert [g.name for g in app.registered_groups] == ["sweep"]
    assert app.registered_commands == []  # `initlab report` (sweeps and studies) is initlab.cli's own command
    assert [c.name for c in cli.app.registered_commands].count("report") == 1


def test_store_rows_carry_the_config(reference):
    with Store.open(reference) as store:
        row = next(store.runs())
    assert row.config["layers"] == [2, 6, 1] and row.config["labels"]["init"] == "zeros"
    assert json.loads(json.dumps(row.config)) == row.config


def test_the_terminal_progress_bar_shows_rate_and_eta():
    import io

    from initlab.jobs.progress import Progress, ProgressDisplay

    stream = io.StringIO()
    with ProgressDisplay(stream=stream, tty=True) as show:
        show(Progress(0, 10, 0, 0, 0, 0.0))
        show(Progress(4, 10, 0, 0, 4, 2.0))
    text = stream.getvalue()
    assert "4/10" in text and "2.0 models/s" in text and "ETA 3.0 s" in text
    quiet = io.StringIO()
    with ProgressDisplay(stream=quiet, tty=True, quiet=True) as show:
        show(Progress(4, 10, 0, 0, 4, 2.0))
    assert quiet.getvalue() == ""
