"""`python -m pipeline compile`: the KFP v2 / Vertex spec, checked hermetically (no cloud access).

The pipeline is compiled into a temp dir with a gs:// pipeline root (offline: module code is
referenced by dotted path, so TFX uploads nothing), then the JSON is checked: every component,
the DAG edges, the Pusher's trigger condition on the blessing, the runtime parameters, the image,
the Beam args, and that kfp's own PipelineSpec / PipelineJob protos parse it. Plus the Dockerfile:
the same install steps as the Makefile.
"""
import json
import os
import re
import subprocess
import sys

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.tfma_gates import applied_bound
from pipeline.__main__ import main
from pipeline.config import REPO_ROOT, ConfigError, load_config
from pipeline.kubeflow_v2_runner import (IMAGE_WORKDIR, PLACEHOLDER_PIPELINE_ROOT,
                                         compile_pipeline, create_kubeflow_pipeline,
                                         executor_command, image_problem)
from pipeline.vertex import check_image

IMAGE = "us-central1-docker.pkg.dev/test-project/pipelines/image-classifier:test"
ROOT = "gs://test-bucket/tfx-root"
BASE = [f"vertex.pipeline_root={ROOT}", f"vertex.default_image={IMAGE}"]
COMPONENTS = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Tuner", "Trainer", "Evaluator", "ExportPusher"]
RESOLVER = "latest_blessed_model_resolver"
BEAM_COMPONENTS = ["ImageExampleGen", "StatisticsGen", "Transform", "Evaluator"]
# TFX's executor entry point, wrapped (pipeline/container_executor.py); finish_spec writes it.
RUN_EXECUTOR = ["python", "-m", "pipeline.container_executor"]
TFX_RUN_EXECUTOR = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    config = load_config(overrides=BASE)
    path = tmp_path_factory.mktemp("kfp") / "pipeline.json"
    returned = compile_pipeline(config, str(path))
    job = json.loads(path.read_text())
    assert job == returned
    return {"config": config, "job": job, "spec": job["pipelineSpec"],
            "tasks": job["pipelineSpec"]["root"]["dag"]["tasks"],
            "executors": job["pipelineSpec"]["deploymentSpec"]["executors"]}


def _sets(items):
    return [a for item in items for a in ("--set", item)]


def _params(task):
    return task.get("inputs", {}).get("parameters", {})


def _constant(task, name):
    return _params(task)[name]["runtimeValue"]["constant"]


def _container(compiled, task_name):
    label = compiled["spec"]["components"][task_name]["executorLabel"]
    return compiled["executors"][label]["container"]


# ------------------------------------------------------------------------------ structure


