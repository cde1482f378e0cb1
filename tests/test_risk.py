"""The risk model is a pure function of the facts: a probability that the claim is false,
made of named, bounded contributions, each with its facts in words. One test per trick
of the field (and per kind of honest noise) checks it moves the probability the right
way and names why."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from evidence.features import CallFact, ClaimFacts, FixFact, PhotoFact, far_llr
from evidence.risk import DEFAULT, OPERATING_POINT, WeightSet, score
from fixtures.claims import offset

T = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
HOME = (30.2790, 120.1300)


def _at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def honest(**changes: object) -> ClaimFacts:
    """A plain honest not-home visit: at the door with a good fix, two calls that rang
    out, a door photo there, 14 minutes on site, inside the window."""
    lat, lon = offset(HOME, 20, 1.0)
    f = ClaimFacts(
        kind="not_home",
        claimed_at=_at(14),
        window_start=_at(-30),
        window_end=_at(90),
        skew_ms=1500,
        customer=HOME,
        fixes=[
            FixFact("check_in", lat, lon, 12.0, _at(0)),
            FixFact("check_out", lat, lon, 10.0, _at(13)),
        ],
        calls=[CallFact(_at(2), 40, "no_answer"), CallFact(_at(8), 35, "no_answer")],
        photos=[PhotoFact("door", _at(3), lat, lon)],
    )
    for k, v in changes.items():
        setattr(f, k, v)
    return f


def _p(f: ClaimFacts) -> float:
    return score(f)[0]


def _codes(f: ClaimFacts) -> dict[str, float]:
    return {x["code"]: x["contribution"] for x in score(f)[1]}


def test_an_honest_visit_is_unlikely_false_and_every_factor_says_why():
    p, factors = score(honest())
    assert p < 0.05
    for x in factors:
        assert x["words"].endswith(f"{x['contribution']:+.1f}")
        assert isinstance(x["detail"], dict)


def test_distance_is_graded_by_accuracy_not_pass_fail():
    assert far_llr(400, 8) > 3.0  # a good fix 400 m away: strong
    assert far_llr(400, 300) < 0.5  # a 300 m circle 400 m away: almost nothing
    assert far_llr(20, 10) < 0  # at the door: for the claim
    assert far_llr(3000, 20) == 4.0  # bounded
    steps = [far_llr(d, 15) for d in (50, 150, 250, 350, 500)]
    assert steps == sorted(steps)  # monotone in distance


def test_far_away_and_careful_cheats_are_named_by_the_fence():
    for metres in (350, 480, 5000):
        lat, lon = offset(HOME, metres, 2.0)
        f = honest(fixes=[FixFact("check_in", lat, lon, 8.0, _at(0))], photos=[])
        assert _p(f) >= OPERATING_POINT, metres
        assert _codes(f)["fence"] > 1.5
        assert "m from the address" in next(x["words"] for x in score(f)[1] if x["code"] == "fence")


def test_an_honest_poor_fix_straddling_the_fence_is_not_flagged():
    lat, lon = offset(HOME, 180, 0.5)
    f = honest(fixes=[FixFact("check_in", lat, lon, 180.0, _at(0))])
    assert _p(f) < 0.2


def test_the_door_photo_gps_is_compared_with_the_address():
    lat, lon = offset(HOME, 420, 3.0)
    f = honest(photos=[PhotoFact("door", _at(3), lat, lon)])
    assert _codes(f)["photo_gps"] > 1.0
    assert _p(f) > _p(honest())


def test_gone_in_two_minutes_is_named_by_time_on_site():
    lat, lon = offset(HOME, 15, 1.0)
    f = honest(
        fixes=[
            FixFact("check_in", lat, lon, 10.0, _at(0)),
            FixFact("check_out", lat, lon, 10.0, _at(1.5)),
        ],
        calls=[CallFact(_at(0.5), 3, "no_answer")],
    )
    codes = _codes(f)
    assert codes["time_on_site"] > 2 and codes["claim_after_leaving"] > 0
    assert "short_calls" in codes
    assert _p(f) >= OPERATING_POINT


def test_no_calls_weighs_more_than_one_call_and_calls_on_the_way_count():
    none = _p(honest(calls=[]))
    one = _p(honest(calls=[CallFact(_at(5), 40, "no_answer")]))
    on_the_way = _p(honest(calls=[CallFact(_at(-15), 30, "no_answer")]))
    assert none > one and abs(on_the_way - one) < 1e-9
    assert _codes(honest(calls=[]))["calls"] > 2


def test_a_backdated_clock_is_corrected_by_the_skew():
    # Everything the phone says looks inside the window, but the phone is 3 h behind.
    skew = -3 * 3600 * 1000
    f = honest(skew_ms=skew)
    codes = _codes(f)
    assert codes["clock_skew"] > 2 and codes["claim_after_window"] > 1
    assert _p(f) >= OPERATING_POINT
    small = _codes(honest(skew_ms=-6 * 60 * 1000))
    assert "clock_skew" not in small  # a few minutes off is honest noise


def test_skew_grows_with_magnitude():
    values = [_codes(honest(skew_ms=m * 60_000)).get("clock_skew", 0) for m in (15, 40, 180)]
    assert values == sorted(values) and values[0] < values[-1]


def test_mock_location_outweighs_an_imprecise_fix():
    lat, lon = offset(HOME, 2, 1.0)
    mock = honest(fixes=[FixFact("check_in", lat, lon, 5.0, _at(0), mock=True)])
    lat2, lon2 = offset(HOME, 150, 1.0)
    vague = honest(fixes=[FixFact("check_in", lat2, lon2, 180.0, _at(0))])
    assert _codes(mock)["mock_location"] > 3
    assert _p(mock) >= OPERATING_POINT > _p(vague)


def test_claim_before_window_and_no_check_in_and_reuse():
    early = honest(window_start=_at(120), window_end=_at(240))
    assert _codes(early)["claim_before_window"] > 2.5 and _p(early) >= OPERATING_POINT
    no_in = honest(fixes=[], photos=[])
    assert "no_check_in" in _codes(no_in) and _p(no_in) >= OPERATING_POINT
    lat, lon = offset(HOME, 20, 1.0)
    reused = honest(photos=[PhotoFact("door", _at(3), lat, lon, reused=1)])
    assert _codes(reused)["reused_photo"] == 3.0


def test_customer_replies_move_the_probability_both_ways():
    assert _p(honest(customer_reply="was_home")) > 0.3
    assert _p(honest(customer_reply="was_away")) < _p(honest())


def test_impossible_travel_between_consecutive_visits():
    far = offset(HOME, 12_000, 0.0)
    f = honest(previous_fix=(far[0], far[1], _at(-6)))
    assert _codes(f)["impossible_travel"] > 1
    plausible = honest(previous_fix=(far[0], far[1], _at(-40)))
    assert "impossible_travel" not in _codes(plausible)


def test_fee_policy_findings_raise_a_completion_callback():
    clean = ClaimFacts(kind="completion", claimed_at=T)
    charged = ClaimFacts(kind="completion", claimed_at=T, findings=["charge_in_warranty"])
    assert _p(charged) > _p(clean)
    assert "fee_policy:charge_in_warranty" in _codes(charged)


def test_contributions_are_bounded_and_weights_never_negative():
    worst = honest(
        fixes=[FixFact("check_in", *offset(HOME, 9000, 1.0), 5.0, _at(0), mock=True)],
        calls=[],
        photos=[PhotoFact("door", _at(3), *offset(HOME, 9000, 1.0), reused=3)],
        skew_ms=-6 * 3600 * 1000,
        customer_reply="was_home",
    )
    p, factors = score(worst)
    assert p > 0.99
    assert all(abs(x["contribution"]) <= max(DEFAULT.weights.values()) for x in factors)
    flipped = WeightSet("t", DEFAULT.intercepts, {k: -v for k, v in DEFAULT.weights.items()})
    assert math.isclose(score(worst, flipped)[0], 1 / (1 + math.exp(2.2)))
