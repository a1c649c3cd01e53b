"""Residual MLPs: forward against independent code, gradients by central differences, the structural
initializers against their papers' definitions, and training through the one engine (initlab.state)."""

import numpy as np
import pytest

from initlab import activations, optimizers
from initlab.network import MLP
from initlab.residual import LN_EPS, STRUCTURAL, ResidualMLP
from initlab.training import initialize_and_train, train

ACTIVATIONS = activations.available()
CONFIGS = [(norm, scalars) for norm in ("none", "layer") for scalars in ("none", "alpha", "fixup")]


def perturbed(net, rng, K=3, spread=0.3):
    """Parameters with every group away from its initial constant (alpha != 1, scalar biases != 0, ...)."""
    params = net.initialize("he_normal", rng=rng, models=K)
    gen = np.random.default_rng(rng)
    return {k: v + spread * gen.normal(size=v.shape) for k, v in params.items()}


def data(n_in=3, m=7, n_out=1, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n_in, m))
    Y = gen.integers(0, 2 if n_out == 1 else n_out, size=(1, m))
    return X, Y


# --------------------------------------------------------------------------------------------
# The forward pass against a loop written from the module docstring's formulas (one model, one example)
# --------------------------------------------------------------------------------------------
def reference_logits(net: ResidualMLP, params: dict, k: int, x: np.ndarray) -> np.ndarray:
    g = activations.get(net.activation).forward
    m = net.branch_depth
    h = params["W_in"][k] @ x + params["b_in"][k][:, 0]
    for b in range(net.blocks):
        u = h
        if net.norm == "layer":
            u = (h - h.mean()) / np.sqrt(h.var() + LN_EPS) * params["ln_gain"][k, b, :, 0] + params["ln_bias"][
                k, b, :, 0
            ]
        for j in range(m):
            a = params["scalar_bias"][k, b, j] if net.scalars == "fixup" else 0.0
            v = params["W_branch"][k, b, j] @ (u + a)
            if net.scalars != "fixup":
                v = v + params["b_branch"][k, b, j, :, 0]
            if j < m - 1:
                c = params["scalar_bias"][k, b, m + j] if net.scalars == "fixup" else 0.0
                u = g(v + c)
        alpha = params["alpha"][k, b] if net.scalars != "none" else 1.0
        d = params["scalar_bias"][k, b, 2 * m - 1] if net.scalars == "fixup" else 0.0
        h = h + alpha * v + d
    return params["W_out"][k] @ g(h) + params["b_out"][k][:, 0]


@pytest.mark.parametrize(("norm", "scalars"), CONFIGS)
@pytest.mark.parametrize("branch_depth", [1, 2, 3])
def test_forward_matches_a_per_example_loop(norm, scalars, branch_depth):
    net = ResidualMLP(3, 5, 1, 3, branch_depth=branch_depth, activation="tanh", norm=norm, scalars=scalars)
    params = perturbed(net, 1)
    X, _ = data()
    probs = net.forward(params, X)  # (K, 1, m)
    for k in range(3):
        for i in range(X.shape[1]):
            z = reference_logits(net, params, k, X[:, i])
            np.testing.assert_allclose(probs[k, :, i], 1 / (1 + np.exp(-z)), rtol=1e-12, atol=1e-14)


def test_softmax_head_and_dict_without_model_axis():
    net = ResidualMLP(3, 4, 3, 2, output="softmax", norm="layer")
    params = perturbed(net, 2, K=1)
    X, Y = data(n_out=3)
    probs = net.forward(params, X)
    z = np.stack([reference_logits(net, params, 0, X[:, i]) for i in range(X.shape[1])], axis=1)
    np.testing.assert_allclose(probs[0], np.exp(z) / np.exp(z).sum(axis=0), rtol=1e-12)
    single = {k: v[0] for k, v in params.items()}
    loss, grads = net.loss_and_grads(single, X, Y)
    assert isinstance(loss, float) and grads["dW_in"].shape == (4, 3)
    np.testing.assert_allclose(net.forward(single, X), probs[0], rtol=0, atol=0)
    assert net.predict(single, X).shape == (1, X.shape[1])


