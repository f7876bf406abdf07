# The two commands of the README: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO ?= demo

.PHONY: install demo test test-fast test-spark35 s3a-jars bench notebook figures slides clean

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

# EMR 7 ships Spark 3.5: the Spark tests again, in a second venv with pyspark 3.5. That venv holds pyspark 3.5 (and
# its py4j) only and borrows everything else from the main venv: installing '.[dev]' into it a second time
# (TensorFlow and all, minutes of CI) gave the same versions anyway, pyspark 3.5.x accepting the main venv's py4j,
# numpy, pandas and pyarrow, so the two venvs differed by pyspark alone. A .pth file in its site-packages appends
# this checkout's src (what `pip install -e .` gave it) and the main venv's site-packages (site.addsitedir also runs
# that folder's .pth files); its own site-packages comes first on sys.path, so its pyspark shadows the main venv's
# 4.x. pip (the main venv's, through --python: this venv has no pip nor setuptools to shadow the main venv's) runs
# before the .pth exists, in a venv made afresh each time: it never sees a package of the main venv, and so can
# never uninstall one. Rebuilding it takes seconds, so it follows the main venv's stamp.
VENV35 ?= .venv-spark35
$(VENV35)/.installed-stamp: pyproject.toml $(STAMP)
	rm -rf $(VENV35)
	$(PY) -m venv --without-pip $(VENV35)
	$(PY) -m pip --python $(VENV35)/bin/python install --quiet 'pyspark==3.5.*'
	$(VENV35)/bin/python -c 'import sys, sysconfig; open(sysconfig.get_path("purelib") + "/fruits-main-venv.pth", "w").write(f"{sys.argv[1]}\nimport site; site.addsitedir({sys.argv[2]!r})\n")' \
		$(abspath src) "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	$(VENV35)/bin/python -c 'import pyspark, py4j, fruits; print("pyspark", pyspark.__version__, pyspark.__file__, py4j.__file__, fruits.__file__); assert pyspark.__version__.startswith("3.5.")'
	touch $@

# hadoop-aws and the AWS SDK bundle for `fruits run --s3a-jars DIR` where Maven Central is out of reach: the
# sagemaker-pyspark 1.4.5 sdist on PyPI carries hadoop-aws-3.3.1 and aws-java-sdk-bundle-1.11.901 (for pyspark
# 3.5's Hadoop 3.3.x). Fetched with pip, checked against this sha256, the two jars kept.
S3A_JARS ?= .cache/s3a-jars
SAGEMAKER_PYSPARK_SDIST := sagemaker_pyspark-1.4.5.tar.gz
SAGEMAKER_PYSPARK_SHA256 := 05ca2d5081d7138ce29a8fb0a9cba077f28c825288ed07aed46a82e63c0bf1fb
$(S3A_JARS)/.installed-stamp:
	rm -rf $(S3A_JARS) && mkdir -p $(S3A_JARS)/download
	$(PYTHON) -m pip download --quiet --no-deps --no-binary :all: --dest $(S3A_JARS)/download 'sagemaker-pyspark==1.4.5'
	echo '$(SAGEMAKER_PYSPARK_SHA256)  $(S3A_JARS)/download/$(SAGEMAKER_PYSPARK_SDIST)' | sha256sum --check --quiet
	tar -xzf $(S3A_JARS)/download/$(SAGEMAKER_PYSPARK_SDIST) -C $(S3A_JARS) --strip-components=3 \
		sagemaker_pyspark-1.4.5/deps/jars/hadoop-aws-3.3.1.jar sagemaker_pyspark-1.4.5/deps/jars/aws-java-sdk-bundle-1.11.901.jar
	rm -rf $(S3A_JARS)/download
	touch $@

s3a-jars: $(S3A_JARS)/.installed-stamp

# Only what Spark 3.5 itself can break: the job and the PCA on 3.5's APIs, the EMR node emulated (a venv built as
# bootstrap.sh builds it, pyspark on PYTHONPATH as YARN puts it), and `fruits run s3a://` (full and --incremental) /
# `fruits serve s3://` on the moto server, with the S3A jars above. The featurize UDF runs inside test_job's runs;
# the CLI's flags and messages do not depend on the Spark version (`make test` checks them).
# Nor do three of test_job's tests, left to `make test`: the guards of OUTPUT on a re-run (a re-run replaces the
# outputs, a foreign folder needs --overwrite, a failed re-run drops the old manifest) are fruits.spark.steps'
# prepare_output, Python over Hadoop's FileSystem calls (exists, list, delete, mkdirs, create) that every run of
# this suite makes too, followed by the same overwrite-mode writes; each of the three costs a full run (about
# 45 s of CI in all).
SPARK35_SAME_AS_MAIN := test_rerun_replaces_the_outputs test_foreign_non_empty_output_is_refused_unless_overwrite \
	test_a_failed_rerun_leaves_no_manifest_claiming_success
test-spark35: $(VENV35)/.installed-stamp $(S3A_JARS)/.installed-stamp
	FRUITS_S3A_JARS=$(abspath $(S3A_JARS)) $(VENV35)/bin/python -m pytest -p no:cacheprovider \
		$(SPARK35_SAME_AS_MAIN:%=--deselect tests/spark/test_job.py::%) \
		tests/spark/test_job.py tests/spark/test_pca.py \
		tests/cloud/test_emr_node.py tests/cloud/test_s3_end_to_end.py

# Throughput (see docs/performance.md): the Keras loop, the engine alone, fruits run and Spark's predict_batch_udf
# on the 114-class slice, in one run. BENCH_ARGS="--sample" for the 4-class sample, "--repeat 10" for scale.
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
	$(PY) benchmarks/featurize.py --sample --contenders keras-loop,litert,keras --json docs/figures/benchmark.json
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
	rm -rf $(VENV) $(VENV35) $(S3A_JARS) $(DEMO) node_modules docs/slides.html .pytest_cache build dist src/*.egg-info
