# Every target creates/updates .venv first. torch is pinned to the CPU build that lies on this machine's disk.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install test test-all lint docs demo bench reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[all,dev]"
	# The official Chinese-CLIP package, for the training-semantics test; its pins (lmdb==1.3.0, torchvision
	# for a CUDA torch) do not fit, and its model code needs none of them.
	$(PY) -m pip install -q --no-deps "cn_clip==1.6.0"
	touch $(STAMP)

install: $(STAMP)

# The default run (what CI runs, on two pytest-xdist workers: 16.5 minutes in one process on an AVX2-only CI-kind
# machine) skips tests marked slow: the fresh-virtualenv wheel test, every command with
# the extras hidden, full-size ViT-B-16 models, text recall on real embeddings.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m pytest -q tests/test_layers.py  # the import contract (layers import one way)

# The docs site (MkDocs, Material theme) into site/; --strict turns every warning (a broken link, a missing page)
# into a failure. Its generated pages are rewritten by benchmarks/render_results.py and docs/render_cli.py.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

demo: $(STAMP)
	$(VENV)/bin/zhclip demo

# Slow measurements (never part of `make test`); each prints ratios against a baseline of the same run.
# Each writes its results file (benchmarks/results/machines/<kind>/); then render the pages.
bench: $(STAMP)
	$(VENV)/bin/zhclip bench encode --random-arch ViT-B-16 --rounds 2 --json "$$($(PY) -m benchmarks.results_json bench-encode)"
	$(PY) -m benchmarks.search_query
	$(PY) -m benchmarks.search_index
	$(PY) -m benchmarks.render_results

# Long reliability/security checks (fuzzing, load, SIGKILL loops, hostile files); prints one summary table.
# RELIABILITY_ARGS=--quick for a shorter run.
reliability: $(STAMP)
	$(PY) -m benchmarks.reliability.run $(RELIABILITY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build dist site src/*.egg-info
