"""Plans: readable names, groups, balanced chunks, streams that depend only on the run, estimates."""

import numpy as np
import pytest

from initlab import seeding
from initlab.network import MLP, params_dict
from initlab.sweeps import forecast, parse_spec, worker
from initlab.sweeps.catalogue import load_data
from initlab.sweeps.forecast import estimate
from initlab.sweeps.plan import chunk_bytes, make_chunks, make_plan, network_label
from initlab.sweeps.worker import initial_params

BASE = """
seeds = 3
iterations = 50
record_every = 10
[model]
depth = [2, 3]
width = 4
[[init]]
name = "zeros"
[[init]]
name = "random"
scale = [0.5, 10]
[[init]]
name = "he_normal"
"""


def plan(text=BASE):
    return make_plan(parse_spec(text))


def test_names_show_what_varies_and_groups_share_a_setup():
    p = plan()
    assert p.varying == ("network", "init", "seed")
    assert [r.name for r in p.runs[:4]] == ["net=2-4-1/zeros/seed=0", "net=2-4-1/zeros/seed=1", "net=2-4-1/zeros/seed=2",
                                            "net=2-4-1/random*0.5/seed=0"]  # fmt: skip
    assert p.runs[-1].name == "net=2-4-4-1/he_normal/seed=2"
    assert len(p.runs) == 2 * 4 * 3 and len({r.key for r in p.runs}) == len(p.runs)
    assert [len(runs) for _, runs in p.groups] == [12, 12]  # one group per network: inits and seeds train together
    assert [setup.layers for setup, _ in p.groups] == [(2, 4, 1), (2, 4, 4, 1)]


def test_network_labels():
    assert network_label((2, 10, 5, 1)) == "2-10-5-1"
    assert network_label((2,) + (10,) * 19 + (1,)) == "2-10x19-1"
    assert network_label((2, 10, 10, 1)) == "2-10-10-1"
    assert network_label((64, 1)) == "64-1"


def test_chunks_are_balanced_over_workers_and_bounded_by_memory():
    text = BASE.replace("seeds = 3", "seeds = 30").replace("depth = [2, 3]", "depth = [2]").replace(
        '[[init]]\nname = "zeros"\n', "").replace("scale = [0.5, 10]", "scale = 10")  # fmt: skip
    runs = plan(text).runs  # 2 inits x 30 seeds = 60 runs in one group
    assert [len(c.runs) for c in make_chunks(runs, chunk_size=32)] == [30, 30]
    assert [len(c.runs) for c in make_chunks(runs, chunk_size=32, workers=2)] == [30, 30]
    assert [len(c.runs) for c in make_chunks(runs, chunk_size=25, workers=2)] == [15, 15, 15, 15]  # not 25 + 25 + 10
    assert [len(c.runs) for c in make_chunks(runs, chunk_size=25, workers=1)] == [20, 20, 20]
    one_model = chunk_bytes(runs[0].setup, 1, 300)
    assert max(len(c.runs) for c in make_chunks(runs, chunk_size=32, memory_budget=7 * one_model)) <= 7
    assert [r for c in make_chunks(runs, chunk_size=7) for r in c.runs] == list(runs)  # every run once, in order


def test_a_runs_stream_depends_only_on_the_run():
    small = {r.name: r for r in plan().runs}
    bigger_text = BASE.replace("[model]", '[data]\ndataset = ["circles", "moons"]\n[model]').replace(
        "scale = [0.5, 10]", "scale = [0.5, 2, 10]")  # fmt: skip
    bigger = {r.name.removeprefix("circles/"): r for r in plan(bigger_text).runs if r.name.startswith("circles/")}
    for name, run in small.items():  # same run in a larger grid: same identity, same stream
        assert bigger[name].key == run.key
        assert bigger[name].seed_sequence().generate_state(4).tolist() == run.seed_sequence().generate_state(4).tolist()
    longer = {r.name: r for r in plan(BASE.replace("iterations = 50", "iterations = 80")).runs}
    run = small["net=2-4-1/he_normal/seed=1"]
    same_start = longer["net=2-4-1/he_normal/seed=1"]
    assert same_start.key != run.key  # a different run ...
    assert same_start.seed_sequence().entropy == run.seed_sequence().entropy  # ... from the same weights
    assert same_start.seed_sequence().spawn_key == run.seed_sequence().spawn_key
    seeds = [small[f"net=2-4-1/he_normal/seed={s}"].seed_sequence().spawn_key for s in range(3)]
    assert len(set(seeds)) == 3
    assert (
        small["net=2-4-1/random*0.5/seed=0"].seed_sequence().spawn_key
        != small["net=2-4-1/random*10/seed=0"].seed_sequence().spawn_key
    )


