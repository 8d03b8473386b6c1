"""Notes on the deployed `.tflite` measured on the held-out split: printed by the run summary and
`report`, and written into the pushed version (report.json `deployed_notes`, report.html,
MODEL.md) so that they travel with the files (helper-66). They decide nothing: the parity gate
decides on validation."""
from __future__ import annotations

import math
from typing import Any, Dict, List

from modules.class_names import shown


def precision_counts(figures: Dict[str, Any]) -> str:
    """' (14 of 28)': a class's correct predictions of all predicted as it (helper-78: a rare
    class's precision rests on few predictions); '' when the count was not recorded."""
    n, precision = figures.get("predicted"), figures.get("precision")
    if n is None or precision is None or not math.isfinite(float(precision)):
        return ""
    return f" ({int(round(float(precision) * n))} of {int(n)})"


def recall_hits(figures: Dict[str, Any]) -> Any:
    """How many of a class's `support` test images were recalled ('?' without a recall)."""
    recall = figures.get("recall")
    if recall is None or not math.isfinite(float(recall)):
        return "?"
    return int(round(float(recall) * figures["support"]))


def held_out_notes(report: Dict[str, Any], deployed: str, gates: List[Dict[str, Any]]
                   ) -> List[str]:
    """Notes on the deployed .tflite measured on the held-out split (they decide nothing: the
    parity gate decides on validation): agreement with the SavedModel below what its gate asks,
    and accuracy below the accuracy gate the SavedModel passed (helper-48: int8 on 10 classes)."""
    variant = next((v for v in (report.get("tflite") or {}).values()
                    if v.get("file") == deployed), None)
    if not variant:
        return []
    notes = []
    held = variant.get("held_out_agreement")
    if held is not None and variant.get("min_agreement") and held < variant["min_agreement"]:
        notes.append(f"on the held-out split {deployed} agrees with the SavedModel on "
                     f"{held:.1%}, below the {variant['min_agreement']:.0%} its parity gate asks "
                     f"on validation ({variant.get('agreement_examples', '?')} examples); "
                     f"export.tflite_variants without it deploys the next file")
    accuracy_gate = next((g for g in gates if g.get("name") == "accuracy"
                          and g.get("passed") is True), None)
    if accuracy_gate and variant.get("accuracy") is not None \
            and variant["accuracy"] < accuracy_gate["threshold"]:
        notes.append(f"{deployed}'s held-out accuracy {variant['accuracy']:.4f} is below "
                     f"the accuracy gate ({accuracy_gate['threshold']:.4f}) the SavedModel "
                     f"passed")
    supports = ((report.get("held_out") or {}).get("per_class") or {})
    majority = majority_note(variant.get("accuracy"), supports, f"{deployed}'s held-out accuracy")
    return notes + deployed_recall_notes(report, gates) + ([majority] if majority else [])


def majority_note(accuracy: Any, supports: Dict[str, Any], what: str = "accuracy") -> str:
    """A note when `accuracy` is not above the largest class's share of the test split
    (`supports`: {class: test images}): answering that class for every image scores as much
    (imbalanced data); '' otherwise. Decides nothing. The run summary says it of the
    SavedModel's accuracy, the version's notes (report.json, report.html, MODEL.md: helper-78,
    which kept it to the console) of the deployed file's."""
    counts = {name: int(n or 0) for name, n in (supports or {}).items()}
    total = sum(counts.values())
    if accuracy is None or not total or not math.isfinite(float(accuracy)):
        return ""
    largest = max(counts, key=counts.get)
    share = counts[largest] / total
    if float(accuracy) > share:
        return ""
    return (f"{what} {float(accuracy):.4f} is not above the share of {shown(largest)} in the "
            f"test split ({counts[largest]} of {total} = {share:.4f}): a model answering "
            f"{shown(largest)} for every image scores as much; judge this one by its per-class "
            f"recall and AUC")


