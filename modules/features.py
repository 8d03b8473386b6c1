"""Feature keys shared by ExampleGen, Transform, Trainer, Evaluator and the serving signature."""
RAW_IMAGE_KEY = "image"            # encoded image bytes, as in the file
LABEL_KEY = "label"                # int64 index of the sorted class-folder name
IMAGE_KEY = "image_xf"             # Transform output: float32 [H, W, 3] RGB in [0, 255]
METADATA_KEYS = ("path", "class_name", "height", "width")  # raw-only, for tracing and statistics
OUTPUT_KEY = "probability"         # the SavedModel signatures' output: float32 [B, 1] | [B, C]
IMAGE_SIGNATURE = "serving_image"  # SavedModel signature on the Transform output (TFLite source)
BYTES_SIGNATURE = "serving_bytes"  # SavedModel signature on image files' bytes (plain clients)
