"""Benchmark: what the change gate's confidence interval costs the Evaluator, and how much of it
is the AUC.

With a baseline, `components/change_interval` turns on TFMA's jackknife intervals for every
metric of the pipeline's EvalConfig (`components/tfma_gates.eval_config`). This times TFX's own
Evaluator executor (real TFMA, real Beam, DirectRunner in-process) on N synthetic test examples
with two tiny SavedModels (candidate and baseline: probabilities from a stored score, so model
inference costs next to nothing and what is left is TFMA's metric work), one fresh process per
measurement, interleaved over `--reps`:

    plain        TFX's Evaluator executor (no intervals), the pipeline's EvalConfig
    interval     the change_interval executor (jackknife intervals), the pipeline's EvalConfig
                 (the AUC gate is components/exact_auc.py's exact AUC)
    tfma10000    the interval with TFMA's bucketed `AUC` at 10,000 thresholds instead (the gate's
                 metric before ExactAUC)
    no_auc       the interval with no AUC metric at all
    auc1000, auc_logit200 (--variants only): TFMA's `AUC` at 1,000 linear thresholds / at 200
                 explicit logit-spaced ones (which leave TFMA's histogram)

Prints mean ± sd seconds per variant and, per interval variant, its extra seconds over plain.

    python benchmarks/evaluator_cost.py --examples 1800 --classes 3 --reps 3
    python benchmarks/evaluator_cost.py --reps 1 --variants plain,auc1000,auc_logit200
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = ("plain", "interval", "tfma10000", "no_auc")  # the default run
EXTRA_VARIANTS = ("auc1000", "auc_logit200")  # --variants only


def _one(variant: str, n: int, classes: int, root: str) -> float:
    """Seconds of one Evaluator Do() (this process; called in a fresh child)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    from tfx.components.evaluator import executor as tfx_evaluator
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import proto_utils

    from components import tfma_gates
    from components.change_interval.executor import Executor

    names = [f"class{i}" for i in range(classes)]

    class ScoreModel(tf.Module):
        def __init__(self, shift):
            super().__init__()
            self.shift = shift

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            score = tf.io.parse_example(examples, {"score": tf.io.FixedLenFeature(
                [classes], tf.float32)})["score"] + self.shift
            out = tf.sigmoid(score[:, 1:] - score[:, :1]) if classes == 2 else tf.nn.softmax(score)
            return {"probability": out}

    def model(name, shift):
        art, module = standard_artifacts.Model(), ScoreModel(shift)
        art.uri = os.path.join(root, name)
        tf.saved_model.save(module, os.path.join(art.uri, "Format-Serving"),
                            signatures={"serving_default": module.serve})
        return art

    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    scores = rng.normal(0, 1, (n, classes)).astype(np.float32)
    scores[np.arange(n), labels] += 1.5  # ~70-80 % accuracy
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.split_names = artifact_utils.encode_split_names(["test"])
    os.makedirs(os.path.join(examples.uri, "Split-test"))
    with tf.io.TFRecordWriter(os.path.join(examples.uri, "Split-test", "data")) as w:
        for s, y in zip(scores, labels):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "score": tf.train.Feature(float_list=tf.train.FloatList(value=s.tolist())),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y)])),
                "class_name": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[names[int(y)].encode()]))})).SerializeToString())
    config = tfma_gates.eval_config(names, 0.0, 0.0, 0.0, max_accuracy_drop=0.01)
    tfma_auc = {"tfma10000": {"num_thresholds": 10000}, "auc1000": {"num_thresholds": 1000},
                "auc_logit200": {"thresholds": (
                    1 / (1 + np.exp(-np.linspace(-16, 16, 200)))).tolist()}}.get(variant)
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if metric.class_name == "ExactAUC" and tfma_auc is not None:
                metric.class_name, metric.module = "AUC", ""
                metric.config = json.dumps(tfma_auc)
        if variant == "no_auc":
            kept = [m for m in spec.metrics if m.class_name != "ExactAUC"]
            del spec.metrics[:]
            spec.metrics.extend(kept)
    specs = [s for s in config.metrics_specs if s.metrics]
    del config.metrics_specs[:]
    config.metrics_specs.extend(specs)
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = os.path.join(root, "evaluation"), os.path.join(root, "blessing")
    os.makedirs(blessing.uri)
    inputs = {"model": [model("candidate", 0.0)], "baseline_model": [model("baseline", 0.1)],
              "examples": [examples]}
    executor = tfx_evaluator.Executor() if variant == "plain" else Executor()
    started = time.time()
    executor.Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]},
                {"eval_config": proto_utils.proto_to_json(config),
                 "example_splits": json.dumps(["test"])})
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1800)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS + EXTRA_VARIANTS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="evaluator-cost-") as root:
            print(f"seconds={_one(args.child, args.examples, args.classes, root):.2f}")
        return
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS + EXTRA_VARIANTS)
    if unknown or "plain" not in variants:
        parser.error(f"--variants: unknown {sorted(unknown)} or no 'plain'")
    seconds = {v: [] for v in variants}
    for rep in range(args.reps):
        for variant in variants:  # interleaved: machine load hits every variant
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--examples",
                                  str(args.examples), "--classes", str(args.classes)],
                                 env=env, capture_output=True, text=True, check=True).stdout
            seconds[variant].append(float(out.strip().splitlines()[-1].split("=")[1]))
            print(f"rep {rep} {variant}: {seconds[variant][-1]:.1f} s", flush=True)
    print(f"\nTFX Evaluator, {args.examples} examples, {args.classes} classes, 2 models "
          f"(trivial), {args.reps} reps:")
    plain = statistics.mean(seconds["plain"])
    for variant in variants:
        s = seconds[variant]
        sd = statistics.stdev(s) if len(s) > 1 else 0.0
        extra = "" if variant == "plain" else f"  extra over plain {statistics.mean(s) - plain:+.1f} s"
        print(f"  {variant:9s} {statistics.mean(s):6.1f} ± {sd:.1f} s{extra}")


if __name__ == "__main__":
    main()
