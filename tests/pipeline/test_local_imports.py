"""A local run never imports TFX's Google Cloud extensions: `tfx.v1` imports all of them, and
google.cloud.aiplatform alone costs seconds per run (benchmarks/run_overhead.py). Checked in a
fresh interpreter, after building the local pipeline the way `python -m pipeline run` does and
importing what running it imports: the LocalDagRunner, the run's helpers, every component's
executor and the module functions (preprocessing_fn, tuner_fn, run_fn) they load."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = """
import importlib, json, sys
from pipeline.config import load_config
from pipeline.local_runner import known_error_types, run
from pipeline.pipeline import create_pipeline
p = create_pipeline(load_config(overrides=["output.root=" + sys.argv[1]]), weights=(None, "none"))
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from pipeline import beam_dependencies, stale_executions, summary
known_error_types()
loaded = []
for c in p.components:
    importlib.import_module(c.executor_spec.executor_class.__module__)
    loaded.append(c.executor_spec.executor_class.__module__)
    for key in ("preprocessing_fn", "tuner_fn", "run_fn"):
        if c.exec_properties.get(key):
            importlib.import_module(c.exec_properties[key].rsplit(".", 1)[0])
            loaded.append(c.exec_properties[key])
assert {"components.export_pusher.executor", "components.change_interval.executor",
        "modules.trainer.run_fn", "modules.tuning.tuner_fn"} <= set(loaded), loaded
print(json.dumps(sorted(m for m in sys.modules
                        if m == "tfx.v1" or m.startswith(("google.cloud.aiplatform",
                                                          "tfx.extensions.google_cloud")))))
"""


def test_local_pipeline_imports_no_cloud_extension(tmp_path):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "out")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_the_cli_hides_google_api_cores_python_version_warning():
    """`predict` printed google.api_core's FutureWarning about Python 3.11's end of life (it
    comes with TFX's imports): the CLI filters that one warning, and only that one."""
    child = ("import warnings, pipeline.__main__, google.api_core\n"
             "warnings.warn('You are using a Python version elsewhere', FutureWarning)\n")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-W", "default", "-c", child], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "google.api_core" not in proc.stderr and "2027" not in proc.stderr, proc.stderr
    assert "elsewhere" in proc.stderr  # other modules' warnings still show
