"""Serving signatures that embed the Transform graph, and TFLite conversion of the trained model.

SavedModel signatures:
  serving_default(examples: string [B])        serialized tf.Example with the raw `image` bytes
                                               -> {'probability': float32 [B, 1] | [B, C]}
  serving_bytes(image_bytes: string [B])       each image file's bytes as stored -> same outputs
                                               (the Transform graph inside, as serving_default)
  serving_image(image_xf: float32 [B, H, W, 3]) Transform output, RGB in [0, 255] -> same outputs
The TFLite variants (modules/tflite_variants.py) are converted from `serving_image`: their input
is the Transform output.
"""
import os


import gzip
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np
from absl import logging
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras

from modules import tflite_variants
from modules.layer_names import OUTPUT_LAYER_NAME
from modules.features import (BYTES_SIGNATURE, IMAGE_KEY, IMAGE_SIGNATURE,  # noqa: F401
                              OUTPUT_KEY, RAW_IMAGE_KEY)
from modules.model import float32_copy
from modules.metrics import class_agreement, predicted_class  # noqa: F401
from modules.latency import LATENCY_RUNS, median_latency_ms  # noqa: F401


def export_serving_model(model: tf_keras.Model, tf_transform_output: tft.TFTransformOutput,
                         export_dir: str) -> None:
    """Saves `model` with the serving_default (tf.Example), serving_bytes (image file bytes) and
    serving_image (Transform output) signatures.

    A mixed-precision model is saved as its float32 copy (modules/model.float32_copy): float32
    in, float32 out and float32 inside, as TFLite conversion and CPU serving need."""
    model = float32_copy(model)
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = {RAW_IMAGE_KEY: tf_transform_output.raw_feature_spec()[RAW_IMAGE_KEY]}
    image_shape = model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        parsed = tf.io.parse_example(serialized, raw_spec)
        transformed = model.tft_layer(parsed)
        return {OUTPUT_KEY: model(transformed[IMAGE_KEY], training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        # shaped as parse_example would give the raw feature ([B] or [B, 1])
        raw = tf.reshape(image_bytes, [-1, *raw_spec[RAW_IMAGE_KEY].shape])
        transformed = model.tft_layer({RAW_IMAGE_KEY: raw})
        return {OUTPUT_KEY: model(transformed[IMAGE_KEY], training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32,
                                                name=IMAGE_KEY)])
    def serve_images(images):
        return {OUTPUT_KEY: model(images, training=False)}

    model.save(export_dir, save_format="tf", include_optimizer=False, signatures={
        "serving_default": serve_examples, BYTES_SIGNATURE: serve_bytes,
        IMAGE_SIGNATURE: serve_images})


def save_image_model(model: tf_keras.Model, export_dir: str) -> None:
    """Saves `model` with only the `serving_image` signature (no Transform graph): for code that
    works on Transform-output arrays directly, such as benchmarks/compression.py; float32 like
    `export_serving_model`)."""
    model = float32_copy(model)
    image_shape = model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32,
                                                name=IMAGE_KEY)])
    def serve_images(images):
        return {OUTPUT_KEY: model(images, training=False)}

    model.save(export_dir, save_format="tf", include_optimizer=False,
               signatures={IMAGE_SIGNATURE: serve_images})


def convert_tflite(saved_model_dir: str, variant: str,
                   representative_images: Optional[Callable[[], Iterable[np.ndarray]]] = None
                   ) -> bytes:
    """Converts the `serving_image` signature as the variant table says (float32, dynamic_range,
    int8, int8_sparse, ...: modules/tflite_variants.py).

    int8 quantization covers the weights and activations with float32 input and output (so
    callers feed the Transform output unchanged); it needs `representative_images`, a callable
    yielding float32 [1, H, W, 3] arrays from the train split. With the variant's
    `float_output`, the output layer runs in float32 (`_int8_with_float_output`); should that
    conversion fail, the whole model is quantized as before, with a warning
    (`output_layer_is_float` tells which a file is).
    """
    try:
        spec = tflite_variants.variant(variant)
    except ValueError as e:
        raise ValueError(f"TFLite variant: {e}") from None
    if spec.quantization == "int8" and representative_images is None:
        raise ValueError("int8 TFLite conversion needs representative images")
    if spec.quantization == "int8" and spec.float_output:
        try:
            return _int8_with_float_output(_converter(saved_model_dir, spec,
                                                      representative_images),
                                           representative_images)
        except Exception as e:  # pylint: disable=broad-except  (an experimental TF API)
            logging.warning("TFLite %s: the output layer could not be kept in float32 (%s: "
                            "%s); the whole model is quantized", variant, type(e).__name__, e)
    return _converter(saved_model_dir, spec, representative_images).convert()


