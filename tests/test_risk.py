"""The risk score is a pure function of the facts: each factor is named, carries its
points and the facts behind it, and the total stays within 0..100."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evidence.risk import POINTS, RiskFacts, score

T = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _codes(facts: RiskFacts) -> dict[str, int]:
    _, factors = score(facts)
    return {f["code"]: f["points"] for f in factors}


def test_a_clean_completion_scores_zero():
    total, factors = score(RiskFacts(kind="completion", claimed_at=T, window_start=T))
    assert (total, factors) == (0, [])


def test_a_not_home_claim_starts_above_zero_and_names_why():
    facts = RiskFacts(kind="not_home", claimed_at=T, window_start=T - timedelta(hours=1))
    facts.arrived_at = T - timedelta(minutes=15)
    assert _codes(facts) == {"not_home_claim": POINTS["not_home_claim"]}


def test_patterns_add_up_and_the_total_is_capped():
    facts = RiskFacts(
        kind="not_home",
        claimed_at=T,
        window_start=T + timedelta(hours=3),
        failed_rules=[
            {"code": "geofence_pass", "passed": False, "detail": {"checkins": ["fail"]}},
            {"code": "min_call_attempts", "passed": False, "detail": {}},
        ],
        arrived_at=T - timedelta(minutes=2),
        mock_checkins=1,
        reused_photos=1,
        clock_skew_ms=-20 * 60 * 1000,
        tech_not_home=6,
        tech_claims=10,
        peer_not_home=5,
        peer_claims=100,
        earlier_not_home_at_address=3,
        customer_reply="was_home",
    )
    total, factors = score(facts)
    codes = {f["code"] for f in factors}
    assert {
        "rule_failed:geofence_pass",
        "rule_failed:min_call_attempts",
        "claim_before_window",
        "quick_claim",
        "mock_location",
        "reused_photo",
        "clock_skew",
        "high_not_home_rate",
        "repeated_address",
        "customer_says_home",
    } <= codes
    assert total == 100
    rate = next(f for f in factors if f["code"] == "high_not_home_rate")
    assert rate["detail"]["technician_rate"] == 0.6 and rate["detail"]["peer_rate"] == 0.05
    address = next(f for f in factors if f["code"] == "repeated_address")
    assert address["points"] == 2 * POINTS["repeated_address"]  # at most two count
    assert [f["points"] for f in factors] == sorted((f["points"] for f in factors), reverse=True)


def test_a_high_rate_needs_enough_claims_and_a_real_gap_to_peers():
    base = {"kind": "not_home", "claimed_at": T, "window_start": None}
    few = RiskFacts(**base, tech_not_home=2, tech_claims=2, peer_not_home=0, peer_claims=50)
    assert "high_not_home_rate" not in _codes(few)
    like_peers = RiskFacts(
        **base, tech_not_home=3, tech_claims=20, peer_not_home=15, peer_claims=100
    )
    assert "high_not_home_rate" not in _codes(like_peers)


def test_the_customer_confirming_they_were_away_lowers_the_score():
    away = RiskFacts(kind="not_home", claimed_at=T, window_start=None, customer_reply="was_away")
    away.arrived_at = T - timedelta(minutes=20)
    total, _ = score(away)
    assert total == POINTS["not_home_claim"] + POINTS["customer_confirms_away"]
    assert (
        score(
            RiskFacts(kind="completion", claimed_at=T, window_start=None, customer_reply="was_away")
        )[0]
        == 0
    )
