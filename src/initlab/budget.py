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

__all__ = ["MEMORY_FRACTION", "check_memory", "format_bytes", "machine_memory", "training_bytes"]

#: The share of the machine's physical memory one piece of work may plan to use.
MEMORY_FRACTION = 0.8


def training_bytes(layers: Sequence[int], K: int, m: int, records: int = 0) -> int:
    """Bytes of the arrays that training K models of ``layers`` on m examples allocates (module docstring)."""
    from initlab.network import parameter_count

    units = sum(int(n) for n in layers[1:])
    return 8 * int(K) * (7 * units * int(m) + 4 * parameter_count(tuple(int(n) for n in layers)) + int(records))


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
