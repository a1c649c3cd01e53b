"""The float32 path (``train(..., dtype="float32")``): where it agrees with float64 and where it does not.

Every comparison trains the same initial parameters (drawn in float64; float32 rounds them once)
on the notebook's data, BLAS pinned to one thread on both sides.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from initlab import optimizers
from initlab.cli import main
from initlab.network import (
    DIVERGENCE_LOGIT,
    DIVERGENCE_LOGIT_FLOAT32,
    MLP,
    Workspace,
    backward_pass,
    forward_pass,
    layer_views,
    logits_sound,
    loss_from_output,
    output_delta,
)
from initlab.residual import ResidualMLP
from initlab.state import TrainingState, passes
from initlab.training import initial_parameters, train
from initlab.validation import check_dtype

NOTEBOOK = MLP((2, 10, 5, 1))  # the notebook's network, relu, sigmoid output

#: Largest relative gap of the float32 loss curve from float64's over 2000 iterations of the notebook's
#: gd (lr 0.01, He init), measured over 32 seeds: 1.3e-5 (most seeds under 5e-6). The gap starts at
#: float32's rounding of the initial parameters (~1e-7 relative, eps = 1.2e-7) and grows about a hundredfold
#: over the run as the two trajectories drift apart; the tolerance leaves 8x for other BLAS kernels.
LOSS_CURVE_RTOL = 1e-4


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _both(net, params, X, Y, **kw):
    """The float64 and the float32 History of the same run."""
    return train(net, params, X, Y, **kw), train(net, params, X, Y, dtype="float32", **kw)


# ---- the dtype rule ---------------------------------------------------------------------------
def test_the_default_is_float64_and_explicit_float64_is_the_same_run(circles):
    X, Y, _, _ = circles
    params, _ = initial_parameters(NOTEBOOK, models=2, rng=0)
    default = train(NOTEBOOK, params, X, Y, iterations=50, record_every=10)
    explicit = train(NOTEBOOK, params, X, Y, iterations=50, record_every=10, dtype=np.float64)
    assert default.dtype == explicit.dtype == "float64" and default.params["W1"].dtype == np.float64
    np.testing.assert_array_equal(default.loss, explicit.loss)
    for key in params:
        np.testing.assert_array_equal(default.params[key], explicit.params[key])


@pytest.mark.parametrize("bad", ["float16", "double32", None, 32, True])
def test_a_bad_dtype_names_the_parameter_and_the_choices(circles, bad):
    X, Y, _, _ = circles
    params, _ = initial_parameters(NOTEBOOK, rng=0)
    with pytest.raises(ValueError, match=r"The 'dtype' parameter must be one of \{'float64', 'float32'\}\. Got"):
        train(NOTEBOOK, params, X, Y, iterations=5, dtype=bad)
    assert check_dtype("float32") == np.float32 and check_dtype(np.float64) == np.float64


# ---- no float64 operand in a float32 step ------------------------------------------------------
class _Float32Only:
    """A numpy function that records every floating array operand (and ``out``) that is not float32."""

    def __init__(self, function, name, seen):
        self._function, self._name, self._seen = function, name, seen

    def __call__(self, *args, **kwargs):
        operands = [*args, *np.atleast_1d(kwargs.get("out", ()))] if "out" in kwargs else list(args)
        for a in operands:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float32:
                self._seen.append((self._name, a.dtype, a.shape))
        return self._function(*args, **kwargs)

    def __getattr__(self, attribute):  # np.add.reduce and friends
        return getattr(self._function, attribute)


_STEP_FUNCTIONS = ("matmul", "add", "subtract", "multiply", "divide", "maximum", "greater", "exp", "negative",
                   "abs", "sqrt", "copyto", "tanh", "expm1", "minimum")  # fmt: skip


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_every_operand_of_a_float32_step_is_float32(circles, monkeypatch, optimizer):
    """The engine's buffers hide an upcast (a float64 operand written into a float32 ``out`` is computed in
    float64): so every call of the functions a step uses is watched, not only the results' dtypes. A muP net
    with Adam brings the (K, P) learning rates and epsilons; numpy's matmul on float32 operands is sgemm."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), parametrization="mup", base_width=5) if optimizer == "adam" else NOTEBOOK
    params, _ = initial_parameters(net, models=3, rng=0)
    opt = optimizers.get(optimizer)
    state = TrainingState(net, passes(net).flatten(params), X, Y.astype(float), np.full(3, 0.01), iterations=4,
                          record_every=2, loss="stable", optimizer=opt, dtype=np.float32)  # fmt: skip
    seen = []
    for name in _STEP_FUNCTIONS:
        monkeypatch.setattr(np, name, _Float32Only(getattr(np, name), name, seen))
    state.advance(4)
    monkeypatch.undo()
    assert seen == []
    arrays = [state.theta, state.X, state.T, state._alpha, *state.opt_state]
    work = state._workspace(3, X.shape[1])
    arrays += [*work.Z, *work.A, *work.dZ, *work.dA, *work.dg, work.grads]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
    assert state.losses.dtype == np.float64 and np.isfinite(state.losses).all()


