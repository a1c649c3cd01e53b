"""Parametrizations (standard, ntk, mup): the paper's table, the explicit-multiplier equivalence, and the standard path unchanged.

The expected scalings are written out here from Tensor Programs V (Yang & Hu et al. 2022,
arXiv:2203.03466), Table 3 (effective weights, no multipliers), with each width factor taken
relative to the base model (the ``mup`` package's width multipliers), and from the NTK
parametrization's definition (W = w / sqrt(fan_in)); they are not read from initlab.parametrization.
"""

import math

import numpy as np
import pytest

from initlab import initializers, optimizers
from initlab.network import MLP, params_dict
from initlab.state import TrainingState, passes
from initlab.training import train


def per_layer(net, flat):
    """(P,) -> [(values of W_l, values of b_l)] per layer, each a set of the distinct values."""
    d = params_dict(np.asarray(flat)[np.newaxis], net.layers)
    return [(set(d[f"W{l}"].ravel().tolist()), set(d[f"b{l}"].ravel().tolist())) for l in range(1, net.n_layers + 1)]


def table3_mup(n0, n, n_out, L, base, optimizer):
    """Table 3 of TP5 for an MLP (n0, n, ..., n, n_out) with L weight layers, relative to base width ``base``.

    Returns per layer ((init std ratio to SP, lr factor, epsilon factor) of W, (lr factor, epsilon factor) of b).
    Table 3 (width dependence; SP in brackets): input weights and all biases: Var 1/fan_in, SGD LR fan_out [1],
    Adam LR 1; output weights: Var 1/fan_in^2 [1/fan_in], SGD LR 1/fan_in [1], Adam LR 1/fan_in [1]; hidden
    weights: Var 1/fan_in, SGD LR 1, Adam LR 1/fan_in [1]. Each fan that grows with width enters as n / base.
    A bias's fan_in is 1; the output bias's fan_out (n_out) does not grow. Adam's epsilon: 1/a for W = a w,
    a = 1 except the output's 1/(n/base) (Table 8's output multiplier 1/fan_in).
    """
    mu = n / base
    sgd = optimizer in ("gd", "sgd", "momentum")
    rows = []
    for l in range(1, L + 1):
        if l == 1:  # input weights: fan_in = n0 finite, fan_out = n
            w = (1.0, mu if sgd else 1.0, 1.0)
        elif l < L:  # hidden
            w = (1.0, 1.0 if sgd else 1 / mu, 1.0)
        else:  # output: Var 1/fan_in^2 = (1/fan_in) * (1/mu) relative to SP at base
            w = (math.sqrt(1 / mu), 1 / mu, mu)
        b = (mu if sgd else 1.0, 1.0) if l < L else (1.0, 1.0)
        rows.append((w, b))
    return rows


def assert_factors(net, optimizer, expected_rows, rtol=1e-15):
    lr_rows = per_layer(net, net.learning_rate_factors(optimizer))
    eps_rows = per_layer(net, net.epsilon_factors())
    for l, ((w, b), (lr_w, lr_b), (eps_w, eps_b)) in enumerate(zip(expected_rows, lr_rows, eps_rows), start=1):
        for got, want, what in (
            (lr_w, w[1], "lr W"),
            (eps_w, w[2], "eps W"),
            (lr_b, b[0], "lr b"),
            (eps_b, b[1], "eps b"),
        ):
            assert len(got) == 1, (l, what, got)
            assert math.isclose(got.pop(), want, rel_tol=rtol), (l, what, want)


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["gd", "sgd", "momentum", "adam"])
@pytest.mark.parametrize("n, base", [(64, 16), (256, 16), (1024, 64), (48, 48), (100, None)])
def test_mup_factors_are_table_3(n, base, optimizer):
    net = MLP((3, n, n, n, 4), output="softmax", parametrization="mup", base_width=base)
    assert_factors(net, optimizer, table3_mup(3, n, 4, 4, base or 1, optimizer))


@pytest.mark.parametrize("n, base", [(64, 16), (512, 32), (100, None)])
def test_mup_initial_weights_are_table_3(n, base):
    """The same streams as standard; the output layer's std times sqrt(base / n), the others unchanged."""
    std = MLP((3, n, n, 1)).initialize("he_normal", rng=5, models=2, bias_init="he_normal")
    mup = MLP((3, n, n, 1), parametrization="mup", base_width=base).initialize(
        "he_normal", rng=5, models=2, bias_init="he_normal"
    )
    for key in ("W1", "b1", "W2", "b2", "b3"):
        np.testing.assert_array_equal(mup[key], std[key])
    np.testing.assert_allclose(mup["W3"], std["W3"] * math.sqrt((base or 1) / n), rtol=1e-15)
    # Table 3's 1/fan_in^2 (times He's gain^2 = 2 and the base width) as a variance, over 2 * n draws
    assert abs(mup["W3"].var() / (2 * (base or 1) / n**2) - 1) < 0.2


