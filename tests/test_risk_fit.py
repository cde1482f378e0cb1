"""Fitting the risk model's weights with scikit-learn: non-negative weights, honest
held-out figures, and a saved weight set the server uses once activated."""

from __future__ import annotations

import random

import pytest
from world import run_db

from evidence import models
from evidence.fit import Examples, fit, format_report
from evidence.risk import DEFAULT, ClaimFacts, score
from server.db.base import utcnow


def _examples(n: int = 200, seed: int = 3) -> Examples:
    r = random.Random(seed)
    data = Examples([], [], [])
    for _ in range(n):
        false = r.random() < 0.35
        row = {
            "fence": r.uniform(0.4, 1.0) if false and r.random() < 0.7 else r.uniform(-0.25, 0.1)
        }
        row["calls"] = 1.0 if false and r.random() < 0.5 else -0.25
        row["repeated_address"] = r.random()  # noise: no signal
        data.kinds.append("not_home")
        data.rows.append(row)
        data.labels.append(int(false))
    return data


def test_fit_learns_non_negative_weights_and_reports_held_out_figures():
    weights, metrics = fit(_examples(), "test-1")
    assert metrics["auc"] > 0.8 and 0 < metrics["precision_at_n"] <= 1
    assert all(w >= 0 for w in weights.weights.values())
    assert weights.weights["fence"] > 0 and weights.weights["calls"] > 0
    assert set(weights.weights) == set(DEFAULT.weights)
    assert sum(row["tasks"] for row in metrics["calibration"]) == metrics["examples"]
    text = format_report(weights, metrics)
    assert "ROC AUC" in text and "calibration" in text


def test_fit_refuses_too_few_outcomes():
    with pytest.raises(ValueError, match="at least"):
        fit(Examples(["not_home"] * 3, [{}] * 3, [0, 1, 0]), "x")


def test_an_activated_weight_set_scores_and_default_comes_back(database_url):
    weights, metrics = fit(_examples(), "test-2")

    async def save_and_activate(s):  # type: ignore[no-untyped-def]
        await models.save(s, weights, metrics, utcnow())
        await models.activate(s, "test-2", utcnow())
        return (await models.active_weights(s)).version

    assert run_db(database_url, save_and_activate) == "test-2"

    async def back(s):  # type: ignore[no-untyped-def]
        await models.activate(s, None, utcnow())
        return (await models.active_weights(s)).version

    assert run_db(database_url, back) == DEFAULT.version
    p, _ = score(ClaimFacts(kind="not_home"), weights)
    assert 0 < p < 1
