"""modules/trainer.py phases on the real (32x32, random-init) VGG16 transfer model:
gradual unfreezing goes top-down one block per step, and the pruning fine-tune prunes the layers
`trainer.pruning.layers` names (making frozen ones trainable) to the target sparsity.

tf.functions run eagerly here: the same code paths without minutes of graph tracing of VGG16
and tfmot on this 2-core machine (the e2e pipeline run covers graph mode).
"""


import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from modules import feature_cache, trainer
from modules.configs import FineTuneConfig, PruningConfig
from modules.data import arrays_dataset
from modules.layer_names import (CONV_LAYER_NAMES, HEAD_LAYER_NAMES,
                                 check_pruning_layers, resolve_pruning_layers)
from modules.model import build_model, set_base_trainable
from modules.training import compile_model

SIZE = 32
BLOCK = {name: int(name[5]) for name in CONV_LAYER_NAMES}


def _data(n=4, seed=0):  # one batch: one step per epoch
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = np.clip(rng.normal(100 + 60 * labels[:, None, None, None], 40, (n, SIZE, SIZE, 3)),
                     0, 255).astype(np.float32)
    return arrays_dataset(images, labels.astype(np.int64), batch_size=4, shuffle=False, seed=0)


def _model():
    return build_model(SIZE, 2, weights_path=None, head_units=64, dropout=0.0,
                       base_trainable=False, seed=1)


def _conv_weights(model):
    return {n: model.get_layer(n).kernel.numpy().copy() for n in CONV_LAYER_NAMES}


class _RecordTrainable(tf_keras.callbacks.Callback):
    """The conv layers that are trainable when each fit() starts, and the weights around it."""

    def __init__(self):
        super().__init__()
        self.trainable, self.before, self.after = [], [], []

    def on_train_begin(self, logs=None):
        self.trainable.append([n for n in CONV_LAYER_NAMES if self.model.get_layer(n).trainable])
        self.before.append(_conv_weights(self.model))

    def on_train_end(self, logs=None):
        self.after.append(_conv_weights(self.model))


def test_gradual_unfreezing_is_top_down_one_block_per_step(eager):
    model = _model()
    ds = _data()
    record = _RecordTrainable()
    info = trainer._gradual_unfreezing(
        model, FineTuneConfig(unfreeze_blocks=3, learning_rate=1e-3, epochs_per_step=1,
                              patience=1), 2, ds, ds, callbacks=[record])
    expected = [[n for n in CONV_LAYER_NAMES if BLOCK[n] >= 6 - step] for step in (1, 2, 3)]
    assert record.trainable == expected
    assert [s["trainable_conv_layers"] for s in info["steps"]] == expected
    assert [s["unfrozen_blocks"] for s in info["steps"]] == [1, 2, 3]
    assert info["learning_rate"] == 1e-3
    for step, trainable in enumerate(expected):
        before, after = record.before[step], record.after[step]
        for name in CONV_LAYER_NAMES:
            changed = not np.array_equal(before[name], after[name])
            assert changed == (name in trainable), (step + 1, name)


def test_gradual_unfreezing_on_cached_block_outputs_trains_the_same_layers(eager):
    """With `cached`, each step trains the unfrozen blocks and the head on the frozen blocks'
    outputs: the same conv layers change as when fitting the whole model, the others do not."""
    model = _model()
    ds = _data()
    before = _conv_weights(model)
    info = trainer._gradual_unfreezing(
        model, FineTuneConfig(unfreeze_blocks=2, learning_rate=1e-3, epochs_per_step=1,
                              patience=1), 2, ds, ds,
        cached=feature_cache.CacheContext(tf.distribute.get_strategy(), 4, 4, 0))
    assert [s["features_cached"] for s in info["steps"]] == [True, True]
    after = _conv_weights(model)
    for name in CONV_LAYER_NAMES:
        assert (not np.array_equal(before[name], after[name])) == (BLOCK[name] >= 4), name
    assert all("val_loss" in s["history"] for s in info["steps"])


def _fit_head(model, ds, epochs):
    compile_model(model, 1e-3, 2)
    model.fit(ds, epochs=epochs, verbose=0)
    return trainer.evaluate(model, ds)


def test_a_phase2_step_that_does_not_beat_phase1_on_validation_is_undone(eager):
    """Phase 2 trained on flipped labels cannot beat phase 1 on the true labels: the weights
    before it come back exactly, and unfreezing stops after that step."""
    tf_keras.utils.set_random_seed(0)
    model, ds = _model(), _data()
    phase1 = _fit_head(model, ds, epochs=30)
    assert phase1["accuracy"] == 1.0
    before = [w.copy() for w in model.get_weights()]
    flipped = ds.map(lambda x, y: (x, 1 - y))
    info = trainer._gradual_unfreezing(
        model, FineTuneConfig(unfreeze_blocks=2, learning_rate=1e-2, epochs_per_step=3,
                              patience=0), 2, flipped, ds, baseline=phase1)
    assert [s["kept"] for s in info["steps"]] == [False] and info["kept_steps"] == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert trainer.evaluate(model, ds)["accuracy"] == 1.0


def test_a_phase2_step_that_beats_phase1_on_validation_is_kept(eager):
    tf_keras.utils.set_random_seed(0)
    model, ds = _model(), _data()
    phase1 = trainer.evaluate(_compiled(model), ds)  # untrained head: loss ~ln 2
    info = trainer._gradual_unfreezing(
        model, FineTuneConfig(unfreeze_blocks=1, learning_rate=1e-3, epochs_per_step=20,
                              patience=0), 2, ds, ds, baseline=phase1)
    (step,) = info["steps"]
    assert step["kept"] is True and info["kept_steps"] == 1
    assert trainer._better(step["validation"], phase1)


def test_without_a_baseline_every_phase2_step_is_kept(eager):
    """No baseline (`select_on_validation: false`): the step on flipped labels, which the test
    above undoes, is kept, and unfreezing goes on to the next block."""
    tf_keras.utils.set_random_seed(0)
    model, ds = _model(), _data()
    _fit_head(model, ds, epochs=30)
    before = [w.copy() for w in model.get_weights()]
    flipped = ds.map(lambda x, y: (x, 1 - y))
    info = trainer._gradual_unfreezing(
        model, FineTuneConfig(unfreeze_blocks=2, learning_rate=1e-2, epochs_per_step=3,
                              patience=0), 2, flipped, ds, baseline=None)
    assert [s["unfrozen_blocks"] for s in info["steps"]] == [1, 2]
    assert not any("kept" in s for s in info["steps"]) and "kept_steps" not in info
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("select", [True, False])
def test_select_on_validation_decides_whether_phase2_is_judged_against_phase1(
        eager, monkeypatch, imagenet_weights_path, select):
    """trainer.train hands phase 2 phase 1's validation as its baseline only with
    `trainer.fine_tune.select_on_validation` (the default)."""
    from modules.configs import ModelConfig, RunConfig, TrainerConfig
    baselines = []
    real = trainer._gradual_unfreezing
    monkeypatch.setattr(trainer, "_gradual_unfreezing",
                        lambda *a, **k: baselines.append(k["baseline"]) or real(*a, **k))
    cfg = RunConfig(
        class_names=["a", "b"], weights_path=imagenet_weights_path,
        model=ModelConfig(image_size=SIZE, head_units=8, dropout=0.0),
        trainer=TrainerConfig(
            epochs=1, fine_tune=FineTuneConfig(unfreeze_blocks=1, epochs_per_step=1, patience=0,
                                               select_on_validation=select),
            pruning=PruningConfig(enabled=False)))
    cfg.trainer.augmentation.enabled = False
    hp = {"learning_rate": 1e-3, "batch_size": 4, "source": "config"}
    _, summary = trainer.train(cfg, hp, _data(), _data(seed=5), np.arange(4) % 2)
    (baseline,) = baselines
    if select:
        assert baseline == summary["phase1"]["validation"]
        assert summary["phase2"]["kept_steps"] in (0, 1)
    else:
        assert baseline is None and "kept_steps" not in summary["phase2"]
    assert len(summary["phase2"]["steps"]) == 1


