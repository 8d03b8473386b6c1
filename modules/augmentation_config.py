"""The augmentation settings (pure Python, so the pipeline config can use them without TensorFlow)."""
from dataclasses import dataclass


@dataclass
class AugmentationConfig:
    """The seed's ImageDataGenerator settings; 0 / False switches one off."""
    enabled: bool = True
    rotation_range: float = 40.0      # degrees, uniform in [-r, r]
    width_shift_range: float = 0.2    # fraction of width
    height_shift_range: float = 0.2   # fraction of height
    shear_range: float = 0.2          # degrees (ImageDataGenerator semantics)
    zoom_range: float = 0.2           # zoom factor uniform in [1 - z, 1 + z]
    horizontal_flip: bool = True
    fill_mode: str = "nearest"        # 'nearest' | 'reflect' | 'wrap' | 'constant'
