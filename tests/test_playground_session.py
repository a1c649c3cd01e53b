"""The playground's K-model session: the library's training of K models, seen one model at a time.

Every number the page shows is checked against an independent computation: the library's own
``training.train`` (one engine, the same seeds), the course's notebook code, and a numpy forward pass
written here from the weights the page receives.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace

import numpy as np
import pytest

from initlab import course, seeding
from initlab.network import flatten_params
from initlab.playground import NOTEBOOK, validate
from initlab.playground import session as session_module
from initlab.playground.session import GRID, Run
from initlab.training import initialize_and_train


def _config(**fields):
    config, errors = validate({**NOTEBOOK.to_json(), "init": "he_normal", **fields})
    assert errors == [], errors
    return config


def _train_like(run: Run, iterations: int, **options):
    """``initlab train``'s recipe for the same K models (initialize_and_train, rng=seed): the page's run."""
    cfg = run.config
    assert cfg.scale == 1.0  # the recipe has no scale factor
    return initialize_and_train(run.net, run.X, run.data.Y_train, init=cfg.init, init_options=dict(cfg.init_options),
                                models=cfg.seeds, rng=cfg.seed, learning_rate=cfg.learning_rate, iterations=iterations,
                                record_every=run.record_every, optimizer=cfg.optimizer, batch_size=cfg.batch_size,
                                **options)  # fmt: skip


# ---------------------------------------------------------------------------- the K models are train's K models
@pytest.mark.parametrize(
    "fields",
    [
        dict(seeds=4, iterations=150),  # the notebook's gradient descent
        dict(seeds=3, optimizer="sgd", batch_size=32, learning_rate=0.1, iterations=40),  # minibatches: 4+ epochs
        dict(seeds=3, optimizer="adam", batch_size=50, learning_rate=0.01, iterations=30),
    ],
)
def test_k_models_are_the_librarys_k_models(fields):
    run = Run(_config(**fields))
    for n in (7, 1, 13, 1000):  # chunks do not change the numbers
        run.step(n)
    history = _train_like(run, run.config.iterations)
    np.testing.assert_array_equal(run.state.theta, flatten_params(history.params))
    np.testing.assert_array_equal(run.state.losses, history.loss)
    assert run.iteration == run.config.iterations and run.done
    assert len({row.tobytes() for row in run.state.theta}) == run.K  # K different models


def test_model_k_is_the_same_whatever_k_is():
    """Initial draw and minibatch order of model k depend on k only (the seeding rule), not on K."""
    small, big = (Run(_config(seeds=k, optimizer="sgd", batch_size=40, iterations=25)) for k in (2, 5))
    small.step(25), big.step(25)
    np.testing.assert_array_equal(small.state.theta, big.state.theta[:2])


def test_notebook_he_model_k_is_the_notebooks_draw_from_seed_plus_k():
    four = Run(replace(NOTEBOOK, seeds=4, iterations=200))
    for k in range(4):
        W1 = course.initialize_parameters_he([2, 10, 5, 1], seed=3 + k)["W1"]
        np.testing.assert_array_equal(four.views()[0][0][k], W1)
    assert four.seed_labels() == [3, 4, 5, 6]
    four.step(200)
    one = Run(replace(NOTEBOOK, iterations=200))
    one.step(200)
    np.testing.assert_array_equal(four.state.theta[0], one.state.theta[0])  # model 0 is the notebook's run
    five = Run(replace(NOTEBOOK, seed=5, iterations=200))
    five.step(200)
    np.testing.assert_array_equal(four.state.theta[2], five.state.theta[0])
    # and the course's own loop agrees with model 0
    X, Y, _, _ = course.load_dataset(plot=False)
    reference, _ = course.train_preallocated(X, Y, course.initialize_parameters_he([2, 10, 5, 1]), num_iterations=200)
    np.testing.assert_allclose(four.views()[0][0][0], reference["W1"], rtol=1e-10, atol=1e-12)


def test_lsuv_normalizes_every_models_first_layer_on_the_training_inputs():
    run = Run(_config(init="lsuv", seeds=3, iterations=50))
    Ws, _ = run.views()
    for k in range(3):
        assert abs(np.var(Ws[0][k] @ run.X) - 1.0) <= 0.1  # LSUV's tolerance, on Var(Z1) over units and examples
    expected = run.net.initialize("lsuv", X=run.X, rng=seeding.split(run.config.seed)[0], models=3)
    np.testing.assert_array_equal(run.state.theta, flatten_params(expected))
    run.step(50)
    snap = run.snapshot()
    json.dumps(snap)
    assert snap["iteration"] == 50 and len(snap["models"]) == 3
    assert run.seed_labels() == ["3/0", "3/1", "3/2"]


# ---------------------------------------------------------------------------- per-model divergence
def test_one_model_diverges_and_the_others_go_on():
    cfg = _config(seeds=3, hidden=[16, 16, 16], init="random", init_options={"scale": 10.0}, learning_rate=1.0,
                  iterations=60)  # fmt: skip
    run = Run(cfg)
    run.step(60)
    history = _train_like(run, 60)
    np.testing.assert_array_equal(run.state.diverged_at, history.diverged_at)
    assert list(run.state.diverged_at >= 0) == [False, True, False]  # found by trying: model 1 diverges early
    assert run.iteration == 60 and run.done and not run.diverged  # selected: model 0
    run.select(1)
    snap = run.snapshot()
    assert snap["diverged"] and snap["selected"] == 1
    assert [m["diverged"] for m in snap["models"]] == [False, True, False]
    np.testing.assert_array_equal(run.state.theta, flatten_params(history.params))  # model 1's last finite parameters


def test_the_run_ends_when_every_model_has_diverged():
    cfg = replace(NOTEBOOK, hidden=(64,) * 4, init="random", init_options=(("scale", 10.0),), learning_rate=10.0,
                  iterations=500, seeds=2)  # fmt: skip
    run = Run(cfg)
    done = run.step(500)
    assert run.done and run.diverged_models.all()
    assert done == run.iteration == run.state.diverged_at.max() < 500
    assert run.step(10) == 0


# ---------------------------------------------------------------------------- the snapshot
def _forward(weights, activation, X):
    """The page's forward pass from a progress message's weights (written here, numpy, independent of the engine)."""
    g = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}[activation]
    A = X
    L = len(weights["W"])
    for l, (W, b) in enumerate(zip(weights["W"], weights["b"]), start=1):
        Z = np.array(W) @ A + np.array(b)[:, None]
        A = 1.0 / (1.0 + np.exp(-Z)) if l == L else g(Z)
    return A[0]


def _bce(p, y):
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_snapshot_reports_every_model_and_the_selected_ones_weights():
    run = Run(_config(seeds=4, activation="tanh", iterations=300))
    run.step(300)
    snap = json.loads(json.dumps(run.snapshot()))  # what goes over the wire
    assert snap["selected"] == 0 and snap["activation"] == "tanh" and snap["output"] == "sigmoid"
    assert [len(W) for W in snap["weights"]["W"]] == [10, 5, 1] and [len(b) for b in snap["weights"]["b"]] == [10, 5, 1]
    y, y_test = run.data.Y_train[0], run.data.Y_test[0]
    for k, model in enumerate(snap["models"]):
        run.select(k)
        weights = json.loads(json.dumps(run.snapshot()))["weights"]
        p, p_test = _forward(weights, "tanh", run.X), _forward(weights, "tanh", run.X_test)
        assert model["loss"] == pytest.approx(_bce(p, y), rel=1e-9)
        assert model["test_loss"] == pytest.approx(_bce(p_test, y_test), rel=1e-9)
        assert model["accuracy"] == np.mean((p > 0.5) == y) and model["test_accuracy"] == np.mean(
            (p_test > 0.5) == y_test
        )
        assert model["diverged"] is False
    run.select(0)
    again = run.snapshot()
    assert {k: again[k] for k in ("loss", "accuracy", "test_loss", "test_accuracy")} == {
        k: snap["models"][0][k] for k in ("loss", "accuracy", "test_loss", "test_accuracy")
    }
    # full precision: the weights are the state's own floats
    np.testing.assert_array_equal(np.array(again["weights"]["W"][0]), run.views()[0][0][0])


def test_select_changes_the_weights_the_boundary_and_the_layers():
    run = Run(_config(seeds=3, iterations=200))
    run.step(200)
    a = run.snapshot()
    run.select(2)
    b = run.snapshot()
    assert b["selected"] == 2 and a["weights"] != b["weights"] and a["boundary"]["p"] != b["boundary"]["p"]
    np.testing.assert_array_equal(np.array(b["weights"]["W"][1]), run.views()[0][1][2])
    p = _forward(b["weights"], "relu", run.grid)  # the boundary is model 2's, on the grid
    np.testing.assert_allclose(b["boundary"]["p"], np.round(p, 3), atol=1e-3)
    assert len(b["boundary"]["p"]) == GRID * GRID
    assert a["layers"][0]["a_std"] != b["layers"][0]["a_std"]
    assert b["loss"] == b["models"][2]["loss"]


def test_curves_hold_every_model_at_the_curve_points():
    run = Run(_config(seeds=5, iterations=600))
    messages = []
    for _ in range(4):
        run.step(150)
        messages.append(run.snapshot())
    curve = [p for m in messages for p in m["curve"]]
    curves = [p for m in messages for p in m["curves"]]
    assert [p[0] for p in curve] == [p[0] for p in curves] and curve[0][0] == 0 and curve[-1][0] == 600
    assert all(len(losses) == 5 for _, losses in curves)
    assert all(c[1] == losses[0] for c, (_, losses) in zip(curve, curves))  # model 0 is selected
    recorded = {int(i): j for j, i in enumerate(range(0, 600, run.record_every))}
    for i, losses in curves[:-1]:  # the engine's own records (before that iteration's update)
        np.testing.assert_allclose(losses, run.state.losses[:, recorded[i]], rtol=1e-12)
    # points recorded before a select are reported for the model selected when they are sent
    again = Run(_config(seeds=5, iterations=600))
    again.step(300)
    again.select(3)
    snap = again.snapshot()
    assert [c[1] for c in snap["curve"]] == [losses[3] for _, losses in snap["curves"]]
    assert [c[1] for c in snap["curve"]] == [losses[3] for _, losses in curves[: len(snap["curve"])]]


def test_snapshot_cost_does_not_grow_with_a_python_loop_over_k(monkeypatch):
    """One batched forward pass per data set over the K models, the rest for the selected model only."""
    calls = {}

    def counting(K):
        run = Run(_config(seeds=K, iterations=100))
        run.step(50)
        count = [0]
        real = session_module.forward_pass

        def forward_pass(*args, **kw):
            count[0] += 1
            return real(*args, **kw)

        monkeypatch.setattr(session_module, "forward_pass", forward_pass)
        run.snapshot()
        monkeypatch.setattr(session_module, "forward_pass", real)
        calls[K] = count[0]

    counting(1), counting(32)
    assert calls[32] == calls[1] <= 5


# ---------------------------------------------------------------------------- export
def test_export_passes_the_selected_models_weights_and_settings(monkeypatch):
    import initlab

    seen = {}

    def render(fmt, net, params, *, init, init_options, scale, settings):
        seen.update(fmt=fmt, net=net, params=params, init=init, init_options=init_options, scale=scale,
                    settings=settings)  # fmt: skip
        return types.SimpleNamespace(filename="model.py", media_type="text/x-python", text="# model\n")

    fake = types.ModuleType("initlab.export")
    fake.render = render
    monkeypatch.setitem(sys.modules, "initlab.export", fake)
    monkeypatch.setattr(initlab, "export", fake, raising=False)
    run = Run(replace(NOTEBOOK, seeds=3, scale=0.5, iterations=40))
    run.step(40)
    run.select(2)
    out = run.export("pytorch")
    assert out.filename == "model.py" and seen["fmt"] == "pytorch" and seen["net"] is run.net
    assert seen["init"] == "notebook_he" and seen["init_options"] == {} and seen["scale"] == 0.5
    assert [(k, v.shape) for k, v in seen["params"].items()] == [
        ("W1", (10, 2)), ("b1", (10, 1)), ("W2", (5, 10)), ("b2", (5, 1)), ("W3", (1, 5)), ("b3", (1, 1))
    ]  # fmt: skip
    for l in range(3):
        np.testing.assert_array_equal(seen["params"][f"W{l + 1}"], run.views()[0][l][2])
    settings = seen["settings"]
    assert settings["model"] == 2 and settings["seed"] == 5 and settings["iteration"] == 40
    # the config, with the root seed replaced by the selected model's own (notebook_he: seed + k)
    assert {**settings, "seed": run.config.seed, "model": None, "iteration": None} == {
        **run.config.to_json(),
        "model": None,
        "iteration": None,
    }


def test_export_with_the_real_module():
    """Skipped only while initlab.export (written alongside) is missing."""
    pytest.importorskip("initlab.export")
    run = Run(_config(seeds=2, iterations=20))
    run.step(20)
    run.select(1)
    for fmt in ("json", "pytorch", "jax"):
        out = run.export(fmt)
        assert out.filename and out.media_type and out.text
    data = json.loads(run.export("json").text)
    assert isinstance(data, dict)
    compile(run.export("pytorch").text, "model.py", "exec")
    with pytest.raises(ValueError):
        run.export("onnx")