def test_a_residual_net_trains_in_float32_throughout(circles):
    """The residual passes make their arrays as they go: a float64 operand anywhere would make a float64 result."""
    X, Y, _, _ = circles
    net = ResidualMLP(2, 8, 1, 2, norm="layer", scalars="alpha", activation="leaky_relu")
    params, _ = initial_parameters(net, models=2, rng=0)
    ps = net.passes()
    theta = ps.flatten(params).astype(np.float32)
    views, work = ps.views(theta), ps.workspace(2, X.shape[1], np.float32)
    X32, T32 = X.astype(np.float32), Y.astype(np.float32)
    Z, A = ps.forward(views, X32, work)
    grads = ps.backward(views, X32, T32, work)
    records = [Z, A, work.A, *work.trunk, grads]
    records += [a for block in work.blocks for v in block.values() for a in (v if isinstance(v, list) else [v])]
    assert {a.dtype for a in records} == {np.dtype(np.float32)}
    h64, h32 = _both(net, params, X, Y, iterations=200, record_every=20, learning_rate=0.01)
    assert h32.params["W_in"].dtype == np.float32
    np.testing.assert_allclose(h32.loss, h64.loss, rtol=LOSS_CURVE_RTOL)


def test_float32_gradients_match_torch_float32(circles, torch):
    """An independent float32 implementation: torch's autograd on the same float32 numbers."""
    X, Y, _, _ = circles
    params, _ = initial_parameters(NOTEBOOK, models=1, rng=4)
    theta = passes(NOTEBOOK).flatten(params).astype(np.float32)
    Ws, bs = layer_views(theta, NOTEBOOK.layers)
    X32, T32 = X.astype(np.float32), Y.astype(np.float32)
    work = Workspace(NOTEBOOK.layers, 1, X.shape[1], np.float32)
    g = NOTEBOOK.hidden
    Zs, As = forward_pass(Ws, bs, X32, g.forward, NOTEBOOK.output_function, work)
    ours_loss = loss_from_output("stable", "sigmoid", Zs[-1], As[-1], T32)
    dWs, dbs = backward_pass(Ws, Zs, As, X32, output_delta(As[-1], T32, out=work.dZ[-1]), g.derivative, work)
    assert ours_loss.dtype == np.float32 and dWs[0].dtype == np.float32

    tW = [torch.tensor(W[0], requires_grad=True) for W in Ws]
    tb = [torch.tensor(b[0], requires_grad=True) for b in bs]
    a = torch.tensor(X32)
    for l, (W, b) in enumerate(zip(tW, tb)):
        z = W @ a + b
        a = torch.relu(z) if l < len(tW) - 1 else z
    loss = torch.nn.functional.binary_cross_entropy_with_logits(a, torch.tensor(T32))
    loss.backward()
    assert loss.dtype == torch.float32
    assert ours_loss[0] == pytest.approx(loss.item(), rel=1e-6)
    for ours, theirs in [*zip(dWs, tW), *zip(dbs, tb)]:
        scale = np.abs(theirs.grad.numpy()).max()
        np.testing.assert_allclose(ours[0], theirs.grad.numpy(), rtol=0, atol=1e-5 * scale)


