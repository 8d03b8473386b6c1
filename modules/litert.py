"""Calls standalone LiteRT (`modules/litert_runner.py` in `.venv-litert`) from this environment.

The TFX stack pins numpy 1.26 and protobuf 4.25; ai-edge-litert 2.3.0 is built for numpy 2 and
protobuf 7, and a user's client has no TensorFlow. So LiteRT runs in its own environment, one
subprocess per model: a model that crashes the runtime is a refused model, not a crashed push.
"""
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(PROJECT_ROOT, "modules", "litert_runner.py")
DEFAULT_PYTHON = ".venv-litert/bin/python"
ENV_VAR = "LITERT_PYTHON"
TIMEOUT_S = 900


class LiteRTUnavailableError(RuntimeError):
    """The LiteRT environment is missing: nothing can be checked in the deployment runtime."""


@dataclass
class LiteRTResult:
    """What LiteRT did with one model. predictions: float32 [N, K] or None."""
    loaded: bool
    error: Optional[str]
    runtime: str = ""
    input: Dict[str, Any] = field(default_factory=dict)
    output: Dict[str, Any] = field(default_factory=dict)
    latency: Dict[str, Dict[str, float]] = field(default_factory=dict)
    loadavg: List[float] = field(default_factory=list)
    predictions: Optional[np.ndarray] = None

    @property
    def ok(self) -> bool:
        return self.loaded and self.error is None


def litert_python(configured: str = "") -> str:
    """The LiteRT interpreter: $LITERT_PYTHON, else `configured` (relative to the project root),
    else `.venv-litert/bin/python`. Raises LiteRTUnavailableError naming how to build it."""
    path = os.environ.get(ENV_VAR) or configured or DEFAULT_PYTHON
    if not os.path.isabs(path):
        path = os.path.join(PROJECT_ROOT, path)
    if not os.path.isfile(path):
        raise LiteRTUnavailableError(
            f"LiteRT environment not found: {path} does not exist. Build it with `make install` "
            f"(creates .venv-litert from requirements/litert-lock.txt) or point "
            f"export.litert_python / ${ENV_VAR} at a Python that has ai-edge-litert")
    return path


def run_litert(model_path: str, images: Optional[np.ndarray] = None,
               files: Optional[Sequence[str]] = None,
               background: Sequence[float] = (255.0, 255.0, 255.0), threads: Sequence[int] = (),
               latency_runs: int = 50, warmup_runs: int = 5, python: str = "",
               timeout_s: float = TIMEOUT_S) -> LiteRTResult:
    """Loads `model_path` in LiteRT with its default delegates, predicts `images` (float32
    [N, H, W, 3], the model's input as is) or image `files` (decoded per the pushed contract),
    and times single-image calls for each thread count in `threads`."""
    exe = litert_python(python)
    with tempfile.TemporaryDirectory(prefix="litert-") as tmp:
        request: Dict[str, Any] = {"model": os.path.abspath(model_path),
                                   "predictions": os.path.join(tmp, "predictions.npy"),
                                   "threads": [int(t) for t in threads],
                                   "latency_runs": int(latency_runs),
                                   "warmup_runs": int(warmup_runs)}
        if images is not None:
            request["images"] = os.path.join(tmp, "images.npy")
            np.save(request["images"], np.asarray(images, np.float32))
        elif files:
            request["files"] = [os.path.abspath(f) for f in files]
            request["background"] = [float(c) for c in background]
        request_path, result_path = os.path.join(tmp, "request.json"), os.path.join(
            tmp, "result.json")
        with open(request_path, "w", encoding="utf-8") as f:
            json.dump(request, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        try:
            proc = subprocess.run([exe, RUNNER, request_path, result_path], env=env,
                                  capture_output=True, text=True, encoding="utf-8",
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return LiteRTResult(False, f"LiteRT did not finish within {timeout_s:.0f} s")
        if proc.returncode != 0 or not os.path.isfile(result_path):
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
                   else f"exit code {proc.returncode}")
            return LiteRTResult(False, f"LiteRT process failed ({how}): {tail}")
        with open(result_path, encoding="utf-8") as f:
            raw = json.load(f)
        predictions = raw.pop("predictions", None)
        result = LiteRTResult(**raw)
        if predictions and os.path.isfile(predictions):
            result.predictions = np.load(predictions)
        return result
