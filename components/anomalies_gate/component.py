"""AnomaliesGate component: one input (ExampleValidator's `anomalies`), no outputs.

Transform is made to depend on it (`transform.add_upstream_node(gate)`), so when the gate fails the
run stops before any preprocessing or training, and no model can be trained on drifted data.
"""
from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from components.anomalies_gate import executor


class AnomaliesGateSpec(ComponentSpec):
    PARAMETERS = {}
    INPUTS = {"anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS = {}


class AnomaliesGate(base_component.BaseComponent):
    """Fails the run (AnomaliesFoundError) when ExampleValidator reports any anomaly."""
    SPEC_CLASS = AnomaliesGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies):
        super().__init__(spec=AnomaliesGateSpec(anomalies=anomalies))
