r"""What a piece of work needs in memory, and whether this machine has it: one rule for train, sweeps and studies.

Work is checked before it starts (before anything is printed, allocated or stored): training K
models of ``layers`` on m examples holds, per model (:func:`training_bytes`), the forward and
backward workspace :math:`Z, A, dZ, dA, g'` of every layer (:math:`5 \sum_l n_l` rows of m), one
more forward pass for accuracy and diagnostics (:math:`2 \sum_l n_l` rows), four copies of the P
parameters (weights, gradients, two optimizer moments) and the recorded losses. What does not fit
in :data:`MEMORY_FRACTION` of the machine's memory is refused with the estimate and what to change.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["MEMORY_FRACTION", "check_memory", "format_bytes", "machine_memory", "residual_layers", "training_bytes"]

#: The share of the machine's physical memory one piece of work may plan to use.
MEMORY_FRACTION = 0.8


def training_bytes(layers: Sequence[int], K: int, m: int, records: int = 0) -> int:
    """Bytes of the arrays that training K models of ``layers`` on m examples allocates (module docstring)."""
    from initlab.network import parameter_count

    units = sum(int(n) for n in layers[1:])
    return 8 * int(K) * (7 * units * int(m) + 4 * parameter_count(tuple(int(n) for n in layers)) + int(records))


def residual_layers(n_in: int, width: int, n_out: int, blocks: int, branch_depth: int, norm: str) -> tuple[int, ...]:
    r"""The plain-MLP layer sizes :func:`training_bytes` counts a residual net as (an upper bound).

    ``width`` repeated :math:`1 + B\,(m + 1 + 2\,[\text{LayerNorm}])` times between ``n_in`` and
    ``n_out``: one hidden layer per array of ``width`` units per example that a block keeps for its
    backward pass (trunk state, branch layers, LayerNorm), so it counts :math:`B (m + 1 [+2])` width x
    width matrices where the net has :math:`B m` (plus a few scalars per block).
    """
    per_block = int(branch_depth) + 1 + (2 if norm == "layer" else 0)
    return (int(n_in), *[int(width)] * (1 + int(blocks) * per_block), int(n_out))


def machine_memory() -> int | None:
    """Physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, what: str, fix: str) -> int:
    """``needed`` if it fits in :data:`MEMORY_FRACTION` of this machine's memory; else a ValueError.

    The message reads ``"{what} needs about 74.5 GB of memory; this machine has 23.4 GB. {fix}"``.
    """
    total = machine_memory()
    if total is not None and needed > MEMORY_FRACTION * total:
        raise ValueError(
            f"{what} needs about {format_bytes(needed)} of memory; this machine has {format_bytes(total)}. {fix}"
        )
    return needed


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KB"``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover
