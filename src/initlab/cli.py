"""The ``initlab`` command line: parsing and printing only; the library does the work.

``main(argv=None)`` is the entry point (tests call ``main(["reproduce", ...])``). Bad input never
shows a traceback: one line on stderr, exit status 2 (a :class:`initlab.console.UserError`, or a
library's ValueError turned into one there). The commands: ``reproduce``, ``train``, ``initializers``,
``jacobian``, ``coord-check``, ``datasets``, ``playground``, ``study``, ``report`` (a sweep's or a study's page) here; the ``sweep``
group in :mod:`initlab.sweeps.cli`, registered below.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import warnings
from pathlib import Path

import typer

from .console import UserError, as_option, check_output_folder, err, print_table, user_input, write_error
from .storage import StoreError
from .sweeps.cli import register as register_sweeps

app = typer.Typer(
    name="initlab",
    help="Neural-network weight initialization: the deeplearning.ai notebook exactly, every initializer, many seeds.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # every command, the sweep group's included
)


def _print_version(value: bool) -> None:
    """``--version``: the installed package's version (importlib.metadata), then exit."""
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"initlab {version('initlab')}")
        except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
            print("initlab (version unknown: the package is not installed; pip install -e .)")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    """initlab: which initialization, at which scale, for which network, and how sure you can be.

    Start with `initlab reproduce`: the Initialization notebook's experiment, with pictures.
    """


