"""Layer names of the flat VGG16 transfer model, and which of them to prune (pure Python).

Pure so that the pipeline config can validate `trainer.pruning.layers` without TensorFlow.
"""
from typing import Iterable, List, Sequence, Union

VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))  # (conv layers, filters)
CONV_LAYER_NAMES = [f"block{b}_conv{i}" for b, (n, _) in enumerate(VGG16_BLOCKS, 1)
                    for i in range(1, n + 1)]
HEAD_LAYER_NAMES = ["head_dense", "predictions"]
PRUNABLE_LAYER_NAMES = CONV_LAYER_NAMES + HEAD_LAYER_NAMES
# `trainer.pruning.layers` keywords: head = the two Dense layers; trainable = head + the conv
# layers trainable after phase 2 (the default); all = head + all 13 conv layers.
PRUNING_LAYER_KEYWORDS = ("head", "trainable", "all")

LayersSpec = Union[str, Sequence[str]]


def _as_list(spec: LayersSpec) -> List[str]:
    return [spec] if isinstance(spec, str) else list(spec)


def check_pruning_layers(spec: LayersSpec) -> List[str]:
    """Raises ValueError for an empty spec, an unknown layer name or a keyword mixed with names.

    Returns the spec as a list.
    """
    items = _as_list(spec)
    if not items:
        raise ValueError("expected 'head', 'trainable', 'all' or a non-empty list of layer names")
    keywords = [i for i in items if i in PRUNING_LAYER_KEYWORDS]
    if keywords and len(items) > 1:
        raise ValueError(f"a keyword ({keywords[0]!r}) cannot be combined with other entries: "
                         f"{items}")
    unknown = [i for i in items if i not in PRUNING_LAYER_KEYWORDS and
               i not in PRUNABLE_LAYER_NAMES]
    if unknown:
        raise ValueError(f"unknown layer name(s) {unknown}; known: 'head', 'trainable', 'all' "
                         f"or names among {', '.join(PRUNABLE_LAYER_NAMES)}")
    if len(set(items)) != len(items):
        raise ValueError(f"duplicate layer names in {items}")
    return items


def resolve_pruning_layers(spec: LayersSpec, trainable_conv: Iterable[str]) -> List[str]:
    """The layer names to prune, in model order. `trainable_conv`: conv layers trainable now."""
    items = check_pruning_layers(spec)
    if items == ["head"]:
        chosen = set(HEAD_LAYER_NAMES)
    elif items == ["trainable"]:
        chosen = set(HEAD_LAYER_NAMES) | set(trainable_conv)
    elif items == ["all"]:
        chosen = set(PRUNABLE_LAYER_NAMES)
    else:
        chosen = set(items)
    return [name for name in PRUNABLE_LAYER_NAMES if name in chosen]
