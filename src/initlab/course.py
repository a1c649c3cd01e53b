r"""The deeplearning.ai "Initialization" notebook's API, bit for bit.

This module is a drop-in replacement for the notebook's ``init_utils`` module and its three graded
functions: replace ``from init_utils import ...`` (and the graded cells) with
``from initlab.course import ...`` and the notebook's cells print the same numbers.

It is the **one place in initlab that keeps the notebook's legacy habits**:

* the notebook's exact arithmetic and its order (``np.random.randn(...) * np.sqrt(2/n)``, the
  loss computed from probabilities with ``np.nansum``, ``1./m * (a3 - Y)``), because 15,000
  iterations of gradient descent amplify a difference in the last bit;
* the loss can be ``inf`` (``log(0)``) under large random weights, as the notebook prints: the
  stable loss from logits lives in :mod:`initlab.losses`;
* fixed seeds (3 for the initializers, 1 and 2 for the data). They are drawn from
  ``np.random.RandomState(seed)``, which yields the same stream as the notebook's
  ``np.random.seed(seed)`` without touching numpy's global generator.

Shapes follow the notebook: ``X`` is ``(n_features, m)``, ``Y`` is ``(1, m)``, ``W[l]`` is
``(n_l, n_{l-1})`` and ``b[l]`` is ``(n_l, 1)``; parameters live in a dict with keys
``"W1", "b1", ...`` and gradients in one with keys ``"dW1", "db1", ...``.

Platform arithmetic
-------------------
Zeros and He initialization reproduce the notebook's printed costs to the last digit on any
machine. Training from ``randn * 10`` is chaotic: it amplifies the last-bit differences between
implementations of ``exp`` and of the BLAS matrix product, so its cost trace (not its accuracies)
depends on the CPU kernels numpy picks. The notebook's numbers were made with glibc's ``exp`` and
OpenBLAS's Haswell kernel; :func:`notebook_arithmetic_env` gives the environment variables that
select those kernels on an x86-64 machine (they must be set before numpy is imported, so
``initlab reproduce`` trains in a child process started with them).
"""

from __future__ import annotations

import os
import platform

import numpy as np

__all__ = [
    "sigmoid",
    "relu",
    "load_dataset",
    "forward_propagation",
    "backward_propagation",
    "compute_loss",
    "update_parameters",
    "predict",
    "predict_dec",
    "plot_decision_boundary",
    "initialize_parameters_zeros",
    "initialize_parameters_random",
    "initialize_parameters_he",
    "model",
    "TrainedParameters",
    "train_preallocated",
    "initialize_parameters_zeros_test",
    "initialize_parameters_random_test",
    "initialize_parameters_he_test",
    "notebook_arithmetic_env",
    "NOTEBOOK_LAYERS",
    "INITIALIZERS",
]

#: The notebook's network: 2 inputs, hidden layers of 10 and 5 ReLU units, one sigmoid output.
NOTEBOOK_LAYERS = (2, 10, 5, 1)

_INITIALIZATIONS = ("zeros", "random", "he")


# --------------------------------------------------------------------------------------------
# init_utils
# --------------------------------------------------------------------------------------------
def sigmoid(x):
    """Sigmoid of ``x``, computed as the notebook does: ``1/(1+np.exp(-x))``."""
    s = 1 / (1 + np.exp(-x))
    return s


def relu(x):
    """ReLU of ``x``: ``np.maximum(0, x)``."""
    s = np.maximum(0, x)
    return s


