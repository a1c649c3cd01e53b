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
256 standard-normal inputs per example, m = 512 examples (256 quick) with random 0/1 labels (one
data set, from ``seed_stream(root, 0)``); one forward and one backward pass of the engine per seed,
seed s's network drawn from ``seed_stream(root, 1, s)`` under both inits. "Standard" is
``variance_scaling(scale=1/3, mode="fan_in", distribution="uniform")`` (exactly
:math:`U[\pm 1/\sqrt{n_{in}}]`), Xavier is ``xavier_uniform``. Per hidden layer: the standard
deviation of the activations :math:`A^{[l]}` and of the back-propagated gradients
:math:`dZ^{[l]}`.

Input scale (reported, not part of the verdict). The paper's derivation assumes tanh's linear
regime (:math:`\tanh' \approx 1`), and its inputs were images, not unit-variance Gaussians. The
same measurement is repeated with the inputs multiplied by 0.1, 0.25, 0.5 and 2, which shows where
Xavier's "roughly flat" holds: the further the first layer is from the linear regime, the more
tanh's compression shrinks both profiles, layer after layer.

Verdict
-------
Two ratios per seed: activations, :math:`\mathrm{std}(A^{[5]}) / \mathrm{std}(A^{[1]})`; gradients,
:math:`\mathrm{std}(dZ^{[1]}) / \mathrm{std}(dZ^{[5]})` (input side over output side). With a
factor of 2 as the line between "shrinks" and "roughly flat", SUPPORTED when the 95 % interval
(over seeds) of both ratios is below 1/2 under standard init and inside [1/2, 2] under Xavier,
with the unit-variance inputs stated above (fixed before the first run; not retuned).
Margins are in doublings (log2 units) from those lines; the verdict's is the smallest.
"""

from __future__ import annotations

import numpy as np

from initlab import initializers
from initlab.network import MLP, Workspace, backward_pass, forward_pass, output_delta
from initlab.stats import mean_ci
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, chunks, seed_stream, seed_streams

WIDTH, HIDDEN = 256, 5
SIZES = {"quick": dict(m=256), "default": dict(m=512)}
INITS = {
    "standard": initializers.variance_scaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
    "xavier": initializers.xavier_uniform(),
}


CHUNK = 5  # seeds per unit
INPUT_STD = 1.0  # the verdict's inputs
SCAN = (0.1, 0.25, 0.5, 1.0, 2.0)  # input scales, reported


def layer_profiles(init, X: np.ndarray, T: np.ndarray, streams: list) -> tuple[np.ndarray, np.ndarray]:
    """Std of activations and of back-propagated gradients per hidden layer, one network per stream.

    Parameters
    ----------
    init : initializer
    X : (WIDTH, m) inputs; T : (1, m) labels
    streams : K seed streams (:meth:`initlab.network.MLP.initialize`)

    Returns
    -------
    a_std, dz_std : (K, HIDDEN)
    """
    net = MLP((WIDTH,) + (WIDTH,) * HIDDEN + (1,), activation="tanh")
    P = net.initialize(init, rng=streams)
    seeds = len(streams)
    Ws = [P[f"W{l}"] for l in range(1, net.n_layers + 1)]
    bs = [P[f"b{l}"] for l in range(1, net.n_layers + 1)]
    g = net.hidden
    Zs, As = forward_pass(Ws, bs, X, g.forward, net.output_function)
    a_std = np.stack([A.std(axis=(1, 2)) for A in As[:HIDDEN]], axis=1)  # (K, HIDDEN)
    work = Workspace(net.layers, seeds, X.shape[1])  # the backward pass keeps dZ of every layer in it
    backward_pass(Ws, Zs, As, X, output_delta(As[-1], T), g.derivative, work)
    dz_std = np.stack([work.dZ[l].std(axis=(1, 2)) for l in range(HIDDEN)], axis=1)  # (K, HIDDEN)
    return a_std, dz_std


def data(m: int, root: int) -> tuple[np.ndarray, np.ndarray]:
    """The data set, the same for every seed and both inits: (WIDTH, m) standard normal inputs, (1, m) random 0/1 labels."""
    rng = np.random.default_rng(seed_stream(root, 0))
    X = rng.standard_normal((WIDTH, m))
    return X, rng.integers(0, 2, size=(1, m)).astype(np.float64)


def plan(size: str, seeds: int) -> list[Unit]:
    return chunks(({"init": name, "input_std": x} for x in SCAN for name in INITS), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """Seed s's network is drawn from ``seed_stream(root, 1, s)``: the same stream under both inits."""
    X, T = data(SIZES[size]["m"], root)
    X = X * unit.config["input_std"]
    a_std, dz_std = layer_profiles(INITS[unit.config["init"]], X, T, seed_streams(root, unit.seeds, 1))
    return {"a_std": a_std, "dz_std": dz_std}


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    header = ["init", "activation std, layers 1..5 (mean)", "std(A5)/std(A1) (95% CI)",
              "dL/dz std ratio layer1/layer5 (95% CI)"]
    data = {"m": SIZES[size]["m"], "width": WIDTH, "hidden": HIDDEN, "input_std": INPUT_STD, "scan": list(SCAN)}
    rows, scan_rows, criteria = [], [], []
    for x in SCAN:
        for name in INITS:
            m = measured[{"init": name, "input_std": x}]
            act = mean_ci(np.log2(m["a_std"][:, -1] / m["a_std"][:, 0]))  # in doublings
            grad = mean_ci(np.log2(m["dz_std"][:, 0] / m["dz_std"][:, -1]))
            data[f"{name}/{x:g}"] = {"a_std": m["a_std"], "dz_std": m["dz_std"],
                                     "act_log2_ratio": act.__dict__, "grad_log2_ratio": grad.__dict__}
            row = [name, " ".join(f"{v:.3f}" for v in m["a_std"].mean(axis=0)), _ratio_text(act), _ratio_text(grad)]
            if x != INPUT_STD:
                scan_rows.append([f"{name}, inputs x {x:g} (reported)", *row[1:]])
                continue
            rows.append(row)
            for what, est in (("activation", act), ("gradient", grad)):
                if name == "standard":
                    criteria.append((f"standard {what} ratio upper CI {2**est.high:.3g} < 1/2", -1.0 - est.high))
                else:
                    criteria.append((f"xavier {what} ratio CI [{2**est.low:.3g}, {2**est.high:.3g}] inside [1/2, 2]",
                                     1.0 - max(abs(est.low), abs(est.high))))
    for name in INITS:
        data[name] = data[f"{name}/{INPUT_STD:g}"]
    return StudyResult("glorot2010", size, seeds, header, rows + scan_rows, Verdict.all_of(criteria), data)


def _ratio_text(est) -> str:
    """A log2 estimate shown as the ratio with its interval."""
    return f"{2**est.mean:.3g} [{2**est.low:.3g}, {2**est.high:.3g}]"


STUDY = Study(
    name="glorot2010",
    paper="Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks (AISTATS)",
    claim="In a 5-hidden-layer tanh net, standard U[±1/√n] init shrinks activations layer by layer and "
          "back-propagated gradients toward the input; Xavier init keeps both roughly flat.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 4, "default": 20},
    doc=__doc__,
)
