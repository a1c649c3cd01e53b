r"""glorot2010: Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks".

Claim
-----
In a deep tanh network at initialization, the "standard" initialization
:math:`W \sim U[-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}}]` (variance :math:`1/(3 n_{in})`) makes the
activations shrink layer by layer and the back-propagated gradients :math:`\partial L/\partial z`
shrink toward the input; the normalized (Xavier) initialization
:math:`U[\pm\sqrt{6/(n_{in}+n_{out})}]` keeps both roughly flat (the paper's figures 6 and 7).

Setup
-----
A tanh MLP with 5 hidden layers of width 256 (``(256, 256 x 5, 1)``, sigmoid output, biases 0),
256 standard-normal inputs per example, m = 512 examples (256 quick) with random 0/1 labels; one
forward and one backward pass of the engine per seed. "Standard" is
``variance_scaling(scale=1/3, mode="fan_in", distribution="uniform")`` (exactly
:math:`U[\pm 1/\sqrt{n_{in}}]`), Xavier is ``xavier_uniform``. Per hidden layer: the standard
deviation of the activations :math:`A^{[l]}` and of the back-propagated gradients
:math:`dZ^{[l]}`.

Verdict
-------
Two ratios per seed: activations, :math:`\mathrm{std}(A^{[5]}) / \mathrm{std}(A^{[1]})`; gradients,
:math:`\mathrm{std}(dZ^{[1]}) / \mathrm{std}(dZ^{[5]})` (input side over output side). With a
factor of 2 as the line between "shrinks" and "roughly flat", SUPPORTED when the 95 % interval
(over seeds) of both ratios is below 1/2 under standard init and inside [1/2, 2] under Xavier.
Margins are in doublings (log2 units) from those lines; the verdict's is the smallest.
"""

from __future__ import annotations

import time

import numpy as np

from initlab import initializers
from initlab.network import MLP, Workspace, backward_pass, forward_pass, output_delta
from initlab.stats import mean_ci
from initlab.studies.base import Study, StudyResult, Verdict

WIDTH, HIDDEN = 256, 5
SIZES = {"quick": dict(m=256), "default": dict(m=512)}
INITS = {
    "standard": initializers.variance_scaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
    "xavier": initializers.xavier_uniform(),
}


def layer_profiles(init, *, m: int, seeds: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Std of activations and of back-propagated gradients per hidden layer: two (seeds, HIDDEN) arrays."""
    net = MLP((WIDTH,) + (WIDTH,) * HIDDEN + (1,), activation="tanh")
    data_rng, init_rng = np.random.default_rng(rng).spawn(2)
    X = data_rng.standard_normal((WIDTH, m))  # (n_0, m)
    T = data_rng.integers(0, 2, size=(1, m)).astype(np.float64)  # (1, m) random labels
    P = net.initialize(init, rng=init_rng, models=seeds)
    Ws = [P[f"W{l}"] for l in range(1, net.n_layers + 1)]
    bs = [P[f"b{l}"] for l in range(1, net.n_layers + 1)]
    g = net.hidden
    Zs, As = forward_pass(Ws, bs, X, g.forward, net.output_function)
    a_std = np.stack([A.std(axis=(1, 2)) for A in As[:HIDDEN]], axis=1)  # (K, HIDDEN)
    work = Workspace(net.layers, seeds, m)  # a second workspace: the backward pass keeps dZ of every layer in it
    backward_pass(Ws, Zs, As, X, output_delta(As[-1], T), g.derivative, work)
    dz_std = np.stack([work.dZ[l].std(axis=(1, 2)) for l in range(HIDDEN)], axis=1)  # (K, HIDDEN)
    return a_std, dz_std


def run(size: str = "default", seeds: int = 10, rng=0) -> StudyResult:
    t0 = time.perf_counter()
    m = SIZES[size]["m"]
    header = ["init", "activation std, layers 1..5 (mean)", "std(A5)/std(A1) (95% CI)",
              "dL/dz std ratio layer1/layer5 (95% CI)"]
    rows, criteria, data = [], [], {"m": m, "width": WIDTH, "hidden": HIDDEN}
    for (name, init), stream in zip(INITS.items(), np.random.SeedSequence(rng).spawn(len(INITS))):
        a_std, dz_std = layer_profiles(init, m=m, seeds=seeds, rng=stream)
        act = mean_ci(np.log2(a_std[:, -1] / a_std[:, 0]))  # in doublings
        grad = mean_ci(np.log2(dz_std[:, 0] / dz_std[:, -1]))
        data[name] = {"a_std": a_std, "dz_std": dz_std, "act_log2_ratio": act.__dict__, "grad_log2_ratio": grad.__dict__}
        rows.append([name, " ".join(f"{v:.3f}" for v in a_std.mean(axis=0)),
                     _ratio_text(act), _ratio_text(grad)])
        for what, est in (("activation", act), ("gradient", grad)):
            if name == "standard":
                criteria.append((f"standard {what} ratio upper CI {2**est.high:.3g} < 1/2", -1.0 - est.high))
            else:
                criteria.append((f"xavier {what} ratio CI [{2**est.low:.3g}, {2**est.high:.3g}] inside [1/2, 2]",
                                 1.0 - max(abs(est.low), abs(est.high))))
    return StudyResult("glorot2010", size, seeds, header, rows, Verdict.all_of(criteria), data,
                       time.perf_counter() - t0)


def _ratio_text(est) -> str:
    """A log2 estimate shown as the ratio with its interval."""
    return f"{2**est.mean:.3g} [{2**est.low:.3g}, {2**est.high:.3g}]"


def figure(result: StudyResult):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    layers = np.arange(1, HIDDEN + 1)
    for name, color in (("standard", "C3"), ("xavier", "C0")):
        d = result.data[name]
        for ax, key in ((ax1, "a_std"), (ax2, "dz_std")):
            v = np.asarray(d[key])
            ax.plot(layers, v.T, color=color, alpha=0.25, lw=0.8)
            ax.plot(layers, v.mean(axis=0), "o-", color=color, lw=2, label=name)
    ax1.set_title("activation std per layer (tanh, width 256)")
    ax2.set_title("back-propagated gradient std dL/dz")
    for ax in (ax1, ax2):
        ax.set_yscale("log")
        ax.set_xlabel("hidden layer")
        ax.set_xticks(layers)
        ax.legend()
    fig.tight_layout()
    return fig


STUDY = Study(
    name="glorot2010",
    paper="Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks (AISTATS)",
    claim="In a 5-hidden-layer tanh net, standard U[±1/√n] init shrinks activations layer by layer and "
          "back-propagated gradients toward the input; Xavier init keeps both roughly flat.",
    run=run,
    figure=figure,
    default_seeds={"quick": 4, "default": 20},
    doc=__doc__,
)
