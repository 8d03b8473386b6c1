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
    tasks = {name: asdict(t) for name, t in result.tasks.items()}
    lines += gate_lines(tasks)
    serving = result.parameters.get("serving_dir")
    pushed = [t for t in result.tasks.values() if t.state == SUCCEEDED and "pushed_model" in
              t.outputs]
    if pushed and serving:
        destination = _metadata(pushed[0].outputs["pushed_model"][0], "pushed_destination")
        lines.append(f"pushed {destination}" if destination else f"pushed under {serving}")
    lines.append(f"run record: {result.record}")
    return "\n".join(lines)


def _metadata(artifact: Dict[str, Any], key: str) -> Any:
    """A metadata value of an artifact summary (TFX's KFP entry point writes custom properties
    bare or as `custom:<key>`), None when absent."""
    metadata = artifact.get("metadata") or {}
    return metadata.get(key, metadata.get(f"custom:{key}"))


def gate_lines(tasks: Dict[str, Dict[str, Any]]) -> List[str]:
    """The evaluation's accuracy, the blessing and every gate with its value (as `run`'s
    summary prints them), from the Evaluator's outputs in a run record's `tasks`; [] when the
    Evaluator did not succeed. Class names: the Trainer's model's training summary."""
    evaluator = tasks.get("Evaluator") or {}
    evaluations = (evaluator.get("outputs") or {}).get("evaluation") or []
    if evaluator.get("state") != SUCCEEDED or not evaluations:
        return []
    import logging
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # TFMA's reader: "tf_record_iterator is deprecated"
    try:
        from components import tfma_gates
        from pipeline.resolvers import class_names_at
        models = ((tasks.get("Trainer") or {}).get("outputs") or {}).get("model") or []
        names = (class_names_at(models[0]["uri"]) if models else None) or []
        record = tfma_gates.evaluation_record(evaluations[0]["uri"], names)
    except Exception as e:  # pylint: disable=broad-except  (the run's result still prints)
        return [f"gates could not be read: {type(e).__name__}: {e}"]
    finally:
        tf_logger.setLevel(level)
    from pipeline.summary import evaluation_line, format_gates
    blessings = (evaluator.get("outputs") or {}).get("blessing") or []
    for gate in record["gates"]:  # where a failed recall gate's class's test images went
        name = tfma_gates.gate_class(gate, names)
        if name in record["predicted_as"]:
            gate["predicted_as"] = record["predicted_as"][name]
    summary = {"blessed": bool(blessings) and _metadata(blessings[0], "blessed") == 1,
               "metrics": record["metrics"], "gates": record["gates"],
               "per_class": record["per_class"]}
    return [evaluation_line(record["metrics"])] + format_gates(summary)  # as `run` prints
