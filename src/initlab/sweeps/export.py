"""``initlab sweep export``: a sweep's store as CSV or Parquet files, for analysis elsewhere.

Two tables, written into ``<folder>/export/`` (or ``out``):

``runs.<ext>``
    one row per run: ``name, key, status, message``, the dimensions (``dataset, network,
    activation, init, optimizer, learning_rate, iterations, seed`` as labels), the numbers behind
    them (``depth, scale, init_name, lr``...; ``blocks, branch_depth, norm, scalars`` for residual
    nets, empty for plain ones; ``parametrization`` (``standard`` for runs stored before there were
others) and ``base_width``), the metrics (``final_loss, train_accuracy,
    test_accuracy, diverged_at``) and timings;
``histories.<ext>``
    the recorded losses in long form: ``name, iteration, loss``.

Rows are streamed from the store (memory stays bounded); the files appear only when complete
(written beside and moved in). This module only does I/O.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from initlab.validation import check_choice

from .store import RunRow, Store

__all__ = ["FORMATS", "HISTORY_COLUMNS", "RUN_COLUMNS", "export"]

FORMATS = ("csv", "parquet")

#: Columns of ``runs``, in order, with their types (``s`` text, ``i`` integer, ``f`` float).
RUN_COLUMNS = {
    "name": "s", "key": "s", "status": "s", "message": "s",
    "dataset": "s", "network": "s", "activation": "s", "init": "s", "optimizer": "s", "learning_rate": "s",
    "iterations": "s", "seed": "i",
    "dataset_name": "s", "n_train": "i", "n_test": "i", "noise": "f", "classes": "i", "data_seed": "i", "layers": "s", "depth": "i",
    "blocks": "i", "branch_depth": "i", "norm": "s", "scalars": "s", "parametrization": "s", "base_width": "i",
    "output": "s", "init_name": "s", "init_options": "s", "scale": "f", "optimizer_name": "s", "optimizer_options": "s",
    "lr": "f", "record_every": "i", "engine": "s",
    "final_loss": "f", "train_accuracy": "f", "test_accuracy": "f", "diverged_at": "i", "init_seconds": "f",
    "train_seconds": "f", "worker": "s", "finished_at": "f",
}  # fmt: skip
HISTORY_COLUMNS = {"name": "s", "iteration": "i", "loss": "f"}
_BATCH = 2000  # runs per Parquet row group


def _run_record(row: RunRow) -> dict:
    c = row.config
    labels = c["labels"]
    d = c["dataset"]
    res = c.get("residual") or {}  # absent from plain runs (and from stores made before residual nets)
    return {
        "name": row.name, "key": row.key, "status": row.status, "message": row.message,
        **{k: labels[k] for k in ("dataset", "network", "activation", "init", "optimizer", "learning_rate", "iterations")},
        "seed": c["seed"],
        "dataset_name": d["name"], "n_train": d["n_train"], "n_test": d["n_test"], "noise": d["noise"],
        "classes": d["classes"], "data_seed": d["data_seed"], "layers": "-".join(map(str, c["layers"])), "depth": c["depth"],
        **{k: res.get(k) for k in ("blocks", "branch_depth", "norm", "scalars")},
        "parametrization": c.get("parametrization", "standard"), "base_width": c.get("base_width"), "output": c["output"],
        "init_name": c["init"], "init_options": _options(c["init_options"]), "scale": c["scale"],
        "optimizer_name": c["optimizer"], "optimizer_options": _options(c["optimizer_options"]),
        "lr": c["learning_rate"], "record_every": c["record_every"], "engine": c["engine"],
        "final_loss": row.final_loss, "train_accuracy": row.train_accuracy, "test_accuracy": row.test_accuracy,
        "diverged_at": row.diverged_at, "init_seconds": row.init_seconds, "train_seconds": row.train_seconds,
        "worker": row.worker, "finished_at": row.finished_at,
    }  # fmt: skip


def _options(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items()))


def _history_records(store: Store) -> Iterator[tuple[str, int, float]]:
    for row, loss in store.finished_runs():
        if loss is None:
            continue
        for iteration, value in zip(row.record_iterations.tolist(), loss.tolist()):
            yield row.name, iteration, value


def export(folder, *, format: str = "csv", out=None) -> dict[str, Path]:
    """Write ``runs`` and ``histories`` of the sweep in ``folder`` as ``format`` files.

    Parameters
    ----------
    folder : a sweep's output folder
    format : {"csv", "parquet"}
        Parquet needs pyarrow (``pip install pyarrow``).
    out : folder for the files, default ``<folder>/export``

    Returns
    -------
    dict ``{"runs": path, "histories": path}``
    """
    check_choice("format", format, FORMATS)
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError(
                "The 'format' parameter 'parquet' needs pyarrow, which is not installed: pip install pyarrow."
            ) from None
    folder = Path(folder)
    out = folder / "export" if out is None else Path(out)
    with Store.open(folder) as store:
        out.mkdir(parents=True, exist_ok=True)
        writer = _write_csv if format == "csv" else _write_parquet
        paths = {}
        runs = (_run_record(row) for row in store.runs())
        paths["runs"] = _atomic(
            out / f"runs.{format}", lambda tmp: writer(tmp, RUN_COLUMNS, (tuple(r.values()) for r in runs))
        )
        paths["histories"] = _atomic(
            out / f"histories.{format}", lambda tmp: writer(tmp, HISTORY_COLUMNS, _history_records(store))
        )
    return paths


def _atomic(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and move it to ``path`` when done."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_csv(path: Path, columns, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)


def _write_parquet(path: Path, columns: dict[str, str], rows) -> None:
    import itertools

    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"s": pa.string(), "i": pa.int64(), "f": pa.float64()}
    schema = pa.schema([(c, types[t]) for c, t in columns.items()])
    with pq.ParquetWriter(path, schema) as writer:
        while batch := list(itertools.islice(rows, _BATCH)):
            writer.write_table(pa.table([[r[i] for r in batch] for i in range(len(columns))], schema=schema))
