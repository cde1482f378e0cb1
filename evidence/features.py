"""Graded evidence: the facts of one claim turned into named, bounded features.

Every feature is a number in a fixed range whose sign says which way it points (above
zero: the claim looks false), with the facts behind it kept for the auditor. The risk
model (``evidence.risk``) multiplies each by a non-negative weight and adds them as
log-odds, so a feature can never push the wrong way and none can dominate alone.

Times from the phone are corrected by the phone's clock skew (measured at the push:
the phone's time minus the server's) before they are compared with the appointment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from evidence.trace import (
    DRIVING_MPS,
    EARTH_M_PER_DEG,
    MIN_STOP_S,
    NEAR_M,
    Trace,
    position_at,
    summarise,
)
from sync.geo import distance_m

__all__ = [
    "CallFact",
    "CarrierFact",
    "ClaimFacts",
    "Feature",
    "FixFact",
    "PhotoFact",
    "extract",
    "far_llr",
    "trace_mocked",
]

SIGMA_ADDRESS_M = 45.0
"""How far a geocoded address sits from the real door (compounds, towers, gates)."""
FAR_MIN_M, FAR_MAX_M = 150.0, 15_000.0
"""Where a technician who is not at the door tends to be: log-uniform in this range."""
TAIL_SHARE, TAIL_SCALE = 0.1, 2.5
"""Urban multipath: a share of fixes is off by more than the phone admits."""
ROAD_FACTOR, MAX_CITY_KMH = 1.3, 60.0
"""Road distance over straight distance, and the fastest a city drive averages."""
REAL_CALL_S = 10
"""An unanswered call shorter than this never rang long enough for anyone to answer."""


@dataclass(slots=True)
class FixFact:
    kind: str
    """``check_in`` or ``check_out``."""
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    at: datetime | None
    """The phone's time of the fix (uncorrected)."""
    mock: bool = False


@dataclass(slots=True)
class CallFact:
    at: datetime
    duration_s: int
    outcome: str


@dataclass(slots=True)
class CarrierFact:
    """A call record of the carrier's number-protection service (server-true times)."""

    started_at: datetime
    duration_s: int
    answered: bool


@dataclass(slots=True)
class PhotoFact:
    kind: str
    taken_at: datetime | None
    latitude: float | None
    longitude: float | None
    reused: int = 0


@dataclass(slots=True)
class ClaimFacts:
    """Everything the model reads about one callback task (``evidence.risk.gather``)."""

    kind: str
    """The task's kind: ``not_home``, ``unable``, ``completion``, ``status_check``."""
    claimed_at: datetime | None = None
    """The phone's time of the claim (uncorrected)."""
    window_start: datetime | None = None
    window_end: datetime | None = None
    skew_ms: int | None = None
    customer: tuple[float, float] | None = None
    fixes: list[FixFact] = field(default_factory=list)
    calls: list[CallFact] = field(default_factory=list)
    photos: list[PhotoFact] = field(default_factory=list)
    failed_rules: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    """Fee-policy findings of the completion report (codes)."""
    previous_fix: tuple[float, float, datetime] | None = None
    """The technician's last fix on another job before this arrival (phone time)."""
    tech_claims: int = 0
    tech_not_home: int = 0
    peer_claims: int = 0
    peer_not_home: int = 0
    tech_contradicted: int = 0
    earlier_not_home_at_address: int = 0
    customer_reply: str | None = None
    carrier: list[CarrierFact] | None = None
    """The carrier's call records of the job; ``None``: no carrier is in use (neutral)."""
    """``was_home`` (the customer says they were in), ``was_away`` or ``unclear``."""
    trace: Trace | None = None
    """The phone's location trace of the job (``None``: none sent — neutral)."""


