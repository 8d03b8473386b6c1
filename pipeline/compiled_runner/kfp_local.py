"""kfp.local's modules, imported on use (the CLI's other commands do not need them), and the
protobuf conversions the runner needs."""
from __future__ import annotations

from typing import Any, Dict


def kfp_local() -> Dict[str, Any]:
    """kfp.local's modules by short name."""
    from kfp.local import (dag_orchestrator, executor_input_utils, executor_output_utils,
                           graph_utils, io, placeholder_utils, status, task_handler_interface)
    return dict(dag=dag_orchestrator, ei=executor_input_utils, eo=executor_output_utils,
                graph=graph_utils, io=io, ph=placeholder_utils, status=status,
                handler=task_handler_interface)


def executor_spec(executor: Dict[str, Any]):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    return json_format.ParseDict(executor,
                                 pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec())


def struct(values: Dict[str, Any]):
    from google.protobuf import struct_pb2
    s = struct_pb2.Struct()
    s.update(values or {})
    return s


def struct_dict(struct) -> Dict[str, Any]:
    from google.protobuf import json_format
    return json_format.MessageToDict(struct)
