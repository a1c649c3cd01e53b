"""Sweep specs: TOML -> frozen dataclasses, canonical identity, and messages that point at the key."""

import dataclasses
import textwrap

import pytest

from initlab.sweeps import (
    DataSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    SpecError,
    SweepSpec,
    load_spec,
    parse_spec,
)
from initlab.sweeps.plan import make_plan

GOOD = """
name = "demo"
seeds = 3
iterations = [100, 200]
record_every = 10
diagnostics = false
loss_threshold = 0.2

[data]
dataset = ["circles", "moons"]
noise = 0.1
data_seed = 7

[model]
depth = [3, 5]
width = 8
activation = ["relu", "tanh"]

[[init]]
name = "random"
scale = [0.1, 10]

[[init]]
name = "he_normal"
options = {mode = "fan_out"}

[[init]]
name = "lsuv"
options = {tol = 0.05}

[[optimizer]]
name = "gd"
learning_rate = [0.01, 0.1]

[[optimizer]]
name = "adam"
learning_rate = 0.001
beta1 = 0.8
batch_size = 32
"""


def parse(text: str, source: str = "spec.toml") -> SweepSpec:
    return parse_spec(textwrap.dedent(text), source=source)


def test_a_full_spec_reads_into_the_dataclasses():
    spec = parse(GOOD)
    assert spec.name == "demo" and spec.seeds == (0, 1, 2) and spec.iterations == (100, 200)
    assert spec.data == (DataSpec(("circles", "moons"), noise=0.1, data_seed=7),)
    assert spec.model == ModelSpec(depth=(3, 5), width=8, activation=("relu", "tanh"))
    assert spec.model.architectures() == ((8, 8), (8, 8, 8, 8))
    assert spec.init[0] == InitSpec("random", scale=(0.1, 10.0))
    assert spec.init[1].options == (("mode", "fan_out"),)
    assert spec.optimizer[1] == OptimizerSpec("adam", (0.001,), {"batch_size": 32, "beta1": 0.8})
    assert (spec.record_every, spec.diagnostics, spec.loss_threshold, spec.engine) == (10, False, 0.2, "numpy")
    # 2 datasets x 2 depths x 2 activations x 4 init variants x 3 optimizer variants x 2 iterations x 3 seeds
    assert len(make_plan(spec).runs) == 2 * 2 * 2 * 4 * 3 * 2 * 3


def test_defaults_are_the_notebook():
    spec = parse('[[init]]\nname = "he_normal"\n')
    assert spec.data == (DataSpec(("circles",)),) and spec.model.architectures() == ((10, 5),)
    assert spec.optimizer == (OptimizerSpec("gd", (0.01,)),) and spec.iterations == (15000,)
    assert spec.seeds == tuple(range(10))


def test_python_and_toml_are_the_same_spec():
    from_toml = parse(GOOD)
    by_hand = SweepSpec(
        init=(InitSpec("random", scale=[0.1, 10]), InitSpec("he_normal", {"mode": "fan_out"}), InitSpec("lsuv", {"tol": 0.05})),
        data=DataSpec(["circles", "moons"], noise=0.1, data_seed=7),
        model=ModelSpec(depth=[3, 5], width=8, activation=["relu", "tanh"]),
        optimizer=(OptimizerSpec("gd", [0.01, 0.1]), OptimizerSpec("adam", 0.001, {"beta1": 0.8, "batch_size": 32})),
        seeds=3, iterations=[100, 200], record_every=10, diagnostics=False, loss_threshold=0.2, name="demo",
    )  # fmt: skip
    assert by_hand == from_toml
    assert SweepSpec.from_dict(from_toml.to_dict()) == from_toml


def test_fingerprint_ignores_formatting_name_and_threshold_but_not_the_grid():
    spec = parse(GOOD)
    reformatted = parse(GOOD.replace('name = "demo"', 'name = "other"  # renamed').replace("loss_threshold = 0.2", ""))
    assert reformatted.fingerprint() == spec.fingerprint()
    assert parse(GOOD.replace("seeds = 3", "seeds = 4")).fingerprint() != spec.fingerprint()
    assert len(spec.fingerprint()) == 64


def test_load_spec_takes_the_stem_as_default_name(tmp_path):
    path = tmp_path / "my_sweep.toml"
    path.write_text('[[init]]\nname = "zeros"\n')
    spec, text = load_spec(path)
    assert spec.name == "my_sweep" and text.startswith("[[init]]")


def test_spec_is_frozen():
    spec = parse('[[init]]\nname = "zeros"\n')
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seeds = (1,)


