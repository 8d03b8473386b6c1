"""Dataflow, Flink and Spark `beam:` configs reach every executor of the compiled KFP v2 spec.

Compiled with the project's own `pipeline.kubeflow_v2_runner.compile_pipeline`
(KubeflowV2DagRunner); each executor's container args must end with exactly the flags
`beam_pipeline_args` gives for the same config.
"""


import json

import pytest

from pipeline.config import load_config

from test_beam_args import (DATAFLOW, DATAFLOW_ARGS, FLINK, FLINK_ARGS, SPARK,
                            SPARK_ARGS)

BEAM_EXECUTORS = ("ImageExampleGen_executor", "StatisticsGen_executor", "Transform_executor",
                  "Evaluator_executor")
VERTEX = ["vertex.pipeline_root=gs://bkt/tfx", "vertex.default_image=registry/tfx-image:1",
          "data.class_names=[shirt, tshirt_top]", "model.weights=none"]


def _compile(overrides, tmp_path):
    from pipeline.kubeflow_v2_runner import compile_pipeline
    config = load_config(overrides=VERTEX + overrides, check_paths=False)
    path = tmp_path / "spec.json"
    compile_pipeline(config, str(path))
    with open(path, encoding="utf-8") as f:
        return config, json.load(f)


def _executors(job):
    spec = job.get("pipelineSpec", job)
    return spec["deploymentSpec"]["executors"]


@pytest.mark.parametrize("overrides,expected", [
    (DATAFLOW, DATAFLOW_ARGS), (FLINK, FLINK_ARGS), (SPARK, SPARK_ARGS)],
    ids=["dataflow", "flink", "spark"])
def test_runner_flags_in_compiled_spec(overrides, expected, tmp_path):
    config, job = _compile(overrides, tmp_path)
    assert config.beam_pipeline_args == expected
    executors = _executors(job)
    for name in BEAM_EXECUTORS:
        args = executors[name]["container"]["args"]
        runner_flags = [a for a in args if a.startswith("--runner=")]
        assert runner_flags == [expected[0]], (name, args)
        start = args.index(expected[0])
        assert args[start:start + len(expected)] == expected, (name, args)
    # No executor of the spec is left on the in-process runner.
    assert "FnApiRunner" not in json.dumps(job)


def test_local_runner_compiles_pinned(tmp_path):
    _, job = _compile([], tmp_path)
    args = _executors(job)["Transform_executor"]["container"]["args"]
    assert "--runner=FnApiRunner" in args and "--direct_num_workers=1" in args
