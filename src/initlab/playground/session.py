"""One playground run: data, network and a training state advanced in chunks, summarized for the page.

:class:`Run` wraps the library's :class:`initlab.state.TrainingState` with K = 1, so ``step(a)``
then ``step(b)`` is the same computation as one ``train`` of ``a + b`` updates (the optimizer's
moments, its step counter and the minibatch order carry over), with the library's one divergence
rule; what it adds is the view: the loss curve with the test loss, the decision boundary, the
per-layer statistics. Seeds: the initial draw is ``MLP.initialize(rng=seed)`` (or the notebook's
He from ``RandomState(seed)``), the minibatch order model 0's order stream of
:func:`initlab.seeding.run_streams` ``(seed)``.
"""

from __future__ import annotations

import numpy as np

from initlab import course, datasets, initializers, optimizers, seeding
from initlab.diagnostics import layer_stats
from initlab.jsonable import finite_or_none
from initlab.network import (
    MLP,
    backward_pass,
    flatten_params,
    forward_pass,
    logits_sound,
    loss_from_output,
    output_delta,
    predicted_labels,
)
from initlab.state import TrainingState, engine_context

from .config import NOTEBOOK_INIT, PlaygroundConfig

__all__ = ["GRID", "BINS", "Run"]

CURVE_POINTS = 300  # loss points per run, whatever its length (streamed with the snapshots)
GRID = 40  # the boundary is a GRID x GRID grid of probabilities
BINS = 24  # histogram bins per layer


