# The two commands of the README: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO ?= demo

.PHONY: install demo test test-fast test-spark35 bench notebook figures slides clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "fruits needs Python >= 3.10; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fruits sample $(DEMO)/photos --n-per-class 40
	$(VENV)/bin/fruits run $(DEMO)/photos $(DEMO)/output --weights auto
	@echo "demo outputs are in $(DEMO)/output (open them with: $(VENV)/bin/fruits serve $(DEMO)/output)"

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser"

# EMR 7 ships Spark 3.5: the Spark tests again, in a second venv with pyspark 3.5.
VENV35 ?= .venv-spark35
$(VENV35)/.installed-stamp: pyproject.toml
	test -x $(VENV35)/bin/python || $(PYTHON) -m venv $(VENV35)
	$(VENV35)/bin/python -m pip install --quiet --upgrade pip
	$(VENV35)/bin/python -m pip install --quiet 'pyspark==3.5.*' -e '.[dev]'
	touch $@

test-spark35: $(VENV35)/.installed-stamp
	$(VENV35)/bin/python -m pytest -p no:cacheprovider tests/spark/test_job.py tests/spark/test_featurize.py \
		tests/spark/test_pca.py tests/cli/test_run_cli.py

# Featurization throughput (see docs/performance.md). BENCH_ARGS="--repeat 10" for the scale check.
bench: $(STAMP)
	$(PY) benchmarks/featurize.py $(BENCH_ARGS)

# The notebook, re-executed top to bottom on the 114-class slice and saved with its outputs (French narrative).
# Minutes on 2 cores; its OUTPUT is also the run the figures and the demo use. CI executes it on a small sample
# without saving it (tests/test_notebook.py).
SHARED ?= ../shared
NOTEBOOK_RUN ?= out/notebook-114
notebook: $(STAMP)
	$(PY) notebooks/execute.py

# The figures of the docs and the slides, from generated files: the notebook's run (made by `make notebook`, or by
# `fruits run` here if it is missing), the benchmark JSON (rm docs/figures/benchmark.json to measure again: minutes),
# the photos of ../shared (montages) and the browser test's screenshots. Labels in French, for the deck.
FIGURES_RUN ?= $(NOTEBOOK_RUN)
$(FIGURES_RUN)/manifest.json:
	$(VENV)/bin/fruits run $(SHARED)/data/fruits-360-114 $(FIGURES_RUN) \
		--weights $(SHARED)/models/mobilenet_v2_backbone_160.weights.h5
docs/figures/benchmark.json:
	mkdir -p docs/figures
	$(PY) benchmarks/featurize.py --json docs/figures/benchmark.json
figures: $(STAMP) $(FIGURES_RUN)/manifest.json docs/figures/benchmark.json
	$(PY) docs/make_figures.py --run $(FIGURES_RUN) --bench docs/figures/benchmark.json
	$(PY) docs/make_montage.py --shared $(SHARED)

# The defence deck: docs/slides.md (Marp) -> docs/slides.html, next to docs/figures/ so its images resolve.
# marp-cli is pinned in package.json / package-lock.json; HTML output needs no browser. The "preuve d'exécution"
# slide is written first from the newest run report in docs/evidence/ (docs/make_evidence.py).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

slides: node_modules/.installed
	$(PYTHON) docs/make_evidence.py
	npx marp --html --allow-local-files docs/slides.md -o docs/slides.html

clean:
	rm -rf $(VENV) $(VENV35) $(DEMO) node_modules docs/slides.html .pytest_cache build dist src/*.egg-info
