"""initlab: neural-network weight initialization, from the deeplearning.ai notebook to sweeps.

Submodules are imported on demand (``import initlab.course``), so ``import initlab`` stays cheap.
"""

__version__ = "0.1.0"
