r"""One playground run: data, K networks and one training state advanced in chunks, summarized for the page.

:class:`Run` wraps the library's :class:`initlab.state.TrainingState` with K = ``config.seeds``
models (one row each, trained in the same batched matrix products), so ``step(a)`` then ``step(b)``
is the same computation as one :func:`initlab.training.train` of ``a + b`` updates (the optimizer's
moments, its step counter and the minibatch order carry over), with the library's one divergence
rule, per model; what it adds is the view: the loss curves with the test loss, the decision
boundary, the per-layer statistics and the weights of the *selected* model, and every model's
loss and accuracy (the spread over seeds).

Seeds (the rule of :mod:`initlab.seeding`, model k the same whatever K is):

The page's run is ``initlab train --seed S --seeds K`` (:func:`initlab.training.initialize_and_train`
with ``rng=seed``, the same data rule): ``seeding.split(seed)`` gives the init and the order streams.

* initial draw: model k is row k of ``MLP.initialize(init, rng=split(seed)[0], models=K)``
  (``"lsuv"``: with ``X`` = the training inputs); for ``notebook_he`` it is
  ``course.initialize_parameters_he(seed=seed + k)`` (model 0 is the notebook's draw). Seed labels
  (:meth:`Run.seed_labels`): ``seed + k`` (an int) for ``notebook_he``, else the string ``"seed/k"``
  (model k of ``--seed seed``).
* minibatch order (``batch_size``): model k's is the k-th child of ``split(seed)[1]``, so a model's
  initialization and its minibatch order never share random numbers.

Residual nets (``config.blocks >= 1``): the network is ``ResidualMLP(2, hidden[0], 1, blocks,
branch_depth=..., norm=..., scalars=residual.scalars_for(init))`` and model k is row k of its
``initialize(init, rng=split(seed)[0], models=K, scale=scale)`` (a structural init with its options;
a per-matrix one bound to its options first, as :func:`~initlab.training.initialize_and_train` does);
the same :class:`~initlab.state.TrainingState` trains it (numpy engine). Its snapshot's ``weights`` are
``{"W_in", "b_in", "blocks": [{"W": m matrices, "b": m vectors (not with Fixup), "alpha" (ReZero,
SkipInit, Fixup's multiplier), "bias": the 2m scalar biases (Fixup), "ln_gain", "ln_bias" (pre-LN)},
...], "W_out", "b_out"}`` and its ``layers`` are the input projection, one entry per block (the trunk
state after it, the branch's output std, the effective residual scale) and the head (:func:`_residual_layers`).

A plain MLP is built with ``parametrization=`` and ``base_width=`` (:mod:`initlab.parametrization`): its
initial scale and per-layer learning rates are the table's, its weights (shown, exported) the effective ones.

Jacobian spectrum (plain MLPs): every snapshot's ``jacobian`` is a histogram, over :math:`\log_{10} s`, of
the singular values :math:`s` of :math:`J_i = \partial A^{[L-1]} / \partial x` (the input to the last
hidden layer, :func:`initlab.spectra.jacobians`) of *every* model at its current weights (a diverged
model: its last finite ones), at :data:`JACOBIAN_EXAMPLES` training inputs spread over the set
(:func:`_jacobian`): ``{"lo", "hi", "counts"}`` (log10 edges, :data:`JACOBIAN_BINS` bins), ``zeros``
(:math:`s = 0`, e.g. dead ReLUs; not on a log axis), ``values``, ``models``, ``examples``, ``stop``
(L - 1), ``median``, ``near_one`` (the share within a factor 2 of 1) and ``max``. The input is 2-D, so
each :math:`J_i` has :math:`\min(n_{L-1}, 2)` singular values.
"""

from __future__ import annotations

import numpy as np

from initlab import course, datasets, initializers, optimizers, residual, seeding, spectra
from initlab.diagnostics import block_stats, distinct_units, layer_stats
from initlab.jsonable import finite_or_none
from initlab.network import (
    DATA_DEPENDENT,
    MLP,
    backward_pass,
    forward_pass,
    logits_sound,
    loss_from_output,
    output_delta,
    predicted_labels,
)
from initlab.state import TrainingState, engine_context, passes

