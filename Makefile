# Two commands do everything on a machine that has only python3:
#   make demo   -- create .venv, install initlab, run `initlab reproduce`
#   make test   -- create/update .venv, check formatting and lint (ruff), run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Extras installed into .venv; CI adds `peers` (torch, CPU build) so that the torch.nn.init cross-checks run.
EXTRAS ?= dev,web,dask
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	@echo "Installing initlab and its extras ($(EXTRAS)) into $(VENV)/ (about 2 minutes the first time) ..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	@echo "Running the notebook's experiment: $(BIN)/initlab reproduce ..."
	$(BIN)/initlab reproduce
	@echo "Next: $(BIN)/initlab --help (or: source $(BIN)/activate, then initlab --help)"

test: $(STAMP)
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_notebook.py

clean:
	rm -rf $(VENV) initlab-out .pytest_cache
