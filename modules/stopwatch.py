"""Wall time per stage, as the Trainer's summary and the ExportPusher's report record it:
{stage: seconds (one decimal)}; a stage timed twice adds up."""
import contextlib
import time
from typing import Dict


def _add(seconds: Dict[str, float], stage: str, elapsed: float) -> None:
    seconds[stage] = round(seconds.get(stage, 0.0) + elapsed, 1)


@contextlib.contextmanager
def timed(seconds: Dict[str, float], stage: str):
    """Adds the wall time of the `with` body to `seconds[stage]` (even when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _add(seconds, stage, time.perf_counter() - started)


class Laps:
    """`laps(stage)` adds the wall time since the previous call (or since creation) to
    `seconds[stage]`: for consecutive phases of one function."""

    def __init__(self, seconds: Dict[str, float]):
        self.seconds = seconds
        self._last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        _add(self.seconds, stage, now - self._last)
        self._last = now