@dataclass(slots=True)
class Feature:
    code: str
    value: float
    """Bounded; above zero points at a false claim."""
    words: str
    detail: dict[str, Any] = field(default_factory=dict)


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def _clip(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def _rayleigh(d: float, sigma: float) -> float:
    return d / sigma**2 * math.exp(-(d**2) / (2 * sigma**2))


def far_llr(distance: float, accuracy: float | None) -> float:
    """Log-likelihood ratio of a fix ``distance`` metres from the address with a 68 %
    accuracy circle of ``accuracy`` metres: "the phone was somewhere else" against
    "the phone was at the door". A good fix 400 m away is strong evidence; a 300 m
    accuracy circle 400 m away is almost none. Bounded to [-1, 4]."""
    distance = max(distance, 1.0)  # both densities vanish at 0: their ratio does not
    sigma_gps = (accuracy if accuracy and accuracy > 0 else 30.0) / 1.51
    sigma = math.hypot(sigma_gps, SIGMA_ADDRESS_M)
    near = (1 - TAIL_SHARE) * _rayleigh(distance, sigma) + TAIL_SHARE * _rayleigh(
        distance, sigma * TAIL_SCALE
    )
    d = distance
    span = math.log(FAR_MAX_M / FAR_MIN_M)
    far = 1 / (d * span) if d >= FAR_MIN_M else (d / FAR_MIN_M) / (FAR_MIN_M * span)
    return _clip(math.log(max(far, 1e-300) / max(near, 1e-300)), -1.0, 4.0)


def _fix_words(f: FixFact, d: float) -> str:
    acc = f"±{f.accuracy_m:.0f} m" if f.accuracy_m else "no accuracy given"
    return f"{f.kind.replace('_', '-')} {d:.0f} m from the address ({acc})"


def extract(f: ClaimFacts) -> list[Feature]:
    """The features of a claim (only those that apply)."""
    out: list[Feature] = []
    skew = timedelta(milliseconds=f.skew_ms or 0)

    def true(t: datetime | None) -> datetime | None:
        return t - skew if t is not None else None

    if f.skew_ms is not None and abs(f.skew_ms) > 10 * 60_000:
        minutes = abs(f.skew_ms) / 60_000
        side = "behind" if f.skew_ms < 0 else "ahead of"
        out.append(
            Feature(
                "clock_skew",
                _clip(math.log2(minutes / 10) / 2.5, 0.0, 1.0),
                f"phone clock {minutes:.0f} min {side} the server",
                {"skew_minutes": round(f.skew_ms / 60_000, 1)},
            )
        )
    for code in f.failed_rules:
        if f.kind == "completion":
            out.append(Feature(f"rule_failed:{code}", 1.0, f"evidence rule failed: {code}"))
    for code in f.findings:
        out.append(Feature(f"fee_policy:{code}", 1.0, f"completion report: {code}"))
    for p in f.photos:
        if p.reused:
            out.append(
                Feature(
                    "reused_photo",
                    1.0,
                    f"{p.kind} photo used before on {p.reused} other job(s)",
                    {"kind": p.kind, "jobs": p.reused},
                )
            )
            break
    if any(x.mock for x in f.fixes):
        out.append(Feature("mock_location", 1.0, "the phone reported a mock location"))
    elif f.trace is not None and trace_mocked(f.trace):
        out.append(
            Feature(
                "mock_location",
                1.0,
                f"the phone reported {f.trace.mock_points} of {len(f.trace)} trace points "
                "as mock locations",
                {"mock_points": f.trace.mock_points, "points": len(f.trace)},
            )
        )
    if f.customer_reply == "was_home":
        out.append(Feature("customer_says_home", 1.0, "the customer says they were home"))
    elif f.customer_reply == "was_away" and f.kind == "not_home":
        out.append(Feature("customer_confirms_away", -1.0, "the customer confirms being out"))
    if f.kind == "not_home":
        out += _not_home(f, true)
    return out


def _not_home(f: ClaimFacts, true: Any) -> list[Feature]:
    out: list[Feature] = []
    claimed = true(f.claimed_at)
    checkins = [x for x in f.fixes if x.kind == "check_in"]
    checkouts = [x for x in f.fixes if x.kind == "check_out"]
    arrived = min((t for x in checkins if (t := true(x.at)) is not None), default=None)
    # Where the phone was.
    # A mocked fix says nothing about where the phone was.
    mocked = any(x.mock for x in f.fixes)
    located = [
        x for x in f.fixes if x.latitude is not None and x.longitude is not None and not x.mock
    ]
    if not checkins:
        out.append(Feature("no_check_in", 1.0, "no check-in at the address"))
    elif f.customer is not None and located:
        scored = []
        for x in located:
            assert x.latitude is not None and x.longitude is not None
            d = distance_m(x.latitude, x.longitude, *f.customer)
            scored.append((far_llr(d, x.accuracy_m), d, x))
        llr = sum(s for s, _, _ in scored) / len(scored)
        worst = max(scored, key=lambda s: s[0])
        out.append(
            Feature(
                "fence",
                llr / 4.0,
                _fix_words(worst[2], worst[1]),
                {
                    "fixes": [
                        {
                            "kind": x.kind,
                            "distance_m": round(d),
                            "accuracy_m": x.accuracy_m,
                            "log_likelihood_ratio": round(s, 2),
                        }
                        for s, d, x in scored
                    ]
                },
            )
        )
    elif checkins and not mocked:
        out.append(Feature("fence_no_fix", 0.25, "checked in without a GPS fix"))
    # The door photo: where and when.
    doors = [p for p in f.photos if p.kind == "door"]
    if not doors:
        out.append(Feature("no_door_photo", 1.0, "no photo of the door"))
    for p in doors[:1]:
        if (
            p.latitude is not None
            and p.longitude is not None
            and f.customer is not None
            and not mocked
        ):
            d = distance_m(p.latitude, p.longitude, *f.customer)
            out.append(
                Feature(
                    "photo_gps",
                    far_llr(d, 20.0) / 4.0,
                    f"door photo taken {d:.0f} m from the address",
                    {"distance_m": round(d)},
                )
            )
        taken = true(p.taken_at)
        if taken is not None and arrived is not None and claimed is not None:
            off = max(
                (arrived - timedelta(minutes=10) - taken).total_seconds(),
                (taken - claimed - timedelta(minutes=10)).total_seconds(),
                0.0,
            )
            if off > 0:
                out.append(
                    Feature(
                        "photo_time",
                        _clip(off / 3600, 0.0, 1.0),
                        f"door photo taken {off / 60:.0f} min outside the visit",
                        {"minutes_outside": round(off / 60)},
                    )
                )
    # Time on site.
    if arrived is not None:
        left = min((t for x in checkouts if (t := true(x.at)) is not None), default=None)
        if left is not None and left >= arrived:
            minutes = (left - arrived).total_seconds() / 60
            out.append(
                Feature(
                    "time_on_site",
                    _sig((5 - minutes) / 1.2),
                    f"checked out {minutes:.1f} min after arriving",
                    {"minutes": round(minutes, 1), "measured_by": "check_out"},
                )
            )
            if claimed is not None:
                gap = (claimed - left).total_seconds() / 60
                if gap > 5:
                    out.append(
                        Feature(
                            "claim_after_leaving",
                            _sig((gap - 8) / 2),
                            f"claim filed {gap:.0f} min after checking out",
                            {"minutes": round(gap, 1)},
                        )
                    )
        elif claimed is not None:
            minutes = (claimed - arrived).total_seconds() / 60
            out.append(
                Feature(
                    "time_on_site",
                    0.6 * _sig((6 - minutes) / 1.5),
                    f"claim filed {minutes:.1f} min after arriving",
                    {"minutes": round(minutes, 1), "measured_by": "claim"},
                )
            )
    out += _trace(f, arrived, claimed, true)
    out += _calls(f, arrived, claimed, true)
    out += _carrier(f, arrived, claimed, true)
    out += _timing(f, claimed)
    out += _travel(f, checkins, arrived, true)
    out += _history(f)
    return out


def _calls(f: ClaimFacts, arrived: Any, claimed: Any, true: Any) -> list[Feature]:
    start = (arrived or claimed) - timedelta(minutes=40) if (arrived or claimed) else None
    end = claimed + timedelta(minutes=5) if claimed else None
    calls = [c for c in f.calls if start is None or end is None or start <= true(c.at) <= end]
    real = [
        c
        for c in calls
        if c.outcome == "answered" or (c.outcome == "no_answer" and c.duration_s >= REAL_CALL_S)
    ]
    weak = [c for c in calls if c.outcome in ("busy", "unreachable_number")]
    short = [c for c in calls if c.outcome == "no_answer" and c.duration_s < REAL_CALL_S]
    detail = {
        "calls": len(calls),
        "rang_out_or_answered": len(real),
        "busy_or_unreachable": len(weak),
        "hung_up_within_s": REAL_CALL_S,
        "hung_up": len(short),
        "durations_s": [c.duration_s for c in calls],
    }
    out: list[Feature] = []
    if not calls:
        out.append(Feature("calls", 1.0, "no call to the customer", detail))
    elif not real:
        out.append(
            Feature(
                "calls",
                0.7 if weak else 0.85,
                f"{len(calls)} call(s), none that rang out ({detail['durations_s']} s)",
                detail,
            )
        )
    else:
        n = len(real) + 0.5 * len(weak)
        out.append(
            Feature(
                "calls",
                0.1 if n < 2 else -0.25,
                f"{len(real)} call(s) that rang out or were answered",
                detail,
            )
        )
    if short:
        out.append(
            Feature(
                "short_calls",
                min(1.0, 0.5 * len(short)),
                f"{len(short)} call(s) hung up within {REAL_CALL_S} s",
                detail,
            )
        )
    return out


MATCH_S = 300
"""A phone's call attempt and a carrier record this close (skew-corrected) are one call."""


def _carrier(f: ClaimFacts, arrived: Any, claimed: Any, true: Any) -> list[Feature]:
    """Reconcile the phone's call attempts with the carrier's records: a claimed call the
    carrier never saw, or only a 2-second one, points at a false claim; a confirmed call
    of normal length is evidence for it. No carrier in use: no feature at all."""
    if f.carrier is None:
        return []
    anchor = arrived or claimed
    start = anchor - timedelta(minutes=40) if anchor else None
    end = claimed + timedelta(minutes=5) if claimed else None

    def inside(t: datetime) -> bool:
        return start is None or end is None or start <= t <= end

    phone = [t for c in f.calls if (t := true(c.at)) is not None and inside(t)]
    records = [r for r in f.carrier if inside(r.started_at)]
    unmatched = [
        t
        for t in phone
        if not any(abs((r.started_at - t).total_seconds()) <= MATCH_S for r in records)
    ]
    real = [r for r in records if r.answered or r.duration_s >= REAL_CALL_S]
    detail = {
        "carrier_records": len(records),
        "phone_calls": len(phone),
        "phone_calls_without_record": len(unmatched),
        "durations_s": [r.duration_s for r in records],
        "answered": sum(1 for r in records if r.answered),
    }
    if real:
        best = max(real, key=lambda r: (r.answered, r.duration_s))
        share = len(unmatched) / len(phone) if phone else 0.0
        state = "answered" if best.answered else "rang out"
        words = f"carrier confirms a {best.duration_s} s call ({state})"
        if unmatched:
            words += f"; {len(unmatched)} phone-reported call(s) not in its records"
        return [Feature("carrier_calls", -0.5 + 0.5 * share, words, detail)]
    if records:
        longest = max(r.duration_s for r in records)
        return [
            Feature(
                "carrier_calls",
                0.9,
                f"carrier records only {len(records)} call(s) of at most {longest} s",
                detail,
            )
        ]
    if phone:
        return [
            Feature(
                "carrier_calls",
                1.0,
                f"{len(phone)} call(s) reported by the phone, none in the carrier's records",
                detail,
            )
        ]
    return []


def _timing(f: ClaimFacts, claimed: Any) -> list[Feature]:
    out: list[Feature] = []
    if claimed is None:
        return out
    if f.window_start is not None and claimed < f.window_start:
        early = (f.window_start - claimed).total_seconds() / 60
        out.append(
            Feature(
                "claim_before_window",
                _sig((early - 25) / 8),
                f"claim {early:.0f} min before the window opened",
                {"minutes_early": round(early)},
            )
        )
    if f.window_end is not None and claimed > f.window_end:
        late = (claimed - f.window_end).total_seconds() / 60
        out.append(
            Feature(
                "claim_after_window",
                _sig((late - 60) / 20),
                f"claim {late:.0f} min after the window closed (clock corrected)",
                {"minutes_late": round(late)},
            )
        )
    return out


def _travel(f: ClaimFacts, checkins: list[FixFact], arrived: Any, true: Any) -> list[Feature]:
    if f.previous_fix is None or arrived is None or not checkins:
        return []
    here = next((x for x in checkins if x.latitude is not None and x.longitude is not None), None)
    if here is None or here.latitude is None or here.longitude is None:
        return []
    lat, lon, at = f.previous_fix
    before = true(at)
    d = distance_m(lat, lon, here.latitude, here.longitude)
    hours = max((arrived - before).total_seconds() / 3600, 1e-6)
    need = ROAD_FACTOR * d / 1000 / MAX_CITY_KMH + 2 / 60
    if d < 500 or hours >= need:
        return []
    return [
        Feature(
            "impossible_travel",
            _sig((need / hours - 1.5) / 0.3),
            f"{d / 1000:.1f} km from the previous job in {hours * 60:.0f} min",
            {
                "km": round(d / 1000, 2),
                "minutes": round(hours * 60),
                "need_minutes": round(need * 60),
            },
        )
    ]


def _history(f: ClaimFacts) -> list[Feature]:
    out: list[Feature] = []
    if f.peer_claims >= 10 and f.tech_claims:
        peer = max(f.peer_not_home / f.peer_claims, 0.02)
        shrunk = (f.tech_not_home + 4 * peer) / (f.tech_claims + 4)
        ratio = math.log(shrunk / peer)
        if ratio > 0.2:
            out.append(
                Feature(
                    "technician_not_home_rate",
                    _clip(ratio / 1.5, 0.0, 1.0),
                    f"technician claims not-home on {f.tech_not_home} of {f.tech_claims} "
                    f"visits (peers {peer:.0%})",
                    {
                        "technician_rate": round(f.tech_not_home / f.tech_claims, 3),
                        "peer_rate": round(peer, 3),
                    },
                )
            )
    if f.tech_contradicted:
        out.append(
            Feature(
                "technician_contradicted",
                min(1.0, f.tech_contradicted / 3),
                f"{f.tech_contradicted} earlier claim(s) of the technician contradicted",
            )
        )
    if f.earlier_not_home_at_address:
        out.append(
            Feature(
                "repeated_address",
                min(1.0, f.earlier_not_home_at_address / 2),
                f"{f.earlier_not_home_at_address} earlier not-home claim(s) at this address",
            )
        )
    return out


TRACE_MOCK_SHARE = 0.05
"""A trace is mocked when this share of its points (and at least 3) say so: one odd
point in a thousand is a provider's hiccup, not a mock-location app."""
TRACE_BEFORE_S, TRACE_AFTER_S = 30 * 60.0, 10 * 60.0
"""The part of the trace that is the visit: from half an hour before arriving (or
an hour before the claim, without a check-in) to ten minutes after the claim."""
MOVING_MPS = 12.0
"""How far the phone may have moved per second between a fix and the nearest trace point."""
PHOTO_GPS_M = 100.0
AT_ADDRESS_M = 200.0
"""A stop this close to the geocoded address (plus half its accuracy) is at the address:
compounds put doors 150 m from their geocode."""
AT_ADDRESS_LLR = 1.0
"""A stop whose centre is no stronger evidence than this of "somewhere else" (see
``far_llr``, with the stop's accuracy) is a stop at the address."""


def trace_mocked(trace: Trace) -> bool:
    return trace.mock_points >= max(3, TRACE_MOCK_SHARE * len(trace))


def _xy(origin: tuple[float, float], lat: float, lon: float) -> tuple[float, float]:
    kx = EARTH_M_PER_DEG * math.cos(math.radians(origin[0]))
    return (lon - origin[1]) * kx, (lat - origin[0]) * EARTH_M_PER_DEG


def _trace(f: ClaimFacts, arrived: Any, claimed: Any, true: Any) -> list[Feature]:
    """The location trace's answers (``evidence.trace``). No trace, a trace that does
    not cover the visit, or a mocked one (``mock_location`` speaks for it): nothing —
    an honest phone may not send one. Each feature keeps the stops in its detail."""
    tr = f.trace
    anchor = arrived or claimed
    if tr is None or not len(tr) or f.customer is None or anchor is None or trace_mocked(tr):
        return []
    skew_s = (f.skew_ms or 0) / 1000
    c = (claimed or anchor).timestamp()
    lo = anchor.timestamp() - (TRACE_BEFORE_S if arrived is not None else 2 * TRACE_BEFORE_S)
    hi = c + TRACE_AFTER_S
    inside = sum(1 for v in tr.t if lo <= v - skew_s <= hi)
    if inside < 5:
        return []
    s = summarise(tr, f.customer, skew_s)
    detail = s.as_detail()
    out: list[Feature] = []
    visit = [st for st in s.stops if st.end >= lo and st.start <= hi]
    here = [
        st
        for st in visit
        if st.distance_m <= AT_ADDRESS_M + min(st.accuracy_m, 100.0) / 2
        or far_llr(st.distance_m, max(st.accuracy_m, 10.0)) <= AT_ADDRESS_LLR
    ]
    if here:
        minutes = sum(st.seconds for st in here) / 60
        best = max(here, key=lambda st: st.seconds)
        out.append(
            Feature(
                "trace_stop",
                0.6 - 0.8 * _sig(minutes - 3.5),
                f"trace: stopped {minutes:.0f} min at the address "
                f"({best.distance_m:.0f} m from it)",
                {**detail, "minutes_at_address": round(minutes, 1)},
            )
        )
    else:
        # Absence needs the trace to go on past the arrival (or up to the claim): a
        # trace that just ended on the way says nothing about the visit.
        covers = s.end >= min(anchor.timestamp() + 180, c - 120) and s.start <= c
        near = (
            s.closest_m is not None
            and s.closest_m <= NEAR_M
            and s.closest_at is not None
            and lo <= s.closest_at <= hi
            and s.end - s.closest_at >= 120  # seen leaving: not a trace that just ended
        )
        if near and s.closest_m is not None:
            speed = s.speed_near_mps
            fast = speed is not None and speed >= DRIVING_MPS
            if s.seconds_near < MIN_STOP_S and (fast or s.seconds_near < 90):
                kmh = f" at {speed * 3.6:.0f} km/h" if speed is not None else ""
                out.append(
                    Feature(
                        "trace_drive_by",
                        1.0 if fast else 0.6,
                        f"trace passed {s.closest_m:.0f} m from the address{kmh} "
                        f"without stopping ({s.seconds_near:.0f} s nearby)",
                        {**detail, "speed_kmh": None if speed is None else round(speed * 3.6)},
                    )
                )
        if visit and covers:
            during = [st for st in visit if st.start - 300 <= c <= st.end + 300]
            st = max(during or visit, key=lambda v: v.seconds)
            llr = far_llr(st.distance_m, max(st.accuracy_m, 10.0))
            when = "when the claim was filed" if during else "during the visit"
            out.append(
                Feature(
                    "trace_elsewhere",
                    _clip(llr / 4.0, 0.0, 1.0),
                    f"trace: stopped {st.seconds / 60:.0f} min {st.distance_m / 1000:.1f} km "
                    f"from the address {when}",
                    detail,
                )
            )
        elif covers and not near and s.closest_m is not None:
            llr = far_llr(s.closest_m, 30.0)
            out.append(
                Feature(
                    "trace_elsewhere",
                    _clip(llr / 4.0, 0.0, 1.0),
                    f"trace never came within {s.closest_m:.0f} m of the address",
                    detail,
                )
            )
    # Does the trace agree with the check-in and the door photo?
    fixes = [x for x in f.fixes if x.kind == "check_in" and x.latitude is not None]
    for x in fixes[:1]:
        at = true(x.at)
        assert x.latitude is not None and x.longitude is not None
        pos = position_at(tr, f.customer, at.timestamp(), skew_s) if at is not None else None
        if pos is not None:
            fx, fy = _xy(f.customer, x.latitude, x.longitude)
            d = math.hypot(fx - pos[0], fy - pos[1])
            # Both circles, and how far a car goes between the fix and the trace's point.
            excess = d - (2 * (x.accuracy_m or 30.0) + 2 * pos[2] + 30 + MOVING_MPS * pos[3])
            if excess > 0:
                out.append(
                    Feature(
                        "trace_check_in",
                        _clip(excess / 500, 0.0, 1.0),
                        f"check-in fix {d:.0f} m from where the trace was at that time",
                        {"distance_m": round(d)},
                    )
                )
    for p in [p for p in f.photos if p.kind == "door"][:1]:
        taken = true(p.taken_at)
        if p.latitude is None or p.longitude is None or taken is None:
            continue
        pos = position_at(tr, f.customer, taken.timestamp(), skew_s, within=300)
        if pos is not None:
            px, py = _xy(f.customer, p.latitude, p.longitude)
            d = math.hypot(px - pos[0], py - pos[1])
            # A camera's GPS tag has no accuracy: take it as a poor network fix.
            excess = d - (2 * PHOTO_GPS_M + 2 * pos[2] + 30 + MOVING_MPS * pos[3])
            if excess > 0:
                out.append(
                    Feature(
                        "trace_photo",
                        _clip(excess / 800, 0.0, 1.0),
                        f"door photo's GPS {d:.0f} m from where the trace was when it was taken",
                        {"distance_m": round(d)},
                    )
                )
    return out
