# Resonance: `make demo` and `make test` are all a newcomer needs.
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
FUZZ_SECONDS ?= 60
FUZZ_DIR := test-artifacts/fuzz

.PHONY: help install test demo bench lint format fuzz
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

fuzz: install ## fuzz the decoder with atheris for FUZZ_SECONDS (default 60); crashes land in test-artifacts/fuzz/
	@$(PY) -c 'import atheris' 2>/dev/null || $(PY) -m pip install -q -e '.[fuzz]' >/dev/null 2>&1 || true
	@$(PY) -c 'import atheris' 2>/dev/null || { echo "make fuzz: atheris cannot be installed here ($(PY) -m pip install -e '.[fuzz]' failed): nothing was fuzzed"; exit 2; }
	@mkdir -p $(FUZZ_DIR)/corpus
	@$(PY) fuzz/decoder_fuzz.py -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_DIR)/ \
		$(FUZZ_DIR)/corpus > $(FUZZ_DIR)/fuzz.log 2>&1; rc=$$?; \
	grep -E '^(Done|#[0-9]+ +DONE)' $(FUZZ_DIR)/fuzz.log | sed 's/^/make fuzz: /'; \
	crashes=$$(ls $(FUZZ_DIR)/crash-* $(FUZZ_DIR)/timeout-* $(FUZZ_DIR)/oom-* 2>/dev/null); \
	if [ $$rc -ne 0 ] || [ -n "$$crashes" ]; then \
		grep -E -A12 'Traceback|ERROR' $(FUZZ_DIR)/fuzz.log | head -40; \
		echo "make fuzz: FOUND a failing input (exit $$rc): $${crashes:-see $(FUZZ_DIR)/fuzz.log}"; exit 1; \
	fi; \
	echo "make fuzz: no failing input in $(FUZZ_SECONDS) s (corpus $(FUZZ_DIR)/corpus, log $(FUZZ_DIR)/fuzz.log)"