class Run:
    """The state of one tab's training: ``step(n)`` trains, ``snapshot()`` describes it as JSON.

    Parameters
    ----------
    config : PlaygroundConfig (validated)
    """

    def __init__(self, config: PlaygroundConfig):
        self.config = config
        # The notebook's circles keep the notebook's own seeding; every other set is seeded 0 (shareable URLs).
        rng = None if datasets.is_notebook_data(config.dataset, noise=config.noise) else 0
        self.data = datasets.load(config.dataset, noise=config.noise, rng=rng)
        self.net = MLP((2, *config.hidden, 1), config.activation, "sigmoid")
        X, Y = self.data.X_train, self.data.Y_train
        self.X, self.T = X, Y.astype(np.float64)
        self.X_test, self.T_test = self.data.X_test, self.data.Y_test.astype(np.float64)
        self.record_every = max(1, config.iterations // CURVE_POINTS)
        self.state = TrainingState(self.net, flatten_params(self._initial_params()), self.X, self.T,
                                   np.array([config.learning_rate]), iterations=config.iterations,
                                   record_every=self.record_every, loss="stable",
                                   optimizer=optimizers.get(config.optimizer), batch_size=config.batch_size,
                                   streams=[seeding.run_streams(config.seed)[1]])  # fmt: skip
        self.curve: list[list] = []  # [iteration, loss, test_loss] since the last snapshot
        self._curve_last = -1  # the last iteration on the curve (a snapshot adds its own point)
        self.cancelled = False  # set from another thread (a closed tab): step() returns at the next record point
        X_all = np.concatenate([X, self.X_test], axis=1)
        lo, hi = X_all.min(axis=1), X_all.max(axis=1)
        pad = 0.15 * (hi - lo)
        self.extent = [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]
        xs = np.linspace(self.extent[0], self.extent[1], GRID)
        ys = np.linspace(self.extent[2], self.extent[3], GRID)
        gx, gy = np.meshgrid(xs, ys)  # row i: y = ys[i]
        self.grid = np.stack([gx.ravel(), gy.ravel()])  # (2, GRID*GRID)

    def _initial_params(self) -> dict:
        """``{"W1": (1, n_1, n_0), ...}``: the notebook's He draw, or the chosen initializer from the seed."""
        config = self.config
        if config.init == NOTEBOOK_INIT:
            params = course.initialize_parameters_he(list(self.net.layers), seed=config.seed)
            return {k: v[np.newaxis] * (config.scale if k.startswith("W") else 1.0) for k, v in params.items()}
        # Bind the options first: an initializer's own 'scale' (random, variance_scaling) is not the scale factor.
        init = initializers.get(config.init, **dict(config.init_options))
        return self.net.initialize(init, rng=config.seed, scale=config.scale)

    @property
    def diverged(self) -> bool:
        return bool(self.state.diverged_at[0] >= 0)

    @property
    def iteration(self) -> int:
        """Updates done: the state's clock, or the iteration of divergence."""
        return int(self.state.diverged_at[0]) if self.diverged else self.state.iteration

    @property
    def done(self) -> bool:
        return self.diverged or self.iteration >= self.config.iterations

    def views(self):
        return self.state.views()

    def step(self, n: int) -> int:
        """Train up to ``n`` more updates (not past ``config.iterations``), in pieces that end at the curve's points.

        Returns how many updates were done (fewer when the model diverges or the run is cancelled).
        """
        begin = self.iteration
        stop = min(begin + max(n, 0), self.config.iterations)
        with engine_context():
            while self.iteration < stop and not self.diverged and not self.cancelled:
                i = self.iteration
                if i % self.record_every == 0 and i > self._curve_last:
                    self._record()
                self.state.advance(min(stop, i - i % self.record_every + self.record_every) - i)
        return self.iteration - begin

    def _record(self) -> None:
        """The loss and test loss now onto the curve (none where the logits are past the divergence line)."""
        net = self.net
        Ws, bs = self.views()
        with np.errstate(all="ignore"):
            Z_L = forward_pass(Ws, bs, self.X, net.hidden.forward, net.output_function)[0][-1]
            if not logits_sound(Z_L)[0]:
                return
            loss = loss_from_output("stable", net.output, Z_L, None, self.T)[0]
            Z_test = forward_pass(Ws, bs, self.X_test, net.hidden.forward, net.output_function)[0][-1]
            test_loss = loss_from_output("stable", net.output, Z_test, None, self.T_test)[0]
        self.curve.append([self.iteration, finite_or_none(loss), finite_or_none(test_loss)])
        self._curve_last = self.iteration

    def snapshot(self) -> dict:
        """Loss, accuracy, boundary and per-layer statistics now, as plain JSON values."""
        net = self.net
        Ws, bs = self.views()
        with np.errstate(all="ignore"):
            train = _evaluate(net, Ws, bs, self.X, self.T)
            test = _evaluate(net, Ws, bs, self.X_test, self.T_test)
            P = forward_pass(Ws, bs, self.grid, net.hidden.forward, net.output_function)[1][-1][0, 0]  # (GRID*GRID,)
            stats = layer_stats(net, Ws, bs, self.X, self.T)
            Zs, As = forward_pass(Ws, bs, self.X, net.hidden.forward, net.output_function)
            dWs, _ = backward_pass(Ws, Zs, As, self.X, output_delta(As[-1], self.T), net.hidden.derivative)
        layers = []
        for l in range(net.n_layers):
            layers.append({
                "units": int(stats.units[l]),
                "activation": net.activation if l < net.n_layers - 1 else "sigmoid",
                "a_std": finite_or_none(stats.a_std[0, l]),
                "z_std": finite_or_none(stats.z_std[0, l]),
                "grad_norm": finite_or_none(stats.grad_W_norm[0, l]),
                "distinct_units": int(stats.distinct_units[0, l]),
                "dead_fraction": finite_or_none(stats.dead_fraction[0, l]),
                "saturated_fraction": finite_or_none(stats.saturated_fraction[0, l]),
                "a_hist": _histogram(As[l]),
                "g_hist": _histogram(dWs[l]),
            })  # fmt: skip
        return {
            "type": "progress",
            "iteration": self.iteration,
            "iterations": self.config.iterations,
            "done": self.done,
            "diverged": self.diverged,
            "loss": train[0],
            "accuracy": train[1],
            "test_loss": test[0],
            "test_accuracy": test[1],
            "boundary": {
                "n": GRID,
                "extent": self.extent,
                "p": [round(float(p), 3) if np.isfinite(p) else 0.5 for p in P],
            },
            "layers": layers,
            "curve": self._take_curve(train[0], test[0]),
        }

    def _take_curve(self, loss, test_loss) -> list[list]:
        """The recorded loss points since the last snapshot, ending with the current one."""
        curve, self.curve = self.curve, []
        if self.iteration > self._curve_last:
            curve.append([self.iteration, loss, test_loss])
            self._curve_last = self.iteration
        return curve

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


def _evaluate(net: MLP, Ws, bs, X, T) -> tuple[float | None, float | None]:
    Zs, As = forward_pass(Ws, bs, X, net.hidden.forward, net.output_function)
    loss = loss_from_output("stable", net.output, Zs[-1], As[-1], T)[0]
    accuracy = (predicted_labels(net.output, As[-1]) == T.astype(np.int64)).mean()
    return finite_or_none(loss), finite_or_none(accuracy)


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
