r"""Where every random number of a model comes from: one rule, used by every part of initlab.

A *root* is anything :func:`numpy.random.default_rng` accepts (None, an int, a SeedSequence, a
Generator). The rule, for K models trained together:

* **Model k draws from the k-th child of its root** (:func:`model_streams`): with an int root
  ``s`` that is ``SeedSequence(s, spawn_key=(k,))``. So model k is the same whatever K is, and no
  two models share random numbers. A list of K streams instead gives model k the k-th of them
  (how a sweep or a study trains models of different roots together).
* **A model's initialization and its minibatch order never share random numbers**: a root that
  seeds both (:func:`initlab.training.initialize_and_train`) is split first (:func:`split`), the
  first child seeding the K initial draws, the second the K minibatch orders. For an int root
  ``s``, model k's initial parameters come from ``SeedSequence(s, spawn_key=(0, k))`` and its
  minibatches from ``SeedSequence(s, spawn_key=(1, k))``.
* **A single run** (a sweep's run, a CLI call with one model) is model 0 of that rule with
  ``models=1`` (:func:`run_streams`).
* **A study** addresses its streams by path below its root seed (:func:`stream`):
  ``stream(root, *path) = SeedSequence(root, spawn_key=path)``, so ``stream(root, k)`` is model k
  of ``model_streams(root, K)`` for any K > k.

The users: :meth:`initlab.network.MLP.initialize` (model k's initial parameters),
:class:`initlab.state.TrainingState` (model k's minibatch order), ``initialize_and_train``, the
sweeps' worker and the studies. Children are taken with ``spawn``, which *advances* a Generator
or SeedSequence root: its next ``spawn`` gives new children (an int root gives the same every time).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from initlab.validation import check_int, check_rng

__all__ = ["model_streams", "run_streams", "split", "stream", "streams"]


def model_streams(
    rng, models: int | None = None, *, fix: str = "leave models out to take the list's length"
) -> list[np.random.Generator]:
    """The K per-model streams of ``rng``: its children ``0 .. K-1``, or the K streams of a list.

    Parameters
    ----------
    rng : None, int, SeedSequence, Generator, or a list/tuple of these (one per model)
    models : int >= 1, optional
        K. With a list it must equal the list's length (None: take the length); without one,
        None means 1.
    fix : str
        How to mend a list of the wrong length, in the error message.

    Returns
    -------
    list of K Generators
    """
    if isinstance(rng, (list, tuple)):
        if not rng or (models is not None and models != len(rng)):
            raise ValueError(
                f"The 'rng' parameter, a list of streams, must hold one stream per model (models={models}). "
                f"Got {len(rng)} streams instead; {fix}."
            )
        return [check_rng(r) for r in rng]
    return check_rng(rng).spawn(check_int("models", 1 if models is None else models, min_value=1))


def split(rng) -> tuple[np.random.Generator, np.random.Generator]:
    """``(init_root, order_root)``: the two children of ``rng`` that seed initialization and minibatch order."""
    init_root, order_root = check_rng(rng).spawn(2)
    return init_root, order_root


def run_streams(rng) -> tuple[np.random.Generator, np.random.Generator]:
    """One model's ``(init_stream, order_stream)``: model 0 of ``initialize_and_train(models=1, rng=rng)``."""
    init_root, order_root = split(rng)
    return init_root.spawn(1)[0], order_root.spawn(1)[0]


def stream(root: int, *path: int) -> np.random.SeedSequence:
    """The stream at ``path`` below the root seed: ``SeedSequence(root, spawn_key=path)``.

    ``stream(root, k)`` is the ``k``-th child of ``SeedSequence(root).spawn(n)`` for any
    ``n > k``, so ``MLP.initialize(rng=[stream(root, k) for k in seeds])`` draws the same
    networks as ``MLP.initialize(rng=root, models=n)`` does for those ``k``.
    """
    return np.random.SeedSequence(int(root), spawn_key=tuple(int(p) for p in path))


def streams(root: int, seeds: Iterable[int], *path: int) -> list[np.random.SeedSequence]:
    """``[stream(root, *path, s) for s in seeds]``: one stream per seed, for ``MLP.initialize(rng=...)``."""
    return [stream(root, *path, s) for s in seeds]
