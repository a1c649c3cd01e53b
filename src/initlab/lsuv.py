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
"""

from __future__ import annotations

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
    net : initlab.network.MLP
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
    params : dict ``{"W1": (K, n_1, n_0), "b1": (K, n_1, 1), ...}`` with zero biases
    log : LSUVLog
    """
    X, _ = net.check_data(X)
    tol = check_real("tol", tol, min_value=0.0, min_inclusive=False)
    max_iter = check_int("max_iter", max_iter, min_value=1)
    scale = check_real("scale", scale)
    params = net.initialize(init, rng=rng, models=models, bias_init="zeros")
    models = params["W1"].shape[0]
    L = net.n_layers
    g, output = net.hidden.forward, net.output_function
    before = np.empty((models, L))
    after = np.empty((models, L))
    rounds = np.zeros((models, L), dtype=np.int64)
    converged = np.zeros((models, L), dtype=bool)
    A = X  # (n_0, m), then (K, n_{l-1}, m): the output of the already normalized layers
    with np.errstate(all="ignore"):  # a dead or exploding layer gives var 0 or inf: logged, not warned
        for l in range(L):
            W = params[f"W{l + 1}"]  # (K, n_l, n_{l-1}), rescaled in place
            Z = np.matmul(W, A)  # (K, n_l, m); biases are zero
            var = Z.var(axis=(1, 2))  # (K,)
            before[:, l] = var
            for _ in range(max_iter):
                todo = ~(np.abs(var - 1.0) <= tol) & np.isfinite(var) & (var > 0)
                if not todo.any():
                    break
                W[todo] /= np.sqrt(var[todo])[:, np.newaxis, np.newaxis]  # scale so Var(Z) = 1, per LSUV
                rounds[todo, l] += 1
                Z = np.matmul(W, A)
                var = Z.var(axis=(1, 2))
            after[:, l] = var
            converged[:, l] = np.abs(var - 1.0) <= tol
            A = g(Z) if l < L - 1 else output(Z)
    if scale != 1:
        for l in range(1, L + 1):
            params[f"W{l}"] *= scale
    return params, LSUVLog(before, after, rounds, converged)
