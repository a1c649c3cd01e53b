r"""Residual MLPs for K models at once, and the structural initializers of residual nets.

The network
-----------
An input projection, ``B`` residual blocks, the hidden activation ``g`` of the last trunk state and
a head (sigmoid or softmax output, as :class:`initlab.network.MLP`):

.. math::

    h_0 &= W_\text{in} x + b_\text{in} \\
    h_b &= h_{b-1} + \alpha_b\, F_b(h_{b-1}) + d_b, \qquad b = 1, \ldots, B \\
    z &= W_\text{out}\, g(h_B) + b_\text{out}, \qquad \hat y = \sigma(z) \text{ or } \operatorname{softmax}(z)

The branch :math:`F_b` has ``m = branch_depth`` linear layers (width x width) with ``g`` between
them, optionally after a LayerNorm (pre-LN, ``norm="layer"``):

.. math::

    u_1 &= \operatorname{LN}(h_{b-1}) = \gamma_b \odot (h_{b-1} - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta_b
           \quad (\text{or } u_1 = h_{b-1}) \\
    v_j &= W_{b,j} (u_j + a_{b,j}) + c^\text{vec}_{b,j}, \qquad u_{j+1} = g(v_j + c_{b,j}) \quad (j < m) \\
    F_b(h_{b-1}) &= v_m

with :math:`\mu, \sigma^2` the mean and (biased) variance over the ``width`` units of each example,
:math:`\epsilon` = :data:`LN_EPS` (1e-5, torch's), :math:`\gamma_b` initialized to 1 and
:math:`\beta_b` to 0 (learnable).

Which scalars exist (one place: :meth:`ResidualMLP.groups`)
-----------------------------------------------------------
``scalars="none"`` (default), the plain residual net: :math:`\alpha_b = 1`, :math:`d_b = 0`,
:math:`a = c = 0` are *constants*, not parameters, and every branch layer has its vector bias
:math:`c^\text{vec}_{b,j}` (init 0). No parameter is dead or redundant.

``scalars="alpha"`` (ReZero, SkipInit): adds the trained branch scale :math:`\alpha_b`, one scalar
per block (init 1 for per-matrix initializers, 0 for ``rezero`` / ``skipinit``).

``scalars="fixup"`` (Zhang, Dauphin & Ma 2019, Fig. 1 right): :math:`\alpha_b` is Fixup's
*multiplier* (init 1), and the *scalar biases* :math:`a_{b,j}` before each linear layer,
:math:`c_{b,j}` before each activation and :math:`d_b` after the multiplier (the figure's
``bias2b``) are trained, init 0. As in the paper (its residual convolutions have no biases), the
branch layers then have no vector bias: :math:`c^\text{vec}` would duplicate :math:`a` and
:math:`c` as a per-unit shift. The input projection and the head keep their vector biases.

Shapes and layout
-----------------
``X`` is ``(n_in, m)`` (one column per example, shared by the K models) or ``(K, n_in, m)``
(one minibatch per model). Every model's parameters are one row of ``theta`` (K, P), laid out in
the order of :meth:`ResidualMLP.groups`; :meth:`ResidualMLP.views` gives named views:

================  ==========================  ===================================================
group             shape (with model axis)     meaning
================  ==========================  ===================================================
``W_in``          ``(K, width, n_in)``        input projection
``b_in``          ``(K, width, 1)``
``ln_gain``       ``(K, B, width, 1)``        LayerNorm gain :math:`\gamma_b` (``norm="layer"``)
``ln_bias``       ``(K, B, width, 1)``        LayerNorm bias :math:`\beta_b` (``norm="layer"``)
``W_branch``      ``(K, B, m, width, width)`` :math:`W_{b,j}`
``b_branch``      ``(K, B, m, width, 1)``     :math:`c^\text{vec}_{b,j}` (not with ``"fixup"``)
``alpha``         ``(K, B)``                  :math:`\alpha_b` (``"alpha"``, ``"fixup"``)
``scalar_bias``   ``(K, B, 2m)``              ``"fixup"``: :math:`a_{b,1..m}`, :math:`c_{b,1..m-1}`, :math:`d_b`
``W_out``         ``(K, n_out, width)``       head
``b_out``         ``(K, n_out, 1)``
================  ==========================  ===================================================

Initializers (:meth:`ResidualMLP.initialize`)
---------------------------------------------
Any per-matrix initializer of :func:`initlab.initializers.available` (``he_normal``, ``xavier_normal``,
``orthogonal``, ...) draws every weight matrix (the plain baseline); biases 0, LN gains 1,
:math:`\alpha` 1. The structural ones, :data:`STRUCTURAL`, draw the same matrices from the same
stream with their ``layer_init=`` option (default ``he_normal``; a name or callable) and then impose the paper's structure,
so a structural net and its baseline of the same seed differ exactly by that structure.
``"lsuv"`` is data-dependent (``initialize("lsuv", X=...)``, :func:`initlab.lsuv.lsuv`): orthogonal
matrices, then every linear layer in forward order rescaled to unit output variance on ``X``.

The engine's side is :class:`ResidualPasses` (:meth:`ResidualMLP.passes`): the batched forward and
backward over a flat ``theta`` that :class:`initlab.state.TrainingState` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass

import numpy as np

from initlab import activations, initializers, parametrization, seeding
from initlab.network import (
    DATA_DEPENDENT,
    MLP,
    _draw,
    _resolve_initializer,
    check_lsuv_options,
    loss_from_output,
    output_delta,
    predicted_labels,
)
from initlab.validation import check_choice, check_finite_array, check_int, check_options, check_real, excerpt

__all__ = ["LN_EPS", "NORMS", "SCALARS", "STRUCTURAL", "ResidualMLP", "ResidualPasses", "scalars_for"]

#: LayerNorm's epsilon (torch.nn.LayerNorm's default).
LN_EPS = 1e-5
#: ``norm=`` choices: no normalization, or a LayerNorm at the start of every branch (pre-LN).
NORMS = ("none", "layer")
#: ``scalars=`` choices (see the module docstring: which scalar parameters exist).
SCALARS = ("none", "alpha", "fixup")
#: The structural initializers: name -> (formula, paper, the ``scalars`` they need or None, their options).
STRUCTURAL = {
    "fixup": (
        "head W_out, b_out and each branch's last layer 0; the other branch layers layer_init (default He) times B^(-1/(2m-2)); "
        "W_in by layer_init unscaled; multipliers alpha 1, scalar biases 0",
        "Zhang, Dauphin & Ma 2019, arXiv:1901.09321",
        "fixup",
        ("layer_init",),
    ),
    "rezero": (
        "alpha = 0 (trained); every matrix by layer_init (default he_normal)",
        "Bachlechner et al. 2020, arXiv:2003.04887",
        "alpha",
        ("layer_init",),
    ),
    "skipinit": (
        "alpha = alpha0 (default 0, trained); every matrix by layer_init (default he_normal)",
        "De & Smith 2020, arXiv:2002.10444",
        "alpha",
        ("layer_init", "alpha0"),
    ),
    "zero_last": (
        "each branch's last layer 0; the other matrices by layer_init (default he_normal)",
        "Goyal et al. 2017's zero-gamma, without BN, arXiv:1706.02677",
        None,
        ("layer_init",),
    ),
}
#: Bounds of the architecture's sizes (a net beyond them is refused, not built).
MAX_WIDTH, MAX_BLOCKS, MAX_BRANCH_DEPTH, MAX_UNITS = 65_536, 4_096, 64, 1_000_000


def scalars_for(init) -> str:
    """The ``scalars=`` a residual net needs for initializer ``init``: the structural one's, else ``"none"``.

    The one place where a configuration (CLI, sweep spec, estimator, playground) that names only an
    initializer gets its net: ``ResidualMLP(..., scalars=scalars_for(init))``.

    >>> scalars_for("fixup"), scalars_for("rezero"), scalars_for("zero_last"), scalars_for("he_normal")
    ('fixup', 'alpha', 'none', 'none')
    """
    needs = STRUCTURAL[init][2] if isinstance(init, str) and init in STRUCTURAL else None
    return needs or "none"


def _sum_em(a: np.ndarray) -> np.ndarray:
    """(K, n, m) -> (K,): the sum over units and examples (a scalar parameter's gradient)."""
    return a.sum(axis=(-2, -1))


def _apply(function: Callable, z: np.ndarray) -> np.ndarray:
    """``function(z)`` (an activation or its derivative) into a new array of z's dtype: float32 stays float32
    (an activation's own fresh buffer is float64)."""
    return function(z, out=np.empty_like(z))


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


@dataclass(frozen=True)
class ResidualMLP:
    r"""A residual MLP: input projection, ``blocks`` residual blocks, activation, head (see the module docstring).

    Parameters
    ----------
    n_in : int >= 1
        Input features.
    width : int >= 1
        Units of the trunk and of every branch layer.
    n_out : int >= 1
        Outputs: 1 for ``output="sigmoid"``, the number of classes (>= 2) for ``"softmax"``.
    blocks : int >= 1
        B, the residual blocks.
    branch_depth : int >= 1, keyword-only
        m, linear layers per branch (default 2).
    activation, output, slope
        As in :class:`initlab.network.MLP`.
    norm : {"none", "layer"}, keyword-only
        ``"layer"``: a LayerNorm (gain 1, bias 0, eps :data:`LN_EPS`) at the start of every branch.
    scalars : {"none", "alpha", "fixup"}, keyword-only
        Which scalar parameters exist (module docstring): none, the branch scale alpha, or Fixup's
        multiplier and scalar biases.
    parametrization : {"standard", "ntk", "mup"}, keyword-only
        How initialization and learning rates scale with the width (:mod:`initlab.parametrization`;
        :meth:`scalings` maps the groups to the table's rows). Trains with either engine.
    base_width : int, keyword-only
        ``mup``'s base width (at ``width == base_width`` muP is standard); None: base 1.

    Examples
    --------
    >>> net = ResidualMLP(2, 16, 1, 8, scalars="fixup")
    >>> params = net.initialize("fixup", rng=0, models=4)
    >>> params["W_branch"].shape
    (4, 8, 2, 16, 16)
    """

    n_in: int
    width: int
    n_out: int = 1
    blocks: int = 1
    _: KW_ONLY
    branch_depth: int = 2
    activation: str = "relu"
    output: str = "sigmoid"
    norm: str = "none"
    scalars: str = "none"
    slope: float = 0.01
    parametrization: str = "standard"
    base_width: int | None = None

    def __post_init__(self):
        for name, top in (("n_in", MAX_UNITS), ("width", MAX_WIDTH), ("n_out", MAX_UNITS), ("blocks", MAX_BLOCKS),
                          ("branch_depth", MAX_BRANCH_DEPTH)):  # fmt: skip
            object.__setattr__(self, name, check_int(name, getattr(self, name), min_value=1, max_value=top))
        check_choice("activation", self.activation, activations.ACTIVATIONS, owner="ResidualMLP")
        check_choice("output", self.output, activations.OUTPUTS, owner="ResidualMLP")
        check_choice("norm", self.norm, NORMS, owner="ResidualMLP")
        check_choice("scalars", self.scalars, SCALARS, owner="ResidualMLP")
        object.__setattr__(self, "slope", check_real("slope", self.slope))
        base = parametrization.check_base_width(
            self.base_width, self.parametrization, (self.n_in, self.width, self.n_out)
        )
        object.__setattr__(self, "base_width", base[0] if isinstance(base, tuple) else base)
        if (self.output == "sigmoid") != (self.n_out == 1):
            need = "n_out=1 (binary)" if self.output == "sigmoid" else "n_out >= 2 classes"
            raise ValueError(
                f"The 'n_out' parameter of ResidualMLP must be {need} for output={self.output!r}. Got n_out={self.n_out} "
                "instead; use output='sigmoid' for 1 output, 'softmax' for 2 or more."
            )

    # ---- layout: the one place ------------------------------------------------------------------
    def groups(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``((name, shape per model), ...)`` in layout order: which parameters exist for this configuration."""
        w, B, m = self.width, self.blocks, self.branch_depth
        out = [("W_in", (w, self.n_in)), ("b_in", (w, 1))]
        if self.norm == "layer":
            out += [("ln_gain", (B, w, 1)), ("ln_bias", (B, w, 1))]
        out.append(("W_branch", (B, m, w, w)))
        if self.scalars != "fixup":
            out.append(("b_branch", (B, m, w, 1)))
        if self.scalars != "none":
            out.append(("alpha", (B,)))
        if self.scalars == "fixup":
            out.append(("scalar_bias", (B, 2 * m)))
        return (*out, ("W_out", (self.n_out, w)), ("b_out", (self.n_out, 1)))

    @property
    def parameter_count(self) -> int:
        """P, the parameters of one model."""
        return sum(int(np.prod(shape)) for _, shape in self.groups())

    def views(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """``{name: (K, *shape)}`` views into ``theta`` (K, P), in the layout of :meth:`groups`."""
        K, offset, out = theta.shape[0], 0, {}
        for name, shape in self.groups():
            size = int(np.prod(shape))
            out[name] = theta[:, offset : offset + size].reshape(K, *shape)
            offset += size
        return out

    def flatten(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """``{name: (K, *shape)}`` -> (K, P) float64, a new array; the inverse of :meth:`views`."""
        K = len(params["W_in"])
        return np.concatenate([np.asarray(params[n], dtype=np.float64).reshape(K, -1) for n, _ in self.groups()], 1)

    def params_dict(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """(K, P) -> ``{name: (K, *shape)}``, C-contiguous copies of :meth:`views`."""
        return {name: np.ascontiguousarray(v) for name, v in self.views(theta).items()}

    def passes(self) -> ResidualPasses:
        """The engine's forward and backward over flat parameter rows (:class:`ResidualPasses`)."""
        return ResidualPasses(self)

    @property
    def hidden(self) -> activations.Activation:
        """The hidden activation with its options bound."""
        return activations.get(self.activation, slope=self.slope)

    # ---- parametrization: the one place mapping groups to the table's rows -------------------------------
    def scalings(self) -> dict[str, parametrization.Scaling]:
        r"""Each group's row of :func:`initlab.parametrization.table` (all ones for ``"standard"``).

        The trunk and every branch layer have the hidden width, so the table of the MLP
        ``(n_in, width, width, n_out)`` applies: ``W_in``/``b_in`` are its input layer, ``W_branch``/``b_branch``
        its hidden layer, ``W_out``/``b_out`` its output layer. The LayerNorm gains and biases have one width
        dimension, as a hidden bias (muP's "vector-like"); ``alpha`` and Fixup's scalar biases have none (factor 1).
        """
        rows = parametrization.table(
            self.parametrization, (self.n_in, self.width, self.width, self.n_out), self.base_width
        )
        (w_in, b_in), (w_hidden, b_hidden), (w_out, b_out) = rows
        vector, scalar = b_hidden, parametrization.Scaling()
        table = {"W_in": w_in, "b_in": b_in, "ln_gain": vector, "ln_bias": vector, "W_branch": w_hidden,
                 "b_branch": b_hidden, "alpha": scalar, "scalar_bias": scalar, "W_out": w_out, "b_out": b_out}  # fmt: skip
        return {name: table[name] for name, _ in self.groups()}

    def learning_rate_factors(self, optimizer="gd") -> np.ndarray:
        """(P,) float64, each parameter's learning-rate factor (:meth:`initlab.network.MLP.learning_rate_factors`)."""
        kind = parametrization.family(optimizer)
        return self._per_parameter(lambda s: s.learning_rate(kind))

    def epsilon_factors(self) -> np.ndarray:
        """(P,) float64, each parameter's factor on Adam's epsilon (:math:`1/a`)."""
        return self._per_parameter(lambda s: s.epsilon)

    def _per_parameter(self, value: Callable[[parametrization.Scaling], float]) -> np.ndarray:
        flat = np.empty((1, self.parameter_count))
        V = self.views(flat)
        for name, row in self.scalings().items():
            V[name][...] = value(row)
        return flat[0]

    # ---- initialization ---------------------------------------------------------------------------
    def initialize(
        self, init="he_normal", *, rng=None, models: int | None = None, scale: float = 1.0, X=None, **options
    ):
        r"""Draw parameters for ``models`` networks: ``{name: (K, *shape)}`` (:meth:`groups`).

        Model ``k`` draws its matrices in the order ``W_in``, ``W_branch[b, j]`` (b, then j),
        ``W_out`` from the ``k``-th child of ``rng`` (:mod:`initlab.seeding`: model k is the same
        whatever K is). Vector biases are 0, LN gains 1 and biases 0, :math:`\alpha = 1`, scalar biases 0,
        unless the initializer says otherwise.

        Parameters
        ----------
        init : str or callable
            A per-matrix initializer (:func:`initlab.initializers.available` name, or ``init(shape, *, rng)``)
            for the plain baseline; or a structural one of :data:`STRUCTURAL`:
            ``fixup`` (needs ``scalars="fixup"``), ``rezero`` and ``skipinit`` (need ``scalars="alpha"``),
            ``zero_last`` (any ``scalars``). Their option ``layer_init=`` (name or callable, default
            ``"he_normal"``) draws the matrices; ``skipinit`` also takes ``alpha0`` (default 0).
            Or ``"lsuv"``, data-dependent (:func:`initlab.lsuv.lsuv` on ``X``: orthogonal matrices,
            then each linear layer in forward order scaled to unit output variance on ``X``).
        rng, models
            As in :meth:`initlab.network.MLP.initialize`.
        scale : float
            Multiplies every drawn matrix (before the structural scalings; after LSUV's normalization).
        X : (n_in, m), only with ``init="lsuv"``
            The inputs whose layer outputs LSUV normalizes (e.g. the training set).
        **options
            The named per-matrix initializer's options, or the structural one's; for ``"lsuv"``,
            ``tol`` and ``max_iter`` (:data:`initlab.network.LSUV_OPTIONS`).

        Returns
        -------
        params : dict of float64 arrays with the model axis
        """
        scale = check_real("scale", scale)
        if isinstance(init, str) and init in DATA_DEPENDENT:
            return self._initialize_lsuv(X, rng=rng, models=models, scale=scale, options=options)
        if X is not None:
            raise TypeError(
                f"The 'X' parameter is used only by the data-dependent initializers ({', '.join(DATA_DEPENDENT)}); "
                f"init={excerpt(init)} draws without data. Leave X out, or use init='lsuv'."
            )
        structural = isinstance(init, str) and init in STRUCTURAL
        if structural:
            draw, structure = self._structural(init, options)
        else:
            if isinstance(init, str) and init not in initializers.available():
                allowed = ", ".join([*initializers.available(), *STRUCTURAL, *DATA_DEPENDENT])
                raise ValueError(
                    f"The 'init' parameter of ResidualMLP.initialize must be one of {{{allowed}}} or a callable "
                    f"init(shape, *, rng). Got {excerpt(init)} instead."
                )
            draw, structure = _resolve_initializer("init", init, options), None
        parametrization.check_initializer(
            self.parametrization, draw, options.get("layer_init", init) if structural else init
        )
        streams = seeding.model_streams(rng, models)
        theta = np.zeros((len(streams), self.parameter_count))
        V = self.views(theta)
        w, B, m = self.width, self.blocks, self.branch_depth
        for k, stream in enumerate(streams):
            V["W_in"][k] = _draw("init", draw, (w, self.n_in), stream) * scale
            for b in range(B):
                for j in range(m):
                    V["W_branch"][k, b, j] = _draw("init", draw, (w, w), stream) * scale
            V["W_out"][k] = _draw("init", draw, (self.n_out, w), stream) * scale
        for name, row in self.scalings().items():  # the parametrization's scale of the effective weights
            if name.startswith("W") and row.init_std != 1.0:
                V[name] *= row.init_std
        if "ln_gain" in V:
            V["ln_gain"][...] = 1.0
        if "alpha" in V:
            V["alpha"][...] = 1.0
        if structure is not None:
            structure(V)
        return self.params_dict(theta)

    def _initialize_lsuv(self, X, *, rng, models, scale: float, options: dict) -> dict[str, np.ndarray]:
        """:meth:`initialize` for ``init="lsuv"``: :func:`initlab.lsuv.lsuv` on ``X``, matrices times ``scale``."""
        from initlab.lsuv import lsuv

        if X is None:
            raise TypeError(
                "init='lsuv' is data-dependent: it needs the 'X' parameter, the inputs (n_in, m) whose layer outputs "
                "it normalizes to unit variance. Pass X=..., e.g. the training set."
            )
        check_lsuv_options(options)
        if self.parametrization != "standard":
            raise ValueError(
                f"init='lsuv' sets each layer's scale from the data; parametrization={self.parametrization!r} sets it "
                "from the width. Use one of them: a variance-scaling init (e.g. 'he_normal'), or parametrization='standard'."
            )
        params, _ = lsuv(self, X, rng=rng, models=models, scale=scale, **options)
        return params

    def _structural(self, name: str, options: dict) -> tuple[Callable, Callable]:
        """``(matrix initializer, structure(views))`` of a structural initializer, after checking it fits."""
        _, paper, needs, allowed = STRUCTURAL[name]
        options = check_options(f"initializer {name!r}", options, allowed)
        if needs is not None and self.scalars != needs:
            raise ValueError(
                f"The 'init' parameter {name!r} ({paper}) needs ResidualMLP(..., scalars={needs!r}); this net has "
                f"scalars={self.scalars!r}. Build the net with scalars={needs!r}."
            )
        draw = _resolve_initializer("layer_init", options.get("layer_init", "he_normal"), {})
        B, m = self.blocks, self.branch_depth
        if name == "fixup":
            factor = B ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0  # m = 1: no layer before the last, nothing scaled

            def structure(V):
                V["W_branch"][:, :, : m - 1] *= factor
                V["W_branch"][:, :, m - 1] = 0.0
                V["W_out"][...] = 0.0
                V["b_out"][...] = 0.0

        elif name == "zero_last":

            def structure(V):
                V["W_branch"][:, :, m - 1] = 0.0

        else:
            alpha0 = check_real("alpha0", options.get("alpha0", 0.0))

            def structure(V):
                V["alpha"][...] = alpha0

        return draw, structure

    # ---- checks at the boundary -----------------------------------------------------------------
    def _twin(self) -> MLP:
        """An MLP with this net's inputs, outputs and output: its data and loss rules are this net's."""
        return MLP((self.n_in, self.n_out), output=self.output)

    def check_data(self, X, Y=None, *, names: tuple[str, str] = ("X", "Y")):
        """``(X (n_in, m), T (n_out, m) or None)``: :meth:`initlab.network.MLP.check_data`'s rule."""
        return self._twin().check_data(X, Y, names=names)

    def check_loss(self, loss: str) -> str:
        """``loss`` if valid: :meth:`initlab.network.MLP.check_loss`'s rule."""
        return self._twin().check_loss(loss)

    def check_params(self, params, name: str = "params") -> tuple[dict[str, np.ndarray], bool]:
        """Validate a parameter dict against this net; return it with a model axis and whether it had one."""
        expected = [n for n, _ in self.groups()]
        if not isinstance(params, Mapping) or sorted(map(str, params)) != sorted(expected):
            got = sorted(map(str, params))[:20] if isinstance(params, Mapping) else type(params).__name__
            raise ValueError(
                f"The '{name}' parameter must be a dict with exactly the keys {expected} for this ResidualMLP "
                f"(ResidualMLP.groups). Got {excerpt(got)} instead; draw one with ResidualMLP.initialize."
            )
        had_axis = np.ndim(params["W_in"]) == 3
        K = len(params["W_in"]) if had_axis else 1
        out = {}
        for key, shape in self.groups():
            arr = check_finite_array(f"{name}['{key}']", params[key])
            full = (K, *shape) if had_axis else shape
            if arr.shape != full:
                raise ValueError(
                    f"The '{name}['{key}']' parameter must have shape {full} for this ResidualMLP"
                    f"{f' and K={K} models' if had_axis else ''}. Got shape {arr.shape} instead."
                )
            out[key] = arr if had_axis else arr[np.newaxis]
        return out, had_axis

    # ---- evaluation -------------------------------------------------------------------------------
    def forward(self, params, X) -> np.ndarray:
        """Output probabilities (K, n_out, m) (``(n_out, m)`` for a dict without model axis)."""
        P, had_axis = self.check_params(params)
        X, _ = self.check_data(X)
        passes = self.passes()
        _, A = passes.forward(self.views(self.flatten(P)), X)
        return A if had_axis else A[0]

    def predict(self, params, X) -> np.ndarray:
        """Predicted labels (K, 1, m) int (``(1, m)`` without model axis), the rule of :class:`~initlab.network.MLP`."""
        P, had_axis = self.check_params(params)
        labels = predicted_labels(self.output, self.forward(P, X))
        return labels if had_axis else labels[0]

    def loss_and_grads(self, params, X, Y, *, loss: str = "stable"):
        """Mean cross-entropy of each model (K,) and its gradients ``{"d" + name: (K, *shape)}``.

        Without model axis: a float and arrays without it. ``loss`` as in :meth:`MLP.loss_and_grads`.
        """
        self.check_loss(loss)
        P, had_axis = self.check_params(params)
        X, T = self.check_data(X, Y)
        passes = self.passes()
        theta = self.flatten(P)
        views = self.views(theta)
        work = passes.workspace(theta.shape[0], X.shape[1])
        Z, A = passes.forward(views, X, work)
        value = loss_from_output(loss, self.output, Z, A, T)
        grads = {f"d{k}": np.array(v) for k, v in self.views(passes.backward(views, X, T, work)).items()}
        if had_axis:
            return value, grads
        return float(value[0]), {k: v[0] for k, v in grads.items()}


class _Work:
    """One forward/backward's arrays: the gradient row per model (K, P) with named views, and the forward's record."""

    def __init__(self, net: ResidualMLP, K: int, *, gradients: bool = True, details: bool = False, dtype=np.float64):
        self.grads = np.empty((K, net.parameter_count if gradients else 0), dtype)
        self.dviews = net.views(self.grads) if gradients else {}
        self.trunk: list[np.ndarray] = []  # h_0 .. h_B, (K, w, m) each
        self.blocks: list[dict] = []  # per block: "p" (inputs of the linear layers), "s" (pre-activations), "v", LN's
        self.A = self.Z = self.out = None  # g(h_B), logits, probabilities
        # With details (diagnostics only; training keeps none of them), per block b = 1..B, (K, w, m) each:
        # the branch's output h_b - h_{b-1}, dL/dh_b, and the branch's part of dL/dh_{b-1}.
        self.details = details
        self.branch: list[np.ndarray] = []
        self.dtrunk: list[np.ndarray] = []
        self.dbranch: list[np.ndarray] = []


class ResidualPasses:
    """The engine's view of a :class:`ResidualMLP`: batched forward and backward over flat rows ``theta`` (K, P).

    The protocol :class:`initlab.state.TrainingState` trains through (the MLP's is
    :func:`initlab.network.forward_pass` / :func:`~initlab.network.backward_pass`):
    ``views(theta)``, ``workspace(K, m)``, ``forward(views, X, work=None) -> (Z, A)`` (logits and
    probabilities, (K, n_out, m)), ``backward(views, X, T, work) -> grads`` (K, P) from the
    cross-entropy's :func:`~initlab.network.output_delta`, after a forward into ``work``;
    ``flatten(params)``, ``params(theta)``.
    """

    def __init__(self, net: ResidualMLP):
        self.net, self.output = net, net.output
        self._g, self._out = net.hidden, activations.OUTPUTS[net.output]
        self._alpha, self._fixup = net.scalars != "none", net.scalars == "fixup"

    def views(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return self.net.views(theta)

    def workspace(self, K: int, m: int, dtype=np.float64, *, details: bool = False) -> _Work:
        """The arrays of one forward and backward, gradients in ``dtype`` (the parameters'); ``details=True`` also
        keeps the per-block records :mod:`initlab.diagnostics` reads (``branch``, ``dtrunk``, ``dbranch``: see :class:`_Work`)."""
        return _Work(self.net, K, details=details, dtype=dtype)

    def flatten(self, params) -> np.ndarray:
        return self.net.flatten(params)

    def params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return self.net.params_dict(theta)

    def forward(
        self, V: dict, X: np.ndarray, work: _Work | None = None, *, layer_hook: Callable | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits and probabilities (K, n_out, m) of K models on ``X`` (n_in, m) or (K, n_in, m); records into ``work``.

        ``layer_hook(W, P)``, if given, is called before each linear layer's product ``W @ P``, in
        forward order (``W_in``, ``W_branch[:, b, j]`` for b then j, ``W_out``), with ``W`` the
        layer's (K, n_out, n_in) view into ``V`` (it may rescale it in place: :func:`initlab.lsuv.lsuv`)
        and ``P`` its input, (K, n_in, m) or the shared (n_in, m).
        """
        if work is None:
            work = _Work(self.net, V["W_in"].shape[0], gradients=False)  # a forward only (e.g. the recorded loss)
        if layer_hook is not None:
            layer_hook(V["W_in"], X)
        h = V["W_in"] @ X + V["b_in"]  # (K, w, m)
        work.trunk, work.blocks, work.branch = [h], [], []
        for b in range(self.net.blocks):
            branch, record = self._branch(V, b, h, layer_hook)
            h = h + branch
            work.trunk.append(h)
            work.blocks.append(record)
            if work.details:
                work.branch.append(branch)
        work.A = _apply(self._g.forward, h)
        if layer_hook is not None:
            layer_hook(V["W_out"], work.A)
        work.Z = V["W_out"] @ work.A + V["b_out"]
        work.out = self._out(work.Z)
        return work.Z, work.out

    def _branch(self, V: dict, b: int, h: np.ndarray, layer_hook: Callable | None) -> tuple[np.ndarray, dict]:
        r""":math:`\alpha_b F_b(h) + d_b` (K, w, m) and what the backward pass needs."""
        m, fixup, record = self.net.branch_depth, self._fixup, {"p": [], "s": []}
        u = h
        if self.net.norm == "layer":
            mu = h.mean(axis=-2, keepdims=True)
            record["rstd"] = 1.0 / np.sqrt(((h - mu) ** 2).mean(axis=-2, keepdims=True) + LN_EPS)  # (K, 1, m)
            record["xhat"] = (h - mu) * record["rstd"]
            u = V["ln_gain"][:, b] * record["xhat"] + V["ln_bias"][:, b]
        sb = V["scalar_bias"][:, b, :, None, None] if fixup else None  # (K, 2m, 1, 1)
        for j in range(m):
            p = u + sb[:, j] if fixup else u
            if layer_hook is not None:
                layer_hook(V["W_branch"][:, b, j], p)
            v = V["W_branch"][:, b, j] @ p
            if not fixup:
                v += V["b_branch"][:, b, j]
            record["p"].append(p)
            if j < m - 1:
                s = v + sb[:, m + j] if fixup else v
                record["s"].append(s)
                u = _apply(self._g.forward, s)
        record["v"] = v
        if self._alpha:
            v = V["alpha"][:, b, None, None] * v
        return (v + sb[:, 2 * m - 1] if fixup else v), record

    def backward(self, V: dict, X: np.ndarray, T: np.ndarray, work: _Work) -> np.ndarray:
        """Gradients (K, P) of the mean cross-entropy, after :meth:`forward` into ``work``; ``work.grads``."""
        G = work.dviews
        dZ = output_delta(work.out, T)  # (K, n_out, m)
        np.matmul(dZ, _swap(work.A), out=G["W_out"])
        G["b_out"][...] = dZ.sum(axis=-1, keepdims=True)
        dh = (_swap(V["W_out"]) @ dZ) * _apply(self._g.derivative, work.trunk[-1])  # dL/dh_B
        work.dtrunk, work.dbranch = [None] * self.net.blocks, [None] * self.net.blocks
        for b in range(self.net.blocks - 1, -1, -1):
            through_branch = self._branch_backward(V, G, b, work.blocks[b], dh)
            if work.details:
                work.dtrunk[b], work.dbranch[b] = dh, through_branch  # dL/dh_{b+1} and the branch's part of dL/dh_b
            dh = dh + through_branch
        np.matmul(dh, _swap(X), out=G["W_in"])  # X (n_in, m) shared or (K, n_in, m) minibatches
        G["b_in"][...] = dh.sum(axis=-1, keepdims=True)
        return work.grads

    def _branch_backward(self, V: dict, G: dict, b: int, record: dict, dh: np.ndarray) -> np.ndarray:
        """Fill block ``b``'s gradients from dL/dh_b; return the branch's part of dL/dh_{b-1}."""
        m, fixup = self.net.branch_depth, self._fixup
        if fixup:
            G["scalar_bias"][:, b, 2 * m - 1] = _sum_em(dh)
        dv = dh
        if self._alpha:
            G["alpha"][:, b] = _sum_em(dh * record["v"])
            dv = V["alpha"][:, b, None, None] * dh
        for j in range(m - 1, -1, -1):
            np.matmul(dv, _swap(record["p"][j]), out=G["W_branch"][:, b, j])
            if not fixup:
                G["b_branch"][:, b, j] = dv.sum(axis=-1, keepdims=True)
            dp = _swap(V["W_branch"][:, b, j]) @ dv
            if fixup:
                G["scalar_bias"][:, b, j] = _sum_em(dp)
            if j:
                dv = dp * _apply(self._g.derivative, record["s"][j - 1])
                if fixup:
                    G["scalar_bias"][:, b, m + j - 1] = _sum_em(dv)
        if self.net.norm != "layer":
            return dp
        xhat, rstd = record["xhat"], record["rstd"]
        G["ln_gain"][:, b] = (dp * xhat).sum(axis=-1, keepdims=True)
        G["ln_bias"][:, b] = dp.sum(axis=-1, keepdims=True)
        dx = dp * V["ln_gain"][:, b]
        return rstd * (dx - dx.mean(axis=-2, keepdims=True) - xhat * (dx * xhat).mean(axis=-2, keepdims=True))
