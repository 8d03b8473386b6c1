"""modules/clustering.py and trainer.cluster_and_fine_tune on the 32x32 VGG16 transfer model
(random init, magnitude-pruned): at most N distinct non-zero values per clustered kernel, the
pruned zeros kept, the clustered model exports to int8 TFLite and runs; and trainer.train() with
structured pruning, magnitude pruning, clustering and quantization-aware training all on.

tf.functions run eagerly (as tests/modules/test_trainer_phases.py): no minutes of tracing.
"""
import numpy as np
import pytest

from modules import clustering, export, qat, trainer
from modules.configs import (ClusteringConfig, FineTuneConfig, ModelConfig, PruningConfig,
                             QuantizationAwareConfig, RunConfig, StructuredPruningConfig,
                             TrainerConfig)
from modules.data import arrays_dataset
from modules.model import build_model

SIZE = 32
LAYERS = ["block5_conv3", "head_dense", "predictions"]


def _arrays(n=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = np.clip(rng.normal(100 + 60 * labels[:, None, None, None], 40, (n, SIZE, SIZE, 3)),
                     0, 255).astype(np.float32)
    return images, labels


def _data(n=8):
    images, labels = _arrays(n)
    return arrays_dataset(images, labels, batch_size=4, shuffle=False, seed=0)


def _pruned_model():
    """The transfer model with half of each LAYERS kernel zeroed (the smallest magnitudes), as
    strip_pruning leaves it."""
    model = build_model(SIZE, 2, weights_path=None, head_units=64, dropout=0.0, seed=2)
    for name in LAYERS:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[np.abs(kernel) < np.median(np.abs(kernel))] = 0.0
        layer.set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("clusters", [{"conv": 8, "dense": 4}, 6])
def test_clustering_keeps_at_most_n_values_and_the_zeros(eager, clusters):
    model = _pruned_model()
    zeros = {n: model.get_layer(n).kernel.numpy() == 0.0 for n in LAYERS}
    stripped, info = trainer.cluster_and_fine_tune(
        model, ClusteringConfig(enabled=True, number_of_clusters=clusters, fine_tune_epochs=1),
        LAYERS, 1e-3, 2, _data(), _data())
    expected = {n: (clusters if isinstance(clusters, int) else
                    clusters["conv" if n.startswith("block") else "dense"]) for n in LAYERS}
    assert info["clusters"] == expected and info["skipped_layers"] == []
    assert not any("cluster" in layer.name for layer in stripped.layers)
    for name in LAYERS:
        kernel = stripped.get_layer(name).kernel.numpy()
        assert 1 <= info["distinct_nonzero_values"][name] <= expected[name]
        assert np.unique(kernel[kernel != 0]).size <= expected[name]
        np.testing.assert_array_equal(kernel[zeros[name]], 0.0)  # the sparsity is kept
        assert info["layer_sparsity"][name] >= float(np.mean(zeros[name]))
    # layers not clustered keep many distinct values
    assert np.unique(stripped.get_layer("block5_conv2").kernel.numpy()).size > 1000


def test_the_clustered_model_exports_to_int8_tflite_and_runs(eager, tmp_path):
    stripped, _ = trainer.cluster_and_fine_tune(
        _pruned_model(), ClusteringConfig(enabled=True, fine_tune_epochs=1), LAYERS, 1e-3, 2,
        _data())
    images, _ = _arrays()
    saved = str(tmp_path / "clustered")
    export.save_image_model(stripped, saved)
    int8 = export.TFLiteModel(export.convert_tflite(
        saved, "int8", representative_images=lambda: (images[i:i + 1] for i in range(8))))
    out = int8.predict(images[:3])
    assert out.shape == (3, 1) and np.all((out >= 0) & (out <= 1))
    reference = stripped.predict(images[:3], verbose=0)
    assert np.max(np.abs(out - reference)) < 0.2


def test_a_kernel_with_too_few_nonzero_weights_is_left_plain(eager):
    """The 1-unit output layer after heavy pruning: tfmot's k-means++ initialisation would fail
    on it (fewer positive or negative weights than clusters); it is skipped and reported."""
    model = _pruned_model()
    layer = model.get_layer("predictions")
    kernel, bias = layer.get_weights()
    kernel[:] = 0.0
    kernel[:3, 0] = [0.5, -0.2, 0.1]  # 2 positive, 1 negative non-zero weights
    layer.set_weights([kernel, bias])
    stripped, info = trainer.cluster_and_fine_tune(
        model, ClusteringConfig(enabled=True, number_of_clusters={"conv": 8, "dense": 4},
                                fine_tune_epochs=1), LAYERS, 1e-3, 2, _data())
    assert info["skipped_layers"] == ["predictions"]
    assert info["clusters"] == {"block5_conv3": 8, "head_dense": 4}
    assert info["distinct_nonzero_values"]["head_dense"] <= 4


def test_unknown_layer_is_refused():
    model = build_model(SIZE, 2, weights_path=None, head_units=8, dropout=0.0)
    with pytest.raises(ValueError, match="cannot cluster unknown layer"):
        clustering.apply_clustering(model, ["block9_conv1"], 8)


def test_train_with_structured_pruning_pruning_and_clustering(eager):
    cfg = RunConfig(
        class_names=["a", "b"], weights_path="",
        model=ModelConfig(image_size=SIZE, weights="none", head_units=64, dropout=0.0),
        trainer=TrainerConfig(
            epochs=1, fine_tune=FineTuneConfig(unfreeze_blocks=0),
            structured_pruning=StructuredPruningConfig(
                enabled=True, fractions={"block4": 0.5, "block5_conv3": 0.75},
                fine_tune_epochs=1),
            pruning=PruningConfig(layers=["block5_conv3", "head_dense"], target_sparsity=0.5,
                                  frequency=1, fine_tune_epochs=1),
            clustering=ClusteringConfig(enabled=True, number_of_clusters=8,
                                        fine_tune_epochs=1),
            quantization_aware=QuantizationAwareConfig(enabled=True)))
    cfg.trainer.augmentation.enabled = False
    hp = {"learning_rate": 1e-3, "batch_size": 4, "source": "config"}
    images, labels = _arrays()
    model, summary = trainer.train(cfg, hp, _data(), _data(), labels)
    sp = summary["structured_pruning"]
    assert sp["filters"]["block4_conv1"] == {"kept": 256, "total": 512}
    assert sp["filters"]["block5_conv3"] == {"kept": 128, "total": 512}
    assert sp["filters"]["block5_conv1"] == {"kept": 512, "total": 512}
    assert sp["params_after"] < sp["params_before"]
    assert qat.kernel(model, "block5_conv3").shape[-1] == 128
    assert qat.kernel(model, "head_dense").shape[0] == 128
    assert summary["pruning"]["layers"] == ["block5_conv3", "head_dense"]
    assert summary["clustering"]["clusters"] == {"block5_conv3": 8, "head_dense": 8}
    assert summary["quantization_aware"]["scheme"] == "pcqat"
    for name in ("block5_conv3", "head_dense"):
        kernel = qat.kernel(model, name)  # the exported model is the QAT one
        assert clustering.distinct_values_per_channel(kernel, tolerance=1e-5) <= 8
        assert np.mean(kernel == 0) >= 0.49
        assert summary["quantization_aware"]["layer_sparsity"][name] >= 0.49
    assert np.isfinite(summary["final_validation"]["loss"])