# --------------------------------------------------------------------------------------------
# Gradients: central differences for every parameter group, every activation, both norms, K = 3
# --------------------------------------------------------------------------------------------
def central_differences(net, params, X, Y, name, eps=1e-6):
    """dL/d params[name] for all K models at once: perturbing entry i of every model moves only its own loss."""
    K = len(params["W_in"])
    flat = params[name].reshape(K, -1)
    out = np.zeros_like(flat)
    for i in range(flat.shape[1]):
        for sign in (1.0, -1.0):
            shifted = dict(params)
            moved = flat.copy()
            moved[:, i] += sign * eps
            shifted[name] = moved.reshape(params[name].shape)
            out[:, i] += sign * net.loss_and_grads(shifted, X, Y)[0] / (2 * eps)
    return out.reshape(params[name].shape)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("norm", "scalars"), CONFIGS)
def test_gradients_match_central_differences(activation, norm, scalars):
    net = ResidualMLP(3, 4, 1, 2, branch_depth=2, activation=activation, norm=norm, scalars=scalars)
    params = perturbed(net, 3)
    X, Y = data()
    loss, grads = net.loss_and_grads(params, X, Y)
    assert loss.shape == (3,)
    assert sorted(grads) == sorted(f"d{name}" for name, _ in net.groups())
    for name, _ in net.groups():
        numeric = central_differences(net, params, X, Y, name)
        scale = max(np.abs(numeric).max(), 1e-3)
        np.testing.assert_allclose(grads[f"d{name}"], numeric, rtol=0, atol=2e-6 * scale, err_msg=name)


@pytest.mark.parametrize("branch_depth", [1, 3])
def test_gradients_of_other_branch_depths_and_softmax(branch_depth):
    net = ResidualMLP(2, 3, 3, 2, branch_depth=branch_depth, output="softmax", norm="layer", scalars="fixup")
    params = perturbed(net, 4)
    X, Y = data(n_in=2, n_out=3)
    _, grads = net.loss_and_grads(params, X, Y)
    for name, _ in net.groups():
        numeric = central_differences(net, params, X, Y, name)
        np.testing.assert_allclose(grads[f"d{name}"], numeric, rtol=0, atol=2e-6 * max(np.abs(numeric).max(), 1e-3))