@app.command()
def reproduce(
    out: Path = typer.Option(
        Path("initlab-out/reproduce"), "--out", help="Folder for figures, results.json and report.html."
    ),
    iterations: int = typer.Option(
        15000, "--iterations", help="Gradient-descent iterations per model (the notebook: 15000)."
    ),
    learning_rate: float = typer.Option(0.01, "--learning-rate", "--lr", help="Learning rate (the notebook: 0.01)."),
    seed: int = typer.Option(3, "--seed", help="Seed of the random and He initializers (the notebook: 3)."),
    arithmetic: str = typer.Option(
        "notebook",
        "--arithmetic",
        help="'notebook': the notebook platform's exp and BLAS kernels where this CPU has them, so every "
        "printed cost matches; 'native': this process's environment as you set it (OPENBLAS_CORETYPE etc.).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Train the notebook's three models (zeros, large random, He) and report what happened.

    Prints the notebook's conclusion table with measured numbers and writes cost curves, the three
    decision boundaries, results.json and a self-contained report.html to --out.
    """
    from .reproduce import INITIALIZATIONS, ReproduceConfig, run

    with user_input():
        config = ReproduceConfig(iterations=iterations, learning_rate=learning_rate, seed=seed, arithmetic=arithmetic)
    check_output_folder(out)

    with _Progress(INITIALIZATIONS, config.iterations, quiet=quiet) as progress:
        result = run(config, progress=progress.update)

    from .report import reproduce as report

    print_table(report.SUMMARY_HEADER, report.summary_rows(result), title=_table_title(result))
    try:
        paths = report.write(result, out)
    except OSError as exc:
        raise write_error(out, exc) from None
    err(f"wrote {len(paths)} files to {out}/ (open {paths['report.html']} in a browser)")


_TRAIN_OUT = Path("initlab-out/train")
# the files `initlab train` writes (initlab.report.train) and the stores of a sweep and a study: a folder
# holding any of them holds an earlier run, which train refuses to overwrite
_TRAIN_FILES = ("results.json", "loss_curves.png", "decision_boundary.png", "sweep.sqlite", "study.sqlite")


@app.command()
def train(
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="A built-in data set (list: `initlab datasets`); default circles, the notebook's.",
        show_default=False,
    ),
    csv: Path = typer.Option(
        None,
        "--csv",
        help="Train on a CSV file instead: numeric feature columns and a --target class column.",
        show_default=False,
    ),
    target: str = typer.Option(
        None,
        "--target",
        help="The CSV file's class column (its labels are mapped to 0..k-1 and reported).",
        show_default=False,
    ),
    test_fraction: float = typer.Option(
        None,
        "--test-fraction",
        help="Share of each class of the CSV file held out for testing [default: 0.25].",
        show_default=False,
    ),
    n_train: int = typer.Option(
        None,
        "--n-train",
        help="Training examples of a built-in set [default: its own, 300 for circles].",
        show_default=False,
    ),
    n_test: int = typer.Option(
        None,
        "--n-test",
        help="Test examples of a built-in set [default: its own, 100 for circles].",
        show_default=False,
    ),
    noise: float = typer.Option(
        None,
        "--noise",
        help="Standard deviation of the noise of a generated set [default: its own].",
        show_default=False,
    ),
    classes: int = typer.Option(
        None, "--classes", help="Classes of spirals, gaussian_quantiles or blobs.", show_default=False
    ),
    data_seed: int = typer.Option(
        None,
        "--data-seed",
        help="Seed of the data (and of a CSV split) [default: the notebook's circles; 0 otherwise].",
        show_default=False,
    ),
    layers: str = typer.Option(
        None,
        "--layers",
        help="Units per layer, inputs first, e.g. 2,10,5,1 [default: features,10,5,outputs].",
        show_default=False,
    ),
    activation: str = typer.Option("relu", "--activation", help="Hidden activation."),
    blocks: int = typer.Option(
        None,
        "--blocks",
        help="Train a residual MLP of B blocks x <- x + F(x) instead (initlab.residual.ResidualMLP); --layers is "
        "then inputs,width,outputs, one width for the trunk and every branch layer [default: features,10,outputs].",
        show_default=False,
    ),
    branch_depth: int = typer.Option(
        None,
        "--branch-depth",
        help="Linear layers per residual branch, with --blocks [default: 2].",
        show_default=False,
    ),
    norm: str = typer.Option(
        None,
        "--norm",
        help="With --blocks: 'none', or 'layer' for a LayerNorm at the start of every branch (pre-LN) [default: none].",
        show_default=False,
    ),
    parametrization: str = typer.Option(
        None,
        "--parametrization",
        help="How init and learning rates scale with width: standard, ntk or mup (initlab.parametrization; "
        "plain MLPs only) [default: standard].",
        show_default=False,
    ),
    base_width: int = typer.Option(
        None,
        "--base-width",
        help="With --parametrization mup: the base model's hidden width, where muP equals standard [default: 1, "
        "TP5's Table 3 literally].",
        show_default=False,
    ),
    init: str = typer.Option(
        "he_normal",
        "--init",
        help="Weight initializer (list: `initlab initializers`), or lsuv (data-dependent: normalized on the training "
        "inputs); with --blocks also the structural fixup, rezero, skipinit, zero_last.",
    ),
    init_option: list[str] = typer.Option(
        None,
        "--init-option",
        help="KEY=VALUE option of the initializer, repeatable, e.g. mode=fan_out.",
        show_default=False,
    ),
    optimizer: str = typer.Option("gd", "--optimizer", help="gd (the notebook's, full batch), sgd, momentum or adam."),
    optimizer_option: list[str] = typer.Option(
        None,
        "--optimizer-option",
        help="KEY=VALUE option of the optimizer, repeatable, e.g. beta1=0.9.",
        show_default=False,
    ),
    learning_rate: float = typer.Option(0.01, "--lr", "--learning-rate", help="Learning rate."),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Examples per update, for sgd, momentum and adam [default: all].", show_default=False
    ),
    iterations: int = typer.Option(
        15000,
        "--iterations",
        help="Parameter updates per model (with --batch-size an epoch is ceil(n_train / batch) of them).",
    ),
    seeds: int = typer.Option(
        5, "--seeds", help="Models trained at once, one per seed (the streams 0..N-1 of --seed)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights and minibatch order of all models."),
    record_every: int = typer.Option(
        None,
        "--record-every",
        help="Record the loss every N iterations [default: iterations / 100].",
        show_default=False,
    ),
    out: Path = typer.Option(
        _TRAIN_OUT,
        "--out",
        help="Folder for loss_curves.png, decision_boundary.png (2-D data), jacobian.png (plain MLP) or blocks.png "
        "(residual), results.json and report.html.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print one JSON object on stdout instead of the table, nothing else (files are still written).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    dtype: str = typer.Option(
        "float64",
        "--dtype",
        help="What training computes in: float64 (the notebook's precision) or float32 (half the memory, twice the "
        "SIMD width; where it agrees with float64: the initlab.training docstring).",
    ),
    engine: str = typer.Option(
        "numpy",
        "--engine",
        help="numpy (the reference: batched BLAS products, the faster one for layers wider than ~200) or numba "
        "(compiled, each thread trains whole models: several times faster on small nets; the same numbers within "
        "1e-12; its first use compiles for about a minute, later runs load it from numba's cache).",
    ),
    threads: int = typer.Option(
        None,
        "--threads",
        help="Threads: numba's (each trains whole models) or BLAS's under --engine numpy [default: numba's, one per "
        "core; BLAS's by layer size].",
        show_default=False,
    ),
) -> None:
    """Train an MLP from several seeds at once and summarize them: per seed, and mean ± 95% CI.

    All seeds train together along the model axis. Prints a table (or --json) and writes loss curves
    with a band over seeds, the decision boundary of the median seed (2-D data), the Jacobian's
    singular values at initialization and at the end (a plain MLP) or the per-block trunk, branch
    and residual scale (a residual net), results.json and report.html (all on one page) to --out.
    """
    from . import optimizers
    from .report import train as report
    from .training import check_engine, initial_parameters
    from .training import train as train_models
    from .validation import check_choice, check_dtype

    residual = _residual_options(blocks, branch_depth, norm, init)
    scaling = _parametrization_options(parametrization, base_width, residual)
    with user_input():
        data = _training_data(dataset, csv, target, test_fraction, n_train, n_test, noise, classes, data_seed)
        net = _network(data, layers, activation, residual, init, scaling)
        iterations, seeds, seed, record_every, learning_rate = _schedule(
            iterations, seeds, seed, record_every, learning_rate
        )
        check_choice("optimizer", optimizer, optimizers.available())
        dtype = check_dtype(dtype).name
        _check_training_memory(net, data, seeds, records=iterations // record_every + 1)
    init_options = _parse_options("--init-option", init_option)
    init_fn, init_kwargs = _initializer(net, init, init_options, data.X_train)
    _check_parametrized_init(net, init, init_fn, init_options, init_kwargs)
    opt_options = _parse_options("--optimizer-option", optimizer_option)
    opt = _bound("--optimizer", optimizer, opt_options, optimizers.get)
    with user_input():
        batch_size = optimizers.check_batch_size(batch_size, opt, data.X_train.shape[1], name="--batch-size")
        check_engine(engine, threads, net, "stable", opt, batch_size, data.X_train.shape[1])
    check_output_folder(out, earlier_run=_TRAIN_FILES)

    if not as_json:
        err(f"data: {data.description}")
    with _TrainProgress(iterations, seeds, enabled=not (as_json or quiet)) as progress:
        # initialize_and_train's two steps, to keep the initial parameters (the report's Jacobian at initialization)
        initial, order_rng = initial_parameters(net, init=init_fn, init_options=init_kwargs, models=seeds, rng=seed)
        history = train_models(
            net, initial, data.X_train, data.Y_train, learning_rate=learning_rate, iterations=iterations,
            record_every=record_every, optimizer=opt, batch_size=batch_size, rng=order_rng,
            diagnostics=iterations,  # at initialization and at the end: per layer, or per block of a residual net
            X_test=data.X_test, Y_test=data.Y_test, progress=progress.update, engine=engine, threads=threads,
            dtype=dtype,
        )  # fmt: skip
    config = {
        "dataset": None if csv is not None else data.name, "csv": None if csv is None else str(csv), "target": target,
        "layers": list(report.layers(net)), **report.residual_config(net), **report.parametrization_config(net),
        "activation": activation, "init": init,
        "init_options": init_options, "optimizer": optimizer, "optimizer_options": opt_options,
        "learning_rate": learning_rate, "batch_size": batch_size, "iterations": iterations,
        "record_every": record_every, "seeds": seeds, "seed": seed, "data_seed": data_seed, "dtype": dtype,
        "engine": engine,
    }  # fmt: skip
    _show_training(report.TrainRun(config, data, net, history, initial_params=initial), out, as_json=as_json)


def _training_data(dataset, csv, target, test_fraction, n_train, n_test, noise, classes, data_seed):
    """The Dataset the train flags ask for (built-in or CSV), or a ValueError/UserError naming the flag."""
    from . import datasets
    from .validation import check_choice, check_int

    if data_seed is not None:
        check_int("data_seed", data_seed, min_value=0)
    builtin_flags = {"--n-train": n_train, "--n-test": n_test, "--noise": noise, "--classes": classes}
    if csv is None:
        if target is not None:
            raise UserError(
                "'--target' goes with '--csv' (the CSV file's class column); the built-in data sets have their labels."
            )
        if test_fraction is not None:
            raise UserError(
                "'--test-fraction' goes with '--csv'; size a built-in set's split with --n-train and --n-test."
            )
        name = check_choice("dataset", "circles" if dataset is None else dataset, datasets.available())
        # No --data-seed: the notebook's circles (rng=None) when its options are asked for, else seed 0.
        notebook = datasets.is_notebook_data(name, n_train=n_train, n_test=n_test, noise=noise, classes=classes)
        rng = data_seed if data_seed is not None else (None if notebook else 0)
        return datasets.load(name, n_train=n_train, n_test=n_test, noise=noise, classes=classes, rng=rng)
    if dataset is not None:
        raise UserError("'--dataset' and '--csv' are alternatives: pass one of them.")
    for flag, value in builtin_flags.items():
        if value is not None:
            raise UserError(f"'{flag}' applies to the built-in data sets (--dataset), not to --csv; a CSV file's split is set by --test-fraction.")  # fmt: skip
    if target is None:
        raise UserError(f"'--csv' needs '--target COLUMN', the name of the class column of {csv}.")
    return datasets.from_csv(csv, target=target, test_fraction=0.25 if test_fraction is None else test_fraction,
                             rng=0 if data_seed is None else data_seed)  # fmt: skip


def _residual_options(blocks, branch_depth, norm, init: str) -> tuple[int, int, str] | None:
    """``(blocks, branch_depth, norm)`` of a residual net (``--blocks`` given), or None for a plain MLP.

    --branch-depth and --norm without --blocks, and a structural initializer (:data:`initlab.residual.STRUCTURAL`)
    without --blocks, are UserErrors naming --blocks. The values themselves are checked by ResidualMLP.
    """
    from .residual import STRUCTURAL

    if blocks is not None:
        return blocks, 2 if branch_depth is None else branch_depth, "none" if norm is None else norm
    for flag, value in (("--branch-depth", branch_depth), ("--norm", norm)):
        if value is not None:
            raise UserError(f"'{flag}' goes with '--blocks B' (a residual net); a plain MLP has no branches. Add --blocks, or leave out {flag}.")  # fmt: skip
    if init in STRUCTURAL:
        raise UserError(
            f"'--init' {init} is a structural initializer of residual nets ({STRUCTURAL[init][1]}): it needs "
            "'--blocks B'. Add --blocks (e.g. --blocks 8), or choose a per-matrix initializer (`initlab initializers`)."
        )
    return None


def _parametrization_options(parametrization, base_width, residual) -> dict:
    """``{"parametrization": ..., "base_width": ...}`` for the MLP of ``initlab train`` (values checked by MLP).

    ``--parametrization`` and ``--base-width`` are for plain MLPs: with ``--blocks`` a UserError naming both.
    """
    if residual is not None and (parametrization is not None or base_width is not None):
        flag = "--parametrization" if parametrization is not None else "--base-width"
        raise UserError(
            f"'{flag}' applies to plain MLPs; a residual net (--blocks) has no parametrization other than standard. "
            f"Leave out {flag}, or --blocks."
        )
    return {"parametrization": "standard" if parametrization is None else parametrization, "base_width": base_width}


def _check_parametrized_init(net, init: str, init_fn, options: dict, kwargs: dict) -> None:
    """Refuse now (UserError) an initializer a non-standard parametrization does not take (e.g. xavier, lsuv).

    Checked by the library's own rule: one model drawn as training will (LSUV is refused before it looks at the data).
    """
    from .network import MLP

    if not isinstance(net, MLP) or net.parametrization == "standard":
        return
    try:
        net.initialize(init_fn, rng=0, models=1, **kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"'--init' {init}{_options_text(options)} with --parametrization {net.parametrization}: {exc}"
        ) from None


def _network(data, layers: str | None, activation: str, residual: tuple[int, int, str] | None, init: str,
             scaling: dict | None = None):  # fmt: skip
    """The net of --layers and --activation, fitted to ``data``'s features and classes; a ValueError naming the option otherwise.

    Plain (``residual`` None): the MLP of --layers, default features, 10, 5, outputs. Residual
    (``(blocks, branch_depth, norm)`` from :func:`_residual_options`): --layers must be
    ``inputs,width,outputs`` (default features, 10, outputs), and the net is
    ``ResidualMLP(n_in, width, n_out, blocks, ..., scalars=scalars_for(init))``.
    """
    from .activations import available
    from .network import MLP
    from .residual import ResidualMLP, scalars_for
    from .validation import check_choice

    given = _parse_layers(layers) if layers is not None else None
    if residual is not None and given is not None and len(given) != 3:
        raise ValueError(
            f"The 'layers' parameter with --blocks must be inputs,width,outputs: one width, shared by the residual "
            f"trunk and every branch layer, e.g. {data.n_features},16,{data.n_outputs}. Got {layers} instead; give one "
            "width, or leave out --blocks for a plain MLP."
        )
    default = data.default_layers() if residual is None else data.default_layers((10,))
    net_layers = data.check_layers(given if given is not None else default)
    check_choice("activation", activation, available())
    if residual is None:
        return MLP(net_layers, activation, data.output, **(scaling or {}))
    blocks, branch_depth, norm = residual
    n_in, width, n_out = net_layers
    return ResidualMLP(n_in, width, n_out, blocks, branch_depth=branch_depth, activation=activation,
                       output=data.output, norm=norm, scalars=scalars_for(init))  # fmt: skip


def _initializer(net, init: str, options: dict, X_train) -> tuple[object, dict]:
    """``(init, init_options)`` for :func:`initlab.training.initialize_and_train`, checked now (UserError, one line).

    A per-matrix initializer is bound to its options (:func:`_bound`). ``lsuv`` and, for a residual
    net, a structural initializer go by name with their options; those are checked by drawing one
    model with the library's own rule (``net.initialize(init, rng=0, models=1, ...)``), so a name
    or option the net refuses is refused here, before anything is written.
    """
    from . import initializers
    from .network import DATA_DEPENDENT, MLP, check_lsuv_options
    from .residual import STRUCTURAL

    if init in DATA_DEPENDENT:  # lsuv: the net's initialize normalizes on the training inputs
        with user_input():
            check_lsuv_options(options)
        kwargs = {**options, "X": X_train}
    elif init in STRUCTURAL:  # a plain MLP never gets here (_residual_options)
        kwargs = dict(options)
    else:
        return _bound("--init", init, options, initializers.get), {}
    if not isinstance(net, MLP):
        try:
            net.initialize(init, rng=0, models=1, **kwargs)
        except (TypeError, ValueError) as exc:
            raise UserError(f"'--init' {init}{_options_text(options)}: {exc}") from None
    return init, kwargs


def _schedule(iterations, seeds, seed, record_every, learning_rate):
    """The checked ``(iterations, seeds, seed, record_every, learning_rate)`` of ``initlab train``
    (``record_every`` defaults to iterations / 100), or a ValueError/TypeError naming the option."""
    from .training import check_iterations
    from .validation import check_int, check_real

    iterations = check_iterations(iterations)
    seeds = check_int("seeds", seeds, min_value=1, max_value=100_000)
    seed = check_int("seed", seed, min_value=0)
    record_every = (
        max(1, iterations // 100) if record_every is None else check_int("record_every", record_every, min_value=1)
    )
    learning_rate = check_real("learning_rate", learning_rate, min_value=0.0, min_inclusive=False)
    return iterations, seeds, seed, record_every, learning_rate


def _check_training_memory(net, data, seeds: int, *, records: int) -> None:
    """Refuse (ValueError) a training this machine lacks the memory for, before it starts.

    A residual net counts as the plain MLP of :func:`initlab.budget.residual_layers` (an upper bound).
    """
    from .budget import check_memory, residual_layers, training_bytes
    from .network import MLP
    from .report.train import architecture

    m = data.X_train.shape[1]
    if isinstance(net, MLP):
        layers = net.layers
    else:
        layers = residual_layers(net.n_in, net.width, net.n_out, net.blocks, net.branch_depth, net.norm)
    check_memory(training_bytes(layers, seeds, m, records),
                 f"Training {seeds} model{'s' * (seeds > 1)} of {architecture(net)} on {m:,} examples",
                 "Use fewer --seeds, narrower --layers, fewer --blocks or fewer training examples.")  # fmt: skip


def _bound(flag: str, name: str, options: dict, get):
    """``get(name, **options)`` (an initializer or an optimizer with its options bound), or a UserError
    quoting the flag and the options as given."""
    try:
        return get(name, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(f"'{flag}' {name}{_options_text(options)}: {exc}") from None


def _show_training(run, out: Path, *, as_json: bool) -> None:
    """Write a training run's files to --out, then print its table and where the files went (or its --json)."""
    from .report import train as report

    try:
        paths = report.write(run, out)
    except OSError as exc:
        raise write_error(out, exc) from None
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(run)) + "\n")
        return
    print_table(report.SUMMARY_HEADER, report.summary_rows(run), title=report.title(run))
    err(f"wrote {len(paths)} files to {out}/ ({', '.join(paths)})")


