"""Residual nets in sweeps: [model] blocks, the structural initializers, runs, resume, summary, report, compatibility."""

import csv
import hashlib

import numpy as np
import pytest

from initlab import seeding
from initlab.diagnostics import measure
from initlab.residual import ResidualMLP, scalars_for
from initlab.sweeps import SpecError, Store, load_spec, make_plan, parse_spec, run_sweep, worker
from initlab.sweeps.__main__ import main
from initlab.sweeps.catalogue import load_data
from initlab.sweeps.plan import chunk_bytes, make_chunks
from initlab.sweeps.summary import summarize
from initlab.training import train

SPEC = """
name = "tiny_residual"
seeds = 2
iterations = 40
record_every = 10
loss_threshold = 0.6
[model]
blocks = [2, 4]
width = 6
[[optimizer]]
learning_rate = 0.1
[[init]]
name = "he_normal"
[[init]]
name = "fixup"
[[init]]
name = "rezero"
[[init]]
name = "zero_last"
[[init]]
name = "lsuv"
"""
N_RUNS = 2 * 5 * 2  # blocks x inits x seeds


def parse(text: str):
    return parse_spec(text, source="spec.toml")


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny_residual.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    """The tiny residual sweep run end to end in this process."""
    spec, text = load_spec(spec_file)
    out = tmp_path_factory.mktemp("reference")
    outcome = run_sweep(spec, out, spec_text=text, workers=1)
    assert (outcome.total, outcome.done, outcome.failed, outcome.trained) == (N_RUNS, N_RUNS, 0, N_RUNS)
    return out


# ---------------------------------------------------------------------------------------------
# Spec
# ---------------------------------------------------------------------------------------------
def test_a_residual_spec_reads_with_its_defaults():
    spec = parse(SPEC)
    m = spec.model
    assert m.is_residual and (m.blocks, m.width, m.branch_depth, m.norm) == ((2, 4), 6, (2,), ("none",))
    assert m.hidden is None and m.depth is None
    assert spec.diagnostics is True and spec.engine == "numpy"
    assert [i.name for i in spec.init] == ["he_normal", "fixup", "rezero", "zero_last", "lsuv"]
    again = type(spec).from_dict(spec.to_dict(), source="dict")  # the canonical form reads back to the same sweep
    assert again == spec and again.fingerprint() == spec.fingerprint()
    other = parse(SPEC.replace("blocks = [2, 4]", "blocks = [2, 4]\nbranch_depth = [2, 3]\nnorm = ['none', 'layer']"))
    assert (other.model.branch_depth, other.model.norm) == ((2, 3), ("none", "layer"))
    assert other.fingerprint() != spec.fingerprint()


