"""`run-compiled`'s parts, hermetic (no task runs): the trigger conditions as a KFP driver
evaluates them, the task order over a compiled spec, the parameters a run takes, the resolver
queries over the local artifact registry, and what is refused before any task runs. The run
itself is tests/e2e/test_run_compiled_e2e.py."""
import json
import sys

import pytest

from pipeline.__main__ import main
from pipeline.cel_condition import ConditionError, evaluate
from pipeline.compiled_runner import (ArtifactRegistry, check_local, image_command,
                                      run_parameters, task_dependencies)
from pipeline.config import ConfigError, load_config
from pipeline.kubeflow_v2_runner import compile_pipeline, declared_condition

RESOLVER = "latest_blessed_model_resolver"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The default config compiled with no flags (placeholder pipeline root, local image)."""
    path = tmp_path_factory.mktemp("compiled") / "p.json"
    compile_pipeline(load_config(), str(path))
    return {"path": path, "job": json.loads(path.read_text())}


def _blessing(blessed):
    return {"inputs": {"artifacts": {"model_blessing": {"artifacts": [
        {"name": "b", "uri": "/x", "metadata": {"blessed": blessed}}]}}}}


# ------------------------------------------------------------------- trigger conditions


def test_the_pushers_condition_follows_the_blessing(job):
    condition = job["job"]["pipelineSpec"]["root"]["dag"]["tasks"]["ExportPusher"][
        "triggerPolicy"]["condition"]
    assert evaluate(condition, _blessing(1.0)) is True
    assert evaluate(condition, _blessing(0.0)) is False


@pytest.mark.parametrize("condition, value", [
    ("inputs.artifacts['a'].artifacts[0].metadata['n'] >= 2 && !(1 > 2)", True),
    ("inputs.artifacts['a'].artifacts[0].metadata['s'] == 'x' + 'y'", True),
    ("inputs.artifacts['a'].artifacts[0].uri != \"/u\" || false", False),
])
def test_cel_subset(condition, value):
    context = {"inputs": {"artifacts": {"a": {"artifacts": [
        {"uri": "/u", "metadata": {"n": 2.0, "s": "xy"}}]}}}}
    assert evaluate(condition, context) is value


@pytest.mark.parametrize("condition, context, message", [
    ("inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 1.0",
     {"inputs": {"artifacts": {}}}, "no such key 'model_blessing'"),
    ("inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 'yes'",
     _blessing(1.0), "no such overload"),
    ("inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed']", _blessing(1.0),
     "return type is not bool"),
    ("1 == ", {}, "unexpected"),
])
def test_a_condition_that_cannot_be_evaluated_is_an_error_not_false(condition, context, message):
    with pytest.raises(ConditionError, match=message):
        evaluate(condition, context)


def test_a_condition_on_an_undeclared_input_is_rewritten_or_refused():
    task = {"inputs": {"artifacts": {"model_blessing": {"taskOutputArtifact": {
        "producerTask": "Evaluator", "outputArtifactKey": "blessing"}}}}}
    tfx = "(inputs.artifacts['_Evaluator.blessing'].artifacts[0].metadata['blessed'] == 1)"
    assert declared_condition("ExportPusher", task, tfx) == \
        "(inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 1)"
    with pytest.raises(ValueError, match="task ExportPusher: .* reads input '_Trainer.model'"):
        declared_condition("ExportPusher", task, "inputs.artifacts['_Trainer.model'].uri == ''")


# ------------------------------------------------------------------------- order, params


def test_a_resolver_runs_after_the_resolver_it_reads(job):
    """TFX gives the model resolver no dependentTasks; its input's producer is upstream."""
    from google.protobuf import json_format
    from kfp.local import graph_utils
    from kfp.pipeline_spec import pipeline_spec_pb2
    spec = json_format.ParseDict(job["job"]["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=True)
    upstream = task_dependencies(spec.root.dag.tasks)
    assert upstream[f"{RESOLVER}-model-resolver"] == [f"{RESOLVER}-model-blessing-resolver"]
    order = graph_utils.topological_sort(upstream)[::-1]  # popped from the right
    assert order.index(f"{RESOLVER}-model-blessing-resolver") < \
        order.index(f"{RESOLVER}-model-resolver") < order.index("Evaluator") < \
        order.index("ExportPusher")
    assert order[0] == "ImageExampleGen" or not upstream[order[0]]


def test_parameters_runtime_config_then_given_then_spec_defaults(job, tmp_path):
    j = job["job"]
    values = run_parameters(j, {"range_config": "{}"}, str(tmp_path / "root"))
    assert values["range_config"] == "{}"
    assert values["eval_config"] == j["runtimeConfig"]["parameterValues"]["eval_config"]
    # The serving dir follows this run's pipeline root.
    assert values["serving_dir"] == str(tmp_path / "root" / "serving")
    # Without a runtimeConfig (a plain KFP PipelineSpec), the spec's own defaults apply.
    plain = {"pipelineSpec": j["pipelineSpec"]}
    assert run_parameters(plain, {}, str(tmp_path))["data_root"] == \
        j["runtimeConfig"]["parameterValues"]["data_root"]
    bare = json.loads(json.dumps(plain))
    del bare["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]["data_root"][
        "defaultValue"]
    with pytest.raises(ConfigError, match="runtime parameter.* data_root: no value"):
        run_parameters(bare, {}, str(tmp_path))


def test_an_explicit_serving_dir_is_kept(job, tmp_path):
    values = run_parameters(job["job"], {"serving_dir": "/srv/models"}, str(tmp_path))
    assert values["serving_dir"] == "/srv/models"


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("given, message", [
    ({"data_root": "gs://bucket/images"}, "data_root is gs://bucket/images: Cloud Storage"),
    ({"data_root": ".", "serving_dir": "/gcs/bucket/serving"}, "serving_dir is /gcs/bucket/s"),
    ({}, "inside the pipeline image"),  # data_root /app/data/... (image default)
    # a missing tree: refused here, not by ImageExampleGen's container 86 s in (helper-55)
    ({"data_root": "/nonexistent/tree"}, "data_root: /nonexistent/tree is not a folder here"),
])
def test_what_cannot_run_here_is_refused_up_front(job, tmp_path, given, message):
    values = run_parameters(job["job"], given, str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        check_local(job["job"], values)


def test_only_the_images_python_is_run():
    assert image_command(["python", "-m", "x"]) == [sys.executable, "-m", "x"]
    with pytest.raises(ConfigError, match=r"this one runs \['sh'\]"):
        image_command(["sh", "-c", "true"])


def test_cli_missing_spec_is_a_config_error(tmp_path, capsys):
    assert main(["run-compiled", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_a_spec_that_is_not_json_is_a_config_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("<html>not a spec</html>")
    assert main(["run-compiled", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a JSON file (line 1, column 1: Expecting value)" in err
    assert "Traceback" not in err
    assert main(["submit", "--template", str(bad), "--dry-run", "--set", "vertex.project=p",
                 "--set", "vertex.pipeline_root=gs://b/tfx"]) == 2
    assert "not a JSON file" in capsys.readouterr().err


def test_cli_unknown_parameter_is_a_config_error(job, tmp_path, capsys):
    assert main(["run-compiled", str(job["path"]), "--root", str(tmp_path),
                 "--param", "epochs=3"]) == 2
    assert "--param epochs: not a runtime parameter" in capsys.readouterr().err


# ----------------------------------------------------------------------------- registry


def test_resolver_queries_over_the_registry(tmp_path):
    registry = ArtifactRegistry(str(tmp_path))
    blessing = {"schemaTitle": "tfx.ModelBlessing"}
    for i, blessed in enumerate([1, 0, 1]):
        registry.add({"name": f"b{i}", "uri": f"/b{i}", "type": blessing,
                      "metadata": {"blessed": blessed, "current_model_id": f"m{i}"}},
                     "p", f"job{i}", "Evaluator", "blessing")
    registry.add({"name": "other", "uri": "/o", "type": blessing, "metadata": {"blessed": 1}},
                 "another-pipeline", "j", "Evaluator", "blessing")
    found = ArtifactRegistry(str(tmp_path)).query(  # read back from metadata.json
        'schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1',
        "p")
    assert [a["name"] for a in found] == ["b2", "b0"]  # newest first, this pipeline only
    assert [a["name"] for a in registry.query('name="b1"', "p")] == ["b1"]
    with pytest.raises(ValueError, match="unsupported clause key 'create_time'"):
        registry.query("create_time=1", "p")


# ------------------------------------------------------------- a whole run, small and fast

PRODUCER = """
import json, os, sys
ei = json.loads(sys.argv[1])
art = ei["outputs"]["artifacts"]["out"]["artifacts"][0]
blessed = float(ei["inputs"]["parameterValues"]["flag"])
os.makedirs(os.path.dirname(ei["outputs"]["outputFile"]), exist_ok=True)
with open(ei["outputs"]["outputFile"], "w") as f:
    json.dump({"artifacts": {"out": {"artifacts": [dict(art, metadata={"blessed": blessed})]}}}, f)
"""
CONSUMER = """
import json, sys
ei = json.loads(sys.argv[1])
print("consumed", ei["inputs"]["artifacts"]["model_blessing"]["artifacts"][0]["uri"])
"""
ARTIFACT = {"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}


def _small_job():
    """A PipelineJob of two container tasks in the form TFX compiles: `consumer` reads the
    producer's artifact and runs only when its metadata says blessed (a triggerPolicy)."""
    def container(script):
        return {"container": {"image": "us-docker.pkg.dev/p/r/image:1",
                              "command": ["python", "-c", script, "{{$}}"]}}
    return {"pipelineSpec": {
        "pipelineInfo": {"name": "small"}, "schemaVersion": "2.1.0", "sdkVersion": "tfx-1.16.0",
        "components": {
            "producer": {"executorLabel": "producer_executor",
                         "inputDefinitions": {"parameters": {"flag": {"parameterType": "STRING"}}},
                         "outputDefinitions": {"artifacts": {"out": ARTIFACT}}},
            "consumer": {"executorLabel": "consumer_executor",
                         "inputDefinitions": {"artifacts": {"model_blessing": ARTIFACT}}}},
        "deploymentSpec": {"executors": {"producer_executor": container(PRODUCER),
                                         "consumer_executor": container(CONSUMER)}},
        "root": {
            "inputDefinitions": {"parameters": {"flag": {"parameterType": "STRING",
                                                         "defaultValue": "1",
                                                         "isOptional": True}}},
            "dag": {"tasks": {
                "producer": {"componentRef": {"name": "producer"}, "taskInfo": {"name": "p"},
                             "inputs": {"parameters": {"flag": {
                                 "componentInputParameter": "flag"}}}},
                "consumer": {"componentRef": {"name": "consumer"}, "taskInfo": {"name": "c"},
                             "dependentTasks": ["producer"],
                             "triggerPolicy": {"condition": "inputs.artifacts['model_blessing']"
                                               ".artifacts[0].metadata['blessed'] == 1.0"},
                             "inputs": {"artifacts": {"model_blessing": {"taskOutputArtifact": {
                                 "producerTask": "producer", "outputArtifactKey": "out"}}}}}}}}}}


@pytest.fixture()
def small_spec(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(_small_job()))
    return path


def test_a_small_spec_runs_and_its_condition_skips(small_spec, tmp_path):
    from pipeline.compiled_runner import run_compiled
    root = tmp_path / "root"
    run = run_compiled(str(small_spec), {}, str(root), echo=lambda *_: None)
    assert {n: t.state for n, t in run.tasks.items()} == {"producer": "SUCCEEDED",
                                                          "consumer": "SUCCEEDED"}
    produced, = run.tasks["producer"].outputs["out"]
    assert produced["metadata"] == {"blessed": 1.0}
    consumer_log = open(run.tasks["consumer"].log, encoding="utf-8").read()
    assert f"consumed {produced['uri']}" in consumer_log
    run = run_compiled(str(small_spec), {"flag": "0"}, str(root), echo=lambda *_: None)
    assert run.state == "SUCCEEDED"
    assert run.tasks["consumer"].state == "SKIPPED"
    assert "condition false" in run.tasks["consumer"].reason
    # Both runs' artifacts are in the registry the resolvers read.
    assert len(ArtifactRegistry(str(root)).query("schema_title=system.Artifact", "small")) == 2


def test_a_failed_task_names_itself_and_its_log(small_spec, tmp_path, capsys):
    code = main(["run-compiled", str(small_spec), "--root", str(tmp_path / "root"),
                 "--param", "flag=not-a-number"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "error: task producer failed: the container exited non-zero" in err
    assert "producer.log" in err
    log = err.split("see ")[1].split(" ")[0].rstrip(";)")
    assert "ValueError" in open(log, encoding="utf-8").read()
    last, = ArtifactRegistry(str(tmp_path / "root")).data["runs"]
    assert last["state"] == "FAILED"
    assert last["tasks"] == {"producer": "FAILED", "consumer": "NOT_RUN"}


def test_the_tasks_get_the_images_environment():
    """IMAGE_ENV is what the Dockerfile's ENV sets for the compiled spec (which carries none)."""
    import re

    from pipeline.compiled_runner import IMAGE_ENV
    from pipeline.config import REPO_ROOT
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(
        line[4:] for line in text.splitlines() if line.startswith("ENV "))))
    assert {k: env.get(k) for k in IMAGE_ENV} == IMAGE_ENV


@pytest.mark.parametrize("text", ["[1, 2]", '{"pipelineSpec": 5}'])
def test_cli_json_that_is_not_a_pipeline_job_is_a_config_error(tmp_path, capsys, text):
    bad = tmp_path / "odd.json"
    bad.write_text(text)
    assert main(["run-compiled", str(bad)]) == 2
    assert "not a PipelineJob JSON" in capsys.readouterr().err