def deployed_recall_notes(report: Dict[str, Any], gates: List[Dict[str, Any]]) -> List[str]:
    """A note per recall gate the SavedModel passed whose class the deployed .tflite recalls
    less often than the gate asks, on the same held-out split (report.json's `per_class`, the
    deployed artifact's): the parity gate, on validation, may have seen few of a rare class's
    images (helper-60: 3). Decides nothing."""
    from components.tfma_gates import gate_class
    per_class = report.get("per_class") or {}
    figures = per_class.get("classes") or {}
    names = (report.get("run") or {}).get("class_names") or list(figures)
    file = ((report.get("tflite") or {}).get(per_class.get("artifact"), {}) or {}).get("file")
    notes = []
    for gate in gates:
        name = gate_class(gate, names) if gate.get("passed") is True else None
        row = figures.get(name) if name else None
        if not file or not row or row.get("recall") is None \
                or row["recall"] >= gate["threshold"]:
            continue
        notes.append(f"{file} recalls {shown(name)} on {recall_hits(row)} of {row['support']} "
                     f"held-out images ({row['recall']:.4f}), below the {gate['name']} gate "
                     f"({gate['threshold']:.4f}) the SavedModel passed; export.tflite_variants "
                     f"without it deploys the next file")
    return notes


def measured_lines(report: Dict[str, Any], deployed: str) -> List[str]:
    """What MODEL.md states as measured for the deployed `.tflite` (helper-70: the version folder
    held no accuracy or agreement figure): its accuracy on the held-out split and its class
    agreement with the SavedModel there and on the parity gate's split, each with its counts
    and Wilson 95 % interval; [] for a file not in the report."""
    from modules.metrics import share_interval
    variant = next((v for v in (report.get("tflite") or {}).values()
                    if v.get("file") == deployed), None)
    if not variant:
        return []

    def counted(k: int, n: int) -> str:
        return f"{k} of {n}, {k / n:.1%}; {share_interval(k, n)}"

    held = report.get("held_out") or {}
    split, n = held.get("split", "test"), int(held.get("examples") or 0)
    saved = (report.get("saved_model") or {}).get("accuracy")
    lines = []
    if n and variant.get("accuracy") is not None:
        lines.append(f"accuracy on the held-out `{split}` split: "
                     f"{counted(int(round(variant['accuracy'] * n)), n)}"
                     + (f" (the SavedModel's {saved:.4f})" if saved is not None else ""))
    if variant.get("held_out_examples"):
        lines.append(f"the same class as the SavedModel on the held-out `{split}` split: "
                     f"{counted(variant['held_out_agreeing'], variant['held_out_examples'])}")
    if variant.get("agreement_examples"):
        lines.append(f"the same class as the SavedModel on the parity gate's "
                     f"`{variant.get('parity_split', 'validation')}` sample, which decided the "
                     f"push: {counted(variant['agreeing'], variant['agreement_examples'])}")
    lines += probability_lines(variant, split)
    return lines


def probability_lines(variant: Dict[str, Any], split: str) -> List[str]:
    """How far the deployed file's probabilities were from the SavedModel's (the largest
    difference in any class's probability, on the held-out split and the parity gate's sample),
    and, for a quantized file, that an image the model is unsure of can move further (helper-74:
    an int8 file's probability 0.91 against the SavedModel's 0.66 on a thumbnail enlarged to
    2000 x 1500, while both samples' largest difference was 0.0017). [] without figures."""
    measured = [(f"the held-out `{split}` split", variant.get("held_out_max_abs_diff")),
                (f"the parity gate's `{variant.get('parity_split', 'validation')}` sample",
                 variant.get("max_abs_diff"))]
    measured = [(where, float(d)) for where, d in measured
                if d is not None and math.isfinite(float(d))]
    if not measured:
        return []
    # rounded up: "at most" stays true of the unrounded figure
    line = ("its probabilities: at most " + " and ".join(f"{math.ceil(d * 1e4) / 1e4:.4f} from "
                                                          f"the SavedModel's on {where}"
                                                          for where, d in measured)
            + " (the largest difference in any class's probability)")
    if variant.get("quantization", "none") != "none":
        bound, fraction = variant.get("max_probability_diff"), variant.get(
            "probability_diff_fraction")
        strays = round((1 - float(fraction)) * 100, 4) if fraction is not None else None
        gate = ("" if bound is None or strays is None else
                f"; the parity gate allows up to {float(bound):.2f} on every example of its "
                f"sample" if strays <= 0 else
                f"; the parity gate allows up to {float(bound):.2f} on all but {strays:g}% of "
                f"its sample")
        line += (": measured on these images, most of which the model is sure of; on an image "
                 "it is unsure of, or unlike its training images (an odd size, a thumbnail "
                 "enlarged), a quantized file's probabilities can move much further" + gate
                 + ", so set any threshold on probabilities with this file, not the "
                 "SavedModel")
    return [line]