def load_dataset(plot: bool | None = None):
    """The notebook's blue/red circles: 300 training and 100 test points.

    ``make_circles(n_samples=300, noise=.05)`` after seeding with 1, then
    ``make_circles(n_samples=100, noise=.05)`` after seeding with 2, transposed to the notebook's
    layout.

    Parameters
    ----------
    plot : bool or None
        Scatter-plot the training set as ``init_utils`` does. ``None`` (default) plots only when
        matplotlib is already imported with an inline or interactive backend (a Jupyter notebook),
        so scripts and tests stay quiet.

    Returns
    -------
    train_X : (2, 300) float64
    train_Y : (1, 300) int
    test_X : (2, 100) float64
    test_Y : (1, 100) int
    """
    from sklearn.datasets import make_circles  # lazy: importing scikit-learn costs ~1.5 s

    # RandomState(s) is the stream np.random.seed(s) would give make_circles(random_state=None).
    train_X, train_Y = make_circles(n_samples=300, noise=0.05, random_state=np.random.RandomState(1))
    test_X, test_Y = make_circles(n_samples=100, noise=0.05, random_state=np.random.RandomState(2))
    if plot or (plot is None and _figures_are_shown()):
        import matplotlib.pyplot as plt

        plt.scatter(train_X[:, 0], train_X[:, 1], c=train_Y, s=40, cmap=plt.cm.Spectral)
        _show()
    train_X = train_X.T
    train_Y = train_Y.reshape((1, train_Y.shape[0]))
    test_X = test_X.T
    test_Y = test_Y.reshape((1, test_Y.shape[0]))
    return train_X, train_Y, test_X, test_Y


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID.

    Parameters
    ----------
    X : (2, m) input data.
    parameters : dict with "W1" (10, 2), "b1" (10, 1), "W2" (5, 10), "b2" (5, 1),
        "W3" (1, 5), "b3" (1, 1).

    Returns
    -------
    a3 : (1, m) output of the sigmoid.
    cache : tuple (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) for backward_propagation.
    """
    W1 = parameters["W1"]
    b1 = parameters["b1"]
    W2 = parameters["W2"]
    b2 = parameters["b2"]
    W3 = parameters["W3"]
    b3 = parameters["b3"]

    z1 = np.dot(W1, X) + b1
    a1 = relu(z1)
    z2 = np.dot(W2, a1) + b2
    a2 = relu(z2)
    z3 = np.dot(W3, a2) + b3
    a3 = sigmoid(z3)

    cache = (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)
    return a3, cache


def backward_propagation(X, Y, cache):
    """Gradients of the mean cross-entropy, as ``init_utils`` computes them.

    Parameters
    ----------
    X : (2, m) input data.
    Y : (1, m) labels, 0 or 1.
    cache : the second output of forward_propagation.

    Returns
    -------
    gradients : dict with "dz3", "dW3", "db3", "da2", "dz2", "dW2", "db2", "da1", "dz1", "dW1",
        "db1", each shaped like its variable.
    """
    m = X.shape[1]
    (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) = cache

    dz3 = 1.0 / m * (a3 - Y)
    dW3 = np.dot(dz3, a2.T)
    db3 = np.sum(dz3, axis=1, keepdims=True)

    da2 = np.dot(W3.T, dz3)
    dz2 = np.multiply(da2, np.int64(a2 > 0))
    dW2 = np.dot(dz2, a1.T)
    db2 = np.sum(dz2, axis=1, keepdims=True)

    da1 = np.dot(W2.T, dz2)
    dz1 = np.multiply(da1, np.int64(a1 > 0))
    dW1 = np.dot(dz1, X.T)
    db1 = np.sum(dz1, axis=1, keepdims=True)

    gradients = {"dz3": dz3, "dW3": dW3, "db3": db3,
                 "da2": da2, "dz2": dz2, "dW2": dW2, "db2": db2,
                 "da1": da1, "dz1": dz1, "dW1": dW1, "db1": db1}  # fmt: skip
    return gradients


def update_parameters(parameters, grads, learning_rate):
    """One gradient-descent step: ``W = W - learning_rate * dW`` for every layer."""
    L = len(parameters) // 2
    for k in range(L):
        parameters["W" + str(k + 1)] = parameters["W" + str(k + 1)] - learning_rate * grads["dW" + str(k + 1)]
        parameters["b" + str(k + 1)] = parameters["b" + str(k + 1)] - learning_rate * grads["db" + str(k + 1)]
    return parameters


def compute_loss(a3, Y):
    r"""The notebook's cross-entropy from probabilities.

    :math:`\frac1m \sum -y\log a - (1-y)\log(1-a)`, summed with ``np.nansum``. It is ``inf`` when a
    sigmoid output rounds to exactly 0 or 1 on a wrong label (large weights); the stable version,
    from logits, is :func:`initlab.losses.binary_cross_entropy`.
    """
    m = Y.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) is the notebook's inf
        logprobs = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    loss = 1.0 / m * np.nansum(logprobs)
    return loss


def predict(X, y, parameters):
    """Predict 0/1 labels with a 0.5 threshold and print ``Accuracy: ...`` as the notebook does.

    Returns
    -------
    p : (1, m) int array of predictions.
    """
    m = X.shape[1]
    p = np.zeros((1, m), dtype=int)
    a3, caches = forward_propagation(X, parameters)
    for i in range(0, a3.shape[1]):
        if a3[0, i] > 0.5:
            p[0, i] = 1
        else:
            p[0, i] = 0
    print("Accuracy: " + str(np.mean(p[0, :] == y[0, :])))
    return p


def predict_dec(parameters, X):
    """Boolean predictions ``a3 > 0.5`` of shape (1, m), used to draw decision boundaries."""
    a3, cache = forward_propagation(X, parameters)
    predictions = a3 > 0.5
    return predictions


def plot_decision_boundary(model, X, y):
    """Colour the plane by ``model``'s prediction on a 0.01 grid and scatter the points on it.

    ``model`` maps an (N, 2) array of points to N predictions (the notebook passes
    ``lambda x: predict_dec(parameters, x.T)``). Draws on the current axes, then shows the figure
    when there is a display (Jupyter inline or an interactive backend); headless, it leaves the
    figure open for the caller to save.
    """
    import matplotlib.pyplot as plt

    x_min, x_max = X[0, :].min() - 1, X[0, :].max() + 1
    y_min, y_max = X[1, :].min() - 1, X[1, :].max() + 1
    h = 0.01
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    Z = np.asarray(model(np.c_[xx.ravel(), yy.ravel()]), dtype=float)
    Z = Z.reshape(xx.shape)
    plt.contourf(xx, yy, Z, cmap=plt.cm.Spectral)
    plt.ylabel("x2")
    plt.xlabel("x1")
    plt.scatter(X[0, :], X[1, :], c=np.ravel(y), cmap=plt.cm.Spectral)
    _show()


# --------------------------------------------------------------------------------------------
# The graded functions
# --------------------------------------------------------------------------------------------
def initialize_parameters_zeros(layers_dims, *, seed=None):
    """All weights and biases zero: ``W[l]`` (layers_dims[l], layers_dims[l-1]), ``b[l]`` (layers_dims[l], 1).

    ``seed`` is accepted and ignored, so that the three initializers can be called alike.
    """
    parameters = {}
    L = len(layers_dims)
    for l in range(1, L):
        parameters[f"W{l}"] = np.zeros((layers_dims[l], layers_dims[l - 1]))
        parameters[f"b{l}"] = np.zeros((layers_dims[l], 1))
    return parameters


def initialize_parameters_random(layers_dims, *, seed=3):
    """Large random weights ``randn(n_l, n_{l-1}) * 10`` from seed 3, zero biases.

    ``seed`` is initlab's addition (keyword-only, default the notebook's 3), used by
    ``initlab reproduce --seed`` to show how much the notebook's table depends on it.
    """
    rs = np.random.RandomState(seed)  # the notebook's np.random.seed(3), without global state
    parameters = {}
    L = len(layers_dims)
    for l in range(1, L):
        parameters["W" + str(l)] = rs.randn(layers_dims[l], layers_dims[l - 1]) * 10
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters


def initialize_parameters_he(layers_dims, *, seed=3):
    r"""He initialization: ``randn(n_l, n_{l-1}) * sqrt(2/n_{l-1})`` from seed 3, zero biases.

    He et al. 2015, "Delving Deep into Rectifiers": :math:`\mathrm{Var}(W) = 2/n_{l-1}` keeps the
    variance of ReLU activations constant from layer to layer. ``seed`` (keyword-only) is initlab's
    addition; the default is the notebook's.
    """
    rs = np.random.RandomState(seed)
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        parameters["W" + str(l)] = rs.randn(layers_dims[l], layers_dims[l - 1]) * np.sqrt(2 / layers_dims[l - 1])
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters


class TrainedParameters(dict):
    """The parameter dict ``model`` returns, carrying its cost history as attributes.

    It *is* the notebook's dict (``parameters["W1"]`` etc.), so ``parameters = model(...)`` works
    unchanged; in addition:

    * ``parameters.costs`` -- the costs the notebook prints and plots (every 1,000 iterations);
    * ``parameters.cost_trace`` -- the cost at every iteration, shape (num_iterations,).
    """

    costs: list
    cost_trace: np.ndarray


def model(X, Y, learning_rate=0.01, num_iterations=15000, print_cost=True, initialization="he"):
    """The notebook's three-layer network, LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID.

    Trains by full-batch gradient descent and prints the cost every 1,000 iterations, then plots
    the printed costs. Returns the learnt parameters as a :class:`TrainedParameters` dict: use it
    exactly as the notebook does; ``parameters.costs`` and ``parameters.cost_trace`` hold the history.

    Parameters
    ----------
    X : (2, m) input data.
    Y : (1, m) labels, 0 for red dots and 1 for blue dots.
    learning_rate : float
    num_iterations : int
    print_cost : bool
    initialization : "zeros", "random" or "he"
    """
    if initialization not in _INITIALIZATIONS:
        # The notebook would fail later with UnboundLocalError; say what is allowed instead.
        raise ValueError(
            f"The 'initialization' parameter of model must be one of {{'zeros', 'random', 'he'}}. "
            f"Got {initialization!r} instead."
        )
    costs = []
    trace = np.empty(num_iterations)
    layers_dims = [X.shape[0], 10, 5, 1]

    if initialization == "zeros":
        parameters = initialize_parameters_zeros(layers_dims)
    elif initialization == "random":
        parameters = initialize_parameters_random(layers_dims)
    elif initialization == "he":
        parameters = initialize_parameters_he(layers_dims)

    for i in range(num_iterations):
        a3, cache = forward_propagation(X, parameters)
        cost = compute_loss(a3, Y)
        grads = backward_propagation(X, Y, cache)
        parameters = update_parameters(parameters, grads, learning_rate)
        trace[i] = cost
        if print_cost and i % 1000 == 0:
            print(f"Cost after iteration {i}: {cost}")
            costs.append(cost)

    if _figures_are_shown():
        import matplotlib.pyplot as plt

        plt.plot(costs)
        plt.ylabel("cost")
        plt.xlabel("iterations (per hundreds)")
        plt.title("Learning rate =" + str(learning_rate))
        _show()

    out = TrainedParameters(parameters)
    out.costs = costs
    out.cost_trace = trace
    return out


def train_preallocated(X, Y, parameters, learning_rate=0.01, num_iterations=15000, record_every=1):
    """``model``'s training loop with preallocated buffers: the same operations in the same order.

    Every array the notebook's loop allocates per iteration is written in place instead
    (``np.dot(..., out=)``, ``np.add(..., out=)``), and the cost (which training does not need) is
    computed only every ``record_every`` iterations. Every number stays bit-identical to
    :func:`model` (tested). Only the three-layer notebook network is supported.

    Parameters
    ----------
    X : (n0, m) float64
    Y : (1, m)
    parameters : dict with "W1".."b3" (not modified)
    record_every : int
        Compute the cost at iterations 0, record_every, 2*record_every, ...

    Returns
    -------
    parameters : dict of new arrays after training
    cost_trace : (ceil(num_iterations / record_every),) the notebook's cost at those iterations
    """
    W = [np.array(parameters[f"W{l}"], dtype=float) for l in (1, 2, 3)]
    b = [np.array(parameters[f"b{l}"], dtype=float) for l in (1, 2, 3)]
    m = X.shape[1]
    XT = X.T
    Yf = np.asarray(Y, dtype=float)
    one_minus_Y = 1 - Y
    inv_m = 1.0 / m
    n = [w.shape[0] for w in W]
    z = [np.empty((k, m)) for k in n]  # (n_l, m)
    a = [np.empty((k, m)) for k in n]  # (n_l, m)
    da = [np.empty((k, m)) for k in n[:2]]
    dz = [np.empty((k, m)) for k in n]
    mask = [np.empty((k, m)) for k in n[:2]]
    dW = [np.empty_like(w) for w in W]
    db = [np.empty_like(v) for v in b]
    step_W = [np.empty_like(w) for w in W]
    step_b = [np.empty_like(v) for v in b]
    tmp = np.empty((1, m))
    tmp2 = np.empty((1, m))
    trace = np.empty(-(-num_iterations // record_every))
    inputs = (X, a[0], a[1])
    add_reduce = np.add.reduce  # what np.sum(axis=1, keepdims=True) calls, without its wrapper
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in range(num_iterations):
            # forward: z = W a + b; relu, relu, sigmoid = 1/(1+exp(-z))
            for l in range(3):
                np.dot(W[l], inputs[l], out=z[l])
                np.add(z[l], b[l], out=z[l])
                if l < 2:
                    np.maximum(0, z[l], out=a[l])
            np.negative(z[2], out=a[2])
            np.exp(a[2], out=a[2])
            np.add(1, a[2], out=a[2])
            np.divide(1, a[2], out=a[2])
            if i % record_every == 0:
                trace[i // record_every] = _legacy_cost(a[2], Y, one_minus_Y, inv_m, tmp, tmp2)
            # backward
            np.subtract(a[2], Yf, out=dz[2])
            np.multiply(inv_m, dz[2], out=dz[2])
            for l in (2, 1, 0):
                np.dot(dz[l], inputs[l].T if l else XT, out=dW[l])
                add_reduce(dz[l], axis=1, keepdims=True, out=db[l])
                if l:
                    np.dot(W[l].T, dz[l], out=da[l - 1])
                    np.greater(a[l - 1], 0, out=mask[l - 1])
                    np.multiply(da[l - 1], mask[l - 1], out=dz[l - 1])
            # update: W = W - lr * dW
            for l in range(3):
                np.multiply(learning_rate, dW[l], out=step_W[l])
                np.subtract(W[l], step_W[l], out=W[l])
                np.multiply(learning_rate, db[l], out=step_b[l])
                np.subtract(b[l], step_b[l], out=b[l])
    params = {}
    for l in range(3):
        params[f"W{l + 1}"] = W[l]
        params[f"b{l + 1}"] = b[l]
    return params, trace


def _legacy_cost(a3, Y, one_minus_Y, inv_m, tmp, tmp2):
    """compute_loss's arithmetic, in the buffers tmp and tmp2 (each shaped like a3)."""
    np.log(a3, out=tmp)
    np.negative(tmp, out=tmp)
    np.multiply(tmp, Y, out=tmp)
    np.subtract(1, a3, out=tmp2)
    np.log(tmp2, out=tmp2)
    np.negative(tmp2, out=tmp2)
    np.multiply(tmp2, one_minus_Y, out=tmp2)
    np.add(tmp, tmp2, out=tmp)
    return inv_m * np.nansum(tmp)