@app.command("initializers")
def list_initializers() -> None:
    """List every weight initializer with its formula and options (for --init and --init-option): the
    per-matrix ones (any net), LSUV, then the structural ones of residual nets (with --blocks)."""
    import inspect

    from . import initializers, lsuv
    from .network import LSUV_OPTIONS
    from .residual import STRUCTURAL

    listing = initializers.describe()
    defaults = inspect.signature(lsuv.lsuv).parameters  # LSUV's options: the ones MLP.initialize passes on
    listing["lsuv"] = {"summary": lsuv.SUMMARY, "options": [
        {"name": o, "required": False, "default": defaults[o].default} for o in LSUV_OPTIONS]}  # fmt: skip
    width = max(map(len, [*listing, *STRUCTURAL]))
    for name, entry in listing.items():
        print(f"{name:<{width}}  {entry['summary']}")
        options = [o["name"] + (" (required)" if o["required"] else f"={o['default']!r}") for o in entry["options"]]
        print(f"{'':<{width}}  options: {', '.join(options) if options else 'none'}")
    print("\nstructural initializers of residual nets (initlab train --blocks B; initlab.residual.ResidualMLP):")
    for name, (formula, paper, scalars, options) in STRUCTURAL.items():
        print(f"{name:<{width}}  {formula}")
        print(f"{'':<{width}}  paper: {paper}")
        built = f"; the net is built with scalars={scalars!r}" if scalars else ""
        print(f"{'':<{width}}  needs: a residual net (--blocks){built}")
        print(f"{'':<{width}}  options: {', '.join(options)} (defaults in the formula)")


