"""The TFLite variants the ExportPusher can convert and push: one table, read by the config
checks, the converter (modules/export.py), the parity gate and the report.

Adding a variant is one entry here (plus its tests). No TensorFlow import: the config loads this.
"""
from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class TFLiteVariant:
    """How one `.tflite` file is converted and what it must show before it is pushed.

    quantization: 'none' (float32 weights and activations) | 'dynamic_range' (int8 weights,
      float activations) | 'int8' (int8 weights and activations, float32 input and output,
      calibrated on a stratified sample of the train split; see float_output).
    sparse_storage: TFLite's EXPERIMENTAL_SPARSITY (pruned weights stored in a sparse format).
      LiteRT's default XNNPACK delegate cannot prepare the ops that read them (ai-edge-litert
      2.3.0: "failed to delegate ... failed to prepare"), so such a variant is opt-in only and
      is refused by the gate wherever it does not load.
    min_agreement: fraction of held-out examples (overall and within each class) whose predicted
      class must equal the SavedModel's.
    max_probability_diff: largest allowed |p_variant - p_savedmodel| over those examples and
      classes (probabilities in [0, 1]).
    deploy_rank: the deployed artifact is the passing variant with the lowest rank.
    float_output: int8 only: the output layer (the last Dense and its sigmoid or softmax) is
      computed in float32 from the int8 body's dequantized features, so the probabilities are
      continuous, not a few int8 steps (helper-70: 52 distinct values on 1,200 images and
      exact ties deciding 1-4 % of the classes); it adds the layer's float weights (256 x
      classes x 4 bytes). A QAT model's own ranges keep the layer int8 (helper-72).
    """
    name: str
    quantization: str
    sparse_storage: bool
    min_agreement: float
    max_probability_diff: float
    deploy_rank: int
    description: str
    float_output: bool = False


VARIANTS: Dict[str, TFLiteVariant] = {v.name: v for v in (
    TFLiteVariant("float32", "none", False, 0.99, 0.01, 3,
                  "float32 weights and activations"),
    TFLiteVariant("dynamic_range", "dynamic_range", False, 0.99, 0.10, 2,
                  "int8 weights, float32 activations"),
    TFLiteVariant("int8", "int8", False, 0.98, 0.20, 1,
                  "int8 weights and activations, float32 input, output layer and output",
                  float_output=True),
    TFLiteVariant("int8_sparse", "int8", True, 0.98, 0.20, 0,
                  "int8 with pruned weights in TFLite's sparse storage (opt-in: LiteRT's "
                  "default delegate cannot load it today; its whole model int8: TensorFlow's "
                  "quantization debugger, which leaves the output layer float, cannot build a "
                  "sparse one)"),
)}

DEFAULT_VARIANTS: Tuple[str, ...] = ("float32", "dynamic_range", "int8")
QUANTIZATIONS = ("none", "dynamic_range", "int8")


def variant(name: str) -> TFLiteVariant:
    """The table entry for `name`; ValueError naming the known variants otherwise."""
    if name not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {name!r} (known: {', '.join(VARIANTS)})")
    return VARIANTS[name]


def deploy_order() -> Tuple[str, ...]:
    """Variant names, the preferred deployment target first."""
    return tuple(sorted(VARIANTS, key=lambda n: VARIANTS[n].deploy_rank))
