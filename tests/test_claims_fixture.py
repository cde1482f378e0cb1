"""The labelled claims set is seeded, labelled as asked, and its GPS noise follows the
accuracy the phones report (so the risk model is measured against physics, not against
a generator shaped like its features)."""

from __future__ import annotations

import math

from fixtures.claims import CHEATS, plan
from sync.geo import distance_m


def _claims(seed: int = 15) -> list:  # type: ignore[type-arg]
    return [c for t in plan(seed) for c in t.jobs if not c.completion]


def test_the_plan_is_seeded_and_labelled():
    a, b = _claims(), _claims()
    assert [(c.cheat, c.start_min, c.skew_s) for c in a] == [
        (c.cheat, c.start_min, c.skew_s) for c in b
    ]
    assert len(a) == 232
    assert abs(sum(c.false_claim for c in a) / len(a) - 0.35) < 0.01
    kinds = {k for c in a for k in c.cheat}
    assert kinds == set(CHEATS)
    assert any(len(c.cheat) == 2 for c in a)  # combinations too
    assert _claims(16) != a


def test_honest_fixes_scatter_like_their_reported_accuracy():
    inside = total = 0
    for seed in (1, 2, 3):
        for c in _claims(seed):
            f = c.check_in
            if c.cheat or f is None or f.latitude is None or f.accuracy_m is None:
                continue
            total += 1
            inside += distance_m(f.latitude, f.longitude, *c.door) <= f.accuracy_m
    share = inside / total
    assert 0.55 < share < 0.75, share  # a 68 % circle, with multipath now and then


def test_honest_noise_is_there():
    honest = [c for c in _claims() if not c.cheat]
    assert any(c.check_in is not None and c.check_in.latitude is None for c in honest)
    assert any(c.photo is None for c in honest)  # camera failures
    assert any(len(c.calls) == 1 for c in honest)
    assert any(call.at_min < 0 for c in honest for call in c.calls)  # on the way
    assert any(60 <= abs(c.skew_s) <= 480 for c in honest)  # clocks a few minutes off
    assert any(
        math.dist(c.door, c.customer) * 111_000 > 60 for c in honest
    )  # geocoded far from the door
