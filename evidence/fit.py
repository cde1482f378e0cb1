"""Learn the risk model's weights from the brand's own callback outcomes
(``doorstep risk fit``).

Each settled task whose current outcome is ``contradicted`` (the claim was false) or
``confirmed`` (it was true) is one example; its features are gathered and extracted as
the server scores them (``evidence.risk``). scikit-learn fits a logistic regression
(a well-kept library, never a hand-written optimiser), 5-fold cross-validated; the
printed figures are on held-out folds: ROC AUC, precision at N (N = false claims) and a
calibration table. Weights are kept non-negative (a feature only ever pushes the way it
points): a feature the fit wants negative is dropped and the fit redone without it.
The result is saved as a new, inactive weight set; ``doorstep risk activate VERSION``
makes the server use it. scikit-learn is imported here only, so the server never loads it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence.features import extract
from evidence.risk import DEFAULT, WeightSet, gather
from server.db.models import CallbackOutcome, CallbackTask

__all__ = ["Examples", "examples", "fit", "format_report"]

LABEL = {"contradicted": 1, "confirmed": 0}
MIN_EXAMPLES = 20


@dataclass(slots=True)
class Examples:
    kinds: list[str]
    rows: list[dict[str, float]]
    labels: list[int]


async def examples(session: AsyncSession, now: datetime) -> Examples:
    """The labelled examples: one per settled task with a confirmed or contradicted
    current outcome (a corrected entry no longer counts)."""
    corrected = select(CallbackOutcome.corrects_id).where(CallbackOutcome.corrects_id.is_not(None))
    rows = (
        await session.execute(
            select(CallbackTask, CallbackOutcome.outcome)
            .join(CallbackOutcome, CallbackOutcome.task_id == CallbackTask.id)
            .where(
                CallbackTask.state == "done",
                CallbackOutcome.outcome.in_(list(LABEL)),
                CallbackOutcome.id.not_in(corrected),
            )
            .order_by(CallbackTask.created_at, CallbackTask.id)
        )
    ).all()
    out = Examples([], [], [])
    for task, outcome in rows:
        facts = await gather(session, task, now)
        features: dict[str, float] = {}
        for f in extract(facts):
            key = f.code if f.code in DEFAULT.weights else f.code.split(":", 1)[0] + ":*"
            features[key] = features.get(key, 0.0) + f.value
        out.kinds.append(task.kind)
        out.rows.append(features)
        out.labels.append(LABEL[outcome])
    return out


def fit(
    data: Examples, version: str, *, folds: int = 5, seed: int = 0
) -> tuple[WeightSet, dict[str, Any]]:
    """Fit, cross-validate and return the weight set with its metrics."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.array(data.labels)
    if len(y) < MIN_EXAMPLES or y.min() == y.max():
        raise ValueError(
            f"need at least {MIN_EXAMPLES} settled callbacks with both outcomes "
            f"(have {len(y)}, {int(y.sum())} contradicted)"
        )
    kinds = sorted(set(data.kinds))
    codes = sorted({c for r in data.rows for c in r})

    def matrix(use: list[str]) -> Any:
        x = np.zeros((len(y), len(kinds) + len(use)))
        for i, (kind, row) in enumerate(zip(data.kinds, data.rows, strict=True)):
            x[i, kinds.index(kind)] = 1.0
            for j, c in enumerate(use):
                x[i, len(kinds) + j] = row.get(c, 0.0)
        return x

    use = list(codes)
    while True:
        model = LogisticRegression(C=1.0, fit_intercept=False, max_iter=2000)
        model.fit(matrix(use), y)
        coef = model.coef_[0][len(kinds) :]
        negative = [c for c, w in zip(use, coef, strict=True) if w < 0]
        if not negative:
            break
        use = [c for c in use if c not in negative]
    x = matrix(use)
    n_folds = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    held_out = cross_val_predict(
        LogisticRegression(C=1.0, fit_intercept=False, max_iter=2000),
        x,
        y,
        cv=cv,
        method="predict_proba",
    )[:, 1]
    order = np.argsort(-held_out, kind="stable")
    n = int(y.sum())
    metrics: dict[str, Any] = {
        "examples": len(y),
        "false_claims": n,
        "folds": n_folds,
        "auc": round(float(roc_auc_score(y, held_out)), 4),
        "precision_at_n": round(float(y[order[:n]].mean()), 4),
        "calibration": _calibration(held_out, y),
        "dropped_negative": sorted(set(codes) - set(use)),
    }
    intercepts = dict(DEFAULT.intercepts)
    for k, w in zip(kinds, model.coef_[0][: len(kinds)], strict=True):
        intercepts[k] = round(float(w), 4)
    weights = dict.fromkeys(DEFAULT.weights, 0.0)
    for c, w in zip(use, coef, strict=True):
        weights[c] = round(float(w), 4)
    return WeightSet(version, intercepts, weights), metrics


def _calibration(p: Any, y: Any, bins: int = 5) -> list[dict[str, Any]]:
    out = []
    edges = [i / bins for i in range(bins + 1)]
    for lo, hi in itertools.pairwise(edges):
        mask = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if mask.sum():
            out.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "tasks": int(mask.sum()),
                    "predicted": round(float(p[mask].mean()), 3),
                    "observed": round(float(y[mask].mean()), 3),
                }
            )
    return out


def format_report(weights: WeightSet, metrics: dict[str, Any]) -> str:
    lines = [
        f"risk model {weights.version}: {metrics['examples']} settled callbacks, "
        f"{metrics['false_claims']} contradicted, {metrics['folds']}-fold cross-validation",
        f"  ROC AUC {metrics['auc']:.3f}   precision at N {metrics['precision_at_n']:.3f}",
        "  calibration (held out):  bin      tasks  predicted  observed",
    ]
    for row in metrics["calibration"]:
        lines.append(
            f"                           {row['bin']}  {row['tasks']:>5}  "
            f"{row['predicted']:>9.3f}  {row['observed']:>8.3f}"
        )
    lines.append("  weights: " + ", ".join(f"{k} {v:g}" for k, v in weights.weights.items() if v))
    if metrics["dropped_negative"]:
        lines.append(
            "  dropped (wanted a negative weight): " + ", ".join(metrics["dropped_negative"])
        )
    return "\n".join(lines)
