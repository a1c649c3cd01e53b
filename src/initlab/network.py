r"""A fully connected network of any depth, evaluated for K models at once.

The notebook's network generalized: ``layers = (n_0, n_1, ..., n_L)`` gives ``L`` weight layers,
each hidden one followed by the same activation, the last by a sigmoid (binary, ``n_L = 1``) or a
softmax (``n_L >= 2`` classes):

.. math::

    Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}, \qquad A^{[l]} = g(Z^{[l]}), \qquad A^{[0]} = X .

Shapes
------
The notebook's layout, with a leading **model axis** ``K``: ``K`` independent networks of the same
architecture (different seeds, initializers or learning rates) run as one batched matrix product
per layer.

==============  =======================  ==================================================
symbol          shape                    meaning
==============  =======================  ==================================================
``X``           ``(n_0, m)``             inputs, one column per example, shared by all K
``W{l}``        ``(K, n_l, n_{l-1})``    weights (``fan_in = n_{l-1}``)
``b{l}``        ``(K, n_l, 1)``          biases
``Z``, ``A``    ``(K, n_l, m)``          pre-activations and activations of layer l
``Y``           ``(1, m)``               0/1 labels (sigmoid) or int labels (softmax)
==============  =======================  ==================================================

The notebook's parameter dict, without the model axis (``W1`` of shape ``(n_1, n_0)``), is
accepted everywhere as ``K = 1``, and what comes back (parameters, gradients, outputs, losses)
has the shape it came in: see :func:`add_model_axis` / :func:`remove_model_axis`.

The engine
----------
:func:`forward_pass` and :func:`backward_pass` are the one engine (training, diagnostics and LSUV
call them; faster kernels are tested against them). They trust their inputs; the :class:`MLP`
methods validate at the boundary and then call them. Both write into a :class:`Workspace` of
preallocated arrays (the training loop reuses one; other callers get a fresh one), and the
training loop keeps each model's parameters in one flat row (:func:`layer_views`).

Parametrizations
----------------
``MLP(..., parametrization="ntk" | "mup", base_width=...)`` (:mod:`initlab.parametrization`): the
parameters stay the *effective* weights the forward pass above computes with, so the engine is
the same for every parametrization; what changes is the scale :meth:`MLP.initialize` draws each
layer at and the per-parameter learning-rate and Adam-epsilon factors the training applies
(:meth:`MLP.learning_rate_factors`, :meth:`MLP.epsilon_factors`, used by :mod:`initlab.state`).
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass

import numpy as np

from initlab import activations, initializers, parametrization, seeding
from initlab.losses import binary_cross_entropy, legacy_binary_cross_entropy, softmax_cross_entropy
from initlab.validation import check_choice, check_finite_array, check_real

__all__ = [
    "DATA_DEPENDENT",
    "DIVERGENCE_LOGIT",
    "DIVERGENCE_LOGIT_FLOAT32",
    "LOSS_KINDS",
    "MLP",
    "ForwardRecord",
    "Workspace",
    "add_model_axis",
    "backward_pass",
    "check_lsuv_options",
    "divergence_logit",
    "flatten_params",
    "forward_pass",
    "layer_views",
    "logits_sound",
    "loss_from_output",
    "output_delta",
    "parameter_count",
    "params_dict",
    "predicted_labels",
    "remove_model_axis",
    "true_labels",
]

#: ``loss=`` choices: the stable cross-entropy from logits, or the notebook's from probabilities.
LOSS_KINDS = ("stable", "legacy")
#: Initializer names that need the data (``MLP.initialize(name, X=...)``), beside initlab.initializers.available().
DATA_DEPENDENT = ("lsuv",)
#: The options ``MLP.initialize("lsuv", ...)`` passes to initlab.lsuv.lsuv (its ``init``, the weights before
#: rescaling, stays orthogonal there: ``init`` is initialize's own first parameter).
LSUV_OPTIONS = ("tol", "max_iter")


# --------------------------------------------------------------------------------------------
# The engine (inner functions: inputs are trusted)
# --------------------------------------------------------------------------------------------
class Workspace:
    """Preallocated arrays for one forward and backward pass of K models on m examples.

    The training loop's ``out=`` buffers: allocating fresh ``(K, n_l, m)`` arrays every iteration
    costs more than the arithmetic once they exceed malloc's mmap threshold (each allocation then
    faults in new pages; measured 5x slower at K = 64 on the notebook's network). Every call of
    :func:`forward_pass` / :func:`backward_pass` with the same workspace overwrites it.

    ``dtype`` (float64 by default, or float32: :func:`initlab.training.train`'s ``dtype``) is every buffer's.

    Attributes
    ----------
    Z, A, dZ : lists of L arrays (K, n_l, m)
    dA, dg : lists of L - 1 arrays (K, n_l, m), hidden layers only: dL/dA and g'(Z)
    grads : (K, P) all gradients of a model in one row; ``dW``, ``db`` are views into it
    dW : list of L views (K, n_l, n_{l-1})
    db : list of L views (K, n_l, 1)
    """

    def __init__(self, layers: tuple[int, ...], K: int, m: int, dtype=np.float64):
        units = layers[1:]
        self.K, self.m = K, m
        self.Z = [np.empty((K, n, m), dtype) for n in units]
        self.A = [np.empty((K, n, m), dtype) for n in units]
        self.dZ = [np.empty((K, n, m), dtype) for n in units]
        self.dA = [np.empty((K, n, m), dtype) for n in units[:-1]]
        self.dg = [np.empty((K, n, m), dtype) for n in units[:-1]]
        self.grads = np.empty((K, parameter_count(layers)), dtype)
        self.dW, self.db = layer_views(self.grads, layers)


#: A model has diverged once the sum of its output logits' magnitudes over the examples is beyond
#: this (or not finite): its loss from logits would be ~1e100 / m or more, a float artifact, not a
#: loss. The rule of both engines (:mod:`initlab.training`, :mod:`initlab.kernels`), in float64.
DIVERGENCE_LOGIT = 1e100
#: The same line in float32, whose largest number is 3.4e38 (1e100 is not one: it would round to inf
#: and let an overflowed sum pass as sound). 1e30 leaves 3.4e8 of headroom below the overflow, so the
#: loss's sum over examples and the next products stay finite up to the test; a run past it in float32
#: is past a logit of 1e30 / m, far outside any trained net (see :func:`initlab.training.train`'s notes
#: for where float32 and float64 runs diverge).
DIVERGENCE_LOGIT_FLOAT32 = 1e30


def divergence_logit(dtype) -> float:
    """The divergence line of a computation in ``dtype``: :data:`DIVERGENCE_LOGIT` or :data:`DIVERGENCE_LOGIT_FLOAT32`."""
    return DIVERGENCE_LOGIT_FLOAT32 if np.dtype(dtype) == np.float32 else DIVERGENCE_LOGIT


def logits_sound(Z: np.ndarray) -> np.ndarray:
    """``Z`` (K, n_L, m) logits -> (K,) bool: ``sum |Z_k|`` is finite and within :func:`divergence_logit`
    of Z's dtype (False: model k has diverged)."""
    total = np.abs(Z).sum(axis=(1, 2))
    return total <= total.dtype.type(divergence_logit(total.dtype))  # nan compares False


def parameter_count(layers: tuple[int, ...]) -> int:
    """P, the number of weights and biases of one model: sum of n_l (n_{l-1} + 1)."""
    return sum(n * (p + 1) for p, n in itertools.pairwise(layers))


def flatten_params(params: Mapping[str, np.ndarray]) -> np.ndarray:
    """``{"W1": (K, n_1, n_0), "b1": (K, n_1, 1), ...}`` -> (K, P) float64, one row per model, laid out W1, b1, W2, ...

    The layout of every flat parameter array in initlab (the engines' ``theta``, a sweep's stored
    run); :func:`layer_views` is its inverse. A new array (the dict is not modified).
    """
    K = np.shape(params["W1"])[0]
    L = len(params) // 2
    return np.concatenate(
        [np.asarray(params[f"{p}{l}"], dtype=np.float64).reshape(K, -1) for l in range(1, L + 1) for p in ("W", "b")],
        axis=1,
    )


def params_dict(flat: np.ndarray, layers: tuple[int, ...]) -> dict[str, np.ndarray]:
    """(K, P) -> ``{"W1": (K, n_1, n_0), "b1": (K, n_1, 1), ...}``, C-contiguous copies of :func:`layer_views`."""
    Ws, bs = layer_views(flat, layers)
    return _pack([np.ascontiguousarray(W) for W in Ws], [np.ascontiguousarray(b) for b in bs])


def layer_views(flat: np.ndarray, layers: tuple[int, ...]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views ``W{l}`` (K, n_l, n_{l-1}) and ``b{l}`` (K, n_l, 1) into ``flat`` (K, P), laid out W1, b1, W2, ...

    The inverse of :func:`flatten_params`. One flat row per model lets the training loop update
    and check all parameters of all models in two array operations.
    """
    K = flat.shape[0]
    Ws, bs = [], []
    offset = 0
    for p, n in itertools.pairwise(layers):
        Ws.append(flat[:, offset : offset + n * p].reshape(K, n, p))
        offset += n * p
        bs.append(flat[:, offset : offset + n].reshape(K, n, 1))
        offset += n
    return Ws, bs


def forward_pass(
    Ws: list[np.ndarray],
    bs: list[np.ndarray],
    X: np.ndarray,
    g: Callable[..., np.ndarray],
    output: Callable[..., np.ndarray],
    work: Workspace | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r"""Forward propagation of K networks: :math:`Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}`, :math:`A^{[l]} = g(Z^{[l]})`.

    Parameters
    ----------
    Ws : list of L arrays (K, n_l, n_{l-1})
    bs : list of L arrays (K, n_l, 1)
    X : (n_0, m), shared by the K models
    g : hidden activation, ``g(Z, out=None) -> A``
    output : output function (sigmoid, or softmax over axis -2), ``output(Z, out=None)``
    work : Workspace, optional
        Buffers to write into (the training loop's); a fresh one when omitted.

    Returns
    -------
    Zs, As : lists of L arrays (K, n_l, m) (``work.Z``, ``work.A``); ``As[-1]`` is the output.
    """
    if work is None:
        work = Workspace((X.shape[0], *(W.shape[1] for W in Ws)), Ws[0].shape[0], X.shape[1], Ws[0].dtype)
    A = X  # (n_0, m) first, then (K, n_{l-1}, m)
    last = len(Ws) - 1
    for l, (W, b) in enumerate(zip(Ws, bs)):
        Z = np.matmul(W, A, out=work.Z[l])  # (K, n_l, m)
        np.add(Z, b, out=Z)  # the notebook's np.dot(W, A) + b
        A = (g if l < last else output)(Z, out=work.A[l])  # (K, n_l, m)
    return work.Z, work.A


def output_delta(A_L: np.ndarray, T: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`dZ^{[L]} = \frac1m (A^{[L]} - T)`: the cross-entropy's gradient w.r.t. the logits.

    The same for sigmoid + binary cross-entropy and softmax + cross-entropy (and for the legacy
    loss, whose gradient is the stable one's); computed as the notebook's ``1./m * (a3 - Y)``.
    :func:`initlab.losses.binary_cross_entropy_grad` computes it from the logits.

    Parameters
    ----------
    A_L : (K, n_L, m) output probabilities
    T : (n_L, m) targets (one-hot for softmax)
    out : optional (K, n_L, m) buffer

    Returns
    -------
    dZ : (K, n_L, m)
    """
    dZ = np.subtract(A_L, T, out=out)
    return np.multiply(1.0 / A_L.shape[-1], dZ, out=dZ)


def backward_pass(
    Ws: list[np.ndarray],
    Zs: list[np.ndarray],
    As: list[np.ndarray],
    X: np.ndarray,
    dZ: np.ndarray,
    dg: Callable[..., np.ndarray],
    work: Workspace | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r"""Back-propagation from :math:`dZ^{[L]}`: :math:`dW^{[l]} = dZ^{[l]} A^{[l-1]T}`,
    :math:`db^{[l]} = \sum_i dZ^{[l]}_{:,i}`, :math:`dZ^{[l-1]} = (W^{[l]T} dZ^{[l]}) \odot g'(Z^{[l-1]})`.

    Parameters
    ----------
    Ws : list of L arrays (K, n_l, n_{l-1})
    Zs, As : the lists returned by :func:`forward_pass` (not modified)
    X : (n_0, m)
    dZ : (K, n_L, m), from :func:`output_delta`
    dg : derivative of the hidden activation, ``dg(Z, out=None)``
    work : Workspace, optional
        Buffers to write into; a fresh one when omitted.

    Returns
    -------
    dWs : list of L arrays (K, n_l, n_{l-1}) (views of ``work.grads``)
    dbs : list of L arrays (K, n_l, 1)
    """
    if work is None:
        work = Workspace((X.shape[0], *(W.shape[1] for W in Ws)), Ws[0].shape[0], X.shape[1], Ws[0].dtype)
    for l in range(len(Ws) - 1, -1, -1):
        A_prev = As[l - 1] if l else X  # (K, n_{l-1}, m) or (n_0, m)
        np.matmul(dZ, np.swapaxes(A_prev, -1, -2), out=work.dW[l])  # (K, n_l, n_{l-1})
        np.add.reduce(dZ, axis=-1, keepdims=True, out=work.db[l])  # (K, n_l, 1), the notebook's np.sum(dZ, axis=1)
        if l:
            dA = np.matmul(np.swapaxes(Ws[l], -1, -2), dZ, out=work.dA[l - 1])  # (K, n_{l-1}, m)
            dZ = np.multiply(dA, dg(Zs[l - 1], out=work.dg[l - 1]), out=work.dZ[l - 1])  # (K, n_{l-1}, m)
    return work.dW, work.db


def loss_from_output(kind: str, output: str, Z_L: np.ndarray, A_L: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Loss per model, (K,): ``"stable"`` from the logits ``Z_L``, ``"legacy"`` from the probabilities ``A_L``."""
    if kind == "legacy":
        return legacy_binary_cross_entropy(A_L, T)
    if output == "sigmoid":
        return binary_cross_entropy(Z_L, T)
    return softmax_cross_entropy(Z_L, T)


def predicted_labels(output: str, A_L: np.ndarray) -> np.ndarray:
    """(K, n_L, m) output probabilities -> (K, 1, m) int labels: ``A > 0.5`` (sigmoid, the notebook's rule) or argmax (softmax)."""
    if output == "sigmoid":
        return (A_L > 0.5).astype(np.int64)
    return np.argmax(A_L, axis=-2)[..., np.newaxis, :].astype(np.int64)


def true_labels(output: str, T: np.ndarray) -> np.ndarray:
    """(n_L, m) targets from :meth:`MLP.check_data` -> (1, m) int labels."""
    if output == "sigmoid":
        return T.astype(np.int64)
    return np.argmax(T, axis=0)[np.newaxis, :].astype(np.int64)


# --------------------------------------------------------------------------------------------
# The model axis
# --------------------------------------------------------------------------------------------
def add_model_axis(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"W1": (n_1, n_0), ...}`` -> ``{"W1": (1, n_1, n_0), ...}``: the notebook's dict as K = 1 (views)."""
    return {key: np.asarray(value)[np.newaxis] for key, value in arrays.items()}


def remove_model_axis(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"W1": (1, n_1, n_0), ...}`` -> ``{"W1": (n_1, n_0), ...}``; the inverse of :func:`add_model_axis` (views).

    Raises
    ------
    ValueError
        If an array's model axis is not of length 1.
    """
    out = {}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.ndim == 0 or value.shape[0] != 1:
            raise ValueError(
                f"remove_model_axis needs a model axis of length 1; {key!r} has shape {value.shape}. "
                f"Select one model first, e.g. {{k: v[i] for k, v in params.items()}}."
            )
        out[key] = value[0]
    return out


# --------------------------------------------------------------------------------------------
# The network specification
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForwardRecord:
    """Everything a forward pass computed, for diagnostics.

    Attributes
    ----------
    X : (n_0, m) the inputs
    Z : tuple of L arrays (K, n_l, m), pre-activations (``(n_l, m)`` for a dict without model axis)
    A : tuple of L arrays (K, n_l, m), activations; ``A[-1]`` is the output
    """

    X: np.ndarray
    Z: tuple[np.ndarray, ...]
    A: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron: ``layers[0]`` inputs, hidden layers, a sigmoid or softmax output.

    Parameters
    ----------
    layers : sequence of int >= 1, length >= 2
        Units per layer, inputs first: the notebook's ``(2, 10, 5, 1)``. ``len(layers) - 1`` weight layers.
    activation : str
        Hidden activation, one of :func:`initlab.activations.available` (default ``"relu"``).
    output : {"sigmoid", "softmax"}
        ``"sigmoid"``: binary classification, ``layers[-1]`` must be 1. ``"softmax"``:
        ``layers[-1] >= 2`` classes.
    slope : float, keyword-only
        Negative slope of ``leaky_relu`` (default 0.01; unused otherwise).
    parametrization : {"standard", "ntk", "mup"}, keyword-only
        How initialization and learning rates scale with width (:mod:`initlab.parametrization`;
        default ``"standard"``, every existing result). The parameters are always the *effective*
        weights the forward pass computes with; a non-standard parametrization changes
        :meth:`initialize`'s per-layer scale and the per-parameter learning-rate (and Adam epsilon)
        factors the training applies (:meth:`learning_rate_factors`, :meth:`epsilon_factors`).
    base_width : None, int or one int per hidden layer, keyword-only
        The base model's hidden width(s) muP is relative to (``mup`` only): at width = ``base_width``
        muP is standard. None: base 1 (TP5's Table 3 literally).

    Examples
    --------
    >>> net = MLP((2, 10, 5, 1))                       # the notebook's network
    >>> params = net.initialize("he_normal", rng=0, models=8)
    >>> params["W1"].shape
    (8, 10, 2)
    """

    layers: tuple[int, ...]
    activation: str = "relu"  # hidden layers
    output: str = "sigmoid"  # "sigmoid" (n_L = 1) or "softmax" (n_L >= 2)
    _: KW_ONLY
    slope: float = 0.01  # leaky_relu's negative slope
    parametrization: str = "standard"  # "standard", "ntk" or "mup" (initlab.parametrization)
    base_width: int | tuple[int, ...] | None = None  # mup's base model: hidden width(s)

    def __post_init__(self):
        object.__setattr__(self, "layers", _check_layers(self.layers))
        base = parametrization.check_base_width(self.base_width, self.parametrization, self.layers)
        object.__setattr__(self, "base_width", base)
        check_choice("activation", self.activation, activations.ACTIVATIONS, owner="MLP")
        check_choice("output", self.output, activations.OUTPUTS, owner="MLP")
        object.__setattr__(self, "slope", check_real("slope", self.slope))
        n_out = self.layers[-1]
        if self.output == "sigmoid" and n_out != 1:
            raise ValueError(
                f"The 'layers' parameter of MLP must end in 1 unit for output='sigmoid' (binary "
                f"classification). Got layers={self.layers} instead; use output='softmax' for {n_out} classes."
            )
        if self.output == "softmax" and n_out < 2:
            raise ValueError(
                f"The 'layers' parameter of MLP must end in at least 2 units (classes) for output='softmax'. "
                f"Got layers={self.layers} instead; use output='sigmoid' for binary classification."
            )

    # ---- derived ---------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """L, the number of weight layers."""
        return len(self.layers) - 1

    @property
    def weight_shapes(self) -> tuple[tuple[int, int], ...]:
        """``((n_1, n_0), ..., (n_L, n_{L-1}))``, the notebook's ``W[l]`` shapes."""
        return tuple((self.layers[l], self.layers[l - 1]) for l in range(1, len(self.layers)))

    @property
    def hidden(self) -> activations.Activation:
        """The hidden activation with its options bound."""
        return activations.get(self.activation, slope=self.slope)

    @property
    def output_function(self) -> Callable[[np.ndarray], np.ndarray]:
        """``sigmoid`` or ``softmax`` (over the units axis)."""
        return activations.OUTPUTS[self.output]

    @property
    def scalings(self) -> tuple[tuple[parametrization.Scaling, parametrization.Scaling], ...]:
        """The parametrization's table for this network: ``(weights, bias)`` rows per layer (:func:`initlab.parametrization.table`)."""
        return parametrization.table(self.parametrization, self.layers, self.base_width)

    def learning_rate_factors(self, optimizer="gd") -> np.ndarray:
        """(P,) float64, each parameter's learning-rate factor under this parametrization, in the flat layout W1, b1, ...

        ``optimizer``: a name or an Optimizer (gd, sgd, momentum: :math:`a^2 c`; adam: :math:`a c`;
        :mod:`initlab.parametrization`). All ones for ``"standard"``.
        """
        kind = parametrization.family(optimizer)
        return self._per_parameter(lambda s: s.learning_rate(kind))

    def epsilon_factors(self) -> np.ndarray:
        """(P,) float64, each parameter's factor on Adam's epsilon (:math:`1/a`), in the flat layout W1, b1, ..."""
        return self._per_parameter(lambda s: s.epsilon)

    def _per_parameter(self, value: Callable[[parametrization.Scaling], float]) -> np.ndarray:
        flat = np.empty((1, parameter_count(self.layers)))
        for W, b, (sw, sb) in zip(*layer_views(flat, self.layers), self.scalings):
            W[...], b[...] = value(sw), value(sb)
        return flat[0]

    # ---- parameters ------------------------------------------------------------------------
    def initialize(
        self,
        init="he_normal",
        *,
        rng=None,
        models: int | None = None,
        bias_init="zeros",
        scale: float = 1.0,
        X=None,
        **options,
    ) -> dict[str, np.ndarray]:
        r"""Draw parameters for ``models`` networks: ``{"W1": (K, n_1, n_0), "b1": (K, n_1, 1), ...}``.

        Model ``k`` draws all its layers, in order ``W1, b1, W2, ...``, from its own stream, the
        ``k``-th child of ``SeedSequence(rng)`` (the rule of :mod:`initlab.seeding`): model ``k`` is
        the same whatever ``models`` is, and streams never overlap. A list of K streams gives each model
        its own instead: ``rng=[SeedSequence(s, spawn_key=(k,)) for k in range(a, b)]`` draws
        models ``a .. b-1`` of ``rng=s, models=b`` (how a study splits its seeds into chunks).

        Parameters
        ----------
        init : str or callable
            An initializer name (:func:`initlab.initializers.available`, e.g. ``"he_normal"``,
            ``"zeros"``, ``"random"``) or a callable ``init(shape, *, rng) -> ndarray`` for
            ``shape = (n_l, n_{l-1})``; or ``"lsuv"``, data-dependent: layer-sequential unit variance
            on the batch ``X`` (:func:`initlab.lsuv.lsuv`: orthogonal weights, then each layer's
            :math:`W^{[l]}` divided by :math:`\sqrt{\operatorname{Var}(Z^{[l]})}` on ``X``; zero biases).
        rng : None, int, SeedSequence, Generator, or a list of these
            Seed of the K streams. An int gives the same parameters on every call; a Generator
            or SeedSequence is advanced (its next ``spawn`` differs). A list: one stream per model.
        models : int >= 1, optional
            K, the number of networks (default 1; with a list of streams, its length).
        bias_init : "zeros", float, str or callable
            ``"zeros"`` (default, as the notebook), a constant, or an initializer (name or
            callable) called with ``shape = (n_l, 1)``.
        scale : float
            Multiplies every weight after drawing (``W = scale * init(shape)``).
            Under ``parametrization="ntk"`` or ``"mup"`` each layer's weights are further multiplied by
            the table's :attr:`~initlab.parametrization.Scaling.init_std` (muP: the output layer's by
            :math:`1/\sqrt{\mu_\text{in}}`; ntk: by 1, its effective weights are drawn as standard's),
            and ``init`` must be a fan_in variance-scaling initializer or ``"zeros"``
            (:func:`initlab.parametrization.check_initializer`; LSUV is refused).
        X : (n_0, m), only with ``init="lsuv"``
            The inputs whose layer outputs LSUV normalizes (e.g. the training set).
        **options
            Options of the named initializer, e.g. ``mode="fan_out"`` (``initializers.get(init, **options)``);
            for ``"lsuv"``, ``tol`` and ``max_iter`` (:func:`initlab.lsuv.lsuv`).

        Returns
        -------
        params : dict of float64 arrays, ``"W{l}"`` (K, n_l, n_{l-1}) and ``"b{l}"`` (K, n_l, 1)
        """
        scale = check_real("scale", scale)
        if isinstance(init, str) and init in DATA_DEPENDENT:
            return self._initialize_lsuv(X, rng=rng, models=models, bias_init=bias_init, scale=scale, options=options)
        if X is not None:
            raise TypeError(
                f"The 'X' parameter is used only by the data-dependent initializers ({', '.join(DATA_DEPENDENT)}); "
                f"init={init!r} draws without data. Leave X out, or use init='lsuv'."
            )
        weight_init = _resolve_initializer("init", init, options)
        parametrization.check_initializer(self.parametrization, weight_init, init)
        bias = _resolve_bias(bias_init)
        streams = seeding.model_streams(rng, models)  # model k draws from the k-th (initlab.seeding)
        models = len(streams)
        Ws = [np.empty((models, *shape)) for shape in self.weight_shapes]
        bs = [np.empty((models, shape[0], 1)) for shape in self.weight_shapes]
        for k, stream in enumerate(streams):
            for l, shape in enumerate(self.weight_shapes):
                Ws[l][k] = _draw("init", weight_init, shape, stream) * scale
                bs[l][k] = _draw("bias_init", bias, (shape[0], 1), stream)
        if self.parametrization != "standard":  # the table's scale of the effective weights (biases: always 1)
            for W, (weights, _) in zip(Ws, self.scalings):
                if weights.init_std != 1.0:
                    W *= weights.init_std
        return _pack(Ws, bs)

    def _initialize_lsuv(self, X, *, rng, models, bias_init, scale: float, options: dict) -> dict[str, np.ndarray]:
        """:meth:`initialize` for ``init="lsuv"``: :func:`initlab.lsuv.lsuv` on ``X``, weights times ``scale``."""
        from initlab.lsuv import lsuv

        if self.parametrization != "standard":
            raise ValueError(
                f"init='lsuv' sets each layer's scale from the data; parametrization={self.parametrization!r} sets it "
                "from the width. Use parametrization='standard' with LSUV, or a fan_in initializer such as 'he_normal'."
            )
        if X is None:
            raise TypeError(
                "init='lsuv' is data-dependent: it needs the 'X' parameter, the inputs (n_0, m) whose layer outputs "
                "it normalizes to unit variance. Pass X=..., e.g. the training set."
            )
        if not (isinstance(bias_init, str) and bias_init == "zeros"):
            raise ValueError(
                f"The 'bias_init' parameter must be 'zeros' with init='lsuv' (LSUV sets the biases to zero). "
                f"Got {bias_init!r} instead."
            )
        check_lsuv_options(options)
        params, _ = lsuv(self, X, rng=rng, models=models, scale=scale, **options)
        return params

    def check_params(self, params, name: str = "params") -> tuple[dict[str, np.ndarray], bool]:
        """Validate a parameter dict against this network; return it with a model axis.

        Parameters
        ----------
        params : dict ``{"W1", "b1", ..., "WL", "bL"}``, with or without the model axis
        name : str
            Parameter name used in error messages.

        Returns
        -------
        params : dict of float64 arrays with the model axis (K, ...)
        had_axis : bool
            False for the notebook's dict (``W1`` 2-D); outputs are then returned without the axis.
        """
        if not isinstance(params, Mapping):
            raise TypeError(
                f"The '{name}' parameter must be a dict of arrays {{'W1', 'b1', ...}}. Got {type(params).__name__} instead."
            )
        L = self.n_layers
        expected = [f"{p}{l}" for l in range(1, L + 1) for p in ("W", "b")]
        if sorted(params) != sorted(expected):
            raise ValueError(
                f"The '{name}' parameter must have exactly the keys {expected} for layers={self.layers}. "
                f"Got {sorted(params)} instead."
            )
        W1 = np.asarray(params["W1"])
        had_axis = W1.ndim == 3
        ndim_w, ndim_b = (3, 3) if had_axis else (2, 2)
        out = {}
        K = W1.shape[0] if had_axis else 1
        for l, (n_out, n_in) in enumerate(self.weight_shapes, start=1):
            for key, want, nd in ((f"W{l}", (n_out, n_in), ndim_w), (f"b{l}", (n_out, 1), ndim_b)):
                arr = check_finite_array(f"{name}['{key}']", params[key])
                full = (K, *want) if had_axis else want
                if arr.ndim != nd or arr.shape != full:
                    raise ValueError(
                        f"The '{name}['{key}']' parameter must have shape {full} for layers={self.layers}"
                        f"{' and K=' + str(K) + ' models' if had_axis else ''}. Got shape {arr.shape} instead."
                    )
                out[key] = arr if had_axis else arr[np.newaxis]
        return out, had_axis

    def check_data(self, X, Y=None, *, names: tuple[str, str] = ("X", "Y")) -> tuple[np.ndarray, np.ndarray | None]:
        """Validate inputs (and labels); return ``X`` (n_0, m) float64 and targets ``T`` (n_L, m) float64.

        Parameters
        ----------
        X : (n_0, m) finite numbers, one column per example (the notebook's layout)
        Y : optional. Sigmoid output: 0/1 labels (1, m) or (m,). Softmax output: integer labels
            in ``[0, n_L)`` of shape (1, m) or (m,), or one-hot (n_L, m).
        names : the parameter names used in messages (e.g. ``("X_test", "Y_test")``)

        Returns
        -------
        X : (n_0, m) float64
        T : (n_L, m) float64 targets (one-hot for softmax), or None when ``Y`` is None
        """
        xname, yname = names
        X = check_finite_array(xname, X, ndim=2)
        n0 = self.layers[0]
        if X.shape[0] != n0:
            hint = f" Pass {xname}.T: examples are columns." if X.shape[1] == n0 else ""
            raise ValueError(
                f"The '{xname}' parameter must have layers[0]={n0} rows (features x examples, the notebook's "
                f"layout). Got shape {X.shape} instead.{hint}"
            )
        if X.shape[1] < 1:
            raise ValueError(
                f"The '{xname}' parameter must have at least 1 example (column). Got shape {X.shape} instead."
            )
        if Y is None:
            return X, None
        m = X.shape[1]
        Y = check_finite_array(yname, Y)
        C = self.layers[-1]
        if self.output == "softmax" and Y.shape == (C, m):
            if not (np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=0) == 1)):
                raise ValueError(
                    f"The '{yname}' parameter of shape {Y.shape} must be one-hot: 0/1 with one 1 per column."
                )
            return X, Y
        if Y.shape not in ((1, m), (m,)):
            allowed = f"(1, {m}) or ({m},)" + (f" or one-hot ({C}, {m})" if self.output == "softmax" else "")
            raise ValueError(
                f"The '{yname}' parameter must have shape {allowed}, one label per column of {xname}. "
                f"Got shape {Y.shape} instead."
            )
        Y = Y.reshape(1, m)
        if self.output == "sigmoid":
            if not np.all((Y == 0) | (Y == 1)):
                raise ValueError(
                    f"The '{yname}' parameter must hold 0/1 labels for output='sigmoid'. Got values {np.unique(Y)[:5]}."
                )
            return X, Y
        if not np.all((Y == np.round(Y)) & (Y >= 0) & (Y < C)):
            raise ValueError(
                f"The '{yname}' parameter must hold integer class labels in [0, {C}) for output='softmax'. "
                f"Got values {np.unique(Y)[:5]}."
            )
        one_hot = np.zeros((C, m))
        one_hot[Y[0].astype(np.intp), np.arange(m)] = 1.0
        return X, one_hot

    # ---- evaluation ------------------------------------------------------------------------
    def forward(self, params, X, *, record: bool = False):
        """Output probabilities ``A[L]`` (K, n_L, m); with ``record=True`` also every Z and A.

        Parameters
        ----------
        params : dict, with or without the model axis
        X : (n_0, m)
        record : bool

        Returns
        -------
        A_L : (K, n_L, m), or (n_L, m) for a dict without model axis
        record : ForwardRecord, only when ``record=True``
        """
        P, had_axis = self.check_params(params)
        X, _ = self.check_data(X)
        Zs, As = self._forward(P, X)
        drop = (lambda a: a) if had_axis else (lambda a: a[0])
        out = drop(As[-1])
        if not record:
            return out
        return out, ForwardRecord(X, tuple(drop(z) for z in Zs), tuple(drop(a) for a in As))

    def loss_and_grads(self, params, X, Y, *, loss: str = "stable"):
        """Mean cross-entropy of each model and its gradients.

        Parameters
        ----------
        params : dict, with or without the model axis
        X : (n_0, m)
        Y : labels, see :meth:`check_data`
        loss : {"stable", "legacy"}
            ``"stable"``: from logits (finite). ``"legacy"``: the notebook's, from probabilities
            (can be inf; sigmoid output only). The gradients are the same.

        Returns
        -------
        loss : (K,) float64, or a float for a dict without model axis
        grads : dict ``{"dW1": ..., "db1": ...}`` shaped like ``params``
        """
        self.check_loss(loss)
        P, had_axis = self.check_params(params)
        X, T = self.check_data(X, Y)
        Ws, bs = _unpack(P, self.n_layers)
        work = Workspace(self.layers, Ws[0].shape[0], X.shape[1])
        g = self.hidden
        Zs, As = forward_pass(Ws, bs, X, g.forward, self.output_function, work)
        value = loss_from_output(loss, self.output, Zs[-1], As[-1], T)
        dZ = output_delta(As[-1], T, out=work.dZ[-1])
        dWs, dbs = backward_pass(Ws, Zs, As, X, dZ, g.derivative, work)
        grads = _pack(dWs, dbs, prefix="d")
        if had_axis:
            return value, grads
        return float(value[0]), remove_model_axis(grads)

    def predict_proba(self, params, X) -> np.ndarray:
        """Output probabilities (K, n_L, m) (``(n_L, m)`` without model axis): sigmoid of the logit or softmax over classes."""
        return self.forward(params, X)

    def predict(self, params, X) -> np.ndarray:
        """Predicted labels (K, 1, m) int (``(1, m)`` without model axis).

        Sigmoid: ``1`` where the probability is ``> 0.5`` (the notebook's rule); softmax: argmax.
        """
        P, had_axis = self.check_params(params)
        X, _ = self.check_data(X)
        labels = predicted_labels(self.output, self._forward(P, X)[1][-1])
        return labels if had_axis else labels[0]

    # ---- inner helpers (validated inputs) ----------------------------------------------------
    def _forward(self, P: dict, X: np.ndarray):
        Ws, bs = _unpack(P, self.n_layers)
        return forward_pass(Ws, bs, X, self.hidden.forward, self.output_function)

    def check_loss(self, loss: str) -> str:
        """Validate ``loss`` ('stable' or 'legacy'; 'legacy' needs the sigmoid output) and return it."""
        check_choice("loss", loss, LOSS_KINDS)
        if loss == "legacy" and self.output != "sigmoid":
            raise ValueError(
                "The 'loss' parameter can be 'legacy' (the notebook's binary cross-entropy from probabilities) only "
                f"with output='sigmoid'. Got loss='legacy' with output={self.output!r}; use loss='stable'."
            )
        return loss


# --------------------------------------------------------------------------------------------
# Private helpers
# --------------------------------------------------------------------------------------------
def check_lsuv_options(options) -> None:
    """Refuse (TypeError) an option of ``MLP.initialize("lsuv", ...)`` other than :data:`LSUV_OPTIONS`."""
    unknown = sorted(set(options) - set(LSUV_OPTIONS))
    if unknown:
        raise TypeError(
            f"Unknown option(s) {unknown} for init 'lsuv'. Allowed: {', '.join(LSUV_OPTIONS)} "
            "(the paper's Tol_var and T_max)."
        )


def _check_layers(layers) -> tuple[int, ...]:
    example = "e.g. (2, 10, 5, 1): inputs, hidden units, outputs"
    try:
        dims = tuple(layers)
    except TypeError:
        dims = None
    if dims is None or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims):
        raise TypeError(
            f"The 'layers' parameter of MLP must be a sequence of integers, {example}. Got {layers!r} instead."
        )
    if len(dims) < 2:
        raise ValueError(
            f"The 'layers' parameter of MLP must have at least 2 entries (inputs and outputs), {example}. Got {dims} instead."
        )
    if any(d < 1 for d in dims):
        raise ValueError(f"The 'layers' parameter of MLP must hold sizes >= 1, {example}. Got {dims} instead.")
    return tuple(int(d) for d in dims)


def _unpack(P: Mapping[str, np.ndarray], L: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [P[f"W{l}"] for l in range(1, L + 1)], [P[f"b{l}"] for l in range(1, L + 1)]


def _pack(Ws, bs, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for l, (W, b) in enumerate(zip(Ws, bs), start=1):
        out[f"{prefix}W{l}"] = W
        out[f"{prefix}b{l}"] = b
    return out


def _resolve_initializer(name: str, init, options: dict) -> Callable:
    """An initializer name (with options) or a callable -> ``init(shape, *, rng)``."""
    if callable(init):
        if options:
            raise TypeError(
                f"Options {sorted(options)} go with an initializer name; the '{name}' parameter is a callable. "
                f"Bind them yourself, e.g. functools.partial."
            )
        return init
    check_choice(name, init, initializers.available(), owner="MLP.initialize")
    return initializers.get(init, **options)


def _resolve_bias(bias_init) -> Callable:
    if isinstance(bias_init, numbers.Real) and not isinstance(bias_init, bool):
        value = check_real("bias_init", bias_init)
        return lambda shape, *, rng: np.full(shape, value)
    if isinstance(bias_init, str) or callable(bias_init):
        return _resolve_initializer("bias_init", bias_init, {})
    raise TypeError(
        f"The 'bias_init' parameter must be 'zeros', a number, an initializer name or a callable init(shape, *, rng). "
        f"Got {bias_init!r} instead."
    )


def _draw(name: str, init: Callable, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    value = np.asarray(init(shape, rng=rng), dtype=np.float64)
    if value.shape != shape:
        raise ValueError(
            f"The '{name}' initializer must return an array of shape {shape}. Got shape {value.shape} instead."
        )
    return value
