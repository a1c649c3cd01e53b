"""``python -m initlab.sweeps [run] SPEC --out DIR``: the sweep commands without the ``initlab`` entry point.

The same code path as ``initlab sweep ...``: the commands run through ``initlab.cli.main`` (one-line
errors, exit status 2), where ``initlab.cli`` registers them. The first word may be a command (``plan``,
``run``, ``summary``, ``export``, or ``report``, which is ``initlab report``); without one, ``run`` is meant::

    python -m initlab.sweeps examples/notebook_seeds.toml --out initlab-out/notebook_seeds
    python -m initlab.sweeps summary initlab-out/notebook_seeds
"""

from __future__ import annotations

import sys

COMMANDS = ("plan", "run", "summary", "export")


def main(argv: list[str] | None = None) -> int:
    """Run a sweep command; returns the exit status."""
    # imported here, not at the top: worker processes import the main module
    from initlab import cli

    argv = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    if argv[:1] == ["report"]:
        return cli.main(argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "run")
    return cli.main(["sweep", *argv])


if __name__ == "__main__":  # guarded: worker processes import the main module
    sys.exit(main())