def test_spec_parses_with_kfp_protos(compiled):
    spec = json_format.ParseDict(compiled["spec"], pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == compiled["config"].pipeline_name
    assert spec.schema_version == "2.1.0" and spec.sdk_version.startswith("tfx-")
    job = json_format.ParseDict(compiled["job"], pipeline_spec_pb2.PipelineJob())
    assert job.runtime_config.gcs_output_directory == ROOT
    assert set(spec.root.dag.tasks) == set(compiled["tasks"])


def test_every_component_is_a_task(compiled):
    tasks = set(compiled["tasks"])
    assert set(COMPONENTS) <= tasks
    assert {f"{RESOLVER}-model-blessing-resolver", f"{RESOLVER}-model-resolver"} <= tasks
    # ... and every node of the pipeline, whatever else it holds (a resolver becomes 2 tasks).
    for node in create_kubeflow_pipeline(compiled["config"]).components:
        assert node.id in tasks or any(t.startswith(node.id + "-") for t in tasks), node.id


def test_dag_edges(compiled):
    t = compiled["tasks"]

    def after(name):
        return set(t[name].get("dependentTasks", []))

    assert {"Transform", "Tuner"} <= after("Trainer")
    assert {"Trainer", f"{RESOLVER}-model-resolver", "ImageExampleGen"} <= after("Evaluator")
    assert {"Evaluator", "Trainer", "Transform"} <= after("ExportPusher")
    assert {"ImageExampleGen", "SchemaGen"} <= after("Transform")
    assert "Transform" in after("Tuner")
    assert "StatisticsGen" in after("SchemaGen")
    artifacts = t["Evaluator"]["inputs"]["artifacts"]
    assert artifacts["baseline_model"]["taskOutputArtifact"]["producerTask"] == \
        f"{RESOLVER}-model-resolver"
    assert artifacts["model"]["taskOutputArtifact"] == {"producerTask": "Trainer",
                                                        "outputArtifactKey": "model"}
    hp = t["Trainer"]["inputs"]["artifacts"]["hyperparameters"]["taskOutputArtifact"]
    assert hp == {"producerTask": "Tuner", "outputArtifactKey": "best_hyperparameters"}


def test_pusher_runs_only_for_a_blessed_model(compiled):
    condition = compiled["tasks"]["ExportPusher"]["triggerPolicy"]["condition"]
    # Against the task's declared input (finish_spec: TFX writes '_Evaluator.blessing', a key the
    # task does not have, so the KFP driver's evaluation would fail).
    assert re.fullmatch(r"\(inputs\.artifacts\['model_blessing'\]\.artifacts\[0\]"
                        r"\.metadata\['blessed'\] == 1(\.0)?\)", condition), condition
    blessing = compiled["tasks"]["ExportPusher"]["inputs"]["artifacts"]["model_blessing"]
    assert blessing["taskOutputArtifact"] == {"producerTask": "Evaluator",
                                              "outputArtifactKey": "blessing"}
    # No other task is conditional.
    assert [n for n, task in compiled["tasks"].items() if "triggerPolicy" in task] == \
        ["ExportPusher"]


# ------------------------------------------------------------------------- parameters


def test_runtime_parameters_are_declared_with_the_config_defaults(compiled):
    config = compiled["config"]
    declared = compiled["spec"]["root"]["inputDefinitions"]["parameters"]
    defaults = compiled["job"]["runtimeConfig"]["parameterValues"]
    names = ("data_root", "range_config", "eval_config", "trainer_custom_config", "serving_dir")
    # The defaults are in the spec too: a plain KFP backend (or kfp.local) loading pipelineSpec
    # alone sees every parameter as optional, with the same default the runtimeConfig has.
    assert declared == {name: {"parameterType": "STRING", "defaultValue": defaults[name],
                               "isOptional": True} for name in names}
    assert defaults["data_root"] == f"{IMAGE_WORKDIR}/data/fashion_binary"
    assert defaults["range_config"] == ""  # the newest span
    eval_config = json.loads(defaults["eval_config"])
    metrics = {m["className"]: m for m in eval_config["metricsSpecs"][0]["metrics"]}
    # Gates apply to the overall slice only (the per-class slices are reported, not gated).
    accuracy_gate, = metrics["BinaryAccuracy"]["perSliceThresholds"]
    assert accuracy_gate["slicingSpecs"] == [{}]
    accuracy = accuracy_gate["threshold"]
    # the stated thresholds less the float32 tolerance (components/tfma_gates.GATE_TOLERANCE)
    assert accuracy["valueThreshold"]["lowerBound"] == applied_bound(
        config.evaluator.accuracy_lower_bound)
    assert accuracy["changeThreshold"]["absolute"] == applied_bound(
        -config.evaluator.max_accuracy_drop)
    assert metrics["ExactAUC"]["module"] == "components.exact_auc"  # installed in the image
    auc_gate, = metrics["ExactAUC"]["perSliceThresholds"]
    assert auc_gate["threshold"]["valueThreshold"]["lowerBound"] == \
        applied_bound(config.evaluator.auc_lower_bound)
    custom = json.loads(defaults["trainer_custom_config"])
    assert custom["trainer"]["epochs"] == config.trainer.epochs
    assert custom["class_names"] == config.data.class_names
    assert custom["weights_path"] == config.vertex.weights_path  # baked into the image
    assert "image_size" not in custom["model"]  # Transform's, not a per-run Trainer setting
    assert defaults["serving_dir"] == "/gcs/test-bucket/tfx-root/serving"


def test_runtime_parameters_feed_the_components(compiled):
    t = compiled["tasks"]
    uses = {(task, name): p["componentInputParameter"] for task in t
            for name, p in _params(t[task]).items() if "componentInputParameter" in p}
    assert uses == {("ImageExampleGen", "input_base"): "data_root",
                    ("ImageExampleGen", "range_config"): "range_config",
                    ("Evaluator", "eval_config"): "eval_config",
                    ("Trainer", "custom_config"): "trainer_custom_config",
                    ("ExportPusher", "serving_dir"): "serving_dir"}


def test_config_values_reach_the_spec(tmp_path):
    config = load_config(overrides=BASE + ["trainer.epochs=7", "evaluator.auc_lower_bound=0.9",
                                           "vertex.data_root=gs://data-bucket/incoming",
                                           "vertex.serving_dir=/gcs/models/serving"])
    job = compile_pipeline(config, str(tmp_path / "p.json"))
    defaults = job["runtimeConfig"]["parameterValues"]
    assert json.loads(defaults["trainer_custom_config"])["trainer"]["epochs"] == 7
    assert str(applied_bound(0.9)) in defaults["eval_config"]
    assert defaults["data_root"] == "gs://data-bucket/incoming"
    assert defaults["serving_dir"] == "/gcs/models/serving"
    declared = job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert declared["serving_dir"]["defaultValue"] == "/gcs/models/serving"


def test_serving_dir_defaults_to_the_pipeline_roots_bucket_through_fuse(compiled):
    assert compiled["job"]["runtimeConfig"]["parameterValues"]["serving_dir"] == \
        "/gcs/test-bucket/tfx-root/serving"


# ------------------------------------------------------------------- image and module code


def test_every_container_runs_the_configured_image(compiled):
    containers = {k: v["container"] for k, v in compiled["executors"].items() if "container" in v}
    assert len(containers) >= len(COMPONENTS)
    for label, container in containers.items():
        assert container["image"] == IMAGE, label
        assert container["command"] == RUN_EXECUTOR, label
    # The custom components run their own executors from the image.
    assert _container(compiled, "ImageExampleGen")["args"][:2] == [
        "--executor_class_path", "components.image_example_gen.executor.Executor"]
    assert _container(compiled, "ExportPusher")["args"][:2] == [
        "--executor_class_path", "components.export_pusher.executor.Executor"]
    driver = _container(compiled, "ImageExampleGen")["lifecycle"]["preCacheCheck"]
    assert driver["command"][-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"


@pytest.mark.parametrize("command,expected", [
    (["python", "-m", TFX_RUN_EXECUTOR], RUN_EXECUTOR),
    (["python3", "-m", TFX_RUN_EXECUTOR], ["python3"] + RUN_EXECUTOR[1:]),
    # A driver, or any other command, is left as it is.
    (["python", "-m", "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"],
     ["python", "-m", "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"]),
    ([], []),
])
def test_only_tfx_executor_entry_point_is_wrapped(command, expected):
    assert executor_command(command) == expected


def test_wrapped_entry_point_takes_tfx_flags():
    """`python -m pipeline.container_executor` parses argv with TFX's own parser."""
    done = subprocess.run([sys.executable, "-m", "pipeline.container_executor", "--help"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    for flag in ("--executor_class_path", "--json_serialized_invocation_args"):
        assert flag in done.stdout, done.stdout


def test_module_code_is_referenced_by_dotted_path_not_uploaded(compiled):
    t = compiled["tasks"]
    assert _constant(t["Trainer"], "run_fn") == "modules.trainer.run_fn"
    assert _constant(t["Tuner"], "tuner_fn") == "modules.tuning.tuner_fn"
    assert _constant(t["Transform"], "preprocessing_fn") == \
        "modules.preprocessing.preprocessing_fn"
    text = json.dumps(compiled["job"])
    assert "module_file" not in text and "module_path" not in text
    assert ".whl" not in text and "_wheels" not in text


def test_beam_args_reach_every_beam_component(compiled):
    args = list(compiled["config"].beam_pipeline_args)
    assert args
    for name in BEAM_COMPONENTS:
        container_args = _container(compiled, name)["args"]
        assert all(a in container_args for a in args), (name, container_args)


def test_dataflow_beam_args_compile(tmp_path):
    """A user who outgrows one machine changes config, not code: Dataflow flags in the spec."""
    try:
        config = load_config(overrides=BASE + [
            "beam.runner=dataflow", "beam.dataflow.project=test-project",
            "beam.dataflow.region=europe-west4", "beam.dataflow.temp_location=gs://test-bucket/tmp",
            f"beam.dataflow.sdk_container_image={IMAGE}"])
    except ConfigError as e:  # the beam section's own validation (pipeline/beam_args.py)
        pytest.fail(f"dataflow config rejected: {e}")
    job = compile_pipeline(config, str(tmp_path / "dataflow.json"))
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    args = executors["Transform_executor"]["container"]["args"]
    for flag in ("--runner=DataflowRunner", "--project=test-project", "--region=europe-west4",
                 "--temp_location=gs://test-bucket/tmp"):
        assert flag in args, args
    assert args[-len(config.beam_pipeline_args):] == list(config.beam_pipeline_args)


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("overrides, message", [
    (BASE + ["vertex.pipeline_root=/local/root"], "expected gs://bucket/path"),
    (BASE + ["retrain.num_spans=3"], "retrain.num_spans"),
    (BASE + ["retrain.warm_start=true"], "retrain.warm_start"),
])
def test_settings_kfp_cannot_express_are_config_errors(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        compile_pipeline(load_config(overrides=overrides), str(tmp_path / "p.json"))
    assert not (tmp_path / "p.json").exists()


def test_cli_compile(tmp_path, capsys):
    out = tmp_path / "spec" / "job.json"
    assert main(["compile", "--output", str(out)] + [a for o in BASE for a in ("--set", o)]) == 0
    job = json.loads(out.read_text())
    assert "ExportPusher" in job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_compile_with_no_flags_but_output_warns_and_names_the_placeholder(tmp_path, capsys):
    """The defaults (no pipeline root, the local image tag) compile; each problem Vertex would
    have is one warning line, and the placeholder root is named."""
    out = tmp_path / "x.json"
    assert main(["compile", "--output", str(out)]) == 0
    stdout, err = capsys.readouterr()
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") for w in warnings), err
    assert any("vertex.pipeline_root is not set" in w and PLACEHOLDER_PIPELINE_ROOT in w
               for w in warnings)
    assert any("vertex.default_image" in w and "no registry host" in w for w in warnings)
    job = json.loads(out.read_text())
    assert job["runtimeConfig"]["gcsOutputDirectory"] == PLACEHOLDER_PIPELINE_ROOT
    assert f"pipeline root {PLACEHOLDER_PIPELINE_ROOT}" in stdout


def test_cli_compile_with_a_pullable_image_and_a_root_does_not_warn(tmp_path, capsys):
    assert main(["compile", "--output", str(tmp_path / "x.json")] + _sets(BASE)) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("image, problem", [
    ("image-classifier-pipeline:latest", "no registry host"),
    ("library/python:3.11", "no registry host"),
    ("localhost:5000/image-classifier:1", "on this machine"),
    ("", "is empty"),
])
def test_image_vertex_cannot_pull_is_refused(image, problem):
    with pytest.raises(ConfigError, match=f"vertex.default_image: .*{problem}"):
        check_image(image)


@pytest.mark.parametrize("image", [IMAGE, "gcr.io/p/image:1", "eu.gcr.io/p/i@sha256:" + "0" * 64,
                                   "registry.example.com:443/team/image:2"])
def test_image_with_a_registry_host_is_accepted(image):
    assert image_problem(image) is None
    check_image(image)


def test_help_names_what_compile_needs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "placeholder root" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the image


def _makefile_install_commands():
    text = (REPO_ROOT / "Makefile").read_text()
    pip = re.search(r"^PIP := \$\(PY\) (.+)$", text, re.M).group(1)
    recipe = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", text, re.M).group(1)
    return [line.strip().replace("$(PIP)", f"python {pip}") for line in recipe.splitlines()
            if line.strip().startswith("$(PIP)")]


def _dockerfile_run_commands():
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if line.startswith("RUN "):
            commands += [" ".join(c.split()) for c in line[4:].split("&&")]
    return text, commands


def test_dockerfile_installs_exactly_like_the_makefile():
    make = _makefile_install_commands()
    assert len(make) == 4, make  # build backend, lock, tfx + ml-pipelines-sdk, the project
    _, docker = _dockerfile_run_commands()
    installs = [c for c in docker if c.startswith("python -m pip ")]
    assert installs == make


def test_dockerfile_bakes_in_the_project_and_keras_2():
    text, commands = _dockerfile_run_commands()
    # The base image is a build arg whose default is python:3.11[-variant], optionally pinned by
    # digest (docker build --build-arg BASE_IMAGE=python:3.11-bookworm@sha256:...).
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    assert re.findall(r"^FROM .*$", text, re.M) == ["FROM ${BASE_IMAGE}"]
    assert re.search(r"^\s*TF_USE_LEGACY_KERAS=1\b|^ENV TF_USE_LEGACY_KERAS=1\b", text, re.M)
    assert re.search(rf"^WORKDIR {IMAGE_WORKDIR}$", text, re.M)
    assert re.search(r"^COPY \. \.$", text, re.M)
    assert "python -m pipeline weights" in commands
    config = load_config()
    cache = re.search(r"TFX_IMAGE_WEIGHTS_CACHE=(\S+)", text).group(1)
    assert os.path.join(cache, "vgg16_imagenet_notop.h5") == config.vertex.weights_path
    ignored = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".venv", "outputs", ".git"} <= set(ignored)
    assert not any(i.startswith("data") for i in ignored)  # the default data_root is in the image


def test_make_image_builds_the_configured_tag():
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL would add "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    out = subprocess.run(["make", "--no-print-directory", "-n", "image",
                          "IMAGE=registry.example/x/y:7"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "docker build -t registry.example/x/y:7 ."
    default = load_config().vertex.default_image
    out = subprocess.run(["make", "--no-print-directory", "-n", "image"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"docker build -t {default} ."


def test_compile_prints_its_warnings_without_the_stacks_import_noise(tmp_path):
    """`compile` in a fresh process with no TF_CPP_MIN_LOG_LEVEL set: stderr holds the
    command's own warnings, not TensorFlow's CUDA registration lines, Beam's crcmod notice or
    aiplatform's storage-version FutureWarning (user trial)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "pipeline", "compile", "--output",
                           str(tmp_path / "p.json")], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vertex.pipeline_root is not set" in done.stderr
    for noise in ("crcmod", "Unable to register", "google-cloud-storage", "FutureWarning"):
        assert noise not in done.stderr, done.stderr


def test_the_weights_source_names_a_local_checks_file():
    """A spec compiled for run-compiled with this machine's weights file says so in its report
    (it said 'baked into the pipeline image', helper-55)."""
    from pipeline.kubeflow_v2_runner import image_weights
    assert image_weights(load_config())[1] == "imagenet (baked into the pipeline image)"
    local = load_config(overrides=["vertex.weights_path=/root/.cache/w.h5"])
    assert image_weights(local) == ("/root/.cache/w.h5", "imagenet (/root/.cache/w.h5)")


def test_a_local_data_root_of_other_classes_is_refused_at_compile_time(tmp_path):
    """Compiled with vertex.data_root pointing at this machine's 3-class tree but data.root
    left at the embedded pair, the spec's ImageExampleGen failed in its container (helper-56)."""
    for cls in ("bag", "sandal", "trouser"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        (tmp_path / "train" / cls / "a.png").write_bytes(b"x")
    out = tmp_path / "spec.json"
    assert main(["compile", "--output", str(out), "--set", f"vertex.data_root={tmp_path}"]) == 2
    assert not out.exists()
    from pipeline.kubeflow_v2_runner import check_compilable
    from pipeline.config import ConfigError
    with pytest.raises(ConfigError, match=r"holds the classes \['bag', 'sandal', 'trouser'\].*"
                                          r"compile with --set data.root="):
        check_compilable(load_config(overrides=[f"vertex.data_root={tmp_path}"]))
