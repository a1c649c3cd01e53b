"""initlab: neural-network weight initialization, from the deeplearning.ai notebook to sweeps.

Submodules are imported on demand (``import initlab.course``), so ``import initlab`` stays cheap;
``initlab.MLPClassifier`` (which imports scikit-learn, about 1.5 s) is loaded on first use.
"""

__version__ = "0.1.0"

__all__ = ["MLPClassifier"]


def __getattr__(name: str):
    if name == "MLPClassifier":
        from initlab.estimator import MLPClassifier

        return MLPClassifier
    raise AttributeError(f"module 'initlab' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