# ---- where float32 agrees with float64 ----------------------------------------------------------
def test_loss_curves_and_accuracies_agree_on_the_notebooks_run(circles):
    """The notebook's net and learning rate, He init, 2000 iterations, 8 seeds: loss curves within
    LOSS_CURVE_RTOL at every recorded iteration, the same final train and test accuracy on every seed."""
    X, Y, X_test, Y_test = circles
    params, _ = initial_parameters(NOTEBOOK, init="he_normal", models=8, rng=0)
    h64, h32 = _both(NOTEBOOK, params, X, Y, learning_rate=0.01, iterations=2000, record_every=50,
                     X_test=X_test, Y_test=Y_test)  # fmt: skip
    assert h32.dtype == "float32" and h32.loss.dtype == np.float64 and h32.final_loss.dtype == np.float64
    gap = np.abs(h32.loss / h64.loss - 1)
    assert gap.max() < LOSS_CURVE_RTOL
    assert gap[:, 0].max() < 5e-7  # at iteration 0 only the rounding of the parameters and data: a few eps
    np.testing.assert_allclose(h32.final_loss, h64.final_loss, rtol=LOSS_CURVE_RTOL)
    np.testing.assert_array_equal(h32.train_accuracy, h64.train_accuracy)
    np.testing.assert_array_equal(h32.test_accuracy, h64.test_accuracy)
    assert not h32.diverged.any() and not h64.diverged.any()


def test_divergence_at_large_learning_rates_is_detected_in_both_and_no_later_in_float32(circles):
    """A linear net at lr 10 diverges on every seed in both. float32 gives up at a logit of 1e30 (or its
    overflow at 3.4e38), float64 at 1e100: the logits grow by many orders of magnitude per iteration there, so
    float32 stops 0 to 2 iterations earlier (measured, here and for leaky_relu and selu nets: at most 4)."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), activation="linear")
    params, _ = initial_parameters(net, models=16, rng=1)
    h64, h32 = _both(net, params, X, Y, learning_rate=10.0, iterations=300, record_every=10)
    assert h64.diverged.all() and h32.diverged.all()
    early = h64.diverged_at - h32.diverged_at
    assert early.min() >= 0 and early.max() <= 4
    assert np.isfinite(h32.params["W1"]).all()  # a diverged model keeps its last finite parameters


def test_the_divergence_line_is_representable_in_each_dtype():
    """1e100 is not a float32: compared with a float32 sum it would round to inf and let an overflowed sum pass."""
    assert DIVERGENCE_LOGIT_FLOAT32 < np.finfo(np.float32).max / 1e8 and np.isfinite(
        np.float32(DIVERGENCE_LOGIT_FLOAT32)
    )
    for dtype, line in ((np.float32, DIVERGENCE_LOGIT_FLOAT32), (np.float64, DIVERGENCE_LOGIT)):
        Z = np.array([line / 2, line * 4, np.inf, np.nan, 1.0], dtype=dtype).reshape(5, 1, 1)
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(logits_sound(Z), [True, False, False, False, True])
    overflowed = np.full((1, 1, 4), 3e38, dtype=np.float32)  # each finite, their sum inf
    with np.errstate(over="ignore"):
        assert not logits_sound(overflowed)[0]


# ---- where it does not -------------------------------------------------------------------------
def test_tiny_learning_rates_stall_in_float32(circles):
    """At lr 1e-8 an update ``lr * dW`` is below half a float32 ulp of most weights (|W| ~ 0.5: ulp 6e-8), so
    ``W - lr * dW`` rounds back to W: float32 leaves many weights exactly where they were and its loss falls
    less than float64's on every seed (measured: a third of float64's decrease). The direction, not a number."""
    X, Y, _, _ = circles
    params, _ = initial_parameters(NOTEBOOK, models=8, rng=1)
    h64, h32 = _both(NOTEBOOK, params, X, Y, learning_rate=1e-8, iterations=2000, record_every=500)
    fall64, fall32 = h64.loss[:, 0] - h64.loss[:, -1], h32.loss[:, 0] - h32.loss[:, -1]
    assert (fall64 > 0).all() and (fall32 < fall64).all()
    moved64 = np.mean([(h64.params[k] != params[k]).mean() for k in params])
    moved32 = np.mean([(h32.params[k] != params[k].astype(np.float32)).mean() for k in params])
    assert moved32 < moved64


def test_the_float32_line_flags_runs_float64_lets_recover(circles):
    """The other side of the lower line: selu nets at lr 100 whose logits pass 1e30 but not 1e100 and come back
    are diverged in float32 only (measured: 7 of 16 seeds, none in float64). Every float64 divergence is one in
    float32 too."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), activation="selu")
    params, _ = initial_parameters(net, models=16, rng=1)
    h64, h32 = _both(net, params, X, Y, learning_rate=100.0, iterations=100, record_every=10)
    assert (h32.diverged >= h64.diverged).all() and h32.diverged.sum() > h64.diverged.sum()


