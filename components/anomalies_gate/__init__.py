"""AnomaliesGate: stops the pipeline before Transform/training when ExampleValidator found anomalies."""
from components.anomalies_gate.component import AnomaliesGate  # noqa: F401
from components.anomalies_gate.executor import AnomaliesFoundError  # noqa: F401
