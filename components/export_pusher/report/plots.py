"""The report's figures: one function per plot, each writing one PNG (matplotlib, Agg backend).

matplotlib is imported on first use, so importing this module neither loads it nor switches the
backend of a process that only imports the pipeline.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np


def _pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend selected."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@functools.lru_cache(maxsize=None)
def _charmap(path: str) -> frozenset:
    """The code points the font file at `path` has glyphs for (empty if it cannot be read)."""
    from matplotlib import ft2font
    try:
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def drawable_labels(names: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Class names as tick labels no font draws as boxes: ([label per name], [font families]).

    Characters matplotlib's default font lacks (e.g. CJK: '靴') are drawn with an installed
    font that has them (its family is added as a fallback after the default); a character no
    installed font has is written as its code point, '<U+9774>', so the label stays exact
    (report.html and labels.txt give the names as text); '$' is escaped for mathtext."""
    from matplotlib import font_manager, rcParams
    default = font_manager.findfont(font_manager.FontProperties(family=rcParams["font.family"]))
    covered = _charmap(default)
    families = list(rcParams["font.family"])
    missing = {c for name in names for c in name if ord(c) not in covered and not c.isspace()}
    # each family's regular face (what matplotlib draws its normal text with), read directly:
    # findfont() per family would log a warning for every family without one
    regular = {f.name: f.fname for f in sorted(font_manager.fontManager.ttflist,
                                                 key=lambda f: f.fname)
               if f.style == "normal" and f.weight in (400, "normal", "regular", "book")}
    for family, fname in sorted(regular.items()):
        if not missing:
            break
        if family.startswith("Last Resort"):  # its "glyphs" are the boxes we avoid
            continue
        have = {c for c in missing if ord(c) in _charmap(fname)}
        if have:
            missing -= have
            families.append(family)
    # '$' would start mathtext ('$5 - $10' drawn as math): escaped, it is drawn as itself
    labels = ["".join(f"<U+{ord(c):04X}>" if c in missing else "\\$" if c == "$" else c
                      for c in name) for name in names]
    return labels, families


def plot_accuracy_vs_size(report: Dict[str, Any], path: str) -> None:
    """Writes a 600x400 px PNG to `path`: held-out accuracy (y) vs gzip size in MB (x, log scale
    when sizes span >= 5x) of the SavedModel and of the pushed (green) and rejected (red) TFLite
    variants.

    Reads report["saved_model"], ["tflite"], ["rejected"] (entries with "accuracy" only),
    ["eval_examples"] and ["held_out"]["split"]; each entry needs "gzip_bytes" and "accuracy".
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    points = [("SavedModel", report["saved_model"], "tab:blue", "o")]
    markers = {"float32": "s", "dynamic_range": "D", "int8": "^"}
    points += [(f"TFLite {v}", info, "tab:green", markers.get(v, "s"))
               for v, info in report["tflite"].items()]
    points += [(f"TFLite {v} (rejected)", info, "tab:red", markers.get(v, "x"))
               for v, info in report.get("rejected", {}).items() if "accuracy" in info]
    for label, info, color, marker in points:
        size_mb = info["gzip_bytes"] / 1e6
        ax.scatter([size_mb], [info["accuracy"]], color=color, marker=marker, s=60,
                   label=f"{label}: {size_mb:.3g} MB, {info['accuracy']:.3f}")
    ax.legend(fontsize=8, loc="best")
    sizes = [info["gzip_bytes"] / 1e6 for _, info, _, _ in points]
    if max(sizes) / max(min(sizes), 1e-12) >= 5:  # spans decades: log scale, plain tick labels
        from matplotlib.ticker import FuncFormatter, LogLocator
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlabel("gzip size (MB, log scale)")
    else:
        ax.set_xlim(0, max(sizes) * 1.15)
        ax.set_xlabel("gzip size (MB)")
    held_out = report.get("held_out", {})
    ax.set_ylabel(f"accuracy, {held_out.get('split', 'held-out')} split "
                  f"({report['eval_examples']} examples)")
    ax.set_title("Accuracy vs size")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confusion(cm: List[List[int]], class_names: Sequence[str], title: str, path: str) -> None:
    """Writes the C x C confusion matrix `cm` (rows: true class, columns: predicted) as an
    annotated heat map PNG to `path`, (160 C + 240) x (140 C + 200) px. Classes are labelled with
    `class_names` when there are C of them, else 0..C-1 (as `drawable_labels` makes them)."""
    plt = _pyplot()
    arr = np.asarray(cm)
    n = arr.shape[0]
    names, families = drawable_labels(
        list(class_names) if len(class_names) == n else [str(i) for i in range(n)])
    fig, ax = plt.subplots(figsize=(1.6 * n + 2.4, 1.4 * n + 2), dpi=100)
    ax.imshow(arr, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(arr[i, j]), ha="center", va="center",
                    color="white" if arr[i, j] > arr.max() / 2 else "black")
    ax.set_xticks(range(n), names, rotation=30, ha="right", family=families)
    ax.set_yticks(range(n), names, family=families)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_augmented_grid(originals: np.ndarray, augmented: List[np.ndarray], path: str) -> None:
    """Writes a grid PNG to `path`: row i is train image i, then its augmented versions.

    originals: [R, H, W, 3] pixel values in [0, 255]; augmented: K arrays of that shape (one per
    augmentation pass). The grid is R x (1 + K) cells of 130 px.
    """
    plt = _pyplot()
    rows, cols = len(originals), 1 + len(augmented)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), dpi=100,
                             squeeze=False)
    for i in range(rows):
        for j in range(cols):
            img = originals[i] if j == 0 else augmented[j - 1][i]
            axes[i][j].imshow(np.clip(img, 0, 255).astype(np.uint8))
            axes[i][j].axis("off")
        axes[0][0].set_title("original", fontsize=8)
    for j in range(1, cols):
        axes[0][j].set_title(f"training #{j}", fontsize=8)
    fig.suptitle("Augmented training samples (augmentation layers, training=True)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
