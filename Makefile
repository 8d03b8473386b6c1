# Two commands on a fresh clone: `make run` and `make test`. Both create .venv (Python 3.11) and
# install the pinned stack when missing. The lock is installed with --no-deps, so pip never
# resolves tfx (which backtracks for many minutes); tfx and ml-pipelines-sdk 1.16.0 declare
# Requires-Python <3.11 but work on 3.11, hence --ignore-requires-python for those two only.
# Every file is hash-checked (--require-hashes; requirements/README.md): the build backend first,
# so the lock's few sdists and the project build with it (--no-build-isolation) instead of an
# unverified setuptools fetched into a temporary build environment.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed
# Standalone LiteRT (ai-edge-litert, numpy 2) in its own environment: the runtime users deploy
# .tflite files with; the ExportPusher's parity gate and `predict` call it as a subprocess.
LITERT_VENV ?= .venv-litert
LITERT_PY := $(LITERT_VENV)/bin/python
LITERT_STAMP := $(LITERT_VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
IMAGE ?= image-classifier-pipeline:latest
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 1

.PHONY: run test test-fast lint install weights data-check benchmark benchmark-compression image clean-outputs

run: install weights
	$(PY) -m pipeline run $(ARGS)

test: install weights
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff with the project's small rule set (ruff.toml), hash-pinned in requirements/lint.txt.
LINT_STAMP := $(VENV)/.lint-installed

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check .

$(LINT_STAMP): requirements/lint.txt | $(PY)
	$(PIP) install --no-deps --require-hashes -r requirements/lint.txt
	touch $(LINT_STAMP)

# The inner loop: everything but the slow end-to-end pipeline runs (a few minutes).
test-fast: install weights
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

install: $(STAMP) $(LITERT_STAMP)

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found. This project needs Python 3.11 (TFX 1.16 stack):"; \
	  echo "  install it (e.g. 'apt-get install python3.11 python3.11-venv' or 'pyenv install 3.11')"; \
	  echo "  or point make at one: make run PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "error: $(PYTHON) is not Python 3.11 ($$($(PYTHON) --version)); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/build.txt requirements/lock.txt requirements/tfx.txt setup.py | $(PY)
	$(PIP) install --no-deps --require-hashes -r requirements/build.txt
	$(PIP) install --no-deps --require-hashes --no-build-isolation -r requirements/lock.txt
	$(PIP) install --no-deps --require-hashes --ignore-requires-python -r requirements/tfx.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(LITERT_STAMP): requirements/litert-lock.txt | $(PY)
	$(PYTHON) -m venv $(LITERT_VENV)
	$(LITERT_PY) -m pip --disable-pip-version-check -q install --no-deps --require-hashes -r requirements/litert-lock.txt
	touch $(LITERT_STAMP)

# ImageNet VGG16 conv weights, provisioned offline when the Keras download is unreachable.
weights: install
	$(PY) -m pipeline weights

data-check: install
	$(PY) data/build_dataset.py --verify

benchmark: install weights
	$(PY) benchmarks/quick_profile.py

# Dense control vs pruned + int8 deployed model, >= 3 seeds on all 2,000 test images of the two
# classes (needs the dataset-fashion-mnist Debian package); BENCH_ARGS e.g. "--image-size 32".
BENCH_ARGS ?=
benchmark-compression: install weights
	nice $(PY) benchmarks/compression.py $(BENCH_ARGS)

# The pipeline image Kubeflow / Vertex runs (Dockerfile: the same install steps as above; needs a
# Docker engine): make image IMAGE=<registry>/<name>:<tag>, docker push it, then
# python -m pipeline compile|submit|schedule --set vertex.default_image=<registry>/<name>:<tag>
image:
	docker build -t $(IMAGE) .

clean-outputs:
	rm -rf outputs