def _compiled(model):
    compile_model(model, 1e-3, 2)
    return model


def test_pruning_layers_resolution():
    trainable_conv = ["block5_conv1", "block5_conv2", "block5_conv3"]
    assert resolve_pruning_layers("head", trainable_conv) == HEAD_LAYER_NAMES
    assert resolve_pruning_layers("trainable", trainable_conv) == trainable_conv + HEAD_LAYER_NAMES
    assert resolve_pruning_layers("all", []) == CONV_LAYER_NAMES + HEAD_LAYER_NAMES
    assert resolve_pruning_layers(["predictions", "block1_conv1"], []) == ["block1_conv1",
                                                                          "predictions"]
    for bad, message in [(["block6_conv1"], "unknown layer name"), ([], "non-empty"),
                         (["all", "head_dense"], "cannot be combined"),
                         (["head_dense", "head_dense"], "duplicate")]:
        with pytest.raises(ValueError, match=message):
            check_pruning_layers(bad)


def test_pruned_layer_names_follow_the_model():
    model = _model()
    assert trainer.pruned_layer_names(model, "trainable") == HEAD_LAYER_NAMES
    set_base_trainable(model, True, top_blocks=1)
    assert trainer.pruned_layer_names(model, "trainable") == [
        "block5_conv1", "block5_conv2", "block5_conv3", *HEAD_LAYER_NAMES]


def test_prune_and_fine_tune_all_layers_reaches_target(eager):
    model = _model()
    compile_model(model, 1e-3, 2)
    assert not any(model.get_layer(n).trainable for n in CONV_LAYER_NAMES)
    before = _conv_weights(model)
    stripped, info = trainer.prune_and_fine_tune(
        model, PruningConfig(layers="all", schedule="polynomial", initial_sparsity=0.3,
                             target_sparsity=0.7, frequency=1, fine_tune_epochs=2),
        1e-4, 2, _data())
    assert info["layers"] == CONV_LAYER_NAMES + HEAD_LAYER_NAMES
    assert not any("prune_low_magnitude" in layer.name for layer in stripped.layers)
    for name, value in info["layer_sparsity"].items():
        size = stripped.get_layer(name).kernel.shape.num_elements()
        assert value == pytest.approx(0.7, abs=max(0.02, 1.0 / size)), (name, value)
    assert info["overall_sparsity"] == pytest.approx(0.7, abs=0.02)
    # frozen conv layers were made trainable: their surviving weights were fine-tuned too
    kernel = stripped.get_layer("block1_conv1").kernel.numpy()
    kept = kernel != 0
    assert not np.allclose(kernel[kept], before["block1_conv1"][kept])


def test_prune_and_fine_tune_head_only_leaves_conv_dense(eager):
    model = _model()
    stripped, info = trainer.prune_and_fine_tune(
        model, PruningConfig(layers="head", schedule="constant", target_sparsity=0.5,
                             frequency=1, fine_tune_epochs=1), 1e-3, 2, _data())
    assert info["layers"] == HEAD_LAYER_NAMES
    assert info["layer_sparsity"]["head_dense"] == pytest.approx(0.5, abs=0.02)
    assert float(np.mean(stripped.get_layer("block5_conv3").kernel.numpy() == 0)) < 0.01


def test_pruning_fine_tune_keeps_the_best_validation_epoch_at_the_target(eager):
    """Early stopping on validation loss: the returned (stripped) model is the epoch with the
    lowest validation loss among those at the target sparsity, and it is fully pruned."""
    model = _model()
    validation = _data(seed=5)
    stripped, info = trainer.prune_and_fine_tune(
        model, PruningConfig(layers="head", schedule="constant", target_sparsity=0.5,
                             frequency=1, fine_tune_epochs=4, early_stopping_patience=4),
        3e-2, 2, _data(), validation)
    losses = info["history"]["val_loss"]
    assert info["epochs_run"] == 4 and len(losses) == 4
    assert info["selected_epoch"] == int(np.argmin(losses)) + 1
    compile_model(stripped, 1e-3, 2)
    got = stripped.evaluate(validation, verbose=0, return_dict=True)["loss"]
    assert got == pytest.approx(min(losses), rel=1e-4)
    assert info["layer_sparsity"]["head_dense"] == pytest.approx(0.5, abs=0.02)


