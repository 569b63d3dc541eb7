# Quick start: `make run` (demo workflow end to end) and `make test` (the whole suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit golden schemas pictures bench bench-peers fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall only when the project metadata changes; the install is editable.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/prodigy run workflows/demo.yml

# The checkout has the installed layout (prodigy/compiler, prodigy/runtime, ... are symlinks to
# the top-level folders), so mypy checks the package in place. ruff does not follow the links,
# so it sees each file once, by its top-level path.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy -p prodigy

test: lint
	$(BIN)/pytest --durations=10

# The fast loop (seconds): no end-to-end, real-process executor or slow tests.
unit: $(STAMP)
	$(BIN)/pytest -m "not e2e and not process and not slow"

golden: $(STAMP)
	UPDATE_GOLDEN=1 $(BIN)/pytest tests -k "golden or readme"

# The per-kind part of schemas/plan.schema.json, generated from runtime/nodes.py
# (tests/runtime/test_plan_schema.py fails while it is stale).
schemas: $(STAMP)
	$(BIN)/python -m prodigy.runtime.plan_schema

# The README's picture of a map. The DOT text is deterministic and a test holds it equal to what
# the emitter gives now; the SVG is what this graphviz makes of it (tests/compiler/test_emit_svg).
pictures: $(STAMP)
	$(BIN)/prodigy compile workflows/mapreduce.yml --emit dot -o workflows/mapreduce.dot
	dot -Tsvg workflows/mapreduce.dot -o workflows/mapreduce.svg

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_filter.py
	$(BIN)/python bench/bench_compile.py
	$(BIN)/python bench/bench_exec.py
	$(BIN)/python bench/bench_map.py

# prodigy against xargs, GNU parallel (from the system, skipped where absent), Dask and Snakemake
# on the same work; replaces the "Peers (issue 19)" section of bench/RESULTS.md. The defaults take
# 15-25 minutes on a quiet 2-core box; BENCH_PEERS_ARGS="--sizes 1000 --repeat 1" for a quick look.
bench-peers: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/bench_peers.py $(BENCH_PEERS_ARGS)

# Hostile workflow files through the real validate and compile for FUZZ_SECONDS (default 60);
# fails on any exit 3, any input over 10 s or 1 GiB (kept in build/fuzz-failures/).
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_hostile.py

clean:
	rm -rf build dist *.egg-info .prodigy