def _converter(saved_model_dir: str, spec: "tflite_variants.TFLiteVariant",
               representative_images: Optional[Callable[[], Iterable[np.ndarray]]]
               ) -> "tf.lite.TFLiteConverter":
    """A fresh converter of `serving_image` set up as `spec` says."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                         signature_keys=[IMAGE_SIGNATURE])
    optimizations = []
    if spec.quantization in ("dynamic_range", "int8"):
        optimizations.append(tf.lite.Optimize.DEFAULT)
    if spec.sparse_storage:
        optimizations.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    converter.optimizations = optimizations
    if spec.quantization == "int8":
        converter.representative_dataset = lambda: ([img] for img in representative_images())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter


OUTPUT_LAYER = OUTPUT_LAYER_NAME  # modules/model.py's output Dense (also under QAT)
FLOAT_OUTPUT_OPS = ["LOGISTIC", "SOFTMAX"]


def _output_layer_tensors(content: bytes) -> List[Dict[str, Any]]:
    """The tensor details of a TFLite file whose names hold the output layer's name as a path
    part (`<model>/predictions/MatMul;<model>/predictions/BiasAdd`)."""
    return [d for d in tf.lite.Interpreter(model_content=content).get_tensor_details()
            if OUTPUT_LAYER in d["name"].replace(";", "/").split("/")]


def output_layer_is_float(content: bytes) -> bool:
    """True when the output Dense's tensors of a TFLite file are float32 (int8 with
    `float_output`); False for a file quantized whole, or a QAT model, whose own quantization
    ranges keep the layer int8 whatever the converter is told (helper-72)."""
    found = _output_layer_tensors(content)
    return bool(found) and all(np.dtype(d["dtype"]) == np.float32 for d in found)


def _int8_with_float_output(converter: "tf.lite.TFLiteConverter",
                            representative_images: Callable[[], Iterable[np.ndarray]]) -> bytes:
    """int8 everywhere but the output layer: TensorFlow's QuantizationDebugger calibrates the
    model once, then quantizes it (MLIR) with the output Dense (its tensors, named
    `<model>/predictions/...`) and the sigmoid/softmax denylisted, so they run in float32 on the
    int8 body's dequantized features. ValueError when the result holds a float32 4-D tensor
    other than its input (a conv kernel or feature map: the float ops this allows must be the
    output layer's alone)."""
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([img] for img in representative_images()),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=FLOAT_OUTPUT_OPS))
    names = [d["name"] for d in _output_layer_tensors(debugger.calibrated_model)]
    if names:  # re-quantizes the same calibrated model (the options setter)
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=names, denylisted_ops=FLOAT_OUTPUT_OPS)
    content = debugger.get_nondebug_quantized_model()
    interpreter = tf.lite.Interpreter(model_content=content)
    inputs = {i["index"] for i in interpreter.get_input_details()}
    float_maps = [d["name"] for d in interpreter.get_tensor_details()
                  if len(d["shape"]) == 4 and np.dtype(d["dtype"]) == np.float32
                  and d["index"] not in inputs]
    if float_maps:  # a conv kernel or feature map: the body did not quantize
        raise ValueError(f"float32 4-D tensors left in the int8 body: {float_maps[:3]}")
    return content


