# Two commands do everything on a machine that has only python3:
#   make demo   -- create .venv, install initlab, run `initlab reproduce`
#   make test   -- create/update .venv, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,web,dask]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/initlab reproduce

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_notebook.py

clean:
	rm -rf $(VENV) initlab-out .pytest_cache
