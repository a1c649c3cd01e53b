r"""Per-layer statistics of K networks: what an initialization does to activations and gradients.

:func:`measure` runs one recorded forward pass (and, given labels, one backward pass) of the
engine and summarizes each weight layer ``l = 1..L`` of each model ``k`` into arrays of shape
``(K, L)``:

* ``z_mean``, ``z_std``, ``a_mean``, ``a_std``: mean and standard deviation of the pre-activations
  :math:`Z^{[l]}` and activations :math:`A^{[l]}` over units and examples (vanishing or exploding
  signals, Glorot & Bengio 2010 fig. 6);
* ``grad_W_norm``, ``grad_b_norm``: Frobenius norms of :math:`dW^{[l]}` and :math:`db^{[l]}` of
  the mean cross-entropy (``nan`` without labels);
* ``dead_fraction``: for ``relu`` and ``leaky_relu`` layers, the fraction of units whose
  pre-activation is :math:`\le 0` on *every* example of the batch: a dead ReLU outputs 0 everywhere
  and gets no gradient (a leaky one only its small slope). ``nan`` for other activations;
* ``saturated_fraction``: for ``tanh`` and ``sigmoid`` layers (hidden or output), the fraction of
  units saturated on more than 90 % of the examples, saturated meaning :math:`|a| > 0.99` (tanh) or
  :math:`a < 0.01` or :math:`a > 0.99` (sigmoid), where :math:`g'` is below 0.02 resp. 0.0099.
  ``nan`` for other activations and for a softmax output;
* ``distinct_units``: the symmetry count, how many different units the layer really has. Unit
  ``i`` is the row :math:`[W_{i,:} \,|\, b_i]`; a row within ``tol * max|[W | b]|`` (max-norm) of an
  earlier row is a copy. Zeros (or any constant) initialization gives 1 in every layer, and
  gradient descent keeps it 1 (the symmetry the notebook shows); random initialization gives
  ``n_l``.

:func:`layer_jacobians` gives each hidden layer's Jacobian at one example,
:math:`J^{[l]} = \partial A^{[l]} / \partial A^{[l-1]} = \mathrm{diag}(g'(Z^{[l]}_{:,i}))\, W^{[l]}`, and
:func:`mean_singular_value` its mean singular value (Glorot & Bengio 2010, sec. 4.2.2: about 0.8
under their normalized initialization, 0.5 under the standard one).

Cost: one forward and one backward pass, plus :math:`O(n_l^2 n_{l-1})` per layer and model for the
symmetry count. :func:`initlab.training.train` calls it only when asked (``diagnostics=N``).

Residual nets: per block
------------------------
For a :class:`initlab.residual.ResidualMLP`, :func:`measure` returns :class:`BlockStats`: the same
record with the *layer* index replaced by the *block* index ``b = 1..B`` (arrays ``(K, B)``), so
whatever reads a :class:`LayerStats` field by name (the sweep store, ``initlab train``'s report)
reads a residual net's too. Block ``b`` computes :math:`h_b = h_{b-1} + r_b` with the branch's
output :math:`r_b = \alpha_b F_b(h_{b-1}) + d_b` (:math:`d_b` is Fixup's last scalar bias, 0
otherwise; so :math:`r_b = \alpha_b F_b(h_{b-1})` except in a trained Fixup net). The shared fields
read: ``a_*`` the trunk :math:`h_b` (the block's output, as :math:`A^{[l]}` is a layer's), ``z_*``
the branch :math:`r_b` (what the block's weights compute before it joins the trunk), ``grad_*`` the
branch's parameters, ``dead_fraction`` / ``saturated_fraction`` / ``distinct_units`` the branch's
layers. Residual-only fields: mean absolute values, the gradients along the trunk and through the
branch, and the effective residual scale (:class:`BlockStats`). The input projection and the head
are not blocks and are not summarized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from initlab.network import MLP, backward_pass, forward_pass, output_delta
from initlab.residual import ResidualMLP
from initlab.validation import check_int, check_real

__all__ = [
    "BlockStats",
    "LayerStats",
    "block_stats",
    "dead_fraction",
    "distinct_units",
    "hidden_jacobians",
    "layer_jacobians",
    "layer_stats",
    "mean_singular_value",
    "measure",
    "measure_views",
    "saturated_fraction",
]

# Activations with a dead (flat, zero-output) side, and saturation thresholds of the squashing ones.
_RECTIFIERS = frozenset({"relu", "leaky_relu"})
_SATURATING = frozenset({"tanh", "sigmoid"})
SATURATION_LEVEL = 0.99  # |tanh| > 0.99; sigmoid < 0.01 or > 0.99
SATURATED_SHARE = 0.9  # a unit is saturated if it is so on more than 90 % of the examples


@dataclass(frozen=True)
class LayerStats:
    """Statistics of every weight layer of K models; every array is ``(K, L)``.

    Attributes
    ----------
    z_mean, z_std : pre-activation mean and standard deviation over units and examples
    a_mean, a_std : the same for activations
    grad_W_norm, grad_b_norm : Frobenius norms of dW and db (nan when measured without labels)
    dead_fraction : share of units with z <= 0 on every example (relu / leaky_relu; else nan)
    saturated_fraction : share of units saturated on > 90 % of examples (tanh / sigmoid; else nan)
    distinct_units : int, the number of different units (rows of [W | b]); 1 means full symmetry
    units : (L,) int, n_l, for reading fractions as counts
    """

    z_mean: np.ndarray
    z_std: np.ndarray
    a_mean: np.ndarray
    a_std: np.ndarray
    grad_W_norm: np.ndarray
    grad_b_norm: np.ndarray
    dead_fraction: np.ndarray
    saturated_fraction: np.ndarray
    distinct_units: np.ndarray
    units: np.ndarray


@dataclass(frozen=True)
class BlockStats(LayerStats):
    r"""Statistics of every residual block of K models (module docstring, "Residual nets"); arrays ``(K, B)``.

    Column ``b - 1`` is block ``b``: :math:`h_b = h_{b-1} + r_b`, :math:`r_b = \alpha_b F_b(h_{b-1}) + d_b`.
    "Over units and examples" means over the ``width`` units and the ``m`` examples of the batch.
    Gradients are of the *mean* cross-entropy over the batch (so they scale like 1/m), nan without labels.

    Attributes
    ----------
    z_mean, z_std : mean and standard deviation of the branch output :math:`r_b` over units and examples
    a_mean, a_std : the same for the trunk :math:`h_b`
    grad_W_norm : Frobenius norm of the gradient of the branch's matrices :math:`W_{b,1..m}` together
    grad_b_norm : the same for the branch's biases: the vector biases :math:`c^\text{vec}_{b,1..m}`, or
        with ``scalars="fixup"`` the block's scalar biases :math:`a_{b,\cdot}, c_{b,\cdot}, d_b`
    dead_fraction : share of the branch's hidden units (the ``(m - 1) width`` pre-activations
        :math:`v_{b,j} + c_{b,j}`, ``j < m``) that are <= 0 on every example (relu / leaky_relu with
        ``m >= 2``; else nan)
    saturated_fraction : share of them saturated on > 90 % of the examples (tanh / sigmoid, ``m >= 2``; else nan)
    distinct_units : int, the fewest distinct units (rows of :math:`[W_{b,j} | c^\text{vec}_{b,j}]`,
        :func:`distinct_units`) over the branch's layers ``j``; 1 when a layer's rows are all equal,
        e.g. the zero last layer of ``fixup`` / ``zero_last`` at initialization
    units : (B,) int, ``width`` for every block
    trunk_mean_abs, branch_mean_abs : mean of :math:`|h_b|` and of :math:`|r_b|` over units and examples
    residual_scale : the effective residual scale
        :math:`\|r_b\| / \|h_{b-1}\|`, each the root-mean-square over units and examples
        (:math:`\sqrt{\operatorname{mean}(r_b^2)} / \sqrt{\operatorname{mean}(h_{b-1}^2)}`): 0 for a
        zero branch (ReZero, SkipInit, Fixup at initialization), about 1 or more when the branch
        dominates the trunk
    trunk_grad_std : standard deviation of :math:`\partial L / \partial h_b` over units and examples
    branch_grad_std : the same for the branch's part of :math:`\partial L / \partial h_{b-1}`, i.e.
        :math:`(\partial r_b / \partial h_{b-1})^T\, \partial L / \partial h_b`
        (:math:`\partial L / \partial h_{b-1}` is the sum of the two)
    grad_alpha : :math:`\partial L / \partial \alpha_b` (``scalars="alpha"`` or ``"fixup"``; else nan)

    The fields shared with :class:`LayerStats` come first, under its names (a BlockStats is read
    wherever per-layer statistics are, the block index in place of the layer's).
    """

    trunk_mean_abs: np.ndarray
    branch_mean_abs: np.ndarray
    residual_scale: np.ndarray
    trunk_grad_std: np.ndarray
    branch_grad_std: np.ndarray
    grad_alpha: np.ndarray

    @property
    def trunk_std(self) -> np.ndarray:
        """:attr:`a_std`, the standard deviation of the trunk :math:`h_b`, by its residual name."""
        return self.a_std

    @property
    def branch_std(self) -> np.ndarray:
        """:attr:`z_std`, the standard deviation of the branch output :math:`r_b`, by its residual name."""
        return self.z_std


def measure(net: MLP | ResidualMLP, params, X, Y=None, *, tol: float = 1e-8) -> LayerStats | BlockStats:
    """Statistics of each layer (each block of a residual net) of each model on the batch ``X`` (and labels ``Y`` for gradients).

    Parameters
    ----------
    net : MLP or ResidualMLP
    params : dict, with or without the model axis (K = 1)
    X : (n_0, m)
    Y : labels as for :meth:`MLP.loss_and_grads`, optional; without them the gradient statistics are nan
    tol : float >= 0
        Relative tolerance of the symmetry count.

    Returns
    -------
    LayerStats with (K, L) arrays (K = 1 for a dict without model axis); for a ResidualMLP,
    BlockStats with (K, B) arrays
    """
    P, _ = net.check_params(params)
    X, T = net.check_data(X, Y)
    tol = check_real("tol", tol, min_value=0.0)
    if isinstance(net, ResidualMLP):
        return block_stats(net, net.views(net.flatten(P)), X, T, tol=tol)
    L = net.n_layers
    Ws = [P[f"W{l}"] for l in range(1, L + 1)]
    bs = [P[f"b{l}"] for l in range(1, L + 1)]
    return layer_stats(net, Ws, bs, X, T, tol=tol)


def measure_views(net: MLP | ResidualMLP, views, X: np.ndarray, T: np.ndarray | None) -> LayerStats | BlockStats:
    """:func:`measure` on the engine's views of a training state (:meth:`initlab.state.TrainingState.views`).

    An MLP's ``(Ws, bs)`` go to :func:`layer_stats`, a ResidualMLP's ``{name: (K, *shape)}`` to
    :func:`block_stats`; ``X`` (n_0, m) and ``T`` (n_L, m) or None are trusted.
    """
    if isinstance(net, ResidualMLP):
        return block_stats(net, views, X, T)
    return layer_stats(net, *views, X, T)


def layer_stats(net: MLP, Ws, bs, X: np.ndarray, T: np.ndarray | None, *, tol: float = 1e-8) -> LayerStats:
    """:func:`measure` on validated inputs: lists of (K, ...) weights and biases, targets ``T`` (n_L, m) or None."""
    g = net.hidden
    with np.errstate(all="ignore"):  # diverged models give inf/nan statistics, not warnings
        Zs, As = forward_pass(Ws, bs, X, g.forward, net.output_function)
        if T is not None:
            dWs, dbs = backward_pass(Ws, Zs, As, X, output_delta(As[-1], T), g.derivative)
            gW = np.stack([np.sqrt((dW**2).sum(axis=(1, 2))) for dW in dWs], axis=1)
            gb = np.stack([np.sqrt((db**2).sum(axis=(1, 2))) for db in dbs], axis=1)
        else:
            gW = gb = np.full((Ws[0].shape[0], len(Ws)), np.nan)
        kinds = [net.activation] * (len(Ws) - 1) + [net.output]
        K = Ws[0].shape[0]
        nan = np.full(K, np.nan)
        return LayerStats(
            z_mean=np.stack([Z.mean(axis=(1, 2)) for Z in Zs], axis=1),
            z_std=np.stack([Z.std(axis=(1, 2)) for Z in Zs], axis=1),
            a_mean=np.stack([A.mean(axis=(1, 2)) for A in As], axis=1),
            a_std=np.stack([A.std(axis=(1, 2)) for A in As], axis=1),
            grad_W_norm=gW,
            grad_b_norm=gb,
            dead_fraction=np.stack(
                [dead_fraction(Z) if kind in _RECTIFIERS else nan for Z, kind in zip(Zs, kinds)], axis=1
            ),
            saturated_fraction=np.stack(
                [saturated_fraction(A, kind) if kind in _SATURATING else nan for A, kind in zip(As, kinds)], axis=1
            ),
            distinct_units=np.stack([distinct_units(W, b, tol=tol) for W, b in zip(Ws, bs)], axis=1),
            units=np.array([W.shape[1] for W in Ws]),
        )


def block_stats(net: ResidualMLP, V: dict, X: np.ndarray, T: np.ndarray | None, *, tol: float = 1e-8) -> BlockStats:
    """:func:`measure` of a residual net on validated inputs: views ``{name: (K, *shape)}``, targets ``T`` or None.

    One recorded forward (and backward, given ``T``) of the engine's own passes
    (:meth:`initlab.residual.ResidualMLP.passes` with ``details=True``): the numbers are those training sees.
    """
    passes, B, m = net.passes(), net.blocks, net.branch_depth
    K = V["W_in"].shape[0]
    work = passes.workspace(K, X.shape[1], details=True)
    with np.errstate(all="ignore"):  # diverged models give inf/nan statistics, not warnings
        passes.forward(V, X, work)
        grads = _block_gradients(net, passes, V, X, T, work)
        trunk, branch = work.trunk, work.branch  # h_0 .. h_B; r_1 .. r_B, (K, w, m) each
        hidden = [np.concatenate(r["s"], axis=1) for r in work.blocks] if m > 1 else []  # (K, (m-1) w, m) each
        nan = np.full((K, B), np.nan)
        kind = net.activation
        dead = np.stack([dead_fraction(s) for s in hidden], 1) if hidden and kind in _RECTIFIERS else nan
        saturated = (
            np.stack([saturated_fraction(net.hidden.forward(s), kind) for s in hidden], 1)
            if hidden and kind in _SATURATING
            else nan
        )
        return BlockStats(
            z_mean=_per_block(np.mean, branch),
            z_std=_per_block(np.std, branch),
            a_mean=_per_block(np.mean, trunk[1:]),
            a_std=_per_block(np.std, trunk[1:]),
            dead_fraction=dead,
            saturated_fraction=saturated,
            distinct_units=np.stack([_distinct_branch_units(V, b, m, tol) for b in range(B)], axis=1),
            units=np.full(B, net.width),
            trunk_mean_abs=_per_block(_mean_abs, trunk[1:]),
            branch_mean_abs=_per_block(_mean_abs, branch),
            residual_scale=_per_block(_rms, branch) / _per_block(_rms, trunk[:-1]),
            **grads,
        )


def _per_block(statistic, arrays) -> np.ndarray:
    """``statistic(a, axis=(1, 2))`` over units and examples of each (K, w, m) array -> (K, len(arrays))."""
    return np.stack([statistic(a, axis=(1, 2)) for a in arrays], axis=1)


def _rms(a: np.ndarray, axis) -> np.ndarray:
    return np.sqrt((a**2).mean(axis=axis))


def _mean_abs(a: np.ndarray, axis) -> np.ndarray:
    return np.abs(a).mean(axis=axis)


def _block_gradients(net: ResidualMLP, passes, V: dict, X: np.ndarray, T: np.ndarray | None, work) -> dict:
    """The gradient fields of :class:`BlockStats` (K, B) each, after a forward into ``work``; nan without targets."""
    K, B = V["W_in"].shape[0], net.blocks
    nan = np.full((K, B), np.nan)
    if T is None:
        return {
            "grad_W_norm": nan,
            "grad_b_norm": nan,
            "trunk_grad_std": nan,
            "branch_grad_std": nan,
            "grad_alpha": nan,
        }
    G = net.views(passes.backward(V, X, T, work))
    biases = G["scalar_bias"] if "scalar_bias" in G else G["b_branch"]  # (K, B, 2m) or (K, B, m, w, 1)
    return {
        "grad_W_norm": np.sqrt((G["W_branch"] ** 2).sum(axis=(2, 3, 4))),
        "grad_b_norm": np.sqrt((biases.reshape(K, B, -1) ** 2).sum(axis=2)),
        "trunk_grad_std": _per_block(np.std, work.dtrunk),
        "branch_grad_std": _per_block(np.std, work.dbranch),
        "grad_alpha": np.array(G["alpha"]) if "alpha" in G else nan,
    }


def _distinct_branch_units(V: dict, b: int, m: int, tol: float) -> np.ndarray:
    """(K,) the fewest :func:`distinct_units` over block ``b``'s branch layers (zero bias column under Fixup)."""
    counts = []
    for j in range(m):
        W = V["W_branch"][:, b, j]  # (K, w, w)
        bias = V["b_branch"][:, b, j] if "b_branch" in V else np.zeros((*W.shape[:2], 1))
        counts.append(distinct_units(W, bias, tol=tol))
    return np.min(counts, axis=0)


def dead_fraction(Z: np.ndarray) -> np.ndarray:
    """Share of units whose pre-activation is <= 0 on every example: ``Z`` (K, n, m) -> (K,)."""
    return (Z <= 0).all(axis=-1).mean(axis=-1)


def saturated_fraction(A: np.ndarray, kind: str) -> np.ndarray:
    """Share of units saturated on more than 90 % of the examples: ``A`` (K, n, m) -> (K,).

    Saturated: ``|a| > 0.99`` for ``kind="tanh"``; ``a < 0.01`` or ``a > 0.99`` for ``"sigmoid"``.
    """
    if kind == "tanh":
        saturated = np.abs(A) > SATURATION_LEVEL
    else:
        saturated = (A < 1.0 - SATURATION_LEVEL) | (A > SATURATION_LEVEL)
    return (saturated.mean(axis=-1) > SATURATED_SHARE).mean(axis=-1)


def distinct_units(W: np.ndarray, b: np.ndarray, *, tol: float = 1e-8) -> np.ndarray:
    r"""Number of distinct rows of :math:`[W \,|\, b]` per model: ``W`` (K, n, d), ``b`` (K, n, 1) -> (K,) int.

    Row ``i`` counts unless some earlier row ``j < i`` satisfies
    :math:`\max_c |R_{ic} - R_{jc}| \le \text{tol} \cdot \max |R|`. Non-finite rows each count.

    Near-linear in n (a width-20000 layer takes milliseconds, not minutes): exact copies go first
    (``np.unique``); the remaining first occurrences are compared only with the rows whose entry in
    the most spread-out column lies within the tolerance (a window of the sorted column), which is
    one row, itself, for any random initialization. Models whose rows are all apart in that column
    (every random draw) are settled at once, all K together, without the per-model pass.
    """
    R = np.concatenate([W, b], axis=2)  # (K, n, d + 1)
    K, n, _ = R.shape
    counts = np.full(K, n, dtype=np.int64)
    for k in np.flatnonzero(~_all_apart(R, tol)):
        counts[k] = _distinct_rows(R[k], tol)
    return counts


def _all_apart(R: np.ndarray, tol: float) -> np.ndarray:
    """``(K,)`` True where every row of a model is finite and further than the tolerance from every other
    row in its most spread-out column (so all ``n`` rows are distinct): every model at once, one sorted
    column each. The rest (symmetric or near-symmetric layers) go to :func:`_distinct_rows`."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(R).all(axis=(1, 2))  # (K,)
        column = (R.max(axis=1) - R.min(axis=1)).argmax(axis=1)  # (K,)
        keys = np.sort(np.take_along_axis(R, column[:, None, None], axis=2)[..., 0], axis=1)  # (K, n)
        threshold = tol * np.abs(R).max(axis=(1, 2))  # (K,)
        return finite & (np.diff(keys, axis=1) > threshold[:, None]).all(axis=1)


def _distinct_rows(Rk: np.ndarray, tol: float) -> int:
    """The count of :func:`distinct_units` for one model's rows ``Rk`` (n, d + 1)."""
    n = Rk.shape[0]
    finite_rows = np.isfinite(Rk).all(axis=1)
    F = Rk[finite_rows]  # (n_f, d + 1), in row order
    if F.shape[0] == 0:
        return n
    threshold = tol * np.max(np.abs(F))
    _, first = np.unique(F, axis=0, return_index=True)
    first = np.sort(first)  # the first occurrence of each distinct row, in row order
    U = F[first]
    column = int(np.argmax(U.max(axis=0) - U.min(axis=0)))
    order = np.argsort(U[:, column], kind="stable")
    keys = U[order, column]
    lo = np.searchsorted(keys, keys - threshold, side="left")
    hi = np.searchsorted(keys, keys + threshold, side="right")
    near_copies = 0
    for p in np.flatnonzero(hi - lo > 1):  # rows with another row within the tolerance in that column
        i = order[p]
        window = order[lo[p] : hi[p]]
        earlier = window[window < i]
        if earlier.size and (np.max(np.abs(U[earlier] - U[i]), axis=1) <= threshold).any():
            near_copies += 1
    return (n - F.shape[0]) + first.size - near_copies


def layer_jacobians(net: MLP, params, X, *, example: int = 0) -> list[np.ndarray]:
    r"""Each hidden layer's Jacobian at one example: :math:`J^{[l]} = \partial A^{[l]} / \partial A^{[l-1]}`.

    :math:`A^{[l]} = g(W^{[l]} A^{[l-1]} + b^{[l]})` acts on each example's column alone, so
    :math:`J^{[l]} = \mathrm{diag}(g'(Z^{[l]}_{:,i}))\, W^{[l]}`; the product
    :math:`J^{[L-1]} \cdots J^{[1]}` is the Jacobian of the last hidden layer with respect to the
    input :math:`x_i`. Glorot & Bengio 2010 (sec. 4.2.2) call it :math:`J^i = \partial z^{i+1}/\partial z^i`.

    Parameters
    ----------
    net : MLP
    params : dict, with or without the model axis (K = 1)
    X : (n_0, m)
    example : int in [0, m)
        The column ``i`` of ``X`` to take the Jacobians at.

    Returns
    -------
    list of L - 1 arrays (K, n_l, n_{l-1}), hidden layers ``l = 1 .. L-1`` (the output layer's
    sigmoid or softmax is left out)
    """
    P, _ = net.check_params(params)
    X, _ = net.check_data(X)
    i = check_int("example", example, min_value=0, max_value=X.shape[1] - 1)
    L = net.n_layers
    Ws = [P[f"W{l}"] for l in range(1, L + 1)]
    bs = [P[f"b{l}"] for l in range(1, L + 1)]
    Zs, _ = forward_pass(Ws, bs, X[:, i : i + 1], net.hidden.forward, net.output_function)
    return hidden_jacobians(Ws, Zs, net.hidden.derivative, 0)


def hidden_jacobians(Ws, Zs, dg, example: int) -> list[np.ndarray]:
    r""":func:`layer_jacobians` from a forward pass (trusted inputs): :math:`\mathrm{diag}(g'(Z^{[l]}_{:,i}))\, W^{[l]}`.

    Parameters
    ----------
    Ws : list of L arrays (K, n_l, n_{l-1}); Zs : the pre-activations (K, n_l, m) of a forward pass
    dg : the hidden activation's derivative, ``dg(Z) -> g'(Z)``
    example : the column ``i``

    Returns
    -------
    list of L - 1 arrays (K, n_l, n_{l-1})
    """
    return [dg(Z[:, :, example])[:, :, np.newaxis] * W for W, Z in zip(Ws[:-1], Zs[:-1])]


def mean_singular_value(J: np.ndarray) -> np.ndarray:
    r"""Mean of the :math:`r = \min(p, q)` singular values of each ``(p, q)`` matrix in ``J`` (..., p, q) -> (...).

    The singular values are the square roots of the eigenvalues of the smaller Gram matrix
    (:math:`J J^T` or :math:`J^T J`, ``eigvalsh``): half the time of an SVD at 1000 x 1000, and off by
    at most about :math:`\sqrt{\epsilon}\,\|J\|` for singular values near 0, nothing in a mean.
    A square orthogonal matrix times c gives c; a Gaussian one with entries of variance
    :math:`1/n` gives :math:`8 / (3\pi) \approx 0.849` as n grows (the quarter-circle law).
    """
    J = np.asarray(J, dtype=np.float64)
    G = J @ np.swapaxes(J, -1, -2) if J.shape[-2] <= J.shape[-1] else np.swapaxes(J, -1, -2) @ J
    with threadpool_limits(limits=1, user_api="blas"):  # LAPACK's tridiagonalization: 3x faster on one thread of two
        eigenvalues = np.linalg.eigvalsh(G)
    return np.sqrt(np.clip(eigenvalues, 0.0, None)).mean(axis=-1)
