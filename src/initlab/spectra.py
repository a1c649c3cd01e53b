r"""Jacobian spectra of K MLPs at once: is the signal's geometry kept through depth (dynamical isometry)?

The Jacobian of layer ``stop`` with respect to layer ``start`` at one example :math:`x_i`:

.. math::

    J_i = \frac{\partial A^{[\mathrm{stop}]}}{\partial A^{[\mathrm{start}]}}
        = D^{[\mathrm{stop}]} W^{[\mathrm{stop}]} \cdots D^{[\mathrm{start}+1]} W^{[\mathrm{start}+1]},
    \qquad D^{[l]} = \operatorname{diag}\big(g'(Z^{[l]}_{:,i})\big)

with :math:`A^{[0]} = x`. ``stop = L`` means the *logits* :math:`Z^{[L]}` (no output sigmoid or
softmax: :math:`D^{[L]} = I`), so ``start=0, stop=L`` is the input-output Jacobian of the function
the network computes before its output link. The default ``stop = L - 1`` is the hidden stack that
Pennington, Schoenholz & Ganguli 2017 ("Resurrecting the sigmoid in deep learning through dynamical
isometry") study: :math:`\mathbf{x}^L = \phi(\mathbf{h}^L)` as a function of the input.

Their claim in numbers: the mean squared singular value is :math:`\chi^L`
(:math:`\chi = \sigma_w^2 \langle \phi'(h)^2 \rangle`), 1 at criticality for any depth; *dynamical
isometry* is more: the whole distribution stays concentrated around 1. With orthogonal weights and
tanh at small :math:`q^*` it does; with Gaussian weights, or with ReLU, the largest singular values
grow with depth (their Fig. 1-2, eq. 13: the variance of :math:`\lambda = s^2` grows linearly in L).

Shapes: ``X`` is ``(n_0, m)``, ``params`` K models; :func:`jacobians` returns
``(K, e, n_stop, n_start)`` for ``e`` examples, :func:`singular_values` ``(K, e, r)`` with
:math:`r = \min(n_\mathrm{stop}, n_\mathrm{start})`, in descending order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from initlab.budget import check_memory, format_bytes
from initlab.network import MLP, forward_pass
from initlab.validation import check_int

__all__ = [
    "MAX_ELEMENTS",
    "SpectrumSummary",
    "at_initialization",
    "at_spread_examples",
    "jacobians",
    "log_histogram",
    "reading",
    "singular_values",
    "spread_columns",
    "summarize",
]

#: The largest Jacobian stack :func:`jacobians` builds, in float64 elements (K x e x n_stop x n_start).
MAX_ELEMENTS = 100_000_000


def jacobians(
    net: MLP, params, X, *, start: int = 0, stop: int | None = None, examples: int | None = None
) -> np.ndarray:
    r"""The Jacobians :math:`\partial A^{[\mathrm{stop}]} / \partial A^{[\mathrm{start}]}` at the first ``examples`` columns of ``X``.

    Parameters
    ----------
    net : MLP
    params : dict, with or without the model axis (K = 1)
    X : (n_0, m)
    start : int in [0, stop)
        The layer differentiated by (0: the input).
    stop : int in (start, L], default L - 1
        The layer differentiated; ``L`` is the logits :math:`Z^{[L]}` (module docstring).
    examples : int in [1, m], default m
        How many columns of ``X``, from the first.

    Returns
    -------
    J : (K, e, n_stop, n_start) float64

    Examples
    --------
    >>> net = MLP((3, 4, 4, 1), activation="linear")
    >>> P = net.initialize("orthogonal", rng=0, models=2)
    >>> J = jacobians(net, P, np.ones((3, 5)), start=1, stop=2)
    >>> J.shape, bool(np.allclose(J[:, 0], P["W2"]))
    ((2, 5, 4, 4), True)
    """
    P, _ = net.check_params(params)
    X, _ = net.check_data(X)
    L = net.n_layers
    if L < 2 and stop is None:
        stop = L
    stop = check_int("stop", L - 1 if stop is None else stop, min_value=1, max_value=L)
    start = check_int("start", start, min_value=0, max_value=stop - 1)
    e = check_int("examples", X.shape[1] if examples is None else examples, min_value=1, max_value=X.shape[1])
    layers = net.layers
    K = P["W1"].shape[0]
    size = K * e * max(layers[start + 1 : stop + 1]) * layers[start]
    if size > MAX_ELEMENTS:
        raise ValueError(
            f"The Jacobians of {K} models at {e} examples ({layers[stop]} x {layers[start]} each) need "
            f"{format_bytes(8 * size)}, over the {format_bytes(8 * MAX_ELEMENTS)} allowed. Pass fewer 'examples' or models."
        )
    check_memory(16 * size, "These Jacobians", "Pass fewer 'examples' or models.")
    Ws = [P[f"W{l}"] for l in range(1, L + 1)]
    bs = [P[f"b{l}"] for l in range(1, L + 1)]
    Zs, _ = forward_pass(Ws, bs, X[:, :e], net.hidden.forward, net.output_function)
    J = np.broadcast_to(np.eye(layers[start]), (K, e, layers[start], layers[start]))
    with threadpool_limits(
        limits=1, user_api="blas"
    ):  # small products: one thread each (a busy machine's 2 cores: 50x)
        for l in range(start + 1, stop + 1):  # J <- D_l W_l J, the model axis batched, the examples broadcast
            J = np.matmul(Ws[l - 1][:, np.newaxis], J)
            if l < L:
                J *= net.hidden.derivative(Zs[l - 1])[..., np.newaxis].transpose(0, 2, 1, 3)
    return J


def singular_values(J: np.ndarray) -> np.ndarray:
    """The singular values of every matrix in ``J`` (..., p, q) -> (..., min(p, q)), largest first (LAPACK's SVD)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.svd(np.asarray(J, dtype=np.float64), compute_uv=False)


@dataclass(frozen=True)
class SpectrumSummary:
    r"""Per model (arrays of shape (K,)), over the singular values :math:`s` of all its examples' Jacobians.

    Attributes
    ----------
    mean_squared : :math:`\langle s^2 \rangle`, the mean-field :math:`\chi^L` (1 at criticality)
    max : the largest :math:`s`
    spread : the variance of :math:`\lambda = s^2`, Pennington et al.'s :math:`\sigma^2_{JJ^T}` (0 for an isometry)
    relative_spread : :math:`\mathrm{Var}(\lambda) / \langle\lambda\rangle^2`, the spread free of the overall scale
        (the same at criticality, where :math:`\langle\lambda\rangle = 1`; a finite-width net's scale drifts)
    near_one : the fraction of :math:`s` within a factor of 2 of 1, :math:`1/2 \le s \le 2`
    """

    mean_squared: np.ndarray
    max: np.ndarray
    spread: np.ndarray
    relative_spread: np.ndarray
    near_one: np.ndarray


def summarize(s: np.ndarray) -> SpectrumSummary:
    """:class:`SpectrumSummary` of singular values ``s`` (K, e, r) (from :func:`singular_values`)."""
    s = np.asarray(s, dtype=np.float64)
    flat = s.reshape(s.shape[0], -1)
    lam = flat**2
    return SpectrumSummary(
        mean_squared=lam.mean(axis=1),
        max=flat.max(axis=1),
        spread=lam.var(axis=1),
        relative_spread=lam.var(axis=1) / lam.mean(axis=1) ** 2,
        near_one=((flat >= 0.5) & (flat <= 2.0)).mean(axis=1),
    )


def at_initialization(
    net: MLP,
    init="he_normal",
    *,
    models: int = 8,
    examples: int = 4,
    start: int = 0,
    stop: int | None = None,
    rng=None,
    **options,
) -> tuple[np.ndarray, SpectrumSummary]:
    r"""Singular values and their summary for ``models`` freshly initialized nets (what ``initlab jacobian`` prints).

    The weights come from ``net.initialize(init, rng=split(rng)[0], models=models, **options)``
    (:mod:`initlab.seeding`); the ``examples`` inputs are :math:`N(0, 1)` per coordinate, from
    ``split(rng)[1]`` (a random direction at the scale of standardized data).

    Returns
    -------
    s : (models, examples, r), summary : :class:`SpectrumSummary`
    """
    from initlab import seeding

    draw, data = seeding.split(rng)
    examples = check_int("examples", examples, min_value=1, max_value=4096)
    params = net.initialize(init, rng=draw, models=models, **options)
    X = data.standard_normal((net.layers[0], examples))
    s = singular_values(jacobians(net, params, X, start=start, stop=stop))
    return s, summarize(s)


def reading(summary: SpectrumSummary) -> str:
    """One plain-words sentence on a summary (medians over the models)."""
    ms, near = float(np.median(summary.mean_squared)), float(np.median(summary.near_one))
    rel = float(np.median(summary.relative_spread))
    if not np.isfinite(ms) or ms == 0:
        return "the Jacobian is 0 or not finite: no signal passes through these layers"
    scale = "signals keep their size" if 0.5 <= ms <= 2 else ("signals grow" if ms > 2 else "signals shrink")
    shape = (
        "an isometry: nearly every direction kept"
        if near >= 0.9 and rel < 0.5
        else ("spread: some directions amplified, many squashed" if rel >= 1 else "mildly spread")
    )
    return f"mean s^2 {ms:.3g} ({scale}); {near:.0%} of singular values within 2x of 1; Var(s^2)/<s^2>^2 {rel:.3g}: {shape}"


def spread_columns(m: int, examples: int) -> np.ndarray:
    """Indices of ``min(examples, m)`` columns of an ``(n, m)`` data set spread evenly over it, first and last
    included, ascending and distinct (fewer when rounding merges two): a bounded, deterministic subset.

    >>> spread_columns(300, 4).tolist(), spread_columns(3, 16).tolist()
    ([0, 100, 199, 299], [0, 1, 2])
    """
    return np.unique(np.linspace(0, m - 1, min(examples, m)).round().astype(int))


def at_spread_examples(
    net: MLP, params, X, *, examples: int = 16, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Singular values of every model's Jacobian at ``examples`` columns of ``X`` spread over it (:func:`spread_columns`).

    The cost is bounded whatever the data set's size: K x e Jacobians of :math:`n_\mathrm{stop} \times n_0`.
    A model whose Jacobian is not finite (a diverged one, overflowed) is left out.

    Parameters
    ----------
    net : MLP
    params : dict, with the model axis (K, ...)
    X : (n_0, m)
    examples : int >= 1
    stop : as in :func:`jacobians` (from the input, ``start = 0``)

    Returns
    -------
    s : (K', e, r), the finite models' singular values; kept : (K,) bool, which models they are
    """
    X = np.asarray(X, dtype=np.float64)
    columns = spread_columns(X.shape[1], check_int("examples", examples, min_value=1))
    with np.errstate(all="ignore"):
        s = singular_values(jacobians(net, params, X[:, columns], stop=stop))  # (K, e, r)
    kept = np.isfinite(s).all(axis=(1, 2))
    return s[kept], kept


def log_histogram(s, bins: int = 30, *, floor: float = 1e-300) -> dict:
    r"""Histogram of the singular values ``s`` (any shape) in equal bins of :math:`\log_{10} s`, the line at 1 inside.

    Returns ``{"values", "zeros", "lo", "hi", "counts", "median", "near_one", "max"}``: ``values`` how many,
    ``zeros`` how many are :math:`\le` ``floor`` (0 for a dead ReLU: no place on a log axis; a floor such as
    ``1e-10`` also counts the rounding-level values of a rank-deficient Jacobian there), ``counts``
    (``bins``,) over ``[lo, hi]`` (log10 edges, ``lo <= -1``, ``hi >= 1``; empty without a positive value),
    so that ``sum(counts) + zeros == values``; ``median``, ``near_one`` (the share of all values within a
    factor 2 of 1, :math:`1/2 \le s \le 2`) and ``max`` (None without values).
    """
    values = np.asarray(s, dtype=np.float64).ravel()
    positive = values[values > floor]
    out = {"values": int(values.size), "zeros": int(values.size - positive.size), "lo": -1.0, "hi": 1.0,
           "counts": [], "median": None, "near_one": None, "max": None}  # fmt: skip
    if positive.size == 0:
        return out
    logs = np.log10(positive)
    lo, hi = min(float(logs.min()), -1.0), max(float(logs.max()), 1.0)  # the line at 1 (log 0) always inside
    counts, _ = np.histogram(logs, bins=bins, range=(lo, hi))
    near = float(((values >= 0.5) & (values <= 2.0)).mean())
    return out | {"lo": lo, "hi": hi, "counts": counts.tolist(), "median": float(np.median(values)),
                  "near_one": near, "max": float(values.max())}  # fmt: skip
