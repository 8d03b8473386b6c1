"""Layer names of the flat VGG16 transfer model, and which of them to prune (pure Python).

Pure so that the pipeline config can validate `trainer.pruning.layers` without TensorFlow.
"""
from typing import Dict, Iterable, List, Mapping, Sequence, Union

VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))  # (conv layers, filters)
CONV_LAYER_NAMES = [f"block{b}_conv{i}" for b, (n, _) in enumerate(VGG16_BLOCKS, 1)
                    for i in range(1, n + 1)]
OUTPUT_LAYER_NAME = "predictions"  # the output Dense (sigmoid / softmax)
HEAD_LAYER_NAMES = ["head_dense", OUTPUT_LAYER_NAME]
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


# `trainer.structured_pruning.fractions` keys: a block ('block4': all its conv layers) or a conv
# layer ('block5_conv3': wins over its block's entry).
BLOCK_NAMES = [f"block{b}" for b in range(1, len(VGG16_BLOCKS) + 1)]


def check_filter_fractions(fractions: Mapping[str, float]) -> None:
    """Raises ValueError for a key that is neither a block nor a conv layer name, or a fraction
    outside [0, 1) (removing every filter of a layer would cut the network)."""
    for key, fraction in fractions.items():
        if key not in BLOCK_NAMES and key not in CONV_LAYER_NAMES:
            raise ValueError(f"unknown block or conv layer name {key!r}; known: "
                             f"{', '.join(BLOCK_NAMES)} or {', '.join(CONV_LAYER_NAMES)}")
        if isinstance(fraction, bool) or not (0.0 <= fraction < 1.0):
            raise ValueError(f"{key}: expected a fraction in [0, 1), got {fraction!r}")


def resolve_filter_fractions(fractions: Mapping[str, float]) -> Dict[str, float]:
    """{conv layer name: fraction of its filters removed} (0 for layers not covered)."""
    check_filter_fractions(fractions)
    return {name: float(fractions.get(name, fractions.get(name.split("_")[0], 0.0)))
            for name in CONV_LAYER_NAMES}