def test_pruning_fine_tune_never_selects_an_epoch_before_the_target(eager):
    model = _model()
    stripped, info = trainer.prune_and_fine_tune(
        model, PruningConfig(layers="head", schedule="polynomial", target_sparsity=0.6,
                             frequency=1, fine_tune_epochs=3, early_stopping_patience=1),
        1e-3, 2, _data(), _data(seed=5))
    assert info["target_sparsity_from_step"] == 3  # 1 step per epoch: reached in epoch 3
    assert info["selected_epoch"] == 3
    assert info["layer_sparsity"]["head_dense"] == pytest.approx(0.6, abs=0.02)


def test_phase_2_uses_the_tuned_depth_when_the_tuner_chose_one():
    from modules.configs import RunConfig
    config = RunConfig()
    assert config.trainer.fine_tune.unfreeze_blocks == 1
    assert trainer.fine_tune_config(config, {"unfreeze_blocks": 2}).unfreeze_blocks == 2
    assert trainer.fine_tune_config(config, {}).unfreeze_blocks == 1
    assert config.trainer.fine_tune.unfreeze_blocks == 1  # the config itself is not changed


def _pruned_top_block(cached, score="magnitude"):
    model = _model()
    compile_model(model, 1e-3, 2)
    before = _conv_weights(model)
    biases = {n: model.get_layer(n).bias.numpy().copy() for n in CONV_LAYER_NAMES}
    stripped, info = trainer.prune_and_fine_tune(
        model, PruningConfig(layers="all", schedule="constant", target_sparsity=0.5,
                             frequency=1, fine_tune_epochs=2, early_stopping_patience=0,
                             retrain_blocks=1, score=score),
        1e-3, 2, _data(), _data(seed=5),
        cached=None if not cached else feature_cache.CacheContext(
                tf.distribute.get_strategy(), examples=4, batch_size=4, seed=0))
    return stripped, info, before, biases


@pytest.mark.parametrize("score", ["magnitude", "activation_aware"])
@pytest.mark.parametrize("cached", [False, True])
def test_retrain_blocks_1_prunes_lower_blocks_once_and_retrains_only_block5_and_head(
        eager, cached, score):
    """`retrain_blocks: 1`: blocks 1-4 lose the smallest half of each kernel and keep the rest
    exactly; block 5 and the head are pruned by the schedule and retrained; with `cached` the
    fine-tune ran on block4_pool's outputs, whichever score ranks the Dense weights."""
    stripped, info, before, biases = _pruned_top_block(cached, score)
    assert info["features_cached"] is cached, info.get("features_not_cached_because")
    assert info["activation_aware_layers"] == (
        ["head_dense", "predictions"] if score == "activation_aware" else [])
    assert info["pruned_once_and_frozen"] == [n for n in CONV_LAYER_NAMES if BLOCK[n] < 5]
    for name in CONV_LAYER_NAMES:
        kernel = stripped.get_layer(name).kernel.numpy()
        kept = kernel != 0
        assert np.mean(~kept) == pytest.approx(0.5, abs=0.01), name
        if BLOCK[name] < 5:
            np.testing.assert_array_equal(kernel[kept], before[name][kept])
            # the weights that stayed are the largest by magnitude
            assert np.abs(before[name][~kept]).max() <= np.abs(before[name][kept]).min()
            np.testing.assert_array_equal(stripped.get_layer(name).bias.numpy(), biases[name])
        else:
            assert not np.allclose(kernel[kept], before[name][kept]), name
    assert info["layer_sparsity"]["head_dense"] == pytest.approx(0.5, abs=0.01)
    assert not any("prune_low_magnitude" in layer.name for layer in stripped.layers)