@app.command("jacobian")
def jacobian(
    width: int = typer.Option(64, "--width", help="Units of every hidden layer (and of the input) of a square net."),
    depth: int = typer.Option(16, "--depth", help="Hidden layers of the square net."),
    layers: str = typer.Option(
        None, "--layers", help="Units per layer instead, inputs first, e.g. 2,10,5,1.", show_default=False
    ),
    activation: str = typer.Option("relu", "--activation", help="Hidden activation."),
    init: str = typer.Option("he_normal", "--init", help="Initializer (list: `initlab initializers`)."),
    init_option: list[str] = typer.Option(None, "--init-option", help="An initializer option, NAME=VALUE."),
    seeds: int = typer.Option(8, "--seeds", help="Models drawn at once (K)."),
    seed: int = typer.Option(0, "--seed", help="Root seed: weights from split(seed)[0], inputs from [1]."),
    examples: int = typer.Option(4, "--examples", help="Inputs, N(0, 1) per coordinate, to take the Jacobian at."),
    start: int = typer.Option(0, "--start", help="Layer differentiated by (0: the input)."),
    stop: int = typer.Option(
        None, "--stop", help="Layer differentiated [default: the last hidden; L: the logits].", show_default=False
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Also write jacobian.png (histogram), jacobian.json and report.html (both on one page) here.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers as JSON instead of a table."),
) -> None:
    """The singular values of the Jacobian dA[stop]/dA[start] at initialization, for K models at once: is the
    signal's geometry kept through depth (dynamical isometry, Pennington et al. 2017)?"""
    from . import initializers, spectra
    from .network import MLP

    options = _parse_options("--init-option", init_option)
    with user_input():
        shape = _parse_layers(layers) if layers else (width,) * (depth + 1) + (1,)
        net = MLP(shape, activation=activation)
    draw = _bound("--init", init, options, initializers.get)
    if out is not None:
        check_output_folder(out)
    with user_input():
        s, summary = spectra.at_initialization(
            net, draw, models=seeds, examples=examples, start=start, stop=stop, rng=seed
        )
    numbers = {"layers": list(shape), "activation": activation, "init": init, "options": options, "seed": seed,
               "start": start, "stop": stop, "models": seeds, "examples": examples,
               **{k: getattr(summary, k).tolist() for k in ("mean_squared", "max", "spread", "relative_spread", "near_one")},
               "reading": spectra.reading(summary)}  # fmt: skip
    if out is not None:
        _write_jacobian(out, s, numbers)
    if as_json:
        sys.stdout.write(json.dumps(numbers) + "\n")
        return
    rows = [[f"model {k}", f"{summary.mean_squared[k]:.4g}", f"{summary.max[k]:.4g}",
             f"{summary.relative_spread[k]:.4g}", f"{summary.near_one[k]:.0%}"] for k in range(seeds)]  # fmt: skip
    print_table(["model", "mean s²", "largest s", "Var(s²)/⟨s²⟩²", "within 2x of 1"], rows,
                title=f"Jacobian at initialization: {'-'.join(map(str, shape))} {activation}, {init}")  # fmt: skip
    print(spectra.reading(summary))


def _write_outputs(out: Path, files: dict[str, bytes]) -> None:
    """Write a command's files into --out (all or nothing, :func:`initlab.report.write_files`) and say where."""
    from .report import write_files

    try:
        paths = write_files(files, out)
    except OSError as exc:
        raise write_error(out, exc) from None
    err(f"wrote {len(paths)} files to {out}/ ({', '.join(paths)})")


def _write_jacobian(out: Path, s, numbers: dict) -> None:
    from .report import jacobian as page
    from .report.figures import png_bytes, singular_value_histogram

    title = f"{'-'.join(map(str, numbers['layers']))} {numbers['activation']}, {numbers['init']}: {numbers['models']} models"
    png = png_bytes(singular_value_histogram(s, title=title))
    files = {"jacobian.png": png, "jacobian.json": (json.dumps(numbers, indent=1) + "\n").encode(),
             "report.html": page.page(numbers, png, title=title).encode()}  # fmt: skip
    _write_outputs(out, files)


@app.command("coord-check")
def coord_check(
    parametrization: str = typer.Option("standard", "--parametrization", help="standard, ntk or mup."),
    optimizer: str = typer.Option("adam", "--optimizer", help="gd, sgd, momentum or adam (full batch)."),
    lr: float = typer.Option(0.01, "--lr", help="Learning rate (at the base width under mup)."),
    steps: int = typer.Option(3, "--steps", help="Training steps recorded after (1 to 5)."),
    widths: str = typer.Option("64,128,256,512,1024,2048", "--widths", help="Hidden widths, comma-separated."),
    depth: int = typer.Option(3, "--depth", help="Hidden layers."),
    activation: str = typer.Option("relu", "--activation", help="Hidden activation."),
    seeds: int = typer.Option(4, "--seeds", help="Models per width, trained at once (K)."),
    seed: int = typer.Option(0, "--seed", help="Root seed of the models' streams and of the batch."),
    base_width: int = typer.Option(
        None,
        "--base-width",
        help="mup only: the width where muP is standard [default: the narrowest].",
        show_default=False,
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Also write coord-check.png, coord-check.json and report.html (figure, slopes, readings) here.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers as JSON instead of a table."),
) -> None:
    """How big every layer's activations get after a few steps as the width grows (TP5's coordinate check):
    a slope > 0 on log-log axes blows up with width; flat is width-independent. Data: 128 digits, full batch."""
    from . import coordcheck

    try:
        with user_input():
            shape = _parse_widths(widths)
            X, Y = coordcheck.digits_batch(128, rng=seed)
            if out is not None:
                check_output_folder(out)
            result = coordcheck.coord_check(
                X, Y, widths=shape, depth=depth, activation=activation, parametrization=parametrization,
                base_width=base_width, optimizer=optimizer, learning_rate=lr, steps=steps, seeds=seeds, rng=seed,
            )  # fmt: skip
    except UserError as exc:
        raise UserError(str(exc).replace("'--learning-rate'", "'--lr'")) from None
    numbers = _coord_numbers(result, seed)
    if out is not None:
        _write_coord_check(out, result, numbers)
    if as_json:
        sys.stdout.write(json.dumps(numbers) + "\n")
        return
    header = ["layer", *(f"slope after step {t}" if t else "slope at init" for t in range(result.steps + 1))]
    rows = [[name, *(numbers["slopes"]["size"][name][t] for t in range(result.steps + 1))] for name in result.layers]
    print_table(header, rows, title=_coord_title(result) + ": log-log slope of mean |activation| against width, seeds' mean (min to max)")  # fmt: skip
    for line in numbers["readings"]:
        print(line)


def _parse_widths(text: str) -> tuple[int, ...]:
    """'64,128,256' -> (64, 128, 256), or a UserError with an example."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise UserError(f"The '--widths' option must be comma-separated positive integers, e.g. 64,128,256,512. Got {text!r} instead.")  # fmt: skip
    return tuple(int(p) for p in parts)


def _coord_title(result) -> str:
    base = f", base width {result.base_width}" if result.base_width is not None else ""
    return (f"{result.parametrization}{base}, {result.optimizer} lr {result.learning_rate:g}, {result.activation} depth "
            f"{len(result.layers) - 1}, widths {result.widths[0]}-{result.widths[-1]}, {result.seeds} seeds")  # fmt: skip


def _coord_numbers(result, seed: int) -> dict:
    """The JSON of ``initlab coord-check``: the setting, every size and change, the slopes as table cells and numbers."""
    from .jsonable import jsonable

    slopes, cells = {}, {}
    for kind in ("size", "change"):
        mean, lo, hi = result.slope_summary(kind)  # (T + 1, L) each
        slopes[kind] = {"mean": mean.T, "min": lo.T, "max": hi.T}  # (L, T + 1)
        cells[kind] = {name: [f"{mean[t, j]:+.2f} ({lo[t, j]:+.2f} to {hi[t, j]:+.2f})" for t in range(len(mean))]
                       for j, name in enumerate(result.layers)}  # fmt: skip
    return jsonable({
        "parametrization": result.parametrization, "base_width": result.base_width, "optimizer": result.optimizer,
        "lr": result.learning_rate, "steps": result.steps, "depth": len(result.layers) - 1,
        "activation": result.activation, "init": result.init, "seeds": result.seeds, "seed": seed,
        "widths": list(result.widths), "layers": list(result.layers), "size": result.size, "change": result.change,
        "slope": slopes, "slopes": cells, "readings": result.readings(), "change_readings": result.readings("change"),
        "wall_time": result.wall_time, "estimate": {"bytes": result.estimate[0], "seconds": result.estimate[1]},
    })  # fmt: skip


def _write_coord_check(out: Path, result, numbers: dict) -> None:
    from .report import coordcheck as page
    from .report.figures import coord_check_panels, png_bytes

    fig = coord_check_panels(
        result.widths, {result.parametrization: result.size}, result.layers, title=_coord_title(result)
    )
    png = png_bytes(fig)
    files = {"coord-check.png": png, "coord-check.json": (json.dumps(numbers, indent=1) + "\n").encode(),
             "report.html": page.page(numbers, png, title=_coord_title(result)).encode()}  # fmt: skip
    _write_outputs(out, files)


@app.command("datasets")
def list_datasets() -> None:
    """List the built-in data sets (for --dataset); --csv FILE --target COLUMN trains on your own."""
    from . import datasets

    names = datasets.available()
    width = max(map(len, names))
    for name, summary in names.items():
        print(f"{name:<{width}}  {summary}")


def _parse_layers(text: str) -> tuple[int, ...]:
    """'2,10,5,1' -> (2, 10, 5, 1), or a ValueError with an example."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) < 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError(
            f"The 'layers' parameter must be at least two comma-separated positive integers, inputs first, e.g. 2,10,5,1. Got {text!r} instead."
        )
    return tuple(int(p) for p in parts)


def _parse_options(flag: str, items) -> dict:
    """['mode=fan_out', 'scale=10'] -> {'mode': 'fan_out', 'scale': 10}: numbers where they parse, else text."""
    options = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.isidentifier() or not value:
            raise UserError(f"'{flag}' must be KEY=VALUE with a name and a number or a word, e.g. {flag} mode=fan_out. Got {item!r} instead.")  # fmt: skip
        if key in options:
            raise UserError(
                f"'{flag}' {key} is given twice ({key}={options[key]!r} and {item!r}). Give each option once."
            )
        options[key] = _option_value(value)
    return options


def _option_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _options_text(options: dict) -> str:
    return "".join(f" {k}={v}" for k, v in options.items())


class _TrainProgress:
    """A rich progress bar on a terminal (stderr); plain lines otherwise, when
    :class:`initlab.jobs.progress.LineClock` says one is due (every 10 s or 10 %)."""

    def __init__(self, total: int, seeds: int, *, enabled: bool):
        from .jobs.progress import LineClock

        self.total, self.seeds = total, seeds
        self.lines = LineClock() if enabled and not sys.stderr.isatty() else None
        self.enabled = enabled and self.lines is None
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(f"training {self.seeds} seed(s)"), BarColumn(), TextColumn("{task.completed:>9,}/{task.total:,}"),
                                TimeElapsedColumn(), TimeRemainingColumn(), transient=True, console=Console(stderr=True))  # fmt: skip
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total)
        return self

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif self.lines is not None and self.lines.due(done, self.total):
            err(
                f"training {self.seeds} seed{'s' * (self.seeds > 1)}: {done:,}/{self.total:,} iterations ({done / self.total:.0%})"
            )

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _table_title(result) -> str:
    cfg = result.config
    title = f"Initialization notebook, seed {cfg.seed}, lr {cfg.learning_rate:g}, {cfg.iterations:,} iterations ({result.arithmetic} arithmetic)"
    if not cfg.is_notebook_default:
        title += " -- not the notebook's settings: its table depends on them"
    return title