def test_mup_unequal_hidden_widths_follow_the_mup_package():
    """MuSGD divides a matrix-like parameter's rate by fanin_mult / fanout_mult; MuAdam by fanin_mult."""
    n, base = 256, 32
    net = MLP((3, 2 * n, n, 1), parametrization="mup", base_width=base)
    (_, _), (lr_sgd, _), (_, _) = per_layer(net, net.learning_rate_factors("sgd"))
    (_, _), (lr_adam, _), (_, _) = per_layer(net, net.learning_rate_factors("adam"))
    assert lr_sgd == {(n / base) / (2 * n / base)} and lr_adam == {base / (2 * n)}
    per_layer_base = MLP((3, 2 * n, n, 1), parametrization="mup", base_width=(2 * base, base))
    assert np.array_equal(per_layer_base.learning_rate_factors("sgd")[: 2 * n * 4], np.full(2 * n * 4, n / base))


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("layers", [(2, 10, 5, 1), (3, 300, 300, 2)])
def test_ntk_factors_and_init(layers, optimizer):
    """NTK: W = w / sqrt(fan_in), one rate for w: SGD rate 1/fan_in, Adam 1/sqrt(fan_in), epsilon sqrt(fan_in)."""
    net = MLP(layers, output="sigmoid" if layers[-1] == 1 else "softmax", parametrization="ntk")
    sgd = optimizer != "adam"
    rows = [
        ((1.0, 1 / fan_in if sgd else 1 / math.sqrt(fan_in), math.sqrt(fan_in)), (1.0, 1.0)) for fan_in in layers[:-1]
    ]
    assert_factors(net, optimizer, rows, rtol=1e-14)
    standard = MLP(layers, output=net.output)
    np.testing.assert_array_equal(  # the effective weights are drawn as standard's, to the bit
        flat(net.initialize("lecun_normal", rng=3, models=2)),
        flat(standard.initialize("lecun_normal", rng=3, models=2)),
    )


def flat(params):
    return np.concatenate([v.ravel() for v in params.values()])


# --------------------------------------------------------------------------------------------
# muP at the base width is standard; standard is unchanged
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, batch_size", [("gd", None), ("momentum", 32), ("adam", 32)])
def test_mup_at_the_base_width_trains_as_standard_to_the_bit(circles, optimizer, batch_size):
    X, Y, _, _ = circles
    standard = MLP((2, 16, 16, 1))
    mup = MLP((2, 16, 16, 1), parametrization="mup", base_width=16)
    assert np.array_equal(mup.learning_rate_factors(optimizer), np.ones(mup_count(mup)))
    assert np.array_equal(mup.epsilon_factors(), np.ones(mup_count(mup)))
    runs = []
    for net in (standard, mup):
        params = net.initialize("he_uniform", rng=1, models=3)
        runs.append(train(net, params, X, Y, learning_rate=0.05, iterations=60, record_every=10,
                          optimizer=optimizer, batch_size=batch_size, rng=2))  # fmt: skip
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
    np.testing.assert_array_equal(flat(runs[0].params), flat(runs[1].params))


def mup_count(net):
    return sum(n * (p + 1) for p, n in zip(net.layers[:-1], net.layers[1:]))


def test_standard_state_keeps_one_rate_per_model_and_the_same_optimizer(circles):
    """The standard path builds no (K, P) rates and no rescaled Adam: the fast path as before."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1))
    opt = optimizers.get("adam")
    theta = passes(net).flatten(net.initialize(rng=0, models=3))
    state = TrainingState(
        net, theta, X, Y, np.full(3, 0.01), iterations=5, record_every=1, loss="stable", optimizer=opt
    )
    assert state._alpha.shape == (3, 1) and state.optimizer is opt
    assert np.array_equal(net.learning_rate_factors("adam"), np.ones(mup_count(net)))
    mup = MLP((2, 10, 5, 1), parametrization="mup", base_width=5)
    state = TrainingState(
        mup, theta, X, Y, np.full(3, 0.01), iterations=5, record_every=1, loss="stable", optimizer=opt
    )
    assert state._alpha.shape == (3, mup_count(mup)) and repr(state.optimizer) == repr(opt)


# --------------------------------------------------------------------------------------------
# The equivalence with an explicit multiplier (torch: stored weights as leaves, a in the forward)
# --------------------------------------------------------------------------------------------
def stored_form(parametrization, layers, base):
    """Table 8 of TP5 / the mup package (muP) and the NTK definition, in the stored form: per layer
    (multiplier a of W, stored-weight variance relative to SP, SGD rate factor of w, Adam rate factor of w),
    and the bias's (SGD, Adam) rate factors. Equal hidden widths n, base width ``base``."""
    L = len(layers) - 1
    out = []
    for l in range(1, L + 1):
        fan_in = layers[l - 1]
        if parametrization == "ntk":
            out.append(((1 / math.sqrt(fan_in), fan_in, 1.0, 1.0), (1.0, 1.0)))
            continue
        mu = layers[1] / base
        if l == 1:
            w = (1.0, 1.0, mu, 1.0)  # MuSGD: vector-like, lr * width_mult
        elif l < L:
            w = (1.0, 1.0, 1.0, 1 / mu)  # matrix-like: MuSGD lr / (fanin/fanout) = 1, MuAdam lr / fanin_mult
        else:
            w = (1 / mu, mu, mu, 1.0)  # MuReadout: input / width_mult, weights * sqrt(width_mult); vector-like
        out.append((w, (mu, 1.0) if l < L else (1.0, 1.0)))
    return out


