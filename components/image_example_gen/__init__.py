"""ImageExampleGen: an image-folder tree (`<split>/<class>/*.png`) to tf.Examples."""
from components.image_example_gen.component import ImageExampleGen

__all__ = ["ImageExampleGen"]
