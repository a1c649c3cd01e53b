r"""Layer-sequential unit-variance (LSUV) initialization, for K models at once.

Mishkin & Matas 2016, "All you need is a good init" (ICLR), Algorithm 1:

1. initialize the weights orthogonally (Saxe et al. 2013) and the biases to zero;
2. for each layer :math:`l = 1, \dots, L` in order, with the layers before it already final, pass the
   batch ``X`` forward and rescale

   .. math:: W^{[l]} \leftarrow W^{[l]} / \sqrt{\operatorname{Var}(Z^{[l]})}

   until :math:`|\operatorname{Var}(Z^{[l]}) - 1| \le \text{tol}` or ``max_iter`` rescalings,

where :math:`\operatorname{Var}(Z^{[l]})` is the variance of the layer's pre-activation output over
all its units and examples (the output "blob" of the fully connected layer, before the
nonlinearity). With zero biases :math:`Z^{[l]}` is linear in :math:`W^{[l]}`, so one rescaling
reaches variance 1 up to rounding (the log shows 1 round per layer); the loop is kept as the paper
states it. Every layer is normalized, the output layer included, as in the paper.

Residual nets (:class:`initlab.residual.ResidualMLP`)
-----------------------------------------------------
The paper's rule is per layer ("each convolution or inner-product layer", from the first to the
last) and its abstract lists residual nets among the architectures it was run on, so the adaptation
keeps it: every linear layer, in forward order (the input projection :math:`W_\text{in}`, then each
block's branch layers :math:`W_{b,1}, \dots, W_{b,m}`, then the head :math:`W_\text{out}`), is
rescaled until its own output (:math:`h_0`, :math:`v_{b,j} = W_{b,j} p_{b,j}`, the logits) has
variance 1 on the batch, with the layers before it final. The identity skip connections have no
weights and nothing is rescaled for them; a branch's output is normalized *before* its scale
:math:`\alpha_b` (1 unless a ReZero/SkipInit pre-init set it). All biases, Fixup's scalar biases
included, are 0, so each output is linear in its matrix, as in the MLP. What this does *not* do: it
does not normalize the trunk. Each block adds a unit-variance branch, so
:math:`\operatorname{Var}(h_b) \approx \operatorname{Var}(h_{b-1}) + \alpha_b^2` when the branch is
uncorrelated with the trunk (about ``1 + b``: linear growth, not the exponential growth of
unnormalized He branches). Normalizing the trunk instead would be a different method, not the
paper's; :func:`initlab.diagnostics.measure` shows the trunk's growth block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from initlab.validation import check_int, check_real

__all__ = ["SUMMARY", "LSUVLog", "lsuv"]

#: One line for ``initlab initializers`` (LSUV is data-dependent: ``MLP.initialize("lsuv", X=...)``).
SUMMARY = (
    "orthogonal, then W[l] / sqrt(Var(Z[l])) layer by layer until Var(Z[l]) = 1 on the training inputs "
    "(Mishkin & Matas 2016); data-dependent."
)


@dataclass(frozen=True)
class LSUVLog:
    """What :func:`lsuv` did, per model and layer; every array is ``(K, L)``.

    The layers ``l`` are the linear layers in forward order: an MLP's ``W1 .. WL``; a residual
    net's ``W_in``, ``W_branch[b, j]`` (block b, then branch layer j), ``W_out``, so
    ``L = 2 + blocks * branch_depth`` and column ``1 + b * branch_depth + j`` is ``W_branch[b, j]``.

    Attributes
    ----------
    variance_before : variance of Z[l] with the initial (orthogonal) weights, earlier layers already rescaled
    variance_after : variance of Z[l] after the last rescaling
    rounds : int, number of rescalings applied (0 if already within tol)
    converged : bool, ``|variance_after - 1| <= tol``; False when ``max_iter`` was reached or the
        variance was 0 or not finite (nothing to rescale: e.g. all units of the layer below dead)
    """

    variance_before: np.ndarray
    variance_after: np.ndarray
    rounds: np.ndarray
    converged: np.ndarray


def lsuv(
    net,
    X,
    *,
    rng=None,
    models: int | None = None,
    tol: float = 0.1,
    max_iter: int = 10,
    init="orthogonal",
    scale: float = 1.0,
) -> tuple[dict[str, np.ndarray], LSUVLog]:
    r"""LSUV-initialize ``models`` networks on the batch ``X``.

    Parameters
    ----------
    net : initlab.network.MLP or initlab.residual.ResidualMLP
        A residual net's linear layers are normalized in forward order (module docstring).
    X : (n_0, m)
        The data batch whose layer outputs are normalized (the paper uses one mini-batch).
    rng : None, int, SeedSequence, Generator or a list of these
        Seed of the initial weights; model ``k`` is the same whatever ``models`` is
        (:meth:`MLP.initialize`, which also takes one stream per model).
    models : int >= 1, optional
        K (default 1, or the length of a list of streams).
    tol : float > 0
        Accepted deviation of each layer's output variance from 1 (the paper's Tol_var, 0.1).
    max_iter : int >= 1
        Most rescalings per layer (the paper's T_max).
    init : str or callable
        Initial weights before rescaling (default ``"orthogonal"``, as the paper).
    scale : float
        Multiplies every weight after the normalization (``W = scale * W_LSUV``; the log is of the
        normalization, before it): initlab's scale factor, as :meth:`MLP.initialize` applies it.

    Returns
    -------
    params : dict with zero biases: an MLP's ``{"W1": (K, n_1, n_0), "b1": (K, n_1, 1), ...}``, a
        residual net's ``{name: (K, *shape)}`` (:meth:`ResidualMLP.groups`; LN gains and alpha 1)
    log : LSUVLog
    """
    X, _ = net.check_data(X)
    tol = check_real("tol", tol, min_value=0.0, min_inclusive=False)
    max_iter = check_int("max_iter", max_iter, min_value=1)
    scale = check_real("scale", scale)
    if hasattr(net, "passes"):  # a net with its own passes: initlab.residual.ResidualMLP (not imported: no cycle)
        return _lsuv_residual(net, X, rng=rng, models=models, tol=tol, max_iter=max_iter, init=init, scale=scale)
    params = net.initialize(init, rng=rng, models=models, bias_init="zeros")
    models = params["W1"].shape[0]
    L = net.n_layers
    g, output = net.hidden.forward, net.output_function
    log = _Log(models, L)
    A = X  # (n_0, m), then (K, n_{l-1}, m): the output of the already normalized layers
    with np.errstate(all="ignore"):  # a dead or exploding layer gives var 0 or inf: logged, not warned
        for l in range(L):
            Z = _normalize(params[f"W{l + 1}"], A, log, l, tol, max_iter)
            A = g(Z) if l < L - 1 else output(Z)
    if scale != 1:
        for l in range(1, L + 1):
            params[f"W{l}"] *= scale
    return params, log.done(tol)


def _lsuv_residual(net, X, *, rng, models, tol: float, max_iter: int, init, scale: float):
    """:func:`lsuv` for a ResidualMLP: every linear layer normalized in forward order, through the engine's forward.

    The forward's ``layer_hook`` hands each layer's matrix (a view into ``theta``) and its input,
    the outputs of the layers before it, already final; :func:`_normalize` rescales it in place.
    """
    theta = net.flatten(net.initialize(init, rng=rng, models=models))  # (K, P), biases 0
    V = net.views(theta)
    log = _Log(theta.shape[0], 2 + net.blocks * net.branch_depth)
    layers: Iterator[int] = iter(range(log.before.shape[1]))  # the column of each layer, in forward order
    with np.errstate(all="ignore"):
        net.passes().forward(V, X, layer_hook=lambda W, P: _normalize(W, P, log, next(layers), tol, max_iter))
    if scale != 1:
        for name in ("W_in", "W_branch", "W_out"):
            V[name][...] *= scale
    return net.params_dict(theta), log.done(tol)


class _Log:
    """The (K, L) arrays of an :class:`LSUVLog` while they are filled."""

    def __init__(self, models: int, L: int):
        self.before = np.empty((models, L))
        self.after = np.empty((models, L))
        self.rounds = np.zeros((models, L), dtype=np.int64)

    def done(self, tol: float) -> LSUVLog:
        return LSUVLog(self.before, self.after, self.rounds, np.abs(self.after - 1.0) <= tol)


def _normalize(W: np.ndarray, A: np.ndarray, log: _Log, l: int, tol: float, max_iter: int) -> np.ndarray:
    """Rescale ``W`` (K, n_l, n_{l-1}) in place until Var(W A) is 1 within ``tol``; log column ``l``; return ``Z = W A``.

    ``A`` (n_{l-1}, m) or (K, n_{l-1}, m) is the layer's input (biases are zero).
    """
    Z = np.matmul(W, A)  # (K, n_l, m)
    var = Z.var(axis=(1, 2))  # (K,)
    log.before[:, l] = var
    for _ in range(max_iter):
        todo = ~(np.abs(var - 1.0) <= tol) & np.isfinite(var) & (var > 0)
        if not todo.any():
            break
        W[todo] /= np.sqrt(var[todo])[:, np.newaxis, np.newaxis]  # scale so Var(Z) = 1, per LSUV
        log.rounds[todo, l] += 1
        Z = np.matmul(W, A)
        var = Z.var(axis=(1, 2))
    log.after[:, l] = var
    return Z