def torch_explicit(layers, Ws, bs, X, Y, form, optimizer, lr, steps, eps):
    """Train stored weights w = W / a (leaves) with a * w in the forward; return the effective a * w, b."""
    torch = pytest.importorskip("torch")
    ws = [torch.tensor(W / f[0][0], dtype=torch.float64, requires_grad=True) for W, f in zip(Ws, form)]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs]
    col = 2 if optimizer == "gd" else 3
    groups = [{"params": [w], "lr": lr * f[0][col]} for w, f in zip(ws, form)]
    groups += [{"params": [b], "lr": lr * f[1][col - 2]} for b, f in zip(bs, form)]
    opt = torch.optim.SGD(groups, lr=lr) if optimizer == "gd" else torch.optim.Adam(groups, lr=lr, eps=eps)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    for _ in range(steps):
        opt.zero_grad()
        A = Xt
        for l, (w, b, f) in enumerate(zip(ws, bs, form)):
            Z = (f[0][0] * w) @ A + b
            A = torch.relu(Z) if l < len(ws) - 1 else Z
        torch.nn.functional.binary_cross_entropy_with_logits(A, Yt).backward()
        opt.step()
    return [(f[0][0] * w).detach().numpy() for w, f in zip(ws, form)], [b.detach().numpy() for b in bs]


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
@pytest.mark.parametrize("parametrization, base", [("mup", 8), ("mup", 2), ("ntk", None)])
def test_effective_weights_train_as_the_explicit_multiplier_form(parametrization, base, optimizer):
    """A few steps of SGD and Adam (epsilon 1e-3, so that its factor shows) agree with torch to 1e-12."""
    layers, steps, lr, eps = (3, 32, 32, 1), 5, (0.5 if optimizer == "gd" else 0.01), 1e-3
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 40)), (rng.random((1, 40)) < 0.5).astype(float)
    net = MLP(layers, parametrization=parametrization, base_width=base)
    params = net.initialize("he_normal", rng=1, bias_init="lecun_normal")
    Ws, bs = [params[f"W{l}"][0] for l in (1, 2, 3)], [params[f"b{l}"][0] for l in (1, 2, 3)]
    form = stored_form(parametrization, layers, base)
    opt = optimizers.get("adam", epsilon=eps) if optimizer == "adam" else "gd"
    ours = train(net, params, X, Y, learning_rate=lr, iterations=steps, record_every=steps, optimizer=opt).params
    want_W, want_b = torch_explicit(layers, Ws, bs, X, Y, form, optimizer, lr, steps, eps)
    for l in (1, 2, 3):
        moved = np.abs(want_W[l - 1] - Ws[l - 1]).max()
        assert moved > 1e-6, (l, moved)  # the steps did something to compare
        np.testing.assert_allclose(
            ours[f"W{l}"][0], want_W[l - 1], rtol=0, atol=1e-12 * max(1.0, np.abs(want_W[l - 1]).max())
        )
        np.testing.assert_allclose(ours[f"b{l}"][0], want_b[l - 1], rtol=0, atol=1e-12)
    standard = train(MLP(layers), params, X, Y, learning_rate=lr, iterations=steps, record_every=steps, optimizer=opt)
    assert (
        max(np.abs(standard.params[f"W{l}"][0] - want_W[l - 1]).max() for l in (1, 2, 3)) > 1e-8
    )  # the check can fail