# --------------------------------------------------------------------------------------------
# The notebook's public tests, for learners' own implementations
# --------------------------------------------------------------------------------------------
def _check_parameters(name, fn, layers_dims, expected):
    """Compare ``fn(layers_dims)`` with ``expected`` (a dict of arrays); raise a clear AssertionError."""
    got = fn(list(layers_dims))
    call = f"{name}({list(layers_dims)})"
    if not isinstance(got, dict):
        raise AssertionError(f"{call} must return a dict of parameters; it returned {type(got).__name__}.")
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        raise AssertionError(
            f"{call} returned keys {sorted(got)}; expected exactly {sorted(expected)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    for key, want in expected.items():
        value = np.asarray(got[key])
        if value.shape != want.shape:
            raise AssertionError(f"{call}[{key!r}] has shape {value.shape}; expected {want.shape}.")
        if not np.issubdtype(value.dtype, np.floating):
            raise AssertionError(
                f"{call}[{key!r}] has dtype {value.dtype}; expected floats (np.zeros / np.random.randn give float64)."
            )
        if not np.allclose(value, want, rtol=1e-7, atol=1e-12):
            raise AssertionError(
                f"{call}[{key!r}] has the wrong values.\nExpected:\n{want}\nGot:\n{value}\n"
                "Check the seed (3), the shape order (layers_dims[l], layers_dims[l-1]) and the scale."
            )


INITIALIZERS = {"zeros": initialize_parameters_zeros, "random": initialize_parameters_random,
                "he": initialize_parameters_he}  # fmt: skip


def _reference(kind, layers_dims):
    return INITIALIZERS[kind](layers_dims)


def _public_test(kind, fn):
    name = getattr(fn, "__name__", f"initialize_parameters_{kind}")
    for dims in ([3, 2, 1], [2, 4, 1], [5, 4, 3, 2, 1]):
        _check_parameters(name, fn, dims, _reference(kind, dims))
    print("All tests passed.")


def initialize_parameters_zeros_test(target):
    """The notebook's public test: ``target(layers_dims)`` must give zero weights and biases of the right shapes."""
    _public_test("zeros", target)


def initialize_parameters_random_test(target):
    """The notebook's public test: ``randn(n_l, n_{l-1}) * 10`` from ``np.random.seed(3)``, zero biases."""
    _public_test("random", target)


def initialize_parameters_he_test(target):
    """The notebook's public test: ``randn(n_l, n_{l-1}) * sqrt(2/n_{l-1})`` from seed 3, zero biases."""
    _public_test("he", target)


# --------------------------------------------------------------------------------------------
# Display and platform helpers
# --------------------------------------------------------------------------------------------
def _figures_are_shown() -> bool:
    """True when matplotlib is imported with a backend that shows figures (Jupyter inline, a window)."""
    import sys

    if "matplotlib.pyplot" not in sys.modules:
        return False
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return "inline" in backend or backend not in {"agg", "pdf", "ps", "svg", "cairo", "pgf", "template"}


def _show() -> None:
    """``plt.show()`` where there is a display to show on; headless, leave the figure to be saved."""
    if _figures_are_shown():
        import matplotlib.pyplot as plt

        plt.show()


def notebook_arithmetic_env() -> dict[str, str] | None:
    """Environment variables that make numpy compute as the notebook's platform did, or None.

    On x86-64 with AVX2 and FMA: glibc's ``exp`` instead of numpy's AVX-512 one, and OpenBLAS's
    Haswell kernel. With them, training from ``randn * 10`` prints the notebook's costs to the last
    digit (measured; without them it differs from the fourth digit on, accuracies unchanged).
    They act only when set before numpy is first imported: start a new process with them.
    Returns None where they do not apply (other CPUs: the kernels differ anyway).
    """
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return None
    flags = _cpu_flags()
    if not {"avx2", "fma"} <= flags:
        return None
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(_avx512_dispatch_targets()), "OPENBLAS_CORETYPE": "Haswell"}


