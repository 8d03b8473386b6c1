"""What a run reports: task and run states, their records, the failure error and the closing
lines of `run-compiled`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List

SUCCEEDED, FAILED, SKIPPED, NOT_RUN = "SUCCEEDED", "FAILED", "SKIPPED", "NOT_RUN"


class CompiledRunError(RuntimeError):
    """A task of the compiled pipeline failed (the message names it and its log)."""

    def __init__(self, message: str, result: "RunResult"):
        super().__init__(message)
        self.result = result


class TaskFailed(Exception):
    """A task step failed; the message becomes the task's reason."""


@dataclass
class TaskResult:
    name: str
    state: str
    seconds: float = 0.0
    log: str = ""
    reason: str = ""
    inputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    outputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)


@dataclass
class RunResult:
    job: str
    pipeline_name: str
    state: str
    pipeline_root: str
    parameters: Dict[str, Any]
    tasks: Dict[str, TaskResult]
    record: str = ""
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def artifact_summary(artifact_lists) -> Dict[str, List[Dict[str, Any]]]:
    """{key: [name, uri, metadata]} of an ExecutorInput's artifact lists."""
    from google.protobuf import json_format
    return {key: [{"name": a.name, "uri": a.uri,
                   "metadata": json_format.MessageToDict(a.metadata)} for a in lst.artifacts]
            for key, lst in artifact_lists.items()}


def dsl_summary(artifact: Any) -> Dict[str, Any]:
    """name, uri, metadata of a kfp.dsl artifact."""
    return {"name": artifact.name, "uri": artifact.uri, "metadata": dict(artifact.metadata)}


def format_result(result: RunResult) -> str:
    """The closing lines of `run-compiled`."""
    skipped = [n for n, t in result.tasks.items() if t.state == SKIPPED]
    lines = [f"{result.state}: {sum(t.state == SUCCEEDED for t in result.tasks.values())} of "
             f"{len(result.tasks)} tasks succeeded" + (f", skipped: {', '.join(skipped)}"
                                                       if skipped else "")
             + f" ({result.seconds} s)"]
    serving = result.parameters.get("serving_dir")
    pushed = [t for t in result.tasks.values() if t.state == SUCCEEDED and "pushed_model" in
              t.outputs]
    if pushed and serving:
        lines.append(f"pushed under {serving}")
    lines.append(f"run record: {result.record}")
    return "\n".join(lines)
