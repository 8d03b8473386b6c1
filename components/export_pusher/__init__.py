"""ExportPusher: TFX's Pusher extended with TFLite variants, a parity gate and atomic versioned push."""
from components.export_pusher.component import ExportPusher

__all__ = ["ExportPusher"]
