"""ExportPusher: TFX's Pusher extended with TFLite variants, a parity gate and atomic versioned push.

`ExportPusher` is imported on first use (PEP 562): the package's light modules (`versioning`,
used by `pipeline.predict`) then load without TFX and TensorFlow."""
from typing import Any

__all__ = ["ExportPusher"]  # noqa: F822 (provided by __getattr__ below)


def __getattr__(name: str) -> Any:
    if name == "ExportPusher":
        from components.export_pusher.component import ExportPusher
        return ExportPusher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