def test_forward_and_gradients_match_torch_autograd(torch):
    """An independent implementation: torch's layer_norm, activations and autograd, float64."""
    F = torch.nn.functional
    acts = {"relu": F.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01), "tanh": torch.tanh,
            "sigmoid": torch.sigmoid, "linear": lambda z: z, "selu": F.selu,
            "gelu": lambda z: F.gelu(z, approximate="tanh")}  # fmt: skip
    X, Y = data(m=9)
    for activation in ACTIVATIONS:
        for norm, scalars in CONFIGS:
            net = ResidualMLP(3, 5, 1, 3, activation=activation, norm=norm, scalars=scalars)
            params = perturbed(net, 5)
            loss, grads = net.loss_and_grads(params, X, Y)
            P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            g, m, w = acts[activation], net.branch_depth, net.width
            h = P["W_in"] @ torch.tensor(X) + P["b_in"]  # (K, w, m)
            for b in range(net.blocks):
                u = h
                if norm == "layer":  # torch normalizes the last axis: units last, then back
                    normed = F.layer_norm(h.transpose(-1, -2), (w,), eps=LN_EPS).transpose(-1, -2)
                    u = normed * P["ln_gain"][:, b] + P["ln_bias"][:, b]
                for j in range(m):
                    sb = P["scalar_bias"][:, b, :, None, None] if scalars == "fixup" else None
                    v = P["W_branch"][:, b, j] @ (u + sb[:, j] if scalars == "fixup" else u)
                    v = v if scalars == "fixup" else v + P["b_branch"][:, b, j]
                    if j < m - 1:
                        u = g(v + sb[:, m + j] if scalars == "fixup" else v)
                out = v * P["alpha"][:, b, None, None] if scalars != "none" else v
                h = h + (out + sb[:, 2 * m - 1] if scalars == "fixup" else out)
            z = P["W_out"] @ g(h) + P["b_out"]
            target = torch.tensor(Y, dtype=torch.float64).expand_as(z)
            per_model = F.binary_cross_entropy_with_logits(z, target, reduction="none").mean(dim=(1, 2))
            per_model.sum().backward()
            np.testing.assert_allclose(loss, per_model.detach().numpy(), rtol=1e-12)
            for name in P:
                np.testing.assert_allclose(grads[f"d{name}"], P[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                           err_msg=f"{activation} {norm} {scalars} {name}")  # fmt: skip


# --------------------------------------------------------------------------------------------
# Which parameters exist (one place: groups)
# --------------------------------------------------------------------------------------------
def test_groups_per_configuration_and_flat_layout():
    w, B, m = 4, 3, 2
    names = {s: [n for n, _ in ResidualMLP(2, w, 1, B, scalars=s).groups()] for s in ("none", "alpha", "fixup")}
    assert names["none"] == ["W_in", "b_in", "W_branch", "b_branch", "W_out", "b_out"]  # plain: no scalars at all
    assert names["alpha"] == ["W_in", "b_in", "W_branch", "b_branch", "alpha", "W_out", "b_out"]
    assert names["fixup"] == ["W_in", "b_in", "W_branch", "alpha", "scalar_bias", "W_out", "b_out"]
    net = ResidualMLP(2, w, 1, B, norm="layer", scalars="fixup")
    assert dict(net.groups())["scalar_bias"] == (B, 2 * m) and dict(net.groups())["ln_gain"] == (B, w, 1)
    assert net.parameter_count == w * 2 + w + 2 * B * w + B * m * w * w + B + B * 2 * m + w + 1
    params = perturbed(net, 0)
    theta = net.flatten(params)
    assert theta.shape == (3, net.parameter_count)
    views = net.views(theta)
    theta[1, 0] = 42.0  # views are views
    assert views["W_in"][1, 0, 0] == 42.0
    again = net.params_dict(net.flatten(params))
    assert all(np.array_equal(again[k], params[k]) for k in params)


# --------------------------------------------------------------------------------------------
# The structural initializers, against the papers' text
# --------------------------------------------------------------------------------------------
def he_std(fan_in: int) -> float:
    return np.sqrt(2.0 / fan_in)  # He et al. 2015: Var(W) = 2 / fan_in


@pytest.mark.parametrize(("B", "m"), [(16, 2), (9, 3), (4, 4)])
def test_fixup_is_the_papers_definition(B, m):
    """Zhang et al. 2019, Sec. 3 ("Fixup initialization"): classification layer and the last layer of each
    residual branch 0; other layers by a standard method (He); the layers inside residual branches scaled
    by L^(-1/(2m-2)) (L branches, m layers each); multipliers 1, scalar biases 0."""
    w = 32
    net = ResidualMLP(2, w, 1, B, branch_depth=m, scalars="fixup")
    fixup = net.initialize("fixup", rng=7, models=3)
    he = net.initialize("he_normal", rng=7, models=3)  # the same draws, before the structure
    factor = {2: B**-0.5, 3: B**-0.25, 4: B ** (-1 / 6)}[m]  # L^(-1/(2m-2)) written out per m
    np.testing.assert_allclose(fixup["W_branch"][:, :, : m - 1], he["W_branch"][:, :, : m - 1] * factor, rtol=1e-15)
    assert np.all(fixup["W_branch"][:, :, m - 1] == 0) and np.all(fixup["W_out"] == 0) and np.all(fixup["b_out"] == 0)
    np.testing.assert_array_equal(fixup["W_in"], he["W_in"])  # the input layer: standard init, unscaled
    assert np.all(fixup["alpha"] == 1) and np.all(fixup["scalar_bias"] == 0) and np.all(fixup["b_in"] == 0)
    std = fixup["W_branch"][:, :, : m - 1].std()  # and the scale itself, from the formula's numbers
    assert abs(std / (he_std(w) * factor) - 1) < 0.02
    # At initialization every branch is 0: the net is its input projection and head, the output 1/2.
    X, _ = data(n_in=2, m=5)
    np.testing.assert_array_equal(net.forward(fixup, X), 0.5)


def test_fixup_with_one_layer_per_branch_zeroes_it_and_scales_nothing():
    net = ResidualMLP(2, 4, 1, 5, branch_depth=1, scalars="fixup")
    params = net.initialize("fixup", rng=0)
    assert np.all(params["W_branch"] == 0) and np.all(params["W_out"] == 0)


def matching_mlp(net: ResidualMLP, params: dict):
    """The 1-hidden-layer MLP g(W_in x + b_in) -> head: what a residual net is when every branch adds 0."""
    mlp = MLP((net.n_in, net.width, net.n_out), activation=net.activation, output=net.output)
    return mlp, {"W1": params["W_in"], "b1": params["b_in"], "W2": params["W_out"], "b2": params["b_out"]}


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_rezero_and_skipinit_are_alpha_zero_with_standard_layers(norm):
    """Bachlechner et al. 2020 (x <- x + alpha F(x), alpha = 0 learnable) and De & Smith 2020 (a learnable
    scalar at the end of each branch, 0 or small)."""
    net = ResidualMLP(2, 8, 1, 6, norm=norm, scalars="alpha")
    baseline = net.initialize("he_normal", rng=3, models=2)
    X, _ = data(n_in=2, m=11)
    for init, options, alpha in (("rezero", {}, 0.0), ("skipinit", {}, 0.0), ("skipinit", {"alpha0": 0.1}, 0.1)):
        params = net.initialize(init, rng=3, models=2, **options)
        assert np.all(params["alpha"] == alpha)
        for name in ("W_in", "W_branch", "W_out", "b_branch", "b_in", "b_out"):
            np.testing.assert_array_equal(params[name], baseline[name])
    mlp, mlp_params = matching_mlp(net, baseline)  # alpha = 0: the branches add nothing
    np.testing.assert_allclose(net.forward(net.initialize("rezero", rng=3, models=2), X),
                               mlp.forward(mlp_params, X), rtol=1e-14)  # fmt: skip
    orth = net.initialize("rezero", rng=3, layer_init="orthogonal")["W_branch"][0, 0, 0]
    np.testing.assert_allclose(orth @ orth.T, np.eye(8), atol=1e-12)  # the layers' init is an option


def test_zero_last_zeroes_each_branchs_last_layer_only():
    net = ResidualMLP(2, 8, 1, 5, branch_depth=3)
    params, baseline = net.initialize("zero_last", rng=1, models=2), net.initialize("he_normal", rng=1, models=2)
    assert np.all(params["W_branch"][:, :, 2] == 0)
    np.testing.assert_array_equal(params["W_branch"][:, :, :2], baseline["W_branch"][:, :, :2])
    np.testing.assert_array_equal(params["W_out"], baseline["W_out"])
    X, _ = data(n_in=2, m=4)
    mlp, mlp_params = matching_mlp(net, params)
    np.testing.assert_allclose(net.forward(params, X), mlp.forward(mlp_params, X), rtol=1e-14)


def test_per_matrix_baseline_draws_each_matrix_with_its_initializer():
    net = ResidualMLP(3, 6, 1, 2, norm="layer", scalars="alpha")
    params = net.initialize("orthogonal", rng=0, models=2, gain=2.0, scale=0.5)
    for W in (params["W_in"][1], params["W_branch"][1, 1, 0]):
        np.testing.assert_allclose(W.T @ W if W.shape[0] > W.shape[1] else W @ W.T, np.eye(min(W.shape)), atol=1e-12)
    assert np.all(params["ln_gain"] == 1) and np.all(params["ln_bias"] == 0) and np.all(params["alpha"] == 1)
    assert np.all(params["b_branch"] == 0) and np.all(params["b_in"] == 0)
    custom = net.initialize(lambda shape, *, rng: np.full(shape, 0.25), rng=0)
    assert np.all(custom["W_branch"] == 0.25)


def test_model_k_is_the_same_whatever_K():
    net = ResidualMLP(2, 4, 1, 3, scalars="fixup")
    for init in ("he_normal", "fixup"):
        many, one = (
            net.initialize(init, rng=5, models=4),
            net.initialize(init, rng=[np.random.SeedSequence(5, spawn_key=(2,))]),
        )
        for name in many:
            np.testing.assert_array_equal(many[name][2], one[name][0])
        assert not np.array_equal(many["W_in"][0], many["W_in"][1])


def test_structural_table_lists_formula_and_paper():
    assert set(STRUCTURAL) == {"fixup", "rezero", "skipinit", "zero_last"}
    assert "B^(-1/(2m-2))" in STRUCTURAL["fixup"][0] and "1901.09321" in STRUCTURAL["fixup"][1]


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
def test_bad_input_is_refused_with_the_field_and_the_fix():
    with pytest.raises(ValueError, match=r"needs ResidualMLP\(\.\.\., scalars='fixup'\).*scalars='none'"):
        ResidualMLP(2, 4, 1, 3).initialize("fixup")
    with pytest.raises(ValueError, match="scalars='alpha'"):
        ResidualMLP(2, 4, 1, 3, scalars="fixup").initialize("rezero")
    with pytest.raises(TypeError, match="alpha0.*Allowed: layer_init"):
        ResidualMLP(2, 4, 1, 3, scalars="alpha").initialize("rezero", alpha0=0.1)
    with pytest.raises(ValueError, match="'init'.*fixup"):
        ResidualMLP(2, 4).initialize("nope" * 100)
    with pytest.raises(ValueError, match="'blocks'"):
        ResidualMLP(2, 4, 1, 0)
    with pytest.raises(ValueError, match="'blocks'"):
        ResidualMLP(2, 4, 1, 10**9)
    with pytest.raises(ValueError, match="'norm'.*'layer'"):
        ResidualMLP(2, 4, norm="batch")
    with pytest.raises(ValueError, match="'n_out'.*softmax"):
        ResidualMLP(2, 4, 3)
    net = ResidualMLP(2, 4, 1, 2)
    params = net.initialize(rng=0, models=2)
    with pytest.raises(ValueError, match="exactly the keys"):
        net.loss_and_grads({"W1": 1}, *data(n_in=2))
    with pytest.raises(ValueError, match=r"params\['W_branch'\]'.*\(2, 2, 2, 4, 4\)"):
        net.forward({**params, "W_branch": params["W_branch"][:, :1]}, data(n_in=2)[0])
    with pytest.raises(ValueError, match="layers\\[0\\]=2 rows"):
        net.forward(params, np.zeros((3, 5)))


# --------------------------------------------------------------------------------------------
# Training: the one engine (initlab.state), every optimizer, minibatches, divergence
# --------------------------------------------------------------------------------------------
def manual_training(net, params, X, Y, opt, lr, iterations):
    """The rule written out: loss_and_grads, then the optimizer's step, full batch."""
    theta = net.flatten(params)
    state = opt.init_state(theta)
    for t in range(1, iterations + 1):
        _, grads = net.loss_and_grads(net.params_dict(theta), X, Y)
        theta = opt.step(theta, net.flatten({k[1:]: v for k, v in grads.items()}), lr, state, t)
    return net.params_dict(theta)


@pytest.mark.parametrize("optimizer", list(optimizers.available()))
@pytest.mark.parametrize(("norm", "scalars", "init"), [("none", "none", "he_normal"), ("layer", "alpha", "rezero"),
                                                       ("none", "fixup", "fixup")])  # fmt: skip
def test_train_is_the_optimizers_rule_on_residual_gradients(optimizer, norm, scalars, init):
    net = ResidualMLP(2, 5, 1, 3, norm=norm, scalars=scalars, activation="tanh")
    X, Y = data(n_in=2, m=20)
    params = net.initialize(init, rng=0, models=3)
    opt = optimizers.get(optimizer)
    history = train(net, params, X, Y, learning_rate=0.05, iterations=12, record_every=4, optimizer=opt)
    expected = manual_training(net, params, X, Y, opt, 0.05, 12)
    for name in expected:
        np.testing.assert_allclose(history.params[name], expected[name], rtol=1e-10, atol=1e-13, err_msg=name)
    loss_now, _ = net.loss_and_grads(history.params, X, Y)
    np.testing.assert_allclose(history.final_loss, loss_now, rtol=1e-12)
    assert history.loss.shape == (3, 3) and np.all(np.isfinite(history.loss))
    assert np.all(history.loss[:, -1] < history.loss[:, 0])  # it trains


def test_minibatches_k_models_and_seeds():
    """Model k trained among K = 3 is model k trained alone (same init stream, same minibatch stream)."""
    net = ResidualMLP(2, 6, 1, 2, norm="layer", scalars="alpha")
    X, Y = data(n_in=2, m=30)
    together = initialize_and_train(net, X, Y, init="skipinit", init_options={"alpha0": 0.1}, models=3, rng=4,
                                    optimizer="adam", batch_size=7, iterations=25, record_every=5)  # fmt: skip
    assert together.batch_size == 7 and together.params["alpha"].shape == (3, 2)
    init_root, order_root = np.random.default_rng(4).spawn(2)
    init_k, order_k = init_root.spawn(3)[1], order_root.spawn(3)[1]
    alone = train(net, net.initialize("skipinit", rng=[init_k], alpha0=0.1), X, Y, optimizer="adam", batch_size=7,
                  iterations=25, record_every=5, rng=[order_k])  # fmt: skip
    for name in alone.params:
        np.testing.assert_allclose(together.params[name][1], alone.params[name][0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(together.loss[1], alone.loss[0], rtol=1e-12)
    # A minibatch of the whole set is the full batch (up to the order of the sums).
    params = net.initialize("he_normal", rng=0, models=2)
    full = train(net, params, X, Y, optimizer="sgd", iterations=5, learning_rate=0.1)
    batched = train(net, params, X, Y, optimizer="sgd", batch_size=30, iterations=5, learning_rate=0.1, rng=0)
    np.testing.assert_allclose(batched.params["W_branch"], full.params["W_branch"], rtol=1e-9, atol=1e-12)


def test_divergence_freezes_a_model_and_the_others_go_on():
    net = ResidualMLP(2, 6, 1, 4, scalars="fixup")
    X, Y = data(n_in=2, m=30)
    params = net.initialize("he_normal", rng=1, models=3)
    history = train(net, params, X, Y, learning_rate=[0.05, 1e150, 0.05], iterations=40, record_every=1)
    assert list(history.diverged) == [False, True, False]
    at = history.diverged_at[1]
    assert 0 <= at < 40 and np.all(np.isnan(history.loss[1, at + 1 :])) and np.isfinite(history.loss[1, 0])
    assert all(np.all(np.isfinite(v)) for v in history.params.values())
    alone = train(net, {k: v[[2]] for k, v in params.items()}, X, Y, learning_rate=0.05, iterations=40, record_every=1)
    for name in alone.params:  # the frozen model does not disturb the others
        np.testing.assert_allclose(history.params[name][2], alone.params[name][0], rtol=1e-12, atol=1e-15)


def test_dict_without_model_axis_comes_back_without_it():
    net = ResidualMLP(2, 4, 1, 2)
    single = {k: v[0] for k, v in net.initialize(rng=0).items()}
    history = train(net, single, *data(n_in=2, m=10), iterations=3, record_every=1)
    assert history.params["W_branch"].shape == (2, 2, 4, 4) and history.loss.shape == (1, 3)


def test_numba_engine_refuses_a_custom_optimizer_in_one_line():
    # every residual net trains on the compiled engine (tests/test_kernels_residual*.py); an unknown rule is refused
    net = ResidualMLP(2, 4, 1, 2, norm="layer")
    params, (X, Y) = net.initialize(rng=0), data(n_in=2)
    custom = optimizers.Optimizer("nesterov", (), 1, False, optimizers.momentum().update)
    message = r"^The 'engine' parameter 'numba' .*optimizer nesterov.* Use engine='numpy'\.$"
    with pytest.raises(ValueError, match=message):
        train(net, params, X, Y, optimizer=custom, engine="numba")
    net = ResidualMLP(2, 4, 1, 2)
    params = net.initialize(rng=0)
    # diagnostics are per block now (tests/test_residual_diagnostics.py)
    with pytest.raises(TypeError, match="'net'.*MLP or ResidualMLP"):
        train("net", params, X, Y)
    from initlab import kernels
    from initlab.state import TrainingState

    state = TrainingState(net, net.flatten(net.check_params(params)[0]), X, np.asarray(Y, float), np.ones(1),
                          iterations=2, record_every=1, loss="stable", optimizer=optimizers.get("gd"))  # fmt: skip
    with pytest.raises(ValueError, match="plain MLPs only, not a ResidualMLP.*state.advance"):
        kernels.advance(state, 1)
    state.advance(2)  # the numpy engine trains the same state
    assert state.iteration == 2 and np.all(np.isfinite(state.losses))


def test_he_residual_output_grows_with_depth_and_fixup_stays():
    """The issue's claim at initialization (Fixup's Sec. 2): a He ReLU branch of 2 layers has
    Var(F(h)) = (2 / w) * w * E[relu(W_1 h)^2] = 2 Var(h), so Var(h_b) = 3 Var(h_{b-1}): exponential in B.
    Fixup's branches add 0 at initialization: the trunk keeps Var(h_0)."""
    X = np.random.default_rng(0).normal(size=(8, 256))
    variance = {}
    for init, scalars in (("he_normal", "none"), ("fixup", "fixup")):
        for B in (1, 4, 16):
            net = ResidualMLP(8, 64, 1, B, scalars=scalars)
            params = net.initialize(init, rng=0, models=4)
            passes = net.passes()
            work = passes.workspace(4, X.shape[1])
            passes.forward(net.views(net.flatten(params)), X, work)
            variance[init, B] = work.trunk[-1].var()
    assert 27 / 2 < variance["he_normal", 4] / variance["he_normal", 1] < 27 * 2  # 3^3, within sampling
    assert variance["he_normal", 16] > 1e4 * variance["he_normal", 1]
    assert variance["fixup", 16] == variance["fixup", 1]  # the same h_0 (same W_in draw), branches add 0
