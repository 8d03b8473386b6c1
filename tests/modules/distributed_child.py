"""Child process of tests/modules/test_distribution.py (not a test module: logical devices must be
configured before TensorFlow initializes, so each configuration gets a fresh interpreter).

With TF_CONFIG in its environment (two of these processes: a chief and a worker on localhost)
it trains in the MultiWorkerMirroredStrategy that choose_strategy picks from it.

Trains the real transfer model (VGG16 at 32x32, random init, 8 head units) through
`modules.trainer.train` - the function run_fn and the GPU benchmark call - in the strategy that
`modules.distribution.choose_strategy` picks for `--cpus` logical CPU devices, then optionally
exports it (SavedModel `serving_image` + float32 TFLite) and checks the outputs. Prints one JSON
line: what the test asserts on.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SIZE = 32


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--mixed-precision", default="none")
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--augmentation", action="store_true")
    args = parser.parse_args(argv)
    if args.cpus > 1:
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(args.cpus)])

    from modules import distribution, trainer
    from modules.configs import (AugmentationConfig, FineTuneConfig, ModelConfig, PruningConfig,
                                 RunConfig, TrainerConfig)
    from modules.data import arrays_dataset

    strategy = distribution.choose_strategy()
    cfg = RunConfig(
        class_names=["a", "b"], weights_path="",
        model=ModelConfig(image_size=SIZE, weights="none", head_units=8, dropout=0.0),
        trainer=TrainerConfig(
            epochs=1, augmentation=AugmentationConfig(enabled=args.augmentation),
            fine_tune=FineTuneConfig(unfreeze_blocks=0),
            pruning=PruningConfig(layers="head", schedule="constant", target_sparsity=0.5,
                                  frequency=1, fine_tune_epochs=1),
            mixed_precision=args.mixed_precision))
    hp = {"learning_rate": 1e-3, "batch_size": 4, "source": "config"}
    rng = np.random.default_rng(0)
    labels = (np.arange(args.images) % 2).astype(np.int64)
    images = np.clip(rng.normal(100 + 60 * labels[:, None, None, None], 40,
                                (args.images, SIZE, SIZE, 3)), 0, 255).astype(np.float32)
    batch = distribution.global_batch_size(hp["batch_size"], strategy)
    train_ds = arrays_dataset(images, labels, batch, shuffle=True, seed=0,
                              input_config=cfg.trainer.input)
    eval_ds = arrays_dataset(images, labels, batch, shuffle=False, seed=0)

    model, summary = trainer.train(cfg, hp, train_ds, eval_ds, labels, strategy=strategy)
    head = model.get_layer("head_dense")
    out = {"strategy": type(strategy).__name__, "chief": distribution.is_chief(),
           "logical_cpus": len(tf.config.list_logical_devices("CPU")),
           "summary": {k: summary[k] for k in ("distribution", "precision", "jit_compile",
                                               "input", "phase1", "final_validation")},
           "pruning_sparsity": summary["pruning"]["layer_sparsity"],
           "pruning_score": summary["pruning"]["score"],
           "head_kernel_type": type(head.kernel).__name__,
           "head_policy": head.dtype_policy.name,
           "predictions_policy": model.get_layer("predictions").dtype_policy.name,
           "train_batch_size": int(next(iter(train_ds))[0].shape[0]),
           "train_steps_per_epoch": int(train_ds.cardinality()),
           "finite_loss": bool(np.isfinite(summary["phase1"]["history"]["loss"]).all())}
    if args.export:
        from modules import export
        x = images[:4]
        reference = model.predict(x, verbose=0)
        out["model_output_dtype"] = str(reference.dtype)
        with tempfile.TemporaryDirectory() as tmp:
            export.save_image_model(model, tmp)
            predict = export.load_image_signature(tmp)
            saved = predict(x)
            out["saved_model_output_dtype"] = str(saved.dtype)
            out["saved_vs_trained_max_diff"] = float(np.max(np.abs(saved - reference)))
            tflite = export.TFLiteModel(export.convert_tflite(tmp, "float32"))
            lite = tflite.predict(x)
            out["tflite_output_dtype"] = str(lite.dtype)
            out["tflite_vs_saved_max_diff"] = float(np.max(np.abs(lite - saved)))
            loaded = tf.saved_model.load(tmp)
            sig = loaded.signatures["serving_image"]
            out["signature_output_dtypes"] = sorted(
                str(v.dtype.name) for v in sig.structured_outputs.values())
    print("RESULT " + json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