def test_the_epsilon_factor_is_needed():
    """Without epsilon / a the Adam steps of a mup output layer differ from the explicit form: the test above can fail."""
    net = MLP((3, 32, 32, 1), parametrization="mup", base_width=2)
    opt = optimizers.get("adam", epsilon=1e-3)
    unscaled = optimizers.with_epsilon_factors(opt, np.ones(mup_count(net)))
    scaled = optimizers.with_epsilon_factors(opt, net.epsilon_factors())
    rng = np.random.default_rng(0)
    theta, grads = rng.standard_normal((1, mup_count(net))), 1e-3 * rng.standard_normal((1, mup_count(net)))
    alpha = 0.01 * net.learning_rate_factors(opt)[np.newaxis]
    a = unscaled.step(theta, grads.copy(), alpha, unscaled.init_state(theta), 1)
    b = scaled.step(theta, grads.copy(), alpha, scaled.init_state(theta), 1)
    out = slice(mup_count(net) - 33, mup_count(net) - 1)  # W3
    assert np.abs(a[0, out] - b[0, out]).max() > 1e-6 and np.array_equal(a[0, : out.start], b[0, : out.start])


# --------------------------------------------------------------------------------------------
# Boundaries
# --------------------------------------------------------------------------------------------
def test_numba_engine_trains_a_non_standard_parametrization_as_numpy_does(circles):
    """Its per-parameter learning rates are a row of factors in the kernel (tests/test_kernels_optimizers.py)."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), parametrization="ntk")
    params = net.initialize(rng=0)
    compiled = train(net, params, X, Y, iterations=50, record_every=10, engine="numba")
    reference = train(net, params, X, Y, iterations=50, record_every=10)
    np.testing.assert_allclose(compiled.loss, reference.loss, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"parametrization": "mu-p"}, ValueError, r"'parametrization'.*'standard', 'ntk', 'mup'.*'mu-p'"),
        ({"base_width": 8}, ValueError, r"'base_width'.*parametrization='mup'.*'standard'"),
        ({"parametrization": "ntk", "base_width": 8}, ValueError, r"'base_width'.*'ntk'"),
        ({"parametrization": "mup", "base_width": 0}, ValueError, r"'base_width'.*>= 1.*Got 0"),
        ({"parametrization": "mup", "base_width": (4, 4, 4)}, ValueError, r"one per hidden layer \(2 here\)"),
        ({"parametrization": "mup", "base_width": 2.5}, TypeError, r"'base_width'.*integer.*2.5"),
        ({"parametrization": "mup", "base_width": True}, TypeError, r"'base_width'.*integer"),
    ],
)
def test_mlp_refuses_bad_parametrizations(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        MLP((2, 10, 5, 1), **kwargs)


@pytest.mark.parametrize("parametrization", ["ntk", "mup"])
def test_initializers_without_a_fan_in_variance_are_refused(parametrization, circles):
    net = MLP((2, 10, 5, 1), parametrization=parametrization)
    for init in ("xavier_normal", "orthogonal", "random", initializers.get("he_normal", mode="fan_out")):
        with pytest.raises(ValueError, match=r"'init'.*gain\^2/fan_in.*parametrization='standard'"):
            net.initialize(init, rng=0)
    with pytest.raises(ValueError, match=r"'init'.*the callable"):
        net.initialize(lambda shape, *, rng: rng.standard_normal(shape), rng=0)
    with pytest.raises(ValueError, match=r"lsuv.*parametrization"):
        net.initialize("lsuv", rng=0, X=circles[0])
    for init in ("he_normal", "he_uniform", "lecun_uniform", "zeros", initializers.variance_scaling(2.0)):
        net.initialize(init, rng=0)


# --------------------------------------------------------------------------------------------
# What the table is for: muP's updates do not grow with width (TP5's coordinate check, in small)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, lr", [("gd", 0.1), ("adam", 0.01)])
def test_mup_keeps_the_change_after_three_steps_flat_in_width_where_standard_grows(optimizer, lr):
    """Mean |change| of the logits and of the second hidden layer's activations after 3 steps, log-log slope
    over widths 128..1024: standard grows (theory: like width^1 for the logits), muP stays flat (width^0).
    Lines from that theory, with margin: standard > 0.5, muP |slope| < 0.3 (both quantities)."""
    widths = [128, 256, 512, 1024]
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 64)), (rng.random((1, 64)) < 0.5).astype(float)
    slopes = {}
    for par in ("standard", "mup"):
        changes = []
        for n in widths:
            net = MLP((4, n, n, 1), parametrization=par, base_width=64 if par == "mup" else None)
            params = net.initialize("he_normal", rng=10, models=4)
            trained = train(net, params, X, Y, learning_rate=lr, iterations=3, record_every=3, optimizer=optimizer)
            (_, before), (_, after) = net.forward(params, X, record=True), net.forward(trained.params, X, record=True)
            changes.append([np.abs(after.Z[-1] - before.Z[-1]).mean(), np.abs(after.A[1] - before.A[1]).mean()])
        slopes[par] = np.polyfit(np.log(widths), np.log(np.array(changes)), 1)[0]  # (2,): logits, hidden
    assert (slopes["standard"] > 0.5).all(), slopes
    assert (np.abs(slopes["mup"]) < 0.3).all(), slopes
