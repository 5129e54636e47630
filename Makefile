# Resonance: `make demo` and `make test` are all a newcomer needs.
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: help install test demo bench lint format
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv and install the project with its dev extras

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: install lint ## lint, then run the whole suite (starts its own broker and embedded ClickHouse)
	scripts/system-deps.sh
	$(PY) -m pytest

demo: install ## run the main job on embedded defaults
	$(VENV)/bin/resonance demo $(ARGS)

bench: install ## print benchmark figures (a few minutes each; see README "Performance")
	$(PY) benchmarks/engines.py
	$(PY) benchmarks/binning_cost.py
	$(PY) benchmarks/stream_throughput.py
	$(PY) benchmarks/memory.py

lint: install ## ruff lint and format check, import layers (import-linter), mypy --strict on processors/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
