"""The ``claims`` part: how well the callback queue ranks "customer not home" claims.

A seeded labelled set (``fixtures/claims.py``: honest technicians with real-world noise,
the cheats of the field alone and combined) is played through the real app with the
reference phone (``fixtures/claims_drive.py``); the default callback queue is then read
as an auditor sees it. Figures: ROC AUC of the claim's probability of being false,
precision at N (of the first N tasks of the queue, N = the number of false claims, how
many are false), the honest claims flagged at the operating threshold, and recall per
cheat kind (with how many flagged tasks name the trick in a factor).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from fixtures.claims import plan
from fixtures.claims_drive import drive, evaluate, report

__all__ = ["run"]


def run(*, quick: bool = False, seed: int = 15) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    size = {"claims": 30, "technicians": 5} if quick else {"claims": 232, "technicians": 22}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scored = drive(Path(tmp), plan(seed, **size))
    figures = evaluate(scored)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["seed"] = seed
    print(report(figures))
    return figures