@pytest.mark.parametrize("score", ["magnitude", "activation_aware"])
def test_retrained_top_on_cached_features_equals_fitting_the_whole_model(eager, score):
    """One batch per epoch, no dropout: the cached fine-tune gives block 5 and the head the
    weights the uncached one (the whole model, blocks 1-4 frozen) gives them."""
    full, _, _, _ = _pruned_top_block(cached=False, score=score)
    cached, info, _, _ = _pruned_top_block(cached=True, score=score)
    assert info["features_cached"]
    for name in ("block4_conv3", "block5_conv1", "block5_conv3", "head_dense", "predictions"):
        for a, b in zip(full.get_layer(name).get_weights(), cached.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def _fallback_run(margin, dense_accuracy, wider=5):
    from modules.compression_steps import prune_with_fallback
    from modules.training import evaluate_stripped
    model = _model()
    compile_model(model, 1e-3, 2)
    dense = _conv_weights(model)
    cfg = PruningConfig(layers="all", schedule="constant", target_sparsity=0.5, frequency=1,
                        fine_tune_epochs=1, early_stopping_patience=0, retrain_blocks=1,
                        score="activation_aware", fallback_margin=margin,
                        fallback_retrain_blocks=wider)
    kept, info = prune_with_fallback(
        model, cfg, 1e-3, 2, _data(), _data(seed=5), dense_accuracy,
        cached=feature_cache.CacheContext(tf.distribute.get_strategy(), examples=4,
                                          batch_size=4, seed=0))
    return kept, info, dense, evaluate_stripped(kept, _data(seed=5), 1e-3, 2)["accuracy"]


def test_fallback_off_or_within_margin_keeps_the_top_block_fine_tune(eager):
    _, info, _, _ = _fallback_run(None, 1.0)
    assert "fallback" not in info and info["retrain_blocks"] == 1
    _, info, _, accuracy = _fallback_run(1.0, 1.0)  # no drop exceeds 1.0
    assert info["fallback"]["ran"] is False and info["fallback"]["kept"] == "first"
    assert info["fallback"]["first"] == {k: info[k] for k in (
        "features_cached", "pruned_once_and_frozen", "epochs_run")}
    assert info["fallback"]["accuracy"] == pytest.approx(accuracy)
    assert info["retrain_blocks"] == 1


def test_fallback_retrains_every_block_and_keeps_the_better_on_validation(eager):
    """A dense accuracy no pruned model reaches forces the second fine-tune; the model returned
    is the one with the higher validation accuracy (the first on a tie), with its own info."""
    kept, info, dense, accuracy = _fallback_run(0.0, 2.0)
    fb = info["fallback"]
    assert fb["ran"] is True and fb["second"]["retrain_blocks"] == 5
    assert fb["second"]["pruned_once_and_frozen"] == []
    best = max(fb["accuracy"], fb["second_accuracy"])
    assert accuracy == pytest.approx(best)
    first_kept = fb["second_accuracy"] <= fb["accuracy"]
    assert fb["kept"] == ("first" if first_kept else "second")
    assert info["retrain_blocks"] == (1 if first_kept else 5)
    kernel = kept.get_layer("block1_conv1").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.01)
    if first_kept:  # blocks 1-4 were pruned once and frozen: the weights left are the dense ones
        np.testing.assert_array_equal(kernel[kernel != 0], dense["block1_conv1"][kernel != 0])


@pytest.fixture
def second_validates_better(monkeypatch):
    """The fallback's second validation measurement reads 0.25 higher than measured (the first
    as measured), so that the second fine-tune's model is the one returned."""
    from modules import compression_steps
    measured = []
    real = compression_steps.evaluate_stripped

    def evaluate_stripped(*args):
        metrics = real(*args)
        measured.append({**metrics, "accuracy": metrics["accuracy"] + (0.25 if measured else 0)})
        return measured[-1]
    monkeypatch.setattr(compression_steps, "evaluate_stripped", evaluate_stripped)
    return measured


