"""The artifact registry, `<root>/metadata.json`, standing in for Vertex's ML Metadata store,
and the resolver executors (step 6) that query it."""
from __future__ import annotations

import datetime
import json
import os
from typing import Any, Dict, List, Tuple

import yaml

from pipeline.compiled_runner.kfp_local import kfp_local, struct

REGISTRY_FILE = "metadata.json"


def schema_title(artifact_type: Dict[str, Any]) -> str:
    """`tfx.Model` from an ArtifactTypeSchema dict (`schemaTitle`, or the `title` of an
    `instanceSchema`, which is how TFX declares its types)."""
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    return (yaml.safe_load(artifact_type.get("instanceSchema") or "") or {}).get("title", "")


class ArtifactRegistry:
    """`<root>/metadata.json`: the artifacts the local runs produced, standing in for Vertex's ML
    Metadata store (what resolver queries read), and one line per run."""

    def __init__(self, root: str):
        self.path = os.path.join(root, REGISTRY_FILE)
        self.data: Dict[str, Any] = {"artifacts": [], "runs": []}
        if os.path.isfile(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.data = json.load(f)

    def save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def add(self, artifact: Dict[str, Any], pipeline_name: str, job: str, task: str,
            key: str) -> None:
        record = {"id": len(self.data["artifacts"]) + 1, "name": artifact["name"],
                  "schema_title": schema_title(artifact.get("type", {})),
                  "type": artifact.get("type", {}), "uri": artifact.get("uri", ""),
                  "metadata": artifact.get("metadata", {}), "state": "LIVE",
                  "create_time": datetime.datetime.now().isoformat(timespec="microseconds"),
                  "pipeline_name": pipeline_name, "job": job, "task": task, "output_key": key}
        self.data["artifacts"].append(record)
        self.save()

    def add_run(self, summary: Dict[str, Any]) -> None:
        self.data["runs"].append(summary)
        self.save()

    def query(self, query_filter: str, pipeline_name: str) -> List[Dict[str, Any]]:
        """The artifacts of `pipeline_name` matching a resolver filter, newest first. The filter
        is what TFX compiles: `key=value` clauses joined by ' AND ' over schema_title, state,
        name and metadata.<key>.number_value / string_value."""
        clauses = [_parse_clause(c, query_filter) for c in query_filter.split(" AND ")]
        found = [a for a in self.data["artifacts"] if a["pipeline_name"] == pipeline_name
                 and all(_matches(a, key, value) for key, value in clauses)]
        return sorted(found, key=lambda a: a["id"], reverse=True)


def _parse_clause(clause: str, query_filter: str) -> Tuple[str, str]:
    key, sep, value = clause.strip().partition("=")
    if not sep or not key:
        raise ValueError(f"resolver filter {query_filter!r}: cannot read clause {clause!r}")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return key.strip(), value


def _matches(artifact: Dict[str, Any], key: str, value: str) -> bool:
    if key in ("schema_title", "state", "name", "uri"):
        return str(artifact.get(key)) == value
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "metadata" and parts[2] in ("number_value",
                                                                    "string_value"):
        have = artifact["metadata"].get(parts[1])
        if parts[2] == "string_value":
            return isinstance(have, str) and have == value
        try:
            return isinstance(have, (int, float)) and float(have) == float(value)
        except ValueError:
            return False
    raise ValueError(f"resolver filter: unsupported clause key {key!r} (run-compiled reads "
                     f"schema_title, state, name and metadata.<key>.number_value/string_value)")


def resolve(registry: ArtifactRegistry, pipeline_name: str, component, resolver: Dict[str, Any],
            executor_input) -> Dict[str, Any]:
    """Step 6: a resolver task's outputs, each `outputArtifactQueries` filter (placeholders
    resolved against the task's inputs) run over the registry, newest first."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    kfp = kfp_local()
    context = json_format.MessageToDict(executor_input)
    outputs: Dict[str, Any] = {}
    for key, query in resolver.get("outputArtifactQueries", {}).items():
        query_filter = query.get("filter", "")
        # A filter that reads an input the upstream resolver found nothing for finds nothing.
        if any(not a.get("artifacts") for a in context.get("inputs", {})
               .get("artifacts", {}).values()) and "{{$.inputs.artifacts" in query_filter:
            outputs[key] = []
            continue
        query_filter = kfp["ph"].resolve_io_placeholders(context, query_filter)
        found = registry.query(query_filter, pipeline_name)[:query.get("limit") or 1]
        declared = component.output_definitions.artifacts[key].artifact_type
        outputs[key] = [kfp["eo"].runtime_artifact_to_dsl_artifact(
            pipeline_spec_pb2.RuntimeArtifact(
                name=a["name"], uri=a["uri"], type=declared,
                metadata=struct(a["metadata"]))) for a in found]
        if len(outputs[key]) == 1 and not component.output_definitions.artifacts[key] \
                .is_artifact_list:
            outputs[key] = outputs[key][0]
    return outputs