class _Progress:
    """A rich progress bar per model on a terminal; one plain line per finished model otherwise."""

    def __init__(self, names, total: int, *, quiet: bool):
        self.names, self.total, self.quiet = names, total, quiet
        self.tty = sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        if self.tty and not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description:>7}"), BarColumn(), TextColumn("{task.completed:>6}/{task.total}"),
                                TimeElapsedColumn(), transient=True)  # fmt: skip
            self.bar.__enter__()
            self.tasks = {n: self.bar.add_task(n, total=self.total) for n in self.names}
        return self

    def update(self, name: str, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tasks[name], completed=done)
        elif not self.quiet and done == total:
            err(f"{name}: trained {total:,} iterations")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


@app.command()
def playground(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback lets other machines in."
    ),
    port: int = typer.Option(8000, "--port", help="TCP port (1-65535)."),
    allow_origin: list[str] = typer.Option(
        [],
        "--allow-origin",
        help="Another web origin allowed to use the playground "
        "(e.g. http://example.local:3000); repeatable. Only its own page is, otherwise.",
    ),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default web browser."),
) -> None:
    """Serve the playground: a local web page that trains small networks and shows what their initialization does.

    Works offline (all assets in the package). Only its own page (and --allow-origin) may use it. Stop it with Ctrl-C.
    """
    try:
        from .playground.guard import check_origin
        from .playground.server import is_loopback, probe, serve
    except ImportError as exc:
        raise UserError(
            f"the playground needs the web extra ({exc.name} is missing): pip install 'initlab[web]'"
        ) from None
    if not 1 <= port <= 65535:
        raise UserError(f"The '--port' option must be between 1 and 65535. Got {port} instead.")
    try:
        origins = [check_origin(o) for o in allow_origin]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        probe(host, port)
    except OSError as exc:
        raise UserError(
            f"could not listen on {host}:{port}: {exc.strerror or exc}. Choose another --port or --host."
        ) from None
    if not is_loopback(host):
        err(f"initlab: warning: --host {host} is not a loopback address: anyone who can reach this machine can use the playground and its CPU.")  # fmt: skip
    err(f"initlab playground on http://{'[' + host + ']' if ':' in host else host}:{port}/ (Ctrl-C stops it)")
    try:
        serve(host, port, open_browser=open_browser, allow_origins=origins)
    except OSError as exc:
        raise UserError(
            f"could not listen on {host}:{port}: {exc.strerror or exc}. Choose another --port or --host."
        ) from None