# ---- the command line --------------------------------------------------------------------------
def test_cli_train_dtype(tmp_path, capsys):
    import json

    assert main(["train", "--json", "--dtype", "float32", "--iterations", "50", "--seeds", "2", "--out",
                 str(tmp_path / "a")]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["config"]["dtype"] == "float32"
    assert main(["train", "--dtype", "float16", "--iterations", "5", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'--dtype' option must be one of {'float64', 'float32'}" in err
    assert not (tmp_path / "b").exists()


# ---- sweeps ------------------------------------------------------------------------------------
SWEEP = """
name = "f32"
seeds = 2
iterations = 60
record_every = 20
[[optimizer]]
name = "adam"
learning_rate = 0.01
batch_size = 100
[[init]]
name = "he_normal"
"""


def test_a_float64_spec_is_the_spec_it_was_and_float32_is_another():
    """A spec without dtype keeps its fingerprint, run keys and records (stored sweeps resume); float32 changes
    all three but not the runs' random streams (a float32 run starts from the float64 run's draws)."""
    from initlab.sweeps import make_plan, parse_spec

    plain = parse_spec(SWEEP)
    assert plain.dtype == "float64" and "dtype" not in plain.to_dict()
    assert parse_spec('dtype = "float64"\n' + SWEEP).fingerprint() == plain.fingerprint()
    single = parse_spec('dtype = "float32"\n' + SWEEP)
    assert single.dtype == "float32" and single.fingerprint() != plain.fingerprint()
    runs64, runs32 = make_plan(plain).runs, make_plan(single).runs
    for r64, r32 in zip(runs64, runs32):
        assert r64.key != r32.key and "dtype" not in r64.record() and r32.record()["dtype"] == "float32"
        assert r64.seed_sequence().spawn_key == r32.seed_sequence().spawn_key


def test_a_spec_takes_float32_on_either_engine_and_refuses_a_bad_dtype():
    from initlab.sweeps import parse_spec
    from initlab.sweeps.spec import SpecError

    assert parse_spec('engine = "numba"\ndtype = "float32"\n' + SWEEP).dtype == "float32"
    residual = 'engine = "numba"\ndtype = "float32"\n' + SWEEP + "[model]\nblocks = [2]\nwidth = 8\n"
    assert parse_spec(residual).dtype == "float32"
    with pytest.raises(SpecError, match=r"top level: The 'dtype' key must be one of \{'float64', 'float32'\}"):
        parse_spec('dtype = "half"\n' + SWEEP)


def assert_sweep_stores_what_train_gives(text: str, out, engine: str = "numpy") -> None:
    """The float32 sweep ``text`` (:data:`SWEEP`'s grid) run into ``out``: its second run stores the losses and the
    parameters of ``train(dtype="float32", engine=engine)`` on that run's own streams."""
    from initlab import seeding
    from initlab.sweeps import Store, make_plan, parse_spec, run_sweep
    from initlab.sweeps.catalogue import load_data

    spec = parse_spec(text)
    outcome = run_sweep(spec, out, spec_text=text, workers=1)
    assert outcome.done == 2 and outcome.failed == 0
    run = make_plan(spec).runs[1]
    init_stream, order_stream = seeding.run_streams(run.seed_sequence())
    net = run.setup.net()
    data = load_data(run.setup.dataset)
    params = net.initialize("he_normal", rng=[init_stream])
    history = train(net, params, data.X_train, data.Y_train, learning_rate=0.01, iterations=60, record_every=20,
                    optimizer="adam", batch_size=100, rng=[order_stream], dtype="float32", engine=engine)  # fmt: skip
    with Store.open(out) as store:
        ((row, loss),) = [(r, loss) for r, loss in store.finished_runs() if r.key == run.key]
        np.testing.assert_array_equal(loss[:-1], history.loss[0])
        assert row.config["dtype"] == "float32"
        theta = np.concatenate([history.params[f"{p}{l}"].ravel() for l in (1, 2, 3) for p in "Wb"])
        np.testing.assert_array_equal(store.params(row.id), theta)  # float32 values, stored exactly as float64


def test_a_float32_sweep_trains_float32_runs_and_its_folder_refuses_float64(tmp_path, capsys):
    """Each stored run is train(dtype="float32") of its own streams; resuming with the other dtype is refused
    (the fingerprint differs) with the flag that resumes it, before anything is trained."""
    from initlab.sweeps import SpecConflict, parse_spec, run_sweep
    from initlab.sweeps.__main__ import main as sweep_main

    assert_sweep_stores_what_train_gives('dtype = "float32"\n' + SWEEP, tmp_path / "out")
    with pytest.raises(SpecConflict, match="computes in float32, this spec in float64: --dtype float32 resumes it"):
        run_sweep(parse_spec(SWEEP), tmp_path / "out", spec_text=SWEEP, workers=1)
    spec_path = tmp_path / "f32.toml"
    spec_path.write_text(SWEEP)
    assert sweep_main(["run", str(spec_path), "--out", str(tmp_path / "out"), "-q", "-w", "1"]) == 2
    assert (
        sweep_main(["run", str(spec_path), "--out", str(tmp_path / "out"), "-q", "-w", "1", "--dtype", "float32"]) == 0
    )
    assert sweep_main(["run", str(spec_path), "--out", str(tmp_path / "x"), "-q", "--dtype", "f16"]) == 2
    err = capsys.readouterr().err
    assert "'--dtype' option must be one of" in err and not (tmp_path / "x").exists()


# ---- studies -----------------------------------------------------------------------------------
class _Trained(Exception):
    """Raised by the spy in place of training: the test needs only the arguments."""


@pytest.mark.parametrize("name", ["notebook-seeds", "he2015", "lsuv", "trainability-depth", "fixup", "rezero",
                                  "hanin-rolnick", "mup-lr-transfer"])  # fmt: skip
def test_a_training_study_passes_float32_to_train_and_float64_as_before(name, monkeypatch):
    import importlib

    from initlab import studies

    study = studies.get(name)
    assert study.dtypes == ("float64", "float32")
    module = importlib.import_module(study.measure.__module__)
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        raise _Trained

    monkeypatch.setattr(module, "train", spy)
    units = study.plan("quick", study.default_seeds["quick"])
    unit = next(u for u in units if u.config.get("part") not in ("variance", "init"))  # a unit that trains
    for dtype in ("float32", "float64"):
        with pytest.raises(_Trained):
            studies._measure((name, "quick", 0, unit, dtype))
    float32, float64 = calls
    assert float32["dtype"] == "float32" and float32.get("engine", "numpy") == float64.get("engine", "numpy")
    assert float64.get("dtype", "float64") == "float64"


def test_a_float64_study_folder_and_result_read_as_before_and_float32_is_another():
    from initlab import studies
    from initlab.studies.base import StudyResult, Verdict, result_dict
    from initlab.studies.store import _fingerprint

    old = {"study": "he2015", "size": "quick", "seeds": 5, "seed": 0}
    assert studies.settings("he2015", "quick", 5, 0) == old
    assert _fingerprint(studies.settings("he2015", "quick", 5, 0, "float32")) != _fingerprint(old)
    result = StudyResult("he2015", "quick", 5, [], [], Verdict(True, 1.0, ""))
    assert "dtype" not in result_dict(studies.get("he2015"), result)
    with pytest.raises(ValueError, match="'dtype' parameter 'float32' does not apply to study 'glorot2010'"):
        studies.check_dtype_of("glorot2010", "float32")
    assert studies.check_dtype_of("glorot2010", "float64") == "float64"


def test_cli_study_dtype_is_refused_in_one_line_where_nothing_trains(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["study", "glorot2010", "--quick", "--dtype", "float32", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "The '--dtype' option 'float32' does not apply to study 'glorot2010'" in err
    assert main(["study", "he2015", "--quick", "--dtype", "half", "--out", str(out)]) == 2
    assert "'--dtype' option must be one of" in capsys.readouterr().err and not out.exists()
    assert main(["study", "list", "--dtype", "float32"]) == 2
