"""Jacobian spectra: checked against central differences, torch autograd and the closed forms of linear nets."""

import numpy as np
import pytest

from initlab import spectra
from initlab.network import MLP


def _numeric_jacobian(net, P, x, start, stop, k, h=1e-6):
    """Central differences of layer ``stop`` (logits at L) as a function of layer ``start``'s activations, model k."""
    L = net.n_layers
    Ws = [P[f"W{l}"][k] for l in range(1, L + 1)]
    bs = [P[f"b{l}"][k] for l in range(1, L + 1)]
    g = net.hidden.forward

    def a_of(x):  # activations of each layer for one column, a[0] = x
        out = [x]
        for l in range(1, L + 1):
            z = Ws[l - 1] @ out[-1] + bs[l - 1]
            out.append(z if l == L else g(z))
        return out

    base = a_of(x)[start]
    J = np.zeros((net.layers[stop], net.layers[start]))
    for j in range(base.shape[0]):
        up, down = base.copy(), base.copy()
        up[j] += h
        down[j] -= h

        def run_from(a):
            for l in range(start + 1, stop + 1):
                z = Ws[l - 1] @ a + bs[l - 1]
                a = z if l == L else g(z)
            return a

        J[:, j] = (run_from(up) - run_from(down))[:, 0] / (2 * h)
    return J


@pytest.mark.parametrize("activation", ["tanh", "gelu", "sigmoid"])
@pytest.mark.parametrize(("start", "stop"), [(0, None), (0, 4), (1, 3), (2, 4)])
def test_jacobians_match_central_differences(activation, start, stop):
    net = MLP((3, 6, 5, 7, 2), activation=activation, output="softmax")
    rng = np.random.default_rng(1)
    P = net.initialize("xavier_normal", rng=2, models=3)
    for k in range(3):
        P["b1"][k] = rng.normal(size=P["b1"][k].shape)
    X = rng.normal(size=(3, 4))
    J = spectra.jacobians(net, P, X, start=start, stop=stop, examples=3)
    s = 3 if stop is None else stop
    assert J.shape == (3, 3, net.layers[s], net.layers[start])
    for k in range(3):
        for i in range(3):
            expected = _numeric_jacobian(net, P, X[:, i : i + 1], start, s, k)
            np.testing.assert_allclose(J[k, i], expected, rtol=1e-6, atol=1e-8)


def test_input_to_logits_jacobian_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    net = MLP((4, 16, 16, 16, 3), activation="tanh", output="softmax")
    P = net.initialize("orthogonal", rng=5, models=2)
    X = np.random.default_rng(6).normal(size=(4, 5))
    J = spectra.jacobians(net, P, X, start=0, stop=net.n_layers)
    for k in range(2):
        Ws = [torch.tensor(P[f"W{l}"][k]) for l in range(1, 5)]
        bs = [torch.tensor(P[f"b{l}"][k][:, 0]) for l in range(1, 5)]

        def f(x, Ws=Ws, bs=bs):
            for l, (W, b) in enumerate(zip(Ws, bs)):
                x = W @ x + b
                if l < 3:
                    x = torch.tanh(x)
            return x

        for i in range(5):
            ref = torch.autograd.functional.jacobian(f, torch.tensor(X[:, i])).numpy()
            np.testing.assert_allclose(J[k, i], ref, rtol=1e-12, atol=1e-13)
        s_torch = torch.linalg.svdvals(torch.tensor(J[k])).numpy()
        np.testing.assert_allclose(spectra.singular_values(J)[k], s_torch, rtol=1e-10, atol=1e-12)


def test_orthogonal_linear_net_is_an_exact_isometry_and_gain_scales_it():
    n, depth = 32, 6
    net = MLP((n,) * (depth + 1) + (1,), activation="linear")
    X = np.random.default_rng(0).normal(size=(n, 3))
    for gain in (1.0, 1.1):
        P = net.initialize("orthogonal", rng=3, models=2, gain=gain)
        s = spectra.singular_values(spectra.jacobians(net, P, X))
        np.testing.assert_allclose(s, gain**depth, rtol=1e-12)
        summary = spectra.summarize(s)
        np.testing.assert_allclose(summary.spread, 0.0, atol=1e-12)
        np.testing.assert_allclose(summary.mean_squared, gain ** (2 * depth), rtol=1e-12)


def test_gaussian_linear_net_spectrum_spreads_like_depth():
    # Products of L Gaussian matrices with entries N(0, 1/n): <lambda> = 1 and Var(lambda) = L as n grows
    # (the Fuss-Catalan moments m1 = 1, m2 = L + 1; Pennington et al. 2017, linear case). Averaged over 16 draws.
    n = 200
    for depth in (2, 6):
        net = MLP((n,) * (depth + 1) + (1,), activation="linear")
        P = net.initialize("lecun_normal", rng=depth, models=16)
        s = spectra.singular_values(spectra.jacobians(net, P, np.ones((n, 1))))
        summary = spectra.summarize(s)
        assert abs(summary.mean_squared.mean() - 1.0) < 0.05
        assert abs(summary.spread.mean() - depth) < 0.2 * depth


def test_summary_of_known_values():
    s = np.array([[[2.0, 1.0], [0.5, 0.0]]])
    out = spectra.summarize(s)
    assert out.mean_squared.tolist() == [(4 + 1 + 0.25 + 0) / 4]
    assert out.max.tolist() == [2.0]
    assert out.near_one.tolist() == [0.75]
    np.testing.assert_allclose(out.spread, np.var([4.0, 1.0, 0.25, 0.0]))
    np.testing.assert_allclose(out.relative_spread, np.var([4.0, 1.0, 0.25, 0.0]) / (5.25 / 4) ** 2)
    scaled = spectra.summarize(3 * s)  # the relative spread is free of the scale; the spread is not
    np.testing.assert_allclose(scaled.relative_spread, out.relative_spread)
    np.testing.assert_allclose(scaled.spread, 81 * out.spread)


def test_bad_layers_and_sizes_are_refused_by_name():
    net = MLP((2, 4, 4, 1))
    P = net.initialize("he_normal", rng=0)
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="'stop'"):
        spectra.jacobians(net, P, X, stop=4)
    with pytest.raises(ValueError, match="'start'"):
        spectra.jacobians(net, P, X, start=2, stop=2)
    with pytest.raises(ValueError, match="'examples'"):
        spectra.jacobians(net, P, X, examples=4)
    wide = MLP((2000, 2000, 1))
    Pw = {
        "W1": np.zeros((30, 2000, 2000)),
        "b1": np.zeros((30, 2000, 1)),
        "W2": np.zeros((30, 1, 2000)),
        "b2": np.zeros((30, 1, 1)),
    }
    with pytest.raises(ValueError, match="fewer 'examples'"):
        spectra.jacobians(wide, Pw, np.ones((2000, 2)))
