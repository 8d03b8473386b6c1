"""`submit` / `schedule` on Vertex AI: cron validation, the --dry-run requests, and the errors,
all without cloud credentials (the dry runs prove it: GOOGLE_APPLICATION_CREDENTIALS points at
nothing, so any credentials lookup would fail)."""
import json
import os
import re
import subprocess
import sys

import pytest

from pipeline.__main__ import main
from pipeline.config import REPO_ROOT, ConfigError, load_config
from pipeline.kubeflow_v2_runner import compile_pipeline
from pipeline.vertex import VertexError, _send, parse_parameters, validate_cron

IMAGE = "europe-west4-docker.pkg.dev/test-project/pipelines/image-classifier:7"
SETTINGS = ["vertex.project=test-project", "vertex.region=europe-west4",
            "vertex.pipeline_root=gs://test-bucket/root", f"vertex.default_image={IMAGE}",
            "vertex.service_account=runner@test-project.iam.gserviceaccount.com",
            "vertex.labels={team: vision}"]


def _sets(items):
    return [a for item in items for a in ("--set", item)]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("vertex") / "pipeline.json"
    compile_pipeline(load_config(overrides=SETTINGS), str(path))
    return path


@pytest.fixture()
def no_credentials(monkeypatch, tmp_path):
    """An environment where Application Default Credentials cannot be found."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def _same_spec(sent, compiled):
    """The compiled spec, as the SDK sends it: every task cached (vertex.enable_caching)."""
    assert sent["deploymentSpec"] == compiled["deploymentSpec"]
    assert sent["components"] == compiled["components"]
    assert sent["root"]["inputDefinitions"] == compiled["root"]["inputDefinitions"]
    tasks = sent["root"]["dag"]["tasks"]
    assert set(tasks) == set(compiled["root"]["dag"]["tasks"])
    for name, task in tasks.items():
        assert task.pop("cachingOptions") == {"enableCache": True}, name
        compiled["root"]["dag"]["tasks"][name].pop("cachingOptions", None)
        assert task == compiled["root"]["dag"]["tasks"][name], name
    return True


def _dry_run(capsys, command, template, *extra):
    code = main([command, "--dry-run", "--template", str(template)] + _sets(SETTINGS) +
                list(extra))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)  # stdout is the request JSON and nothing else


# ------------------------------------------------------------------------------------ cron


@pytest.mark.parametrize("expr", [
    "0 3 * * *", "*/15 * * * *", "0 0 1 JAN *", "30 9 * * MON-FRI", "0,30 8-18/2 * * 1-5",
    "0 0 * * 7", "59 23 31 12 6", "CRON_TZ=Europe/Berlin 0 3 * * *",
    "TZ=America/New_York 0 * * * *",
    "  0   3 * *   * ",
])
def test_valid_cron_expressions(expr):
    assert validate_cron(expr) == " ".join(expr.split())


@pytest.mark.parametrize("expr, message", [
    ("0 3 * *", "expected 5 fields"),
    ("0 3 * * * *", "expected 5 fields"),
    ("60 3 * * *", "minute 60 is out of range 0-59"),
    ("0 24 * * *", "hour 24 is out of range 0-23"),
    ("0 3 0 * *", "day of month 0 is out of range 1-31"),
    ("0 3 * 13 *", "month 13 is out of range 1-12"),
    ("0 3 * * 8", "day of week 8 is out of range 0-7"),
    ("0 3 * * FUNDAY", "day of week value 'FUNDAY' is not a number"),
    ("*/0 * * * *", "step '0' must be a number from 1 to 59"),
    ("5/15 * * * *", "a step needs '*' or a range"),
    ("0 18-8 * * *", "hour range 18-8 runs backwards"),
    ("0,,30 * * * *", "empty minute item"),
    ("@daily", "macros like @daily are not supported"),
    ("CRON_TZ=Mars/Olympus 0 3 * * *", "unknown time zone 'Mars/Olympus'"),
])
def test_invalid_cron_expressions_name_the_problem(expr, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_cron(expr)


def test_bad_cron_fails_before_anything_else(tmp_path, capsys, no_credentials):
    out_root = tmp_path / "outputs"
    code = main(["schedule", "--cron", "0 25 * * *"] +
                _sets(SETTINGS + [f"output.root={out_root}"]))
    err = capsys.readouterr().err
    assert code == 2
    assert err == "config error: cron '0 25 * * *': hour 25 is out of range 0-23\n"
    assert not out_root.exists()  # nothing compiled, nothing sent


# ------------------------------------------------------------------------------ dry runs


def test_submit_dry_run_prints_the_create_pipeline_job_request(capsys, template, no_credentials):
    printed = _dry_run(capsys, "submit", template, "--span", "3",
                       "--param", "data_root=gs://test-bucket/incoming")
    assert printed["dry_run"] is True
    assert printed["rpc"] == "google.cloud.aiplatform.v1.PipelineService.CreatePipelineJob"
    assert printed["endpoint"] == "europe-west4-aiplatform.googleapis.com"
    request = printed["request"]
    assert request["parent"] == "projects/test-project/locations/europe-west4"
    assert request["pipelineJobId"].startswith("image-classifier-")
    job = request["pipelineJob"]
    assert job["displayName"] == "image-classifier"
    assert job["serviceAccount"] == "runner@test-project.iam.gserviceaccount.com"
    assert job["labels"]["team"] == "vision"
    runtime = job["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == "gs://test-bucket/root"
    values = runtime["parameterValues"]
    assert values["data_root"] == "gs://test-bucket/incoming"
    assert json.loads(values["range_config"]) == {
        "static_range": {"start_span_number": 3, "end_span_number": 3}}
    assert set(values) == {"data_root", "range_config", "eval_config", "trainer_custom_config",
                           "serving_dir"}
    assert values["serving_dir"] == "/gcs/test-bucket/root/serving"
    assert _same_spec(job["pipelineSpec"], json.loads(template.read_text())["pipelineSpec"])
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    assert executors["Trainer_executor"]["container"]["image"] == IMAGE


def test_schedule_dry_run_prints_the_create_schedule_request(capsys, template, no_credentials):
    printed = _dry_run(capsys, "schedule", template, "--cron", "CRON_TZ=Europe/Berlin 0 3 * * 1-5",
                       "--param", "data_root=gs://test-bucket/incoming")
    assert printed["rpc"] == "google.cloud.aiplatform.v1.ScheduleService.CreateSchedule"
    request = printed["request"]
    assert request["parent"] == "projects/test-project/locations/europe-west4"
    schedule = request["schedule"]
    assert schedule["cron"] == "CRON_TZ=Europe/Berlin 0 3 * * 1-5"
    assert schedule["displayName"] == "image-classifier-schedule"
    assert schedule["maxConcurrentRunCount"] == "1"  # scheduled runs never overlap
    create = schedule["createPipelineJobRequest"]
    assert create["parent"] == request["parent"]
    job = create["pipelineJob"]
    assert job["serviceAccount"] == "runner@test-project.iam.gserviceaccount.com"
    assert job["runtimeConfig"]["parameterValues"]["range_config"] == ""  # the newest span
    assert _same_spec(job["pipelineSpec"], json.loads(template.read_text())["pipelineSpec"])


def test_schedule_uses_the_configured_cron_by_default(capsys, template, no_credentials):
    printed = _dry_run(capsys, "schedule", template, "--set", "vertex.cron=15 4 * * 0",
                       "--param", "data_root=gs://test-bucket/incoming")
    assert printed["request"]["schedule"]["cron"] == "15 4 * * 0"


def test_a_schedule_over_data_baked_into_the_image_is_refused(capsys, template, no_credentials):
    """helper-59: the template's data_root defaults to the embedded data inside the image
    (/app/...), fixed when the image was built: a schedule would never see a new span."""
    assert main(["schedule", "--dry-run", "--cron", "0 3 * * *", "--template", str(template)]
                + _sets(SETTINGS)) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: data_root is /app/data/fashion_binary, a folder inside "
                          "the pipeline image"), err
    assert "--set vertex.data_root=gs://bucket/path" in err
    _dry_run(capsys, "submit", template)  # one run on the image's data is fine


def test_every_missing_vertex_setting_is_named_at_once(tmp_path, capsys, no_credentials):
    """helper-59 fixed vertex.project, then vertex.default_image, then vertex.pipeline_root, one
    config error at a time."""
    out_root = tmp_path / "outputs"
    assert main(["schedule", "--dry-run", "--cron", "0 3 * * *", "--set",
                 f"output.root={out_root}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: vertex.project: set the Google Cloud project id")
    for key in ("vertex.default_image:", "vertex.pipeline_root: set it",
                "vertex.data_root: unset, so a schedule would read /app/data/fashion_binary"):
        assert f"\n  {key}" in err, err
    assert not out_root.exists()  # nothing compiled
    # with every other key set, the image data root is refused before compiling (helper-64: a
    # refused dry run left a compiled spec behind)
    settings = [s for s in SETTINGS] + [f"output.root={out_root}"]
    assert main(["schedule", "--dry-run", "--cron", "0 3 * * *"] + _sets(settings)) == 2
    assert capsys.readouterr().err.startswith("config error: vertex.data_root: unset, so a "
                                              "schedule would read /app/data/fashion_binary")
    assert not out_root.exists()


def test_dry_run_without_template_compiles_the_config(tmp_path, capsys, no_credentials):
    out_root = tmp_path / "outputs"
    code = main(["submit", "--dry-run"] + _sets(SETTINGS + [f"output.root={out_root}"]))
    out = capsys.readouterr().out
    assert code == 0
    compiled = out_root / "vertex" / "image-classifier.json"
    assert _same_spec(json.loads(out)["request"]["pipelineJob"]["pipelineSpec"],
                      json.loads(compiled.read_text())["pipelineSpec"])


# ------------------------------------------------------------------------- deployment guards


def test_serving_dir_follows_the_runs_pipeline_root(capsys, template, no_credentials):
    """The template was compiled for gs://test-bucket/root; a run under another root pushes
    under that root (not the compile-time one), unless serving_dir is given."""
    printed = _dry_run(capsys, "submit", template, "--set", "vertex.pipeline_root=gs://other/run")
    runtime = printed["request"]["pipelineJob"]["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == "gs://other/run"
    assert runtime["parameterValues"]["serving_dir"] == "/gcs/other/run/serving"
    printed = _dry_run(capsys, "submit", template, "--set", "vertex.pipeline_root=gs://other/run",
                       "--param", "serving_dir=/gcs/models/serving")
    values = printed["request"]["pipelineJob"]["runtimeConfig"]["parameterValues"]
    assert values["serving_dir"] == "/gcs/models/serving"


@pytest.fixture(scope="module")
def local_image_template(tmp_path_factory):
    """Compiled with the default image, a local tag (compile warns, does not refuse)."""
    path = tmp_path_factory.mktemp("vertex_local") / "pipeline.json"
    compile_pipeline(load_config(overrides=[s for s in SETTINGS if "default_image" not in s]),
                     str(path))
    return path


@pytest.mark.parametrize("command", [["submit"], ["schedule", "--cron", "0 3 * * *", "--param",
                                                 "data_root=gs://test-bucket/incoming"]])
def test_an_image_vertex_cannot_pull_is_refused(capsys, local_image_template, command,
                                                no_credentials):
    code = main(command + ["--dry-run", "--template", str(local_image_template)] +
                _sets(SETTINGS))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("config error: vertex.default_image: 'image-classifier-pipeline:latest'"
                          " has no registry host"), err
    assert err.count("\n") == 1


def test_a_local_image_is_refused_before_compiling(tmp_path, capsys, no_credentials):
    out_root = tmp_path / "outputs"
    settings = [s for s in SETTINGS if "default_image" not in s] + [f"output.root={out_root}"]
    assert main(["submit", "--dry-run"] + _sets(settings)) == 2
    assert capsys.readouterr().err.startswith("config error: vertex.default_image")
    assert not out_root.exists()  # nothing compiled


def test_a_template_without_a_pipeline_root_is_refused(tmp_path, capsys, no_credentials):
    """Compiled with no vertex.pipeline_root (the placeholder): submit needs a real root."""
    path = tmp_path / "p.json"
    compile_pipeline(load_config(overrides=[s for s in SETTINGS if "pipeline_root" not in s]),
                     str(path))
    settings = [s for s in SETTINGS if "pipeline_root" not in s]
    assert main(["submit", "--dry-run", "--template", str(path)] + _sets(settings)) == 2
    assert capsys.readouterr().err.startswith("config error: vertex.pipeline_root: set it")
    printed = _dry_run(capsys, "submit", path)  # with SETTINGS' root it goes through
    runtime = printed["request"]["pipelineJob"]["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == "gs://test-bucket/root"
    assert runtime["parameterValues"]["serving_dir"] == "/gcs/test-bucket/root/serving"


# --------------------------------------------------------------------------------- errors


def test_without_credentials_submit_is_one_clear_line(tmp_path, template):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="True",
               GCE_METADATA_HOST="127.0.0.1:9", PYTHONWARNINGS="ignore")
    for command in (["submit"], ["schedule", "--cron", "0 3 * * *"]):
        proc = subprocess.run([sys.executable, "-m", "pipeline", *command, "--template",
                               str(template)] + _sets(SETTINGS), cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 5, proc.stderr
        assert proc.stderr.startswith("error: no Google Cloud credentials found"), proc.stderr
        assert "--dry-run" in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_unknown_parameter_and_missing_project_are_config_errors(capsys, template):
    assert main(["submit", "--dry-run", "--template", str(template), "--param", "epochs=3"] +
                _sets(SETTINGS)) == 2
    assert "--param epochs: not a runtime parameter" in capsys.readouterr().err
    assert main(["submit", "--dry-run", "--template", str(template),
                 "--set", "vertex.project="]) == 2
    assert capsys.readouterr().err.startswith("config error: vertex.project")


def test_a_spec_compiled_for_a_local_check_is_not_submitted(tmp_path, capsys, template):
    """Compiled with this machine's data and weights paths (for `run-compiled`), the spec would
    start a paid Vertex run that fails in ImageExampleGen (user trial helper-55): refused."""
    local = tmp_path / "local-check.json"
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"x")
    compile_pipeline(load_config(overrides=SETTINGS + [f"vertex.data_root={tmp_path}",
                                                       f"vertex.weights_path={weights}"]),
                     str(local))
    assert main(["submit", "--dry-run", "--template", str(local)] + _sets(SETTINGS)) == 2
    err = capsys.readouterr().err
    assert f"data_root is {tmp_path}, a path on this machine that Vertex AI cannot read" in err
    # given a gs:// data root, the local weights path is named next
    assert main(["submit", "--dry-run", "--template", str(local), "--param",
                 "data_root=gs://b/images"] + _sets(SETTINGS)) == 2
    assert f"custom_config weights_path is {weights}" in capsys.readouterr().err
    assert main(["schedule", "--dry-run", "--cron", "0 3 * * *", "--template", str(local)]
                + _sets(SETTINGS)) == 2


def test_missing_template_is_a_config_error(tmp_path, capsys):
    assert main(["submit", "--dry-run", "--template", str(tmp_path / "nope.json")] +
                _sets(SETTINGS)) == 2
    assert "no such file" in capsys.readouterr().err


def test_parse_parameters():
    known = {"data_root": {}, "range_config": {}}
    assert parse_parameters(["data_root=gs://b/x=y"], None, known) == {"data_root": "gs://b/x=y"}
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        parse_parameters(["data_root"], None, known)
    with pytest.raises(ConfigError, match="span number >= 0"):
        parse_parameters([], -1, known)


def test_a_refused_request_is_one_line():
    from google.api_core import exceptions

    class Owner:
        resource_name = "projects/p/locations/l/pipelineJobs/x"

    def refuse():
        raise exceptions.PermissionDenied("caller lacks aiplatform.pipelineJobs.create\nmore")

    with pytest.raises(VertexError) as info:
        _send(refuse, dry_run=False, client_owner=Owner(), region="us-central1")
    assert str(info.value) == ("Vertex AI refused the request: PermissionDenied: 403 caller lacks "
                               "aiplatform.pipelineJobs.create")
    assert _send(lambda: None, dry_run=False, client_owner=Owner(), region="r") == {
        "name": Owner.resource_name}