_GROUPS = ("sweep",)  # command groups: on their own they print their help


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 1 and argv[0] in _GROUPS:
        argv.append("--help")
    try:
        with warnings.catch_warnings():
            # numerical overflow is reported as divergence, in the table; a library's raw warning is noise here
            warnings.simplefilter("ignore")
            rv = app(args=argv or ["--help"], prog_name="initlab", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # --show-completion / --install-completion end with sys.exit
        return exc.code if isinstance(exc.code, int) else 0
    except (typer.Abort, KeyboardInterrupt):
        err("initlab: interrupted; nothing was written")
        return 130
    except (UserError, StoreError) as exc:
        err(f"initlab: error: {_one_line(str(exc))}")
        return 2
    except sqlite3.OperationalError as exc:  # a store's write failed mid-run (a full disk): what was committed stays
        err(
            f"initlab: error: the store could not be written ({exc}). What was committed is kept: free space and run "
            "the same command again to resume."
        )
        return 2
    except Exception as exc:
        # Usage errors (typer's click, vendored or not): one line, not click's usage box.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            err(f"initlab: error: {_one_line(_usage_message(exc))}")
            return 2
        raise


def _usage_message(exc) -> str:
    """click's message, but an unknown option suggests only a close spelling (click offers any option at all)."""
    name = getattr(exc, "option_name", None)
    if type(exc).__name__ != "NoSuchOption" or not name:
        return exc.format_message()
    import difflib

    close = difflib.get_close_matches(name, list(getattr(exc, "possibilities", None) or []), n=1, cutoff=0.75)
    command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "initlab"
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"No such option: {name}.{hint} `{command} --help` lists the options."


def _one_line(text: str) -> str:
    return " ".join(text.split())


_STUDY_OUT = Path("initlab-out/study")


@app.command("study")
def study(
    name: str = typer.Argument(
        None, help="The study to run; 'all' for every one; 'list' to describe them.", show_default=False
    ),
    quick: bool = typer.Option(False, "--quick", help="A small version that runs in seconds (what the tests run)."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Folder for study.sqlite, figure.png, result.json and report.html [default: initlab-out/study/NAME, or NAME-quick]; with 'all', the folder holding one such folder per study and index.html [default: initlab-out/study].",
        show_default=False,
    ),
    seeds: int = typer.Option(
        None,
        "--seeds",
        help="Seeds (independent networks) per configuration [default: the study's own].",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Root seed of everything random in the study."),
    workers: int = typer.Option(1, "--workers", help="Processes measuring the study's units at once."),
    executor: str = typer.Option("local", "--executor", help="'local' (a process pool) or 'dask'."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler, tcp://HOST:PORT."),
    new: bool = typer.Option(
        False, "--new", help="Start over in a fresh folder (OUT-2, OUT-3, ...) instead of resuming."
    ),
    dtype: str = typer.Option("float64", "--dtype", help="float64, or float32 for the studies that train networks."),
) -> None:
    """Reproduce a published claim about initialization: the evidence table, a figure and an honest verdict.

    `initlab study list` describes every study; `initlab study NAME --quick` runs a small version;
    `initlab study all` runs every study and writes an index page. Results are stored in
    OUT/study.sqlite as they come: run the same command again to resume an interrupted study, and
    `initlab report OUT` to draw the report again.
    """
    from . import studies
    from .jobs.executors import check_scheduler
    from .studies.store import StudyConflict, StudyStore
    from .validation import check_choice, check_int

    if name is None or name == "list":
        given = [flag for flag, used in (("--quick", quick), ("--out", out is not None), ("--seeds", seeds is not None),
                                         ("--seed", seed != 0), ("--workers", workers != 1), ("--executor", executor != "local"),
                                         ("--scheduler", scheduler is not None), ("--new", new),
                                         ("--dtype", dtype != "float64")) if used]  # fmt: skip
        if given:
            raise UserError(
                f"`initlab study list` takes no options; got {', '.join(given)}. Give them to `initlab study NAME`."
            )
        for key, st in studies.available().items():
            print(
                f"{key}\n  {st.paper}\n  claim: {st.claim}\n  quick: {st.default_seeds['quick']} seeds; "
                f"default: {st.default_seeds['default']} seeds"
            )
        print("all\n  every study above, one after the other, then index.html over their folders")
        return
    size = "quick" if quick else "default"
    names = list(studies.available()) if name == "all" else [name]
    base = (_STUDY_OUT if out is None else out) if name == "all" else None
    jobs = []  # (name, seeds, folder): everything is checked before anything runs
    try:
        check_int("seed", seed, min_value=0)
        check_int("workers", workers, min_value=1)
        check_choice("executor", executor, ("local", "dask"))
        if scheduler is not None:
            check_scheduler(scheduler)
        for key in names:
            n_seeds = studies.seeds_for(key, size, seeds)
            dtype = studies.check_dtype_of(key, dtype)
            # one study: --out itself; otherwise NAME (or NAME-quick) under --out of 'all' or initlab-out/study
            own = key if size == "default" else f"{key}-{size}"
            folder = out if name != "all" and out is not None else (base or _STUDY_OUT) / own
            check_output_folder(folder)
            if (folder / "sweep.sqlite").exists() and not new:
                raise ValueError(f"'--out' {folder} holds a sweep. Give another --out for the study, or add --new.")
            if not new:
                StudyStore.check(folder, studies.settings(key, size, n_seeds, seed, dtype))
            jobs.append((key, n_seeds, folder))
    except StudyConflict as exc:
        raise UserError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise UserError(as_option(str(exc).replace("The 'study' parameter", "NAME"))) from None
    done = []
    for key, n_seeds, folder in jobs:
        done.append(_run_study(key, size, n_seeds, seed, folder, workers=workers, new=new, dtype=dtype,
                               executor="dask" if scheduler else executor, scheduler=scheduler))  # fmt: skip
    if base is None:
        return
    from .report import study as study_report

    print_table(["study", "verdict", "margin", "seeds", "wall"],
                 [[k, "SUPPORTED" if r.verdict.supported else "NOT SUPPORTED", f"{r.verdict.margin:+.3g}", str(r.seeds),
                   f"{seconds:.1f} s"] for k, r, seconds in done], title=f"{len(done)} studies ({size})")  # fmt: skip
    try:
        index = study_report.write_index(base)
    except OSError as exc:
        raise write_error(base, exc) from None
    err(f"wrote {index} (every study in {base}/, open it in a browser)")


def _run_study(name: str, size: str, seeds: int, seed: int, out: Path, **options):
    """Run (or resume) one study into ``out``, print its table and verdict, write its page; return
    ``(name, result, wall seconds)``."""
    from . import studies
    from .jobs.progress import ProgressDisplay
    from .report import study as study_report

    workers = options["workers"]
    st = studies.get(name)
    dtype = "" if options["dtype"] == "float64" else f", {options['dtype']}"
    err(f"running study {name} ({size}, {seeds} seeds{dtype}, {workers} worker{'s' * (workers > 1)}) into {out}/ ...")
    try:
        with ProgressDisplay(what="study", items="units") as display:
            outcome = studies.execute(name, out, size=size, seeds=seeds, rng=seed, progress=display, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(as_option(str(exc))) from None
    except OSError as exc:
        raise write_error(out, exc) from None
    result = outcome.result
    print_table(result.header, result.rows, title=f"{name}: {st.claim}")
    print(f"verdict: {result.verdict}")
    resumed = f", {outcome.resumed} of {outcome.total} units were already done" if outcome.resumed else ""
    print(f"({result.seeds} seeds, {outcome.seconds:.1f} s wall, {result.wall_time:.1f} s of compute{resumed})")
    try:
        paths = study_report.write_result(st, result, outcome.out)
    except OSError as exc:
        raise write_error(outcome.out, exc) from None
    err(f"wrote {len(paths)} files and study.sqlite to {outcome.out}/ (open {paths['report.html']} in a browser)")
    return name, result, outcome.seconds


@app.command("report")
def draw_report(
    folder: Path = typer.Argument(
        ...,
        metavar="DIR",
        show_default=False,
        help="A sweep's or a study's output folder (the --out of `initlab sweep run` or `initlab study`).",
    ),
    out: Path = typer.Option(None, "--out", help="Folder for report.html [default: DIR]."),
) -> None:
    """Write a self-contained HTML report of a sweep (summary, loss curves, accuracy by scale and depth,
    boundaries) or of a study (verdict, evidence table, figure)."""
    from .report import study as study_report
    from .studies.store import STORE_NAME as STUDY_STORE
    from .studies.store import StudyMissing, StudyStore
    from .sweeps.store import STORE_NAME as SWEEP_STORE
    from .sweeps.store import Store, StoreMissing

    is_sweep, is_study = (folder / SWEEP_STORE).exists(), (folder / STUDY_STORE).exists()
    if is_study and not is_sweep:
        try:
            with _writing_report(), StudyStore.open(folder) as store:
                paths = study_report.write(store, folder if out is None else out)
        except (StudyMissing, ValueError) as exc:
            raise UserError(str(exc)) from None
        err(f"wrote {paths['report.html']} (open it in a browser)")
        return
    if not is_sweep and not is_study and study_report.study_folders(folder):  # `initlab study all`'s folder: its index
        with _writing_report():
            index = study_report.write_index(folder, out)
        err(f"wrote {index} (every study in {folder}/, open it in a browser)")
        return
    if not is_sweep:
        raise UserError(
            f"'{folder}' holds no sweep or study (neither {SWEEP_STORE} nor {STUDY_STORE} is there). "
            "Give the --out folder of `initlab sweep run` or `initlab study`."
        )
    from .report import sweep as sweep_report

    try:
        store = Store.open(folder)
    except StoreMissing as exc:
        raise UserError(str(exc)) from None
    with store, _writing_report():
        path = sweep_report.write(store, folder if out is None else out)
    err(f"wrote {path} (open it in a browser)")


@contextlib.contextmanager
def _writing_report():
    """An OSError while a report is written: a UserError asking for another --out."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}. Choose an --out you can write to.") from None


register_sweeps(app)  # the `initlab sweep` group


if __name__ == "__main__":  # python -m initlab.cli
    sys.exit(main())