def test_random_scale_is_the_standard_deviation():
    runs = {r.name: r for r in plan(BASE.replace("seeds = 3", "seeds = 1").replace("width = 4", "width = 400")).runs}
    run = runs["net=2-400-1/random*10/seed=0"]
    net = MLP(run.setup.layers)
    X = load_data(run.setup.dataset).X_train
    W1 = initial_params(net, run, X, seeding.run_streams(run.seed_sequence())[0])["W1"]
    assert W1.shape == (1, 400, 2)
    assert W1.std() == pytest.approx(10, rel=0.1)


def test_estimate_times_chunks_on_the_workers(monkeypatch):
    runs = plan().runs
    chunks = make_chunks(runs, chunk_size=4)
    measured = worker.training_time(chunks[0].setup, 4)  # a clock on a tiny net: only its sanity is testable
    assert all(0 <= t < 5 for t in measured)
    # the schedule from fixed timings (two measurements, one per call, would compare two noisy clocks)
    fixed, per_iteration = 0.5, 0.01
    monkeypatch.setattr(forecast, "training_time", lambda setup, K: (fixed, per_iteration))
    one = estimate(chunks, workers=1)
    two = estimate(chunks, workers=2)
    assert one.runs == two.runs == len(runs) and one.chunks == len(chunks)
    per_chunk = [fixed + per_iteration * c.setup.iterations for c in chunks]
    assert one.seconds == pytest.approx(sum(per_chunk))
    assert max(per_chunk) <= two.seconds < one.seconds
    assert one.worker_bytes > chunk_bytes(runs[0].setup, 4, 300)
    assert two.driver_bytes == 2 * one.driver_bytes  # two chunks in flight per worker
    assert one.store_bytes > len(runs) * 8 * 6  # at least the losses


def test_a_runs_final_loss_is_the_loss_of_its_trained_parameters():
    """The worker stores History.final_loss: the loss recomputed from the trained parameters, exactly."""
    chunk = make_chunks(plan().runs, chunk_size=64)[0]  # 12 runs of 2-4-1 trained together
    results = worker.train_chunk(chunk)
    assert [r.status for r in results] == ["done"] * len(chunk.runs)
    theta = np.stack([r.params for r in results])  # (K, P)
    with np.errstate(all="ignore"):
        loss, _ = MLP(chunk.setup.layers).loss_and_grads(params_dict(theta, chunk.setup.layers), chunk.data.X_train,
                                                          chunk.data.Y_train)  # fmt: skip
    diverged = np.array([r.diverged_at >= 0 for r in results])
    assert not diverged.all()
    np.testing.assert_array_equal([r.final_loss for r in results], np.where(diverged, np.nan, loss))
    np.testing.assert_array_equal([r.loss[-1] for r in results], [r.final_loss for r in results])


def test_chunk_bytes_counts_the_workspace():
    setup = plan().groups[0][0]  # layers (2, 4, 1)
    assert chunk_bytes(setup, 1, 300) == 8 * (7 * 5 * 300 + 4 * 17 + 6)
    assert chunk_bytes(setup, 10, 300) == 10 * chunk_bytes(setup, 1, 300)
    assert np.array_equal(setup.record_iterations, [0, 10, 20, 30, 40, 50])
