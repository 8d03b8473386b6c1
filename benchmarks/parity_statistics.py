"""How far each compressed TFLite variant's probabilities stray from the SavedModel's, on the
*validation* split of a finished run (never test): the data the parity gate's statistic is chosen
on.

For the newest Trainer model and Transform output in `<output root>/metadata.sqlite`, converts
every variant (modules/export.convert_tflite, int8 calibrated on 200 train images as the
ExportPusher does), runs it in standalone LiteRT, and prints per variant: argmax agreement with
the SavedModel, the number of examples whose largest |p_variant - p_savedmodel| (over classes)
exceeds 0.01 / 0.05 / 0.10 / 0.20, and quantiles of that per-example largest |dp|.

    python -m benchmarks.parity_statistics --output-root outputs/fashion_binary [--variants ...]

Last line per variant: `variant= n= agreement= p50= p90= p95= p99= max= over_0.10= over_0.20=`.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

from modules import export, litert, splits  # noqa: E402
from modules.data import load_stratified_sample  # noqa: E402
from modules.metrics import predicted_class  # noqa: E402
from pipeline.mlmd import open_store  # noqa: E402

THRESHOLDS = (0.01, 0.05, 0.10, 0.20)
QUANTILES = (0.5, 0.9, 0.95, 0.99)


def _newest(store, type_name: str, producer: str):
    """The newest LIVE artifact of `type_name` whose URI holds `/<producer>/`."""
    found = [a for a in store.get_artifacts_by_type(type_name) if f"/{producer}/" in a.uri]
    if not found:
        raise SystemExit(f"no {type_name} artifact of {producer} in the store")
    return max(found, key=lambda a: a.id)


def per_example_diff(variant_probs: np.ndarray, sm_probs: np.ndarray) -> np.ndarray:
    """Largest |p_variant - p_savedmodel| over classes: float [N] from [N, K] each."""
    return np.max(np.abs(variant_probs - sm_probs), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-root", required=True)
    parser.add_argument("--variants", default="float32,dynamic_range,int8")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from tfx.types import standard_artifacts
    store = open_store(os.path.join(args.output_root, "metadata.sqlite"))
    model = _newest(store, "Model", "Trainer")
    examples_mlmd = _newest(store, "Examples", "Transform")
    graph = _newest(store, "TransformGraph", "Transform")
    examples = standard_artifacts.Examples()
    examples.uri = examples_mlmd.uri
    examples.split_names = examples_mlmd.properties["split_names"].string_value
    saved_model = os.path.join(model.uri, "Format-Serving")
    images, labels = load_stratified_sample(examples, splits.VALIDATION, graph.uri,
                                            args.examples, args.seed)
    train, _ = load_stratified_sample(examples, splits.TRAIN, graph.uri, 200, args.seed)
    sm = export.load_image_signature(saved_model)(images)
    print(f"model {model.uri}\nvalidation examples {len(labels)}, classes "
          f"{dict(zip(*[x.tolist() for x in np.unique(labels, return_counts=True)]))}")
    for variant in args.variants.split(","):
        content = export.convert_tflite(saved_model, variant,
                                        representative_images=lambda: train[:, None])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{variant}.tflite")
            with open(path, "wb") as f:
                f.write(content)
            result = litert.run_litert(path, images=images)
        if not result.ok:
            print(f"variant={variant} LiteRT failed: {result.error}")
            continue
        probs = result.predictions
        d = per_example_diff(probs, sm)
        agree = float(np.mean(predicted_class(probs) == predicted_class(sm)))
        over = {t: int(np.sum(d > t)) for t in THRESHOLDS}
        q = {p: float(np.quantile(d, p)) for p in QUANTILES}
        print(f"variant={variant} n={len(d)} agreement={agree:.4f} "
              + " ".join(f"p{int(p * 100)}={v:.4f}" for p, v in q.items())
              + f" max={d.max():.4f} mean={d.mean():.4f} "
              + " ".join(f"over_{t:.2f}={n}" for t, n in over.items()))


if __name__ == "__main__":
    main()
