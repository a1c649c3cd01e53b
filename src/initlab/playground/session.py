"""One playground run: data, network and parameters, trained in chunks, summarized for the page.

:class:`Run` keeps the parameters *and* the optimizer's state between chunks, so ``step(a)`` then
``step(b)`` is the same computation as one run of ``a + b`` full-batch updates (Adam's moments and
its step counter carry over). It is the engine's loop (:func:`initlab.network.forward_pass`,
:func:`~initlab.network.backward_pass`, :meth:`initlab.optimizers.Optimizer.update`) without the
bookkeeping of :func:`initlab.training.train` that a live view does not need.
"""

from __future__ import annotations

import numpy as np

from initlab import course, datasets, initializers, optimizers
from initlab.diagnostics import layer_stats
from initlab.network import (MLP, Workspace, backward_pass, forward_pass, layer_views, logits_sound, loss_from_output, output_delta,
                             predicted_labels)  # fmt: skip

from .config import NOTEBOOK_INIT, RunConfig

__all__ = ["GRID", "BINS", "Run"]

CURVE_POINTS = 300  # loss points per run, whatever its length (streamed with the snapshots)
GRID = 40  # the boundary is a GRID x GRID grid of probabilities
BINS = 24  # histogram bins per layer


class Run:
    """The state of one tab's training: ``step(n)`` trains, ``snapshot()`` describes it as JSON.

    Parameters
    ----------
    config : RunConfig (validated)
    """

    def __init__(self, config: RunConfig):
        self.config = config
        default_noise = config.noise is None
        # circles with its default noise is the notebook's data; every other set is seeded 0 (shareable URLs).
        rng = None if config.dataset == "circles" and default_noise else 0
        self.data = datasets.load(config.dataset, noise=config.noise, rng=rng)
        self.net = MLP((2, *config.hidden, 1), config.activation, "sigmoid")
        if config.init == NOTEBOOK_INIT:
            params = course.initialize_parameters_he(list(self.net.layers), seed=config.seed)
            params = {k: v[np.newaxis] * (config.scale if k.startswith("W") else 1.0) for k, v in params.items()}
        else:
            # Bind the options first: an initializer's own 'scale' (random, variance_scaling) is not the scale factor.
            init = initializers.get(config.init, **dict(config.init_options))
            params = self.net.initialize(init, rng=config.seed, scale=config.scale)
        L = self.net.n_layers
        self.theta = np.concatenate(
            [np.concatenate([params[f"W{l}"].reshape(1, -1), params[f"b{l}"].reshape(1, -1)], axis=1) for l in range(1, L + 1)],
            axis=1,
        )  # (1, P), laid out W1, b1, W2, ... as in training.train
        self.spare = np.empty_like(self.theta)
        self.opt = optimizers.get(config.optimizer)
        self.state = self.opt.init_state(self.theta)
        self.alpha = np.array([[config.learning_rate]])  # (K=1, 1)
        X, Y = self.data.X_train, self.data.Y_train
        self.X, self.T = X, Y.astype(np.float64)
        self.X_test, self.T_test = self.data.X_test, self.data.Y_test.astype(np.float64)
        self.work = Workspace(self.net.layers, 1, X.shape[1])
        self.iteration = 0
        self.diverged = False
        self.record_every = max(1, config.iterations // CURVE_POINTS)
        self.curve: list[list] = []  # [iteration, loss, test_loss] since the last snapshot
        self._curve_last = -1  # the last iteration on the curve (a snapshot adds its own point)
        self.cancelled = False  # set from another thread (a closed tab): step() returns at the next iteration
        X_all = np.concatenate([X, self.X_test], axis=1)
        lo, hi = X_all.min(axis=1), X_all.max(axis=1)
        pad = 0.15 * (hi - lo)
        self.extent = [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]
        xs = np.linspace(self.extent[0], self.extent[1], GRID)
        ys = np.linspace(self.extent[2], self.extent[3], GRID)
        gx, gy = np.meshgrid(xs, ys)  # row i: y = ys[i]
        self.grid = np.stack([gx.ravel(), gy.ravel()])  # (2, GRID*GRID)

    @property
    def done(self) -> bool:
        return self.diverged or self.iteration >= self.config.iterations

    def views(self):
        return layer_views(self.theta, self.net.layers)

    def step(self, n: int) -> int:
        """Train up to ``n`` more full-batch updates (not past ``config.iterations``); return how many were done."""
        g, output = self.net.hidden, self.net.output_function
        n = min(n, self.config.iterations - self.iteration)
        done = 0
        with np.errstate(all="ignore"):
            for _ in range(max(n, 0)):
                if self.cancelled:
                    break
                Ws, bs = self.views()
                Zs, As = forward_pass(Ws, bs, self.X, g.forward, output, self.work)
                if not logits_sound(Zs[-1])[0]:  # the library's rule (initlab.network.DIVERGENCE_LOGIT)
                    self.diverged = True
                    break
                if self.iteration % self.record_every == 0 and self.iteration > self._curve_last:
                    self._record(Ws, bs, Zs[-1])
                dZ = output_delta(As[-1], self.T, out=self.work.dZ[-1])
                backward_pass(Ws, Zs, As, self.X, dZ, g.derivative, self.work)
                self.opt.update(self.theta, self.work.grads, self.alpha, self.state, self.iteration + 1, self.spare)
                if not np.isfinite(self.spare).all():
                    self.diverged = True  # keep the last finite parameters
                    break
                self.theta, self.spare = self.spare, self.theta
                self.iteration += 1
                done += 1
        return done

    def _record(self, Ws, bs, Z_L) -> None:
        net = self.net
        loss = loss_from_output("stable", net.output, Z_L, None, self.T)[0]
        Z_test = forward_pass(Ws, bs, self.X_test, net.hidden.forward, net.output_function)[0][-1]
        test_loss = loss_from_output("stable", net.output, Z_test, None, self.T_test)[0]
        self.curve.append([self.iteration, _num(loss), _num(test_loss)])
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
                "a_std": _num(stats.a_std[0, l]),
                "z_std": _num(stats.z_std[0, l]),
                "grad_norm": _num(stats.grad_W_norm[0, l]),
                "distinct_units": int(stats.distinct_units[0, l]),
                "dead_fraction": _num(stats.dead_fraction[0, l]),
                "saturated_fraction": _num(stats.saturated_fraction[0, l]),
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
            "boundary": {"n": GRID, "extent": self.extent, "p": [round(float(p), 3) if np.isfinite(p) else 0.5 for p in P]},
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
            "train": {"x": self.X[0].round(4).tolist(), "y": self.X[1].round(4).tolist(), "label": self.data.Y_train[0].tolist()},
            "test": {"x": self.X_test[0].round(4).tolist(), "y": self.X_test[1].round(4).tolist(), "label": self.data.Y_test[0].tolist()},
        }


def _evaluate(net: MLP, Ws, bs, X, T) -> tuple[float | None, float | None]:
    Zs, As = forward_pass(Ws, bs, X, net.hidden.forward, net.output_function)
    loss = loss_from_output("stable", net.output, Zs[-1], As[-1], T)[0]
    accuracy = (predicted_labels(net.output, As[-1]) == T.astype(np.int64)).mean()
    return _num(loss), _num(accuracy)


def _num(x) -> float | None:
    """A float for JSON; None for nan/inf (JSON has neither)."""
    x = float(x)
    return x if np.isfinite(x) else None


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
