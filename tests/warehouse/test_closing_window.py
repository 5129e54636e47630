"""When a window is closed for the evaluator: every stream of the model must have passed
it, because in a backfill the topics are consumed independently and one runs ahead."""

from __future__ import annotations

from processors.alert_lifecycle import iso
from warehouse.evaluator import closing_window
from warehouse.window_reader import ModelWindows

MIN = 60_000


def windows(*minutes: int) -> dict:
    return {iso(m * MIN): object() for m in minutes}


def model(drift=(), latency=(), energy=(), volume=()) -> ModelWindows:
    mw = ModelWindows("steel", "m")
    if drift:
        mw.drift["x"] = windows(*drift)
    mw.latency, mw.energy = windows(*latency), windows(*energy)
    mw.volume = {w: {} for w in windows(*volume)}
    return mw


def test_the_slowest_stream_decides():
    # predictions and energy reached minute 19, telemetry only minute 2: window 2 is the
    # newest every stream has reached, so the evaluator waits for the drift partials
    mw = model(drift=range(3), latency=range(20), energy=range(20))
    assert closing_window(mw, 31 * MIN) == 2 * MIN


def test_outcomes_never_hold_a_window_open_and_a_quiet_stream_stops_holding_it():
    mw = model(drift=range(20), latency=range(20), energy=range(5))
    assert closing_window(mw, 31 * MIN) == 4 * MIN  # energy is 15 windows behind: wait
    assert closing_window(mw, 10 * MIN) == 19 * MIN  # more than the lag behind: gone quiet
    mw.accuracy = windows(0)  # labels of an old window: not a stream that closes windows
    assert closing_window(mw, 10 * MIN) == 19 * MIN


def test_only_counters_fall_back_to_the_newest_window():
    assert closing_window(model(volume=(3, 7)), 31 * MIN) == 7 * MIN