# ---------------------------------------------------------------------------------------------
# Bad specs: each message names the file, the key, what is allowed and what came
# ---------------------------------------------------------------------------------------------
BAD = [
    ("iteration = 5\n[[init]]\nname = 'zeros'",
     ["spec.toml", "Unknown key 'iteration'", "Did you mean 'iterations'?", "Allowed:", "seeds"]),
    ("[[init]]\nname = 'he_normal'\nscales = [1]",
     ["spec.toml", "[[init]] #1 ('he_normal')", "Unknown key 'scales'", "Did you mean 'scale'?"]),
    ("[[init]]\nname = 'hee_normal'",
     ["spec.toml", "[[init]] #1", "The 'name' key must be an initializer", "'he_normal'", "Did you mean 'he_normal'?",
      "Got 'hee_normal'"]),
    ("[[init]]\nname = 'he_normal'\noptions = {mod = 'fan_out'}",
     ["spec.toml", "[[init]] #1", "Unknown option 'mod' for initializer 'he_normal'", "Did you mean mode?", "Allowed:"]),
    ("seeds = []\n[[init]]\nname = 'zeros'", ["spec.toml", "The 'seeds' key is an empty list", "grid has no runs"]),
    ("[model]\nactivation = []\n[[init]]\nname = 'zeros'", ["[model]", "The 'activation' key is an empty list"]),
    ("iterations = 'many'\n[[init]]\nname = 'zeros'", ["spec.toml", "The 'iterations' key must be an integer", "'many'"]),
    ("iterations = 0\n[[init]]\nname = 'zeros'", ["The 'iterations' key must be >= 1", "Got 0"]),
    ("diagnostics = 'yes'\n[[init]]\nname = 'zeros'", ["The 'diagnostics' key must be true or false"]),
    ("seeds = true\n[[init]]\nname = 'zeros'", ["The 'seeds' key must be a count"]),
    ("[data]\ndataset = 'circle'\n[[init]]\nname = 'zeros'",
     ["spec.toml", "[data]", "The 'dataset' key must be one of", "'circles'", "Got 'circle'"]),
    ("[model]\nactivation = 'rleu'\n[[init]]\nname = 'zeros'",
     ["[model]", "The 'activation' key must be one of", "'relu'", "Got 'rleu'"]),
    ("[model]\ndepth = [3]\n[[init]]\nname = 'zeros'", ["[model]", "'depth' and 'width'", "go together"]),
    ("[model]\nhidden = [10]\ndepth = [3]\nwidth = 4\n[[init]]\nname = 'zeros'", ["[model]", "not both"]),
    ("[model]\nhidden = [10, [5]]\n[[init]]\nname = 'zeros'", ["[model]", "mixes numbers and lists"]),
    ("[[init]]\nname = 'random'\noptions = {scale = 10}", ["[[init]] #1 ('random')", "must not set 'scale'", "scale = [0.1, 10]"]),
    ("[[init]]\nname = 'random'\nscale = [1, 1]", ["The 'scale' key lists 1.0 more than once"]),
    ("[[init]]\nname = 'random'\nscale = -1", ["The 'scale' key must be > 0.0", "Got -1.0"]),
    ("[[init]]\nname = 'lsuv'\noptions = {tolerance = 0.1}", ["[[init]] #1 ('lsuv')", "Unknown option", "tol, max_iter"]),
    ("[[init]]\noptions = {}", ["[[init]] #1", "The 'name' key is missing"]),
    ("seeds = 3", ["spec.toml", "The 'init' key is missing", "[[init]]"]),
    ("init = []", ["spec.toml", "The 'init' key is empty"]),
    ("[[init]]\nname = 'zeros'\n[[optimizer]]\nname = 'adamw'",
     ["[[optimizer]] #1 ('adamw')", "The 'name' key must be one of", "'adam'", "Got 'adamw'"]),
    ("[[init]]\nname = 'zeros'\n[[optimizer]]\nname = 'gd'\nbatch_size = 8",
     ["[[optimizer]] #1 ('gd')", "'batch_size'", "full-batch", "sgd"]),
    ("[[init]]\nname = 'zeros'\n[[optimizer]]\nname = 'adam'\nbeta = 0.9",
     ["[[optimizer]] #1 ('adam')", "Unknown option 'beta'", "beta1"]),
    ("[[init]]\nname = 'zeros'\n[[optimizer]]\nlearning_rate = 0", ["The 'learning_rate' key must be > 0.0"]),
    ("engine = 'cuda'\n[[init]]\nname = 'zeros'", ["The 'engine' key must be one of", "'numpy'", "Got 'cuda'"]),
    ("[[init]\nname = 'zeros'", ["spec.toml: not valid TOML", "line 1"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_specs_say_where_what_is_allowed_and_what_came(text, expected):
    with pytest.raises(SpecError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith("spec.toml: ")
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "parameter" not in message  # TOML has keys


def test_a_grid_with_the_same_run_twice_is_refused():
    spec = parse("[[init]]\nname = 'zeros'\n[[init]]\nname = 'zeros'")
    with pytest.raises(ValueError, match=r"holds the run 'zeros/seed=0' twice.*List each once"):
        make_plan(spec)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match=r"nope\.toml: cannot read the sweep spec"):
        load_spec(tmp_path / "nope.toml")
