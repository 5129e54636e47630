"""The pure part of the late-outcome re-decision: replaying the lifecycle from a recorded
state equals deciding forward, and the rewind point never crosses an emitted transition."""

from __future__ import annotations

import copy

import numpy as np

from processors.alert_lifecycle import advance, replay, rewind_point
from processors.policy import Condition, Policy

LEVELS = ("ok", "warn", "critical", None)


def forward(levels, for_w, clear_w):
    state, befores, steps = {}, [], []
    for t, lv in enumerate(levels):
        befores.append(copy.deepcopy(state))
        step = advance(state, Condition(lv), t, for_w, clear_w)
        if step is not None:
            steps.append((t, step[0]))
    return state, befores, steps


def test_replay_from_any_recorded_state_equals_the_forward_decisions():
    rng = np.random.default_rng(0)
    for _ in range(200):
        levels = [LEVELS[i] for i in rng.integers(0, 4, 30)]
        for_w, clear_w = (int(x) for x in rng.integers(1, 4, 2))
        state, befores, steps = forward(levels, for_w, clear_w)
        k = int(rng.integers(0, 30))
        seen: list = []
        conds = [(t, Condition(levels[t])) for t in range(k, 30)]
        final, got = replay(
            befores[k], conds, for_w, clear_w, lambda t, tr, *_, s=seen: s.append((t, tr))
        )
        assert final == state
        assert got == befores[k:]
        assert seen == [s for s in steps if s[0] >= k]


def test_replay_leaves_the_recorded_state_as_it_was():
    before = {"run": 1, "run_start": 0, "open": None}
    kept = copy.deepcopy(before)
    replay(before, [(1, Condition("warn"))], 2, 1, lambda *_: None)
    assert before == kept


def test_late_labels_turn_unknown_windows_into_one_episode():
    """Windows 2-4 were decided unknown (no labels); the labels show a drop: the replay
    fires once, started at window 2, exactly as if the labels had been on time."""
    _, befores, _ = forward(["ok", "ok", None, None, None], 2, 2)
    seen = []
    replay(befores[2], [(2, Condition("critical")), (3, Condition("critical")),
                        (4, Condition("critical"))], 2, 2,
           lambda t, tr, ep, *_: seen.append((t, tr, ep["started_at"], ep["seq"])))  # fmt: skip
    assert seen == [(3, "firing", 2, 0)]


def test_the_rewind_point_never_crosses_an_emitted_transition():
    decided = [{"t": 10 * t, "emitted": []} for t in range(6)]
    assert rewind_point(decided, "accuracy_drop", 15) == 2
    decided[3]["emitted"] = ["accuracy_drop"]
    assert rewind_point(decided, "accuracy_drop", 15) == 4  # after the emitted one
    assert rewind_point(decided, "resonance_floor", 15) == 2  # another rule's is no limit
    decided[5]["emitted"] = ["accuracy_drop"]
    assert rewind_point(decided, "accuracy_drop", 0) is None  # nothing after it: as it was


def test_policy_learns_the_baseline_once_per_window_however_often_decided():
    state: dict = {}
    ad = Policy().rules("", "").accuracy_drop  # baseline learned from 5 horizons
    for _ in range(3):  # the same windows decided three times (late outcomes)
        for w in range(4):
            assert Policy._learned(state, 0.9, ad, w) is None
    assert state["quality_baseline"] == [0.9] * 4
    assert Policy._learned(state, 0.7, ad, 4) is None
    assert Policy._learned(state, 0.1, ad, 5) == 0.9