from .config import NOTEBOOK_INIT, PlaygroundConfig

__all__ = ["GRID", "BINS", "Run"]

CURVE_POINTS = 300  # loss points per run, whatever its length (streamed with the snapshots)
GRID = 40  # the boundary is a GRID x GRID grid of probabilities
BINS = 24  # histogram bins per layer
JACOBIAN_EXAMPLES = 16  # training inputs the Jacobians are taken at (spread over the set), per model
JACOBIAN_BINS = 30  # bins of the singular values' histogram, equal in log10


class Run:
    """The state of one tab's training: ``step(n)`` trains K models, ``snapshot()`` describes them as JSON.

    Parameters
    ----------
    config : PlaygroundConfig (validated)

    Attributes
    ----------
    selected : int, 0 <= selected < K: the model whose boundary, layers, weights and curve are shown
    cancelled : bool, set from another thread (a closed tab): :meth:`step` returns at the next curve point
    """

    def __init__(self, config: PlaygroundConfig):
        self.config = config
        self.K = config.seeds
        self.data = page_data(config)
        self.residual = config.blocks > 0
        if self.residual:
            self.net = residual.ResidualMLP(2, config.hidden[0], 1, config.blocks, branch_depth=config.branch_depth,
                                            activation=config.activation, output="sigmoid", norm=config.norm,
                                            scalars=residual.scalars_for(config.init))  # fmt: skip
        else:
            self.net = MLP((2, *config.hidden, 1), config.activation, "sigmoid",
                           parametrization=config.parametrization, base_width=config.base_width)  # fmt: skip
        X, Y = self.data.X_train, self.data.Y_train
        self.X, self.T = X, Y.astype(np.float64)
        self.X_test, self.T_test = self.data.X_test, self.data.Y_test.astype(np.float64)
        self.record_every = max(1, config.iterations // CURVE_POINTS)
        init_rng, order_rng = seeding.split(config.seed)  # initlab train's recipe (training.initialize_and_train)
        self.passes = passes(self.net)
        self.state = TrainingState(self.net, self.passes.flatten(self._initial_params(init_rng)), self.X, self.T,
                                   np.full(self.K, config.learning_rate), iterations=config.iterations,
                                   record_every=self.record_every, loss="stable",
                                   optimizer=optimizers.get(config.optimizer), batch_size=config.batch_size,
                                   streams=seeding.model_streams(order_rng, self.K))  # fmt: skip
        self.selected = 0
        # The curve points since the last snapshot: (iteration, loss (K,), test loss (K,)), nan where diverged;
        # the snapshot turns them into the selected model's curve and every model's curves.
        self._points: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._curve_last = -1  # the last iteration on the curve (a snapshot adds its own point)
        self.cancelled = False
        X_all = np.concatenate([X, self.X_test], axis=1)
        lo, hi = X_all.min(axis=1), X_all.max(axis=1)
        pad = 0.15 * (hi - lo)
        self.extent = [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]
        xs = np.linspace(self.extent[0], self.extent[1], GRID)
        ys = np.linspace(self.extent[2], self.extent[3], GRID)
        gx, gy = np.meshgrid(xs, ys)  # row i: y = ys[i]
        self.grid = np.stack([gx.ravel(), gy.ravel()])  # (2, GRID*GRID)

    def _initial_params(self, init_rng) -> dict:
        """``{"W1": (K, n_1, n_0), ...}``: the notebook's He draws (seeds ``seed + k``), or the chosen initializer."""
        config = self.config
        if config.init == NOTEBOOK_INIT:
            draws = [
                course.initialize_parameters_he(list(self.net.layers), seed=config.seed + k) for k in range(self.K)
            ]
            return {key: np.stack([d[key] for d in draws]) * (config.scale if key.startswith("W") else 1.0)
                    for key in draws[0]}  # fmt: skip
        options = dict(config.init_options)
        if config.init in residual.STRUCTURAL:  # the residual net's structure imposed on layer_init's draw
            return self.net.initialize(config.init, rng=init_rng, models=self.K, scale=config.scale, **options)
        if config.init in DATA_DEPENDENT:  # LSUV normalizes each layer's output on the training inputs
            return self.net.initialize(config.init, rng=init_rng, models=self.K, scale=config.scale, X=self.X,
                                       **options)  # fmt: skip
        # Bind the options first: an initializer's own 'scale' (random, variance_scaling) is not the scale factor.
        init = initializers.get(config.init, **options)
        return self.net.initialize(init, rng=init_rng, models=self.K, scale=config.scale)

    def seed_labels(self) -> list:
        """Each model's seed: ``seed + k`` for notebook_he, else ``"seed/k"`` (its stream's seed and spawn key)."""
        seed = self.config.seed
        if self.config.init == NOTEBOOK_INIT:
            return [seed + k for k in range(self.K)]
        return [f"{seed}/{k}" for k in range(self.K)]

    def select(self, model: int) -> None:
        """Show model ``model`` from now on (trusted: the server checks 0 <= model < K)."""
        self.selected = int(model)

    @property
    def diverged_models(self) -> np.ndarray:
        """(K,) bool: which models have diverged (and are frozen)."""
        return self.state.diverged_at >= 0

    @property
    def diverged(self) -> bool:
        """Whether the selected model has diverged."""
        return bool(self.diverged_models[self.selected])

    @property
    def iteration(self) -> int:
        """Updates done: the state's clock, or, once every model has diverged, the last iteration of divergence."""
        if self.diverged_models.all():
            return int(self.state.diverged_at.max())
        return self.state.iteration

    @property
    def done(self) -> bool:
        """Every model has diverged, or the iterations are done."""
        return bool(self.diverged_models.all()) or self.iteration >= self.config.iterations

    def views(self):
        """``W{l}`` (K, n_l, n_{l-1}) and ``b{l}`` (K, n_l, 1) of every model (:meth:`TrainingState.views`);
        a residual net's ``{name: (K, *shape)}``."""
        return self.state.views()

    def selected_params(self) -> dict:
        """The selected model's ``{"W1": (n_1, n_0), "b1": (n_1, 1), ...}`` (copies, no model axis); a residual
        net's ``{name: shape}`` of :meth:`~initlab.residual.ResidualMLP.groups`."""
        if self.residual:
            return {name: v[self.selected].copy() for name, v in self.views().items()}
        Ws, bs = self.views()
        k, out = self.selected, {}
        for l, (W, b) in enumerate(zip(Ws, bs), start=1):
            out[f"W{l}"], out[f"b{l}"] = W[k].copy(), b[k].copy()
        return out

    def step(self, n: int) -> int:
        """Train up to ``n`` more updates (not past ``config.iterations``), in pieces that end at the curve's points.

        Returns how many updates were done (fewer when every model diverges or the run is cancelled).
        """
        begin = self.iteration
        stop = min(begin + max(n, 0), self.config.iterations)
        with engine_context():
            while self.iteration < stop and not self.done and not self.cancelled:
                i = self.iteration
                if i % self.record_every == 0 and i > self._curve_last:
                    self._record()
                self.state.advance(min(stop, i - i % self.record_every + self.record_every) - i)
        return self.iteration - begin

    def _evaluate(self) -> tuple[np.ndarray, ...]:
        """Train loss, train accuracy, test loss, test accuracy of every model as its parameters are now (a
        diverged model: its last finite ones), (K,) each: one batched forward pass per data set."""
        V = self.views()
        with np.errstate(all="ignore"):
            loss, accuracy = _evaluate(self.passes, V, self.X, self.T)
            test_loss, test_accuracy = _evaluate(self.passes, V, self.X_test, self.T_test)
        return loss, accuracy, test_loss, test_accuracy

    def _record(self) -> None:
        """Every model's loss and test loss now onto the curves."""
        loss, _, test_loss, _ = self._evaluate()
        self._add_point(loss, test_loss)

    def _add_point(self, loss: np.ndarray, test_loss: np.ndarray) -> None:
        """A point of the curves; a model that has diverged (it no longer trains) gets nan (null on the page)."""
        frozen = self.diverged_models
        self._points.append((self.iteration, np.where(frozen, np.nan, loss), np.where(frozen, np.nan, test_loss)))
        self._curve_last = self.iteration

    def snapshot(self) -> dict:
        """The selected model's loss, accuracy, boundary, layers and weights, every model's summary, as JSON values.

        Cost: one batched forward pass over the K models per data set; everything else is of one model.
        Computed in :func:`~initlab.state.engine_context` as training is (BLAS on one thread: on a shared CPU
        its threads made a 32-block residual net's snapshot ~10 s instead of a fraction of one).
        """
        with engine_context():
            return self._snapshot()

    def _snapshot(self) -> dict:
        k = self.selected
        loss, accuracy, test_loss, test_accuracy = self._evaluate()
        V = self.views()
        one = {n: v[k : k + 1] for n, v in V.items()} if self.residual else [[x[k : k + 1] for x in xs] for xs in V]
        with np.errstate(all="ignore"):
            P = self.passes.forward(one, self.grid)[1][0, 0]  # the selected model (K = 1) over the grid
        models = [{"loss": finite_or_none(loss[j]), "test_loss": finite_or_none(test_loss[j]),
                   "accuracy": finite_or_none(accuracy[j]), "test_accuracy": finite_or_none(test_accuracy[j]),
                   "diverged": bool(self.diverged_models[j])} for j in range(self.K)]  # fmt: skip
        curve, curves = self._take_curves(loss, test_loss)
        return {
            "type": "progress",
            "iteration": self.iteration,
            "iterations": self.config.iterations,
            "done": self.done,
            **models[k],  # loss, test_loss, accuracy, test_accuracy, diverged: of the selected model
            "boundary": {
                "n": GRID,
                "extent": self.extent,
                "p": [round(float(p), 3) if np.isfinite(p) else 0.5 for p in P],
            },
            "layers": _residual_layers(self.net, one, self.X, self.T) if self.residual else self._layers(*one),
            "curve": curve,
            "curves": curves,
            "selected": k,
            "activation": self.net.activation,
            "output": self.net.output,
            "weights": _residual_weights(one)
            if self.residual
            else {"W": [W[0].tolist() for W in one[0]], "b": [b[0, :, 0].tolist() for b in one[1]]},
            "models": models,
            "jacobian": None if self.residual else _jacobian(self.net, V, self.X),
        }

    def _layers(self, Ws, bs) -> list[dict]:
        """Per-layer statistics and histograms of one model (``Ws``, ``bs`` with K = 1)."""
        net = self.net
        with np.errstate(all="ignore"):
            stats = layer_stats(net, Ws, bs, self.X, self.T)
            Zs, As = forward_pass(Ws, bs, self.X, net.hidden.forward, net.output_function)
            dWs, _ = backward_pass(Ws, Zs, As, self.X, output_delta(As[-1], self.T), net.hidden.derivative)
        layers = []
        for l in range(net.n_layers):
            layers.append({
                "units": int(stats.units[l]),
                "activation": net.activation if l < net.n_layers - 1 else net.output,
                "a_std": finite_or_none(stats.a_std[0, l]),
                "z_std": finite_or_none(stats.z_std[0, l]),
                "grad_norm": finite_or_none(stats.grad_W_norm[0, l]),
                "distinct_units": int(stats.distinct_units[0, l]),
                "dead_fraction": finite_or_none(stats.dead_fraction[0, l]),
                "saturated_fraction": finite_or_none(stats.saturated_fraction[0, l]),
                "a_hist": _histogram(As[l]),
                "g_hist": _histogram(dWs[l]),
            })  # fmt: skip
        return layers

    def _take_curves(self, loss: np.ndarray, test_loss: np.ndarray) -> tuple[list[list], list[list]]:
        """The points since the last snapshot, ending with the current one: the selected model's
        ``[[iteration, loss, test_loss], ...]`` and every model's ``[[iteration, [loss_0, ...]], ...]``."""
        if self.iteration > self._curve_last:
            self._add_point(loss, test_loss)
        points, self._points = self._points, []
        k = self.selected
        curve = [[i, finite_or_none(L[k]), finite_or_none(T[k])] for i, L, T in points]
        curves = [[i, [finite_or_none(v) for v in L]] for i, L, _ in points]
        return curve, curves

    def export(self, fmt: str):
        """The selected model's current weights as a file (:func:`initlab.export.render`; a residual net's
        too): an ``Export`` with ``filename``, ``media_type`` and ``text``. Raises ValueError for an unknown ``fmt``."""
        from initlab import export  # one direction only: export never imports the playground

        config = self.config
        settings = {**config.to_json(), "model": self.selected, "seed": self.seed_labels()[self.selected],
                    "iteration": self.iteration}  # fmt: skip
        return export.render(fmt, self.net, self.selected_params(), init=config.init,
                             init_options=dict(config.init_options), scale=config.scale, settings=settings)  # fmt: skip

    def points(self) -> dict:
        """The data to draw under the boundary: train and test points with labels."""
        return {
            "train": {
                "x": self.X[0].round(4).tolist(),
                "y": self.X[1].round(4).tolist(),
                "label": self.data.Y_train[0].tolist(),
            },
            "test": {
                "x": self.X_test[0].round(4).tolist(),
                "y": self.X_test[1].round(4).tolist(),
                "label": self.data.Y_test[0].tolist(),
            },
        }


def page_data(config: PlaygroundConfig) -> datasets.Dataset:
    """The page's data set (the one rule, also the coordinate check's): the notebook's circles keep the notebook's
    own seeding; every other set is seeded 0 (shareable URLs)."""
    rng = None if datasets.is_notebook_data(config.dataset, noise=config.noise) else 0
    return datasets.load(config.dataset, noise=config.noise, rng=rng)


def _evaluate(net_passes, views, X, T) -> tuple[np.ndarray, np.ndarray]:
    """Loss (nan where the logits are past the divergence line) and accuracy of every model, (K,) each."""
    Z, A = net_passes.forward(views, X)
    output = net_passes.output
    loss = np.where(logits_sound(Z), loss_from_output("stable", output, Z, A, T), np.nan)
    accuracy = (predicted_labels(output, A) == T.astype(np.int64)).mean(axis=(1, 2))
    return loss, accuracy


def _jacobian(net: MLP, views, X: np.ndarray) -> dict:
    """The histogram of log10 singular values of every model's input -> last-hidden Jacobian (module docstring).

    ``views``: ``(Ws, bs)`` with the model axis (K, ...); ``X`` (2, m) the training inputs.
    """
    Ws, bs = views
    params = {f"{p}{l}": a for l, (W, b) in enumerate(zip(Ws, bs), start=1) for p, a in (("W", W), ("b", b))}
    stop = max(1, net.n_layers - 1)  # the last hidden layer (the only one with one hidden layer)
    finite, _ = spectra.at_spread_examples(net, params, X, examples=JACOBIAN_EXAMPLES, stop=stop)  # (K', e, r)
    return {"models": int(finite.shape[0]), "examples": int(finite.shape[1]), "stop": stop} | spectra.log_histogram(
        finite, bins=JACOBIAN_BINS
    )


def _residual_weights(V: dict) -> dict:
    """One residual model's parameters (``V``: views with K = 1) as the page's ``weights`` (module docstring)."""
    blocks = []
    for b in range(V["W_branch"].shape[1]):
        block = {"W": V["W_branch"][0, b].tolist()}
        if "b_branch" in V:
            block["b"] = V["b_branch"][0, b, :, :, 0].tolist()
        if "alpha" in V:
            block["alpha"] = float(V["alpha"][0, b])
        if "scalar_bias" in V:
            block["bias"] = V["scalar_bias"][0, b].tolist()
        if "ln_gain" in V:
            block["ln_gain"], block["ln_bias"] = V["ln_gain"][0, b, :, 0].tolist(), V["ln_bias"][0, b, :, 0].tolist()
        blocks.append(block)
    return {"W_in": V["W_in"][0].tolist(), "b_in": V["b_in"][0, :, 0].tolist(), "blocks": blocks,
            "W_out": V["W_out"][0].tolist(), "b_out": V["b_out"][0, :, 0].tolist()}  # fmt: skip


def _norm(a: np.ndarray) -> float | None:
    return finite_or_none(np.sqrt((a**2).sum()))


def _residual_layers(net, V: dict, X: np.ndarray, T: np.ndarray) -> list[dict]:
    r"""One residual model's (``V`` with K = 1) per-layer view: the input projection :math:`h_0`, one entry
    per block and the head.

    A block's numbers are :func:`initlab.diagnostics.block_stats`' (the one place): the trunk state
    :math:`h_b`'s std (``a_std``), the branch output :math:`r_b = \alpha_b F_b + d_b`'s std
    (``branch_std``), the effective residual scale ``residual_scale`` (rms of :math:`r_b` / rms of
    :math:`h_{b-1}`), the norm of its branch matrices' gradient and the dead / saturated share of the
    branch's hidden units; its histograms are of :math:`h_b` and of those gradients. ``distinct_units``
    here counts the distinct trunk units (rows of :math:`h_b` over the inputs: 1 of ``width`` means every
    trunk unit computes the same function, the page's "symmetric"); diagnostics' per-branch count is not
    shown, as a zero last layer (Fixup, zero_last) has equal rows without any symmetry problem.
    """
    ps = net.passes()
    with np.errstate(all="ignore"):
        stats = block_stats(net, V, X, T)
        work = ps.workspace(1, X.shape[1])
        ps.forward(V, X, work)
        G = net.views(ps.backward(V, X, T, work))
    H = work.trunk

    def entry(name, values, grad, kind, **extra):
        zeros = np.zeros((1, values.shape[1], 1))
        return {"name": name, "units": int(values.shape[1]), "activation": kind, "a_std": finite_or_none(values.std()),
                "z_std": finite_or_none(values.std()), "grad_norm": _norm(grad),
                "distinct_units": int(distinct_units(values, zeros)[0]), "dead_fraction": None,
                "saturated_fraction": None, "a_hist": _histogram(values), "g_hist": _histogram(grad), **extra}  # fmt: skip

    layers = [entry("input projection", H[0], G["W_in"], "linear")]
    for b in range(1, len(H)):
        of = {key: finite_or_none(getattr(stats, key)[0, b - 1])
              for key in ("a_std", "z_std", "grad_W_norm", "dead_fraction", "saturated_fraction", "residual_scale")}  # fmt: skip
        layers.append(entry(f"block {b}", H[b], G["W_branch"][:, b - 1], f"block of {net.branch_depth}",
                            a_std=of["a_std"], z_std=of["z_std"], branch_std=of["z_std"], grad_norm=of["grad_W_norm"],
                            residual_scale=of["residual_scale"], dead_fraction=of["dead_fraction"],
                            saturated_fraction=of["saturated_fraction"]))  # fmt: skip
    out = entry("head", work.out, G["W_out"], net.output)
    out["units"], out["distinct_units"] = 1, 1
    layers.append(out)
    return layers


def _histogram(values: np.ndarray) -> dict:
    """Counts of ``values`` in BINS equal bins over their range (one bin when they are all equal)."""
    v = values[np.isfinite(values)].ravel()
    if v.size == 0:
        return {"lo": 0.0, "hi": 0.0, "counts": []}
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        return {"lo": lo, "hi": hi, "counts": [int(v.size)]}
    counts, _ = np.histogram(v, bins=BINS, range=(lo, hi))
    return {"lo": lo, "hi": hi, "counts": counts.tolist()}