BAD = [
    ("[[init]]\nname = 'fixup'",
     ["[[init]] #1 ('fixup')", "structural initializer of residual nets", "Zhang, Dauphin & Ma 2019",
      "[model] has no 'blocks'", "blocks = [4, 16]"]),
    ("[model]\ndepth = [3]\nwidth = 4\n[[init]]\nname = 'he_normal'\n[[init]]\nname = 'rezero'",
     ["[[init]] #2 ('rezero')", "[model] has no 'blocks'"]),
    ("[model]\nbranch_depth = 3\n[[init]]\nname = 'he_normal'", ["[model]", "'branch_depth' key", "'blocks' is not given"]),
    ("[model]\nnorm = 'layer'\n[[init]]\nname = 'he_normal'", ["[model]", "'norm' key", "'blocks' is not given"]),
    ("[model]\nblocks = [4]\n[[init]]\nname = 'fixup'", ["[model]", "needs 'width'", "width = 16"]),
    ("[model]\nblocks = [4]\nwidth = 8\ndepth = [3]\n[[init]]\nname = 'fixup'", ["[model]", "'depth' key", "Give one"]),
    ("[model]\nblocks = [4]\nwidth = 8\nhidden = [8]\n[[init]]\nname = 'fixup'", ["[model]", "'hidden' key"]),
    ("[model]\nblocks = [0]\nwidth = 8\n[[init]]\nname = 'fixup'", ["[model]", "'blocks' key must be >= 1", "Got 0"]),
    ("[model]\nblocks = []\nwidth = 8\n[[init]]\nname = 'fixup'", ["[model]", "'blocks' key is an empty list"]),
    ("[model]\nblocks = [4, 4]\nwidth = 8\n[[init]]\nname = 'fixup'", ["'blocks' key lists 4 more than once"]),
    ("[model]\nblocks = 4\nwidth = 8\nnorm = 'batch'\n[[init]]\nname = 'fixup'",
     ["[model]", "'norm' key must be one of", "'layer'", "Got 'batch'"]),
    ("[model]\nblocks = 4\nwidth = 8\n[[init]]\nname = 'fixup'\noptions = {alpha0 = 0.1}",
     ["[[init]] #1 ('fixup')", "alpha0"]),
    ("[model]\nblocks = 4\nwidth = 8\nbranch_dept = 2\n[[init]]\nname = 'fixup'",
     ["[model]", "Unknown key 'branch_dept'", "Did you mean 'branch_depth'?"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_residual_specs_are_refused_when_read(text, expected):
    with pytest.raises(SpecError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith("spec.toml: ") and "\n" not in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "parameter" not in message  # TOML has keys


def test_the_numba_engine_is_taken_for_residual_nets():
    spec = parse("engine = 'numba'\n[model]\nblocks = 4\nwidth = 8\nnorm = ['none', 'layer']\n[[init]]\nname = 'fixup'")
    assert spec.engine == "numba" and spec.model.is_residual


def test_cli_refuses_a_structural_init_without_blocks_in_one_line(tmp_path, capsys):
    path = tmp_path / "plain.toml"
    path.write_text("[[init]]\nname = 'he_normal'\n[[init]]\nname = 'skipinit'\n")
    assert main(["plan", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "skipinit" in lines[0] and "blocks" in lines[0] and "Traceback" not in captured.err


# ---------------------------------------------------------------------------------------------
# Old specs: the same identity, runs, keys and streams as before residual nets existed
# ---------------------------------------------------------------------------------------------
# Computed with the code before this change (commit fffa725): fingerprint, run count, first and
# last run keys, sha256 over every run's key + name + spawn key, sha256 of run 5's stored record.
GOLDEN = {
    "examples/notebook_seeds.toml": (
        "4c058f36b1ffc84386b1c8db52e556af1f2e35c8ec90ddad8135b8d7913e84bc", 90, "f98c6601ee3957c6c536fe56f0b77190",
        "edec7c24cf91cdf85afed3976d5635c5", "40e75ccb5e2265b6792067fa8d1808f850fe3f83438f480888c71558c7a06ca5",
        "12b67a7abd4b1aaa9a34dd9a22fe0812ead37631bdd761dc2d42e51860a4d56d",
    ),
    "examples/scale_depth.toml": (
        "b63773f481b34858b70c9bc5da0cad2dbcde9506c54490ee17fb275096bb8b7a", 900, "1bd9aa51153459b0de8c458d4d54002e",
        "a1aee236f4dd2a4b70ed8e4d4488e852", "9b91eb1f2d4b9f4236236f4186c519124b8ea97f1d89dfaf15dc1ec6c3ffdac1",
        "d00a455136dc62e27bf8453701064504871a9a36972cc998d3b6ba3be38b0c13",
    ),
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(GOLDEN))
def test_old_specs_load_and_plan_exactly_as_before(path, request):
    from initlab.sweeps.spec import sha256_json

    spec, _ = load_spec(request.config.rootpath / path)
    assert "blocks" not in spec.to_dict()["model"] and spec.diagnostics is True
    plan = make_plan(spec)
    runs = plan.runs
    streams = "".join(r.key + r.name + str(r.seed_sequence().spawn_key) for r in runs)
    got = (spec.fingerprint(), len(runs), runs[0].key, runs[-1].key, hashlib.sha256(streams.encode()).hexdigest(),
           sha256_json(runs[5].record()))  # fmt: skip
    assert got == GOLDEN[path]
    assert all(setup.blocks is None and setup.residual is None for setup, _ in plan.groups)


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------
def test_plan_groups_by_blocks_and_by_the_scalars_each_init_needs():
    plan = make_plan(parse(SPEC))
    assert len(plan.runs) == N_RUNS and plan.varying == ("network", "init", "seed")
    assert len({r.key for r in plan.runs}) == N_RUNS
    assert plan.runs[0].name == "net=2-6-1 res B=2/he_normal/seed=0"
    groups = {(s.blocks, s.scalars): [r.init for r in runs] for s, runs in plan.groups}
    # fixup needs its multipliers and scalar biases, rezero its alpha: neither trains with the plain nets
    assert groups == {(b, s): inits for b in (2, 4) for s, inits in
                      (("none", ["he_normal"] * 2 + ["zero_last"] * 2 + ["lsuv"] * 2), ("fixup", ["fixup"] * 2),
                       ("alpha", ["rezero"] * 2))}  # fmt: skip
    for setup, runs in plan.groups:
        assert all(scalars_for(r.init) == setup.scalars for r in runs)
        net = setup.net()
        assert isinstance(net, ResidualMLP) and (net.n_in, net.width, net.n_out, net.blocks) == (2, 6, 1, setup.blocks)
    record = plan.runs[0].record()
    assert record["residual"] == {"blocks": 2, "branch_depth": 2, "norm": "none", "scalars": "none"}
    assert record["depth"] == 2 * 2 + 2
    # the same init and seed at another block count is another run with another stream
    b2, b4 = (next(r for r in plan.runs if r.setup.blocks == b and r.init == "fixup" and r.seed == 0) for b in (2, 4))
    assert b2.key != b4.key and b2.seed_sequence().spawn_key != b4.seed_sequence().spawn_key


def test_branch_depth_and_norm_are_grid_dimensions_named_in_the_network():
    text = SPEC.replace("blocks = [2, 4]", "blocks = 2\nbranch_depth = [1, 3]\nnorm = ['none', 'layer']")
    plan = make_plan(parse(text))
    assert len(plan.runs) == 4 * 5 * 2
    networks = sorted({r.name.split("/")[0] for r in plan.runs})
    assert networks == ["net=2-6-1 res B=2 m=1", "net=2-6-1 res B=2 m=1 LN", "net=2-6-1 res B=2 m=3",
                        "net=2-6-1 res B=2 m=3 LN"]  # fmt: skip
    layer = next(s for s, _ in plan.groups if s.norm == "layer" and s.branch_depth == 3)
    assert layer.net().norm == "layer" and layer.net().branch_depth == 3


def test_memory_estimate_grows_with_blocks_and_covers_the_parameters():
    plan = make_plan(parse(SPEC))
    by_blocks = {s.blocks: s for s, _ in plan.groups if s.scalars == "none"}
    small, large = (chunk_bytes(by_blocks[b], 8, 300) for b in (2, 4))
    assert large > small
    net = by_blocks[4].net()
    assert large >= 8 * 8 * 4 * net.parameter_count  # at least params, grads and two optimizer-sized copies


# ---------------------------------------------------------------------------------------------
# Runs, resume, summary, export, report
# ---------------------------------------------------------------------------------------------
def test_a_residual_run_is_its_net_initialized_and_trained_by_hand(reference):
    """The stored run equals ResidualMLP(..., scalars=scalars_for(init)) initialized from its stream and trained."""
    from initlab.lsuv import lsuv

    with Store.open(reference) as store:
        spec = store.spec()
        rows = {row.key: (row, loss) for row, loss in store.finished_runs()}
        for name in (
            "net=2-6-1 res B=4/fixup/seed=1",
            "net=2-6-1 res B=2/rezero/seed=0",
            "net=2-6-1 res B=4/lsuv/seed=0",
        ):
            run = next(r for r in make_plan(spec).runs if r.name == name)
            data = load_data(run.setup.dataset)
            net = ResidualMLP(2, 6, 1, run.setup.blocks, scalars=scalars_for(run.init))
            init_stream, _ = seeding.run_streams(run.seed_sequence())
            if run.init == "lsuv":
                params, _ = lsuv(net, data.X_train, rng=[init_stream])
            else:
                params = net.initialize(run.init, rng=[init_stream])
            history = train(net, params, data.X_train, data.Y_train, learning_rate=0.1, iterations=40, record_every=10,
                            X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip
            row, loss = rows[run.key]
            assert row.status == "done" and row.config["engine"] == "numpy"
            np.testing.assert_array_equal(loss[:-1], history.loss[0])
            assert row.train_accuracy == history.train_accuracy[0] and row.test_accuracy == history.test_accuracy[0]
            np.testing.assert_array_equal(store.params(row.id), net.flatten(history.params)[0])
            # per-block diagnostics: initlab.diagnostics.measure of the initial and of the trained parameters
            stored = store.diagnostics([row.id])[row.id]
            fields = store.diagnostic_fields()
            for stage, at in (("init", params), ("final", history.params)):
                stats = measure(net, at, data.X_train, data.Y_train)
                assert stored[stage].shape == (len(fields), run.setup.blocks)
                for i, f in enumerate(fields):
                    np.testing.assert_array_equal(stored[stage][i], np.asarray(getattr(stats, f), float)[0], err_msg=f)


def test_resume_trains_only_what_is_missing(spec_file, reference, tmp_path):
    spec, text = load_spec(spec_file)

    def stop_after_first_chunk(p):
        if p.finished >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path, spec_text=text, workers=1, chunk_size=2, progress=stop_after_first_chunk)
    with Store.open(tmp_path) as store:
        first = store.counts()
    assert first["done"] == 2 and first["pending"] == N_RUNS - 2
    again = run_sweep(spec, tmp_path, spec_text=text, workers=1, chunk_size=3)
    assert (again.resumed, again.trained, again.done) == (2, N_RUNS - 2, N_RUNS)
    nothing = run_sweep(spec, tmp_path, spec_text=text, workers=1)
    assert (nothing.trained, nothing.resumed) == (0, N_RUNS)
    with Store.open(tmp_path) as mine, Store.open(reference) as ref:
        a = {r.key: (r, loss) for r, loss in mine.finished_runs()}
        b = {r.key: (r, loss) for r, loss in ref.finished_runs()}
        assert a.keys() == b.keys()
        for key, (row, loss) in a.items():  # other chunks, the same numbers
            assert row.attempts == 1
            np.testing.assert_array_equal(loss, b[key][1], err_msg=row.name)
            np.testing.assert_array_equal(mine.params(row.id), ref.params(b[key][0].id), err_msg=row.name)


def test_summary_distinguishes_block_counts(reference, capsys):
    with Store.open(reference) as store:
        summary = summarize(store.finished_runs(), threshold=0.6)
    assert summary.varying == ("network", "init")
    assert len(summary.groups) == 2 * 5 and all(g.runs == 2 for g in summary.groups)
    assert sorted({g.labels["network"] for g in summary.groups}) == ["2-6-1 res B=2", "2-6-1 res B=4"]
    assert main(["summary", str(reference)]) == 0
    out = capsys.readouterr().out
    assert "2-6-1 res B=2" in out and "2-6-1 res B=4" in out and "fixup" in out


def test_export_carries_blocks(reference, tmp_path):
    assert main(["export", str(reference), "--format", "csv", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == N_RUNS
    assert {(r["network"], r["blocks"], r["branch_depth"], r["norm"]) for r in rows} == {
        ("2-6-1 res B=2", "2", "2", "none"), ("2-6-1 res B=4", "4", "2", "none")}  # fmt: skip
    assert {(r["init_name"], r["scalars"]) for r in rows} == {("he_normal", "none"), ("fixup", "fixup"),
                                                              ("rezero", "alpha"), ("zero_last", "none"),
                                                              ("lsuv", "none")}  # fmt: skip


def test_report_plots_accuracy_against_blocks_and_draws_residual_boundaries(reference, tmp_path):
    assert main(["report", str(reference), "--out", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Test accuracy against the number of residual blocks" in page
    assert "Test accuracy against depth" not in page and "the trunk h_b after each block b" in page
    assert page.count("data:image/png;base64,") == 1 + 1 + 10 + 1  # curves, against blocks, 10 boundaries, trunk


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_plan_names_the_engine_and_times_the_residual_net(spec_file, engine, capsys, tmp_path):
    """Residual runs train on the spec's engine (numba: initlab.kernels_residual), so the plan names that one."""
    path = tmp_path / "spec.toml"
    text = spec_file.read_text()
    path.write_text(text if engine == "numpy" else 'engine = "numba"\n' + text)
    assert main(["plan", str(path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "20 runs: 2 network × 5 init × 2 seed" in out
    assert "circles 2-6-1 res B=4 scalars=fixup relu, gd, 40 iterations: 2 runs" in out
    assert f"engine '{engine}', float64" in out and "train on numpy" not in out


def test_the_estimate_times_a_deep_residual_net_that_does_not_diverge(monkeypatch):
    """He branches overflow 64 unnormalized blocks at once; a diverged model costs nothing, so timing it would lie."""
    spec = parse(SPEC.replace("blocks = [2, 4]", "blocks = 64"))
    setup = next(s for s, _ in make_plan(spec).groups if s.scalars == "none")
    histories = []
    real = worker._train
    monkeypatch.setattr(worker, "_train", lambda *a, **k: histories.append(real(*a, **k)) or histories[-1])
    fixed, per_iteration = worker.training_time(setup, 4, iterations=2)
    # what is timed never diverges (the per-iteration difference of such tiny probes may be 0 after the minima:
    # timings are noise at this size, so only their sign is checked)
    assert fixed >= 0 and per_iteration >= 0 and histories and not any(h.diverged.any() for h in histories)
    he = ResidualMLP(2, 6, 1, 64).initialize("he_normal", rng=0, models=4)  # what the plain-MLP timing would use
    data = load_data(setup.dataset)
    assert train(ResidualMLP(2, 6, 1, 64), he, data.X_train, data.Y_train, iterations=2, record_every=1).diverged.all()


def test_chunks_of_a_residual_group_stay_in_one_setup():
    plan = make_plan(parse(SPEC))
    chunks = make_chunks(plan.runs, chunk_size=3)
    for chunk in chunks:
        assert {r.setup for r in chunk.runs} == {chunk.setup}
        assert {scalars_for(r.init) for r in chunk.runs} == {chunk.setup.scalars}
