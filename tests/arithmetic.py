"""Environments under the tests' control, for comparing floating-point trajectories across processes.

Training from the notebook's ``randn * 10`` is chaotic: it magnifies the last bit in which two
implementations of ``exp`` or of the matrix product differ (numpy's AVX-512 ``exp`` against
glibc's, OpenBLAS's SkylakeX kernel against its Haswell one, x86-64 against arm64). Which kernels
a process uses is fixed when numpy and OpenBLAS load, by variables such as ``OPENBLAS_CORETYPE``
and ``NPY_DISABLE_CPU_FEATURES``, and users' shells set some of them (``OPENBLAS_CORETYPE=Haswell``
and ``OPENBLAS_L2_SIZE=512`` on some clusters and images, the dev machines included).

So a test that compares such trajectories never relies on the environment pytest was started in:
it starts *every* side in a new process with :func:`controlled_env`, once with a clean
environment and once with what a cluster's shell holds (:data:`USER_SHELLS`).
"""

from __future__ import annotations

import os
import subprocess
import sys

#: Variables that choose kernels, thread counts or CPU features of numpy / BLAS / OpenMP.
ARITHMETIC_PREFIXES = ("OPENBLAS_", "GOTOBLAS", "NPY_", "MKL_", "OMP_", "BLIS_", "NUMBA_")

#: The user environments every trajectory comparison is made under: none of the variables set,
#: and the ones the dev machines' (and some clusters') shells export.
USER_SHELLS = {
    "clean": {},
    "cluster": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"},
}


def controlled_env(*overlays: dict | None) -> dict[str, str]:
    """This process's environment without any arithmetic variable, then ``overlays`` applied in order.

    BLAS runs on one thread (as in initlab's engine and ``initlab reproduce``'s children), plots go
    to Agg.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(ARITHMETIC_PREFIXES)}
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    for overlay in overlays:
        env.update(overlay or {})
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 300) -> str:
    """Run ``python -c code`` in a new interpreter with exactly ``env``; its stdout (fails on a non-zero exit)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
