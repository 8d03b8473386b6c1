"""modules/stopwatch.py: wall seconds per stage, added up, recorded even when the stage raises."""
import time

import pytest

from modules.stopwatch import Laps, timed


def test_timed_adds_up_each_stage_even_when_it_raises():
    seconds = {}
    with timed(seconds, "convert"):
        time.sleep(0.05)
    with timed(seconds, "convert"):
        time.sleep(0.05)
    with pytest.raises(ValueError), timed(seconds, "litert"):
        raise ValueError("refused")
    assert set(seconds) == {"convert", "litert"}
    assert 0.1 <= seconds["convert"] < 1.0 and seconds["litert"] < 0.1


def test_laps_time_consecutive_phases_from_the_previous_lap():
    seconds = {"export": 1.0}
    lap = Laps(seconds)
    time.sleep(0.15)
    lap("phase1")
    lap("phase2")  # right after: about nothing
    time.sleep(0.05)
    lap("export")  # adds to what was there
    assert 0.1 <= seconds["phase1"] < 1.0 and seconds["phase2"] < 0.05
    assert 1.0 < seconds["export"] < 1.5