def _avx512_dispatch_targets() -> list[str]:
    """numpy's dispatch targets on this CPU that use AVX-512 (their names vary across numpy versions).

    Those this process already runs with disabled (``NPY_DISABLE_CPU_FEATURES``, e.g. because it
    was itself started with the notebook's arithmetic) count too: numpy reports them as absent.
    """
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2
        from numpy.core import _multiarray_umath as umath
    found = umath.__cpu_features__
    disabled = set(os.environ.get("NPY_DISABLE_CPU_FEATURES", "").replace(",", " ").split())
    return [t for t in umath.__cpu_dispatch__ if (found.get(t) or t in disabled) and ("AVX512" in t or t == "X86_V4")]


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def arithmetic_in_use() -> str:
    """'notebook' if this process computes with the notebook platform's kernels, else 'native'.

    That is: OpenBLAS told to use its Haswell kernel, and none of numpy's AVX-512 code paths enabled.
    """
    if platform.machine().lower() not in {"x86_64", "amd64"} or os.environ.get("OPENBLAS_CORETYPE") != "Haswell":
        return "native"
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2
        from numpy.core import _multiarray_umath as umath
    found = umath.__cpu_features__
    avx512_on = any(found.get(t) for t in umath.__cpu_dispatch__ if "AVX512" in t or t == "X86_V4")
    return "native" if avx512_on else "notebook"