class TFLiteModel:
    """A TFLite flatbuffer in TensorFlow's own `tf.lite.Interpreter` (where it was converted):
    predict(images [N, H, W, 3]) -> [N, K]. Users run the files in standalone LiteRT instead
    (modules/litert.py), which the parity gate checks too.

    Images run in batches of `batch_size` through an input resized once to [batch_size, H, W, 3]
    (the last batch zero-padded, its padding dropped): a SignatureRunner call re-allocates the
    tensor arena on every invocation (~11 ms on these machines, more than the whole int8 VGG16 at
    32x32), and one image per call was 2.5-4x slower than batches of 64 for the same outputs.
    `num_threads` defaults to the CPU count, as TensorFlow uses for the SavedModel it is compared
    with.
    """

    @staticmethod
    def default_threads() -> int:
        return int(os.cpu_count() or 1)

    def __init__(self, model_content: bytes, num_threads: Optional[int] = None,
                 batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"TFLite model: batch_size must be >= 1, got {batch_size}")
        self.num_threads = int(num_threads or self.default_threads())
        self.batch_size = int(batch_size)
        self.interpreter = tf.lite.Interpreter(model_content=model_content,
                                               num_threads=self.num_threads)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"TFLite model: expected 1 input and 1 output, got {len(inputs)} "
                             f"and {len(outputs)}")
        signature = self.interpreter.get_signature_list().get(IMAGE_SIGNATURE, {})
        self.input_name = (signature.get("inputs") or [inputs[0]["name"]])[0]
        self.input_index = inputs[0]["index"]
        self.output_index = outputs[0]["index"]
        self.image_shape = tuple(int(d) for d in inputs[0]["shape_signature"][1:])
        self.interpreter.resize_tensor_input(self.input_index,
                                             [self.batch_size, *self.image_shape], strict=False)
        self.interpreter.allocate_tensors()

    def predict(self, images: np.ndarray) -> np.ndarray:
        """images float32-castable [N, H, W, 3] -> [N, K] (N may be 0)."""
        images = np.asarray(images, np.float32)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"TFLite model: images of shape {images.shape[1:]}, the model "
                             f"takes {self.image_shape}")
        outs = []
        for i in range(0, len(images), self.batch_size):
            batch = images[i:i + self.batch_size]
            n = len(batch)
            if n < self.batch_size:
                batch = np.concatenate([batch, np.zeros((self.batch_size - n, *self.image_shape),
                                                        np.float32)])
            self.interpreter.set_tensor(self.input_index, batch)
            self.interpreter.invoke()
            outs.append(self.interpreter.get_tensor(self.output_index)[:n].copy())
        if not outs:
            return np.zeros((0, int(self.interpreter.get_output_details()[0]["shape"][-1])),
                            np.float32)
        return np.concatenate(outs, axis=0)


def call_in_batches(call: Callable[[Any], Dict[str, tf.Tensor]], inputs: Any,
                    batch_size: int = 64) -> np.ndarray:
    """A signature's OUTPUT_KEY over `inputs` (an array or a list, N rows), `batch_size` rows
    per call, concatenated: [N, K]."""
    return np.concatenate([call(inputs[i:i + batch_size])[OUTPUT_KEY].numpy()
                           for i in range(0, len(inputs), batch_size)], axis=0)


def load_image_signature(saved_model_dir: str) -> Callable[[np.ndarray], np.ndarray]:
    """SavedModel `serving_image` as a numpy function images [N, H, W, 3] -> [N, K]."""
    loaded = tf.saved_model.load(saved_model_dir)
    fn = loaded.signatures[IMAGE_SIGNATURE]

    def predict(images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        return call_in_batches(lambda batch: fn(tf.constant(batch, tf.float32)), images,
                               batch_size)

    predict.loaded = loaded  # keep the SavedModel alive
    return predict


GZIP_LEVEL = 6  # gzip's default, as `gzip` and web servers compress a download


def gzip_size(data: bytes, compresslevel: int = GZIP_LEVEL) -> int:
    """Bytes of `data` gzipped at `compresslevel`. The default 6 is within 2 % of level 9 on a
    60 MB float32 model at about 1/8 of the time (3 s vs 23 s: the ExportPusher sizes four
    artifacts); benchmarks/compression.py keeps 9."""
    return len(gzip.compress(data, compresslevel=compresslevel))