def test_fallback_keeps_every_block_when_it_validates_better(eager, second_validates_better):
    """The second branch: the every-block fine-tune's model is returned when its validation
    accuracy is higher."""
    kept, info, _, _ = _fallback_run(0.0, 2.0)
    assert len(second_validates_better) == 2
    assert info["fallback"]["kept"] == "second" and info["retrain_blocks"] == 5
    top = info["fallback"]["first"]  # the first fine-tune's, though not kept
    assert top["features_cached"] is True and "block1_conv1" in top["pruned_once_and_frozen"]
    assert info["pruned_once_and_frozen"] == [] and not info["features_cached"]
    kernel = kept.get_layer("block1_conv1").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.01)


def test_fallback_retrain_blocks_3_retrains_blocks_3_to_5_on_cached_block2_outputs(
        eager, second_validates_better):
    """`fallback_retrain_blocks: 3`: the second fine-tune prunes blocks 1-2 once and freezes
    them, and retrains blocks 3-5 and the head on block2_pool's outputs computed once."""
    kept, info, dense, _ = _fallback_run(0.0, 2.0, wider=3)
    fb = info["fallback"]
    assert fb["ran"] is True and fb["kept"] == "second" and fb["second_retrain_blocks"] == 3
    assert info["retrain_blocks"] == 3 and info["features_cached"] is True
    assert info["pruned_once_and_frozen"] == [n for n in CONV_LAYER_NAMES if BLOCK[n] <= 2]
    for name in ("block1_conv1", "block3_conv1", "block5_conv3"):
        assert np.mean(kept.get_layer(name).kernel.numpy() == 0) == pytest.approx(0.5, abs=0.01)
    kernel = kept.get_layer("block2_conv2").kernel.numpy()  # pruned once: the rest untouched
    np.testing.assert_array_equal(kernel[kernel != 0], dense["block2_conv2"][kernel != 0])


def test_trainer_reports_the_kept_models_validation_after_the_fallback(eager):
    """trainer.train with the fallback on: final_validation, measured again on the model the
    Trainer returns, is the validation accuracy of the model the fallback says it kept."""
    from modules.configs import ModelConfig, RunConfig, TrainerConfig
    cfg = RunConfig(
        class_names=["a", "b"], weights_path="",
        model=ModelConfig(image_size=SIZE, weights="none", head_units=64, dropout=0.0),
        trainer=TrainerConfig(
            epochs=1, fine_tune=FineTuneConfig(unfreeze_blocks=0),
            pruning=PruningConfig(layers="all", target_sparsity=0.5, frequency=1,
                                  fine_tune_epochs=1, early_stopping_patience=0,
                                  retrain_blocks=1, fallback_margin=0.0)))
    cfg.trainer.augmentation.enabled = False
    hp = {"learning_rate": 1e-3, "batch_size": 4, "source": "config"}
    _, summary = trainer.train(cfg, hp, _data(), _data(seed=5), np.arange(4) % 2)
    fb = summary["pruning"]["fallback"]
    kept = fb["second_accuracy"] if fb["kept"] == "second" else fb["accuracy"]
    assert summary["final_validation"]["accuracy"] == pytest.approx(kept)


def test_prune_once_matches_tfmots_magnitude_mask(eager):
    """`pruning.prune_once` zeroes the same weights as tfmot's ConstantSparsity after one step."""
    from modules import pruning
    model = _model()
    reference = _model()
    names = ["block1_conv2", "block3_conv1", "head_dense"]
    pruning.prune_once(model, names, 0.6)
    wrapped = pruning.apply_pruning(reference, names, pruning.sparsity.ConstantSparsity(
        0.6, begin_step=1, frequency=1))
    compile_model(wrapped, 0.0, 2)  # learning rate 0: only the mask changes the weights
    wrapped.fit(_data(), epochs=1, verbose=0, callbacks=[pruning.sparsity.UpdatePruningStep()])
    stripped = pruning.strip_pruning(wrapped)
    for name in names:
        np.testing.assert_array_equal(model.get_layer(name).kernel.numpy() == 0,
                                      stripped.get_layer(name).kernel.numpy() == 0)
