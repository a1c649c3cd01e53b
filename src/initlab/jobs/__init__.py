"""What every long job of initlab shares (a sweep, a study): where its pieces run, how it reports.

``executors``
    :func:`~initlab.jobs.executors.open_executor`: a function mapped over pieces in this process,
    a local process pool or a Dask cluster, results as they finish.
``progress``
    :class:`~initlab.jobs.progress.Progress`, what a job's driver reports after every piece, and
    :class:`~initlab.jobs.progress.ProgressDisplay`, how the command line shows it.

A job's store (one SQLite file in its folder, with one writer) is :mod:`initlab.storage`. Sweeps
(:mod:`initlab.sweeps`) and studies (:mod:`initlab.studies`) import from here; nothing here
imports them.
"""
