# The image every component of the compiled pipeline runs in (Kubeflow Pipelines v2 / Vertex AI):
#   make image IMAGE=us-central1-docker.pkg.dev/<project>/<repo>/image-classifier:<tag>
#   docker push <that tag>; then compile/submit with --set vertex.default_image=<that tag>
# The install steps are the Makefile's `install` steps (tests/pipeline/test_kubeflow_compile.py
# checks that they match), every file hash-checked (--require-hashes, requirements/README.md): the
# build backend, the pinned lock with --no-deps (pip never resolves tfx) and --no-build-isolation
# (its few sdists build with that verified backend), tfx and ml-pipelines-sdk 1.16.0 with
# --ignore-requires-python, then the project itself.
#
# The base image: a tag moves. Pin it by digest for reproducible, tamper-evident builds (resolve
# the digest where a registry is reachable, review it, then pass or commit it):
#   docker buildx imagetools inspect python:3.11-bookworm    # or: crane digest python:3.11-bookworm
#   docker build --build-arg BASE_IMAGE=python:3.11-bookworm@sha256:<digest> -t <tag> .
ARG BASE_IMAGE=python:3.11-bookworm
FROM ${BASE_IMAGE}

# The compiled spec does not carry the environment: Keras 2 (tf-keras) must be set here.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TFX_IMAGE_WEIGHTS_CACHE=/app/weights

WORKDIR /app

# Dependencies first: this layer is reused while only the project's code changes.
COPY requirements/build.txt requirements/lock.txt requirements/tfx.txt requirements/
RUN python -m pip --disable-pip-version-check -q install --no-deps --require-hashes -r requirements/build.txt \
 && python -m pip --disable-pip-version-check -q install --no-deps --require-hashes --no-build-isolation -r requirements/lock.txt \
 && python -m pip --disable-pip-version-check -q install --no-deps --require-hashes --ignore-requires-python -r requirements/tfx.txt

# Standalone LiteRT in its own environment (numpy 2), as `make` builds .venv-litert: the parity
# gate runs every .tflite in it before pushing.
COPY requirements/litert-lock.txt requirements/litert-lock.txt
RUN python -m venv /app/.venv-litert \
 && /app/.venv-litert/bin/python -m pip --disable-pip-version-check -q install --no-deps --require-hashes -r requirements/litert-lock.txt

# The project, baked in: components load module code by dotted path (modules.trainer.run_fn, ...),
# so nothing is uploaded at compile or run time. The embedded data set comes along
# (/app/data/fashion_binary, the compiled pipeline's default data_root).
COPY . .
RUN python -m pip --disable-pip-version-check -q install --no-deps --no-build-isolation -e . \
 && python -m pipeline weights \
 && python -c "import pipeline.pipeline, modules.trainer, components.export_pusher.executor, components.image_example_gen.executor, components.exact_auc, components.predicted_classes"
# ImageNet VGG16 weights provisioned above at /app/weights/vgg16_imagenet_notop.h5
# (vertex.weights_path).

CMD ["python", "-m", "pipeline", "--help"]
